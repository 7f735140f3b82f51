// `unused-local`, `unused-parameter`, `unused-loop-variable` are warnings
// (denied here to show them): names nothing reads.
#![deny(deprecated)]
script_cache::include_scripts!("fixtures/lint_unused");

fn main() {
    let _ = Scripts::Tally;
}
