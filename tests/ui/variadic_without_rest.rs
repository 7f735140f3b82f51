// The body indexes KEYS dynamically, the header declares one fixed key.
script_cache::include_scripts!("fixtures/variadic_without_rest");

fn main() {}
