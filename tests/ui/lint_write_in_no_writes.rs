// The lint's `write-in-no-writes` rule: a compile error at the script's line and
// column, with the fix and the allow comment. The variant still exists.
script_cache::include_scripts!("fixtures/lint_write_in_no_writes");

fn main() {
    let _ = Scripts::Touch;
}
