// A Lua syntax error is reported with file, line and column. The good
// script next to it still gets its variant, so uses of it do not cascade.
script_cache::include_scripts!("fixtures/syntax_error");

fn main() {
    let _ = Scripts::Fine;
    let _ = Scripts::Broken;
}
