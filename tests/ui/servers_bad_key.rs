// A misspelt key in script-cache.toml is an error, with "did you mean".
script_cache::include_scripts!("fixtures/servers_bad_key");

fn main() {}
