//! Rebuild when a script is added to (or removed from) the shared `lua/` folder.
fn main() {
    println!("cargo::rerun-if-changed=../lua");
}
