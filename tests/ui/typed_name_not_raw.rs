// `super.lua` would need the function `super`, which cannot be a raw
// identifier. The variant `Super` is still generated.
script_cache::include_scripts!("fixtures/not_raw");

fn main() {
    let _ = Scripts::Super;
}
