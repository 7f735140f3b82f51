// The header declares two keys, the body reads KEYS[3].
script_cache::include_scripts!("fixtures/header_mismatch");

fn main() {}
