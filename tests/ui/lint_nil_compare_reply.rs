// `nil-compare-reply` is a warning (denied here to show it): a nil reply
// is `false` in a script, so the default is never taken.
#![deny(deprecated)]
script_cache::include_scripts!("fixtures/lint_nil_compare_reply");

fn main() {
    let _ = Scripts::Cached;
}
