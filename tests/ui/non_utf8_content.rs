// A script saved as Latin-1.
script_cache::include_scripts!("fixtures/non_utf8_content");

fn main() {}
