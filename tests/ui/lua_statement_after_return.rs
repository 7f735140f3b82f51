// Lua 5.1 refuses a statement after `return` (the servers do too).
script_cache::include_scripts!("fixtures/after_return");

fn main() {}
