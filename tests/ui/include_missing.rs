// A missing include, two levels down: the message shows the chain.
script_cache::include_scripts!("fixtures/include_missing");

fn main() {}
