// `index-zero` is a warning (denied here to show it): `KEYS[0]` is nil.
#![deny(deprecated)]
script_cache::include_scripts!("fixtures/lint_index_zero");

fn main() {
    let _ = Scripts::FirstKey;
}
