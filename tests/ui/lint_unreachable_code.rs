// `unreachable-code` is a warning (denied here to show it): every branch
// of the `if` leaves, so what follows never runs.
#![deny(deprecated)]
script_cache::include_scripts!("fixtures/lint_unreachable_code");

fn main() {
    let _ = Scripts::Guard;
}
