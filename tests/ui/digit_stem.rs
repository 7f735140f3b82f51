// 2fa_check.lua maps to `2faCheck`, which is not an identifier.
script_cache::include_scripts!("fixtures/digit_stem");

fn main() {}
