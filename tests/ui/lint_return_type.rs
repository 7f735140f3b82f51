// The lint's `return-type` rule: a `return` whose reply the `@return` type
// cannot take (here a string in an integer script) is a compile error at
// the `return`, naming the declared type and how to fix it.
script_cache::include_scripts!("fixtures/lint_return_type");

fn main() {
    let _ = Scripts::Count;
}
