// The lint's `command-not-allowed` rule: a compile error at the script's line and
// column, with the fix and the allow comment. The variant still exists.
script_cache::include_scripts!("fixtures/lint_command_not_allowed");

fn main() {
    let _ = Scripts::Wait;
}
