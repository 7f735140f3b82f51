// The folder must be a string literal.
script_cache::include_scripts!(lua);

fn main() {}
