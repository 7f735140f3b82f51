// A server the lint's tables do not know is refused, with the known
// server to name instead.
script_cache::include_scripts!("fixtures/servers_unknown");

fn main() {}
