// Every lint rule, silenced by its allow comment (per line, on the line
// above, per file) or by `servers(...)`: the folder compiles, with no
// warning (`deny(deprecated)` would turn one into an error).
#![deny(deprecated)]
use script_cache::EmbeddedScript;
script_cache::include_scripts!("fixtures/lint_allows");

fn main() {
    assert_eq!(Scripts::ALL.len(), 3);
}
