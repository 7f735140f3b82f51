// `unbalanced-assignment` is a warning (denied here to show it): two names,
// one value (`ttl` is nil).
#![deny(deprecated)]
script_cache::include_scripts!("fixtures/lint_unbalanced_assignment");

fn main() {
    let _ = Scripts::Store;
}
