//! script-cache's quickstart: embedded scripts on a plain connection.
//!
//! `cargo run --example quickstart` talks to `REDIS_URL` when it is set,
//! otherwise to a throwaway local server (started by this package's
//! `src/lib.rs`, which is not part of the example). Everything below the
//! first line of `main` is the code to copy: put your scripts in `lua/`
//! next to your `Cargo.toml` and depend on `script-cache` alone.

use script_cache::prelude::*;
use script_cache::redis;

// One variant per `lua/*.lua` file (`Scripts::RateLimit`, ...) and one typed
// call per script (`Scripts::rate_limit(..)`, ...), checked at build time.
include_scripts!("lua/");

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = script_cache_quickstart::server()?; // REDIS_URL, or a throwaway server
    let client = redis::Client::open(server.url())?;
    let mut con = ScriptCache::new(client.get_connection()?);

    // lua/rate_limit.lua declares `-- @key bucket`, `-- @arg capacity`,
    // `refill_per_sec`, `now_ms`, `cost` and `-- @return integer`: a wrong
    // number of arguments does not compile, and the reply is an i64.
    // First call: SCRIPT LOAD + EVALSHA in one round trip; then EVALSHA only.
    let now_ms = 1_700_000_000_000_u64;
    for i in 0..3 {
        let left = Scripts::rate_limit("quickstart:bucket", 2, 1, now_ms, 1).invoke(&mut con)?;
        println!("rate_limit call {i}: {left} tokens left (-1: refused)");
    }

    // Scripts and plain commands in one pipeline; scripts not loaded yet are
    // loaded in the same round trip.
    let mut pipe = script_cache::pipe();
    pipe.invoke(Scripts::lock_acquire("quickstart:lock", "me", 5_000))
        .cmd("SET")
        .arg("quickstart:plain")
        .arg("hello")
        .invoke(Scripts::lock_release("quickstart:lock", "me"));
    let (acquired, set, released): (i64, String, i64) = pipe.query(&mut con)?;
    println!("lock acquired={acquired}, SET={set}, released={released}");

    // A script known only at run time: checked as Lua 5.1 before it is sent.
    con.register_script("greet", "return 'hello, ' .. ARGV[1]")?;
    let greeting: String = con.run_script("greet", &[] as &[&str], &["world"])?;
    println!("{greeting}");

    let stats = con.stats();
    println!(
        "{} scripts embedded; loads={} calls={} reloads={}",
        Scripts::ALL.len(),
        stats.loads,
        stats.calls,
        stats.reloads
    );
    Ok(())
}
