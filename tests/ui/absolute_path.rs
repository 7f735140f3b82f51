// Paths are relative to CARGO_MANIFEST_DIR; absolute ones are refused.
script_cache::include_scripts!("/etc/lua");

fn main() {}
