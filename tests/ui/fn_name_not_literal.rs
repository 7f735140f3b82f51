// A registered function's name that is not a string literal: a compile error at its position.
script_cache::include_scripts!("fixtures/fn_name_not_literal");

fn main() {}
