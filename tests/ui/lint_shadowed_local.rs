// `shadowed-local` is a warning (denied here to show it): an inner local
// hiding one of the same function.
#![deny(deprecated)]
script_cache::include_scripts!("fixtures/lint_shadowed_local");

fn main() {
    let _ = Scripts::Bump;
}
