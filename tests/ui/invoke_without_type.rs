// An untyped `invoke` whose reply is dropped: nothing says which type to
// convert the reply to.
use script_cache::ScriptCache;
use script_cache::prelude::*;
script_cache::include_scripts!("fixtures/ok");

fn call(con: &mut ScriptCache<redis::Connection>) -> Result<(), script_cache::Error> {
    Scripts::AScript.key("k").invoke(con)?;
    Ok(())
}

fn main() {}
