// `Rate.LUA` and `limits.Lua` are not scripts (only `.lua` is), and each
// gets a warning instead of being skipped silently; denied here, so the
// warnings show as errors.
#![deny(deprecated)]
script_cache::include_scripts!("fixtures/other_case");

fn main() {
    let _ = Scripts::Ok;
}
