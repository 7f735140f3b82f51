// The lint's `unknown-command` rule: a compile error at the script's line and
// column, with the fix and the allow comment. The variant still exists.
script_cache::include_scripts!("fixtures/lint_unknown_command");

fn main() {
    let _ = Scripts::Get;
}
