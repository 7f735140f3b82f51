// KEYS does not exist in a library: the lint says to read the callback's parameter.
script_cache::include_scripts!("fixtures/fn_keys_in_library");

fn main() {}
