// rate_limit.lua and rate-limit.lua both map to `RateLimit`.
script_cache::include_scripts!("fixtures/collision");

fn main() {}
