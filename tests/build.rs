//! Rebuild when a script is added to (or removed from) the shared `lua/`
//! folder or the test fixtures embedded by the suite.
fn main() {
    println!("cargo::rerun-if-changed=../lua");
    println!("cargo::rerun-if-changed=fixtures");
}
