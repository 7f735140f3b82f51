// The lint's `global-write` rule: a compile error at the script's line and
// column, with the fix and the allow comment. The variant still exists.
script_cache::include_scripts!("fixtures/lint_global_write");

fn main() {
    let _ = Scripts::Counter;
}
