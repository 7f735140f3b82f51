// The lint's `command-arity` rule: a compile error at the script's line and
// column, with the fix and the allow comment. The variant still exists.
script_cache::include_scripts!("fixtures/lint_command_arity");

fn main() {
    let _ = Scripts::Field;
}
