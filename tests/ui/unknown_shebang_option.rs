// `name=` makes the file a function library, which must register a function.
script_cache::include_scripts!("fixtures/shebang_option");

fn main() {}
