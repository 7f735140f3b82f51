// Only top-level *.lua files are scripts: this folder has a subfolder,
// a dotfile and a README, and no script.
script_cache::include_scripts!("fixtures/empty");

fn main() {}
