// The lint's `undefined-global` rule: a compile error at the script's line and
// column, with the fix and the allow comment. The variant still exists.
script_cache::include_scripts!("fixtures/lint_undefined_global");

fn main() {
    let _ = Scripts::Counter;
}
