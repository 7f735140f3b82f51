// main.lua -> lib/a.lua -> lib/b.lua -> lib/a.lua
script_cache::include_scripts!("fixtures/include_cycle");

fn main() {}
