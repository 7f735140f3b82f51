// `read-only` is not a Redis script flag (`no-writes` is).
script_cache::include_scripts!("fixtures/unknown_flag");

fn main() {}
