// The sync `invoke` on an async connection: the message names
// `invoke_async`.
use script_cache::ScriptCache;
use script_cache::prelude::*;
script_cache::include_scripts!("fixtures/ok");

fn call(con: &mut ScriptCache<redis::aio::MultiplexedConnection>) {
    let _ = Scripts::AScript.key("k").invoke::<i64>(con);
}

fn main() {}
