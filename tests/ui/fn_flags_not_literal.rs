// Function flags that are not a table of literals: a compile error at the flags.
script_cache::include_scripts!("fixtures/fn_flags_not_literal");

fn main() {}
