// A script that starts with a UTF-8 byte order mark.
script_cache::include_scripts!("fixtures/bom");

fn main() {}
