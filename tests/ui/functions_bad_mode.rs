// An unknown value of `functions` in script-cache.toml is an error that
// names the valid values, with "did you mean".
script_cache::include_scripts!("fixtures/functions_bad_mode");

fn main() {}
