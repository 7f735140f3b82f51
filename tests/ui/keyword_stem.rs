// self.lua maps to `Self`, a keyword.
script_cache::include_scripts!("fixtures/keyword_stem");

fn main() {}
