// 300 nested parentheses: Lua's own limit, reported with file:line:col,
// never a crash of rustc.
script_cache::include_scripts!("fixtures/deep_nesting");

fn main() {}
