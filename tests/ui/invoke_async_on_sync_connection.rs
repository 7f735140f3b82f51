// `invoke_async` on a sync connection: the message names `invoke`.
use script_cache::ScriptCache;
use script_cache::prelude::*;
script_cache::include_scripts!("fixtures/ok");

async fn call(con: &mut ScriptCache<redis::Connection>) {
    let _ = Scripts::AScript.key("k").invoke_async::<i64>(con).await;
}

fn main() {}
