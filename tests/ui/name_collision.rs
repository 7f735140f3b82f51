// rate_limit.lua and rate-limit.lua both map to `RateLimit`: one error;
// the first file (`rate-limit.lua`) keeps the variant, so its uses compile.
script_cache::include_scripts!("fixtures/collision");

fn main() {
    let _ = Scripts::RateLimit;
}
