// A fixed key takes exactly one value: a slice (several values) or an
// `Option` (maybe none) would shift the keys, so they do not compile.
script_cache::include_scripts!("fixtures/typed");

fn main() {
    let _ = Scripts::name(&["a", "b"]);
    let _ = Scripts::name(Some("a"));
}
