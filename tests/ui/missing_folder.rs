// The folder does not exist.
script_cache::include_scripts!("fixtures/does_not_exist");

fn main() {}
