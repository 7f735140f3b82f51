// A command at a library's top level: the server refuses it on FUNCTION LOAD.
script_cache::include_scripts!("fixtures/fn_call_at_load");

fn main() {}
