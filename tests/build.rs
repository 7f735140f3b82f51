//! Rebuild when a script is added to (or removed from) the shared `lua/`
//! folder, the test fixtures embedded by the suite, or the benchmarks'
//! `bench-lua/` folder.
fn main() {
    println!("cargo::rerun-if-changed=../lua");
    println!("cargo::rerun-if-changed=fixtures");
    println!("cargo::rerun-if-changed=bench-lua");
}
