// `loop-runs-once` is a warning (denied here to show it): the body always
// returns.
#![deny(deprecated)]
script_cache::include_scripts!("fixtures/lint_loop_runs_once");

fn main() {
    let _ = Scripts::First;
}
