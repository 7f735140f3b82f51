//! The README's quickstart: embedded scripts on a plain connection.
//!
//! Run it with `cargo run --example quickstart`. It talks to `REDIS_URL`, or
//! starts a throwaway `redis-server`/`valkey-server` from `PATH`.

mod support;

use script_cache::pipe;
use script_cache::prelude::*;

// One variant per top-level `*.lua` file of the folder, checked, hashed
// and embedded at build time (`tests/build.rs` re-runs it when a file is
// added).
include_scripts!("../lua");

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = support::server()?;
    let client = redis::Client::open(server.url.as_str())?;
    let mut con = ScriptCache::new(client.get_connection()?);

    // First call: SCRIPT LOAD + EVALSHA in one round trip. Then EVALSHA only.
    let now_ms = 1_700_000_000_000_u64;
    // `Scripts::rate_limit` is the typed call: its parameters (bucket,
    // capacity, refill_per_sec, now_ms, cost) and its reply type (i64) come
    // from the `-- @key`/`-- @arg`/`-- @return` header of the script.
    for i in 0..3 {
        let left = Scripts::rate_limit("quickstart:bucket", 2, 1, now_ms, 1).invoke(&mut con)?;
        println!("rate_limit call {i}: {left} tokens left (-1: refused)");
    }

    // Scripts and plain commands in one pipeline; unloaded scripts are
    // loaded in the same round trip.
    let mut p = pipe();
    p.invoke(Scripts::lock_acquire("quickstart:lock", "me", 5_000))
        .cmd("SET")
        .arg("quickstart:plain")
        .arg("hello")
        .invoke(Scripts::lock_release("quickstart:lock", "me"));
    let (acquired, set, released): (i64, String, i64) = p.query(&mut con)?;
    println!("lock acquired={acquired}, SET={set}, released={released}");

    // Scripts known only at run time.
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
