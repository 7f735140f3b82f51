// Two libraries registering one function name: the server refuses the second library.
script_cache::include_scripts!("fixtures/fn_duplicate");

fn main() {}
