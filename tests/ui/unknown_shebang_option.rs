// `name=` belongs to Redis Functions, not to scripts.
script_cache::include_scripts!("fixtures/shebang_option");

fn main() {}
