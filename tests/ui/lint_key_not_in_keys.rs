// `key-not-in-keys` is a warning (denied here to show it): a key built
// from ARGV and a literal, not passed in KEYS.
#![deny(deprecated)]
script_cache::include_scripts!("fixtures/lint_key_not_in_keys");

fn main() {
    let _ = Scripts::Config;
}
