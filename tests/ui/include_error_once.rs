// Three scripts include a snippet with an unclosed block: one error, at
// the snippet's opener, with one include chain.
script_cache::include_scripts!("fixtures/snippet_once");

fn main() {}
