// `@return int` is not a known type; the message lists the accepted ones.
script_cache::include_scripts!("fixtures/bad_return");

fn main() {}
