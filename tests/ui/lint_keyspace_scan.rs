// `keyspace-scan` is a warning (denied here to show it): `KEYS` from a
// script.
#![deny(deprecated)]
script_cache::include_scripts!("fixtures/lint_keyspace_scan");

fn main() {
    let _ = Scripts::Purge;
}
