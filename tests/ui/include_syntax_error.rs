// A syntax error inside a snippet names the snippet's line and column.
script_cache::include_scripts!("fixtures/include_syntax_error");

fn main() {}
