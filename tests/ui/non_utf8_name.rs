// A .lua file whose name is not UTF-8 (created by the test driver).
script_cache::include_scripts!("fixtures/non_utf8_name");

fn main() {}
