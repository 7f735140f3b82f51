//! Function libraries: `tests/functions-lua/counters.lua` (`#!lua
//! name=counters`) called with typed `FCALL` / `FCALL_RO`, loaded with the
//! first call, recovered after `FUNCTION FLUSH`, and the binary's own code
//! run in place of another copy of the library.
//!
//! Run it with `cargo run -p script-cache-tests --example functions`. It
//! talks to `REDIS_URL`, or starts a throwaway `redis-server` /
//! `valkey-server` as the quickstart does (functions need Redis 7.0 or
//! newer, or Valkey).

use script_cache::prelude::*;

include_scripts!("functions-lua");

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = script_cache_quickstart::server()?;
    let client = redis::Client::open(server.url())?;
    let mut con = ScriptCache::new(client.get_connection()?);
    let mut admin = client.get_connection()?;

    // First call: FUNCTION LIST + FUNCTION LOAD REPLACE + FCALL, one round
    // trip; then FCALL only.
    let n = Functions::bump("visits", 1).invoke(&mut con)?;
    let n2 = Functions::bump("visits", 2).invoke(&mut con)?;
    let seen = Functions::peek("visits").invoke(&mut con)?; // FCALL_RO
    println!("bump: {n}, {n2}; peek: {seen:?}");

    // The library is lost (FUNCTION FLUSH): the next call reloads it.
    redis::cmd("FUNCTION")
        .arg("FLUSH")
        .query::<()>(&mut admin)?;
    let n3 = Functions::bump("visits", 1).invoke(&mut con)?;
    println!("after FUNCTION FLUSH: {n3}");

    // Another copy of `counters` on the server (an older deploy): a fresh
    // state replaces it with the binary's code on its first call.
    let other = "#!lua name=counters\n\
                 redis.register_function('counters_version', function() return 'other' end)\n";
    redis::cmd("FUNCTION")
        .arg("LOAD")
        .arg("REPLACE")
        .arg(other)
        .query::<String>(&mut admin)?;
    let mut fresh = ScriptCache::new(client.get_connection()?);
    let version = Functions::counters_version().invoke(&mut fresh)?;
    println!(
        "version: {version}; libraries replaced: {}",
        fresh.stats().libraries_replaced
    );
    let s = con.stats();
    println!(
        "loads: {}, reloads: {}, calls: {}",
        s.loads, s.reloads, s.calls
    );
    Ok(())
}
