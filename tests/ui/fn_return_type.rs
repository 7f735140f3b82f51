// A function's `return` that its `@return` type cannot take: GET gives a
// string or nil, never an integer.
script_cache::include_scripts!("fixtures/fn_return_type");

fn main() {}
