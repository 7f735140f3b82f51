//! A new script in `lua/` rebuilds the example (changes and deletions are
//! tracked by the macro itself).

fn main() {
    println!("cargo::rerun-if-changed=lua");
}
