//! Async: one multiplexed connection shared by many tasks, and recovery
//! from a `SCRIPT FLUSH`.
//!
//! Run it with `cargo run --example async_herd`. It talks to `REDIS_URL`, or
//! starts a throwaway `redis-server`/`valkey-server` as the quickstart does
//! (`script_cache_quickstart::server`: `PATH`, else `.servers/`).

use script_cache::prelude::*;

include_scripts!("../lua");

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = script_cache_quickstart::server()?;
    let client = redis::Client::open(server.url())?;
    let con = ScriptCache::new(client.get_multiplexed_async_connection().await?);

    // 200 tasks call a script the server has never seen: one of them sends
    // the source, the others wait for that load and send EVALSHA only.
    let mut tasks = Vec::new();
    for i in 0..200u32 {
        let mut con = con.clone();
        tasks.push(tokio::spawn(async move {
            Scripts::EnqueueOnce
                .key("herd:seen")
                .key("herd:queue")
                .arg(i % 100) // every id twice: the second enqueue is refused
                .arg(format!("job {i}"))
                .invoke_async::<i64>(&mut con)
                .await
        }));
    }
    let mut pushed = 0;
    for task in tasks {
        if task.await?? > 0 {
            pushed += 1;
        }
    }
    println!("200 enqueues, {pushed} accepted (each id once)");

    // Someone flushes the server's script cache: the next call reloads.
    let mut admin = con.clone();
    redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async::<()>(admin.get_mut())
        .await?;
    let mut con2 = con.clone();
    let total: i64 = Scripts::SumCounters
        .key("herd:none")
        .invoke_async(&mut con2)
        .await?;
    let again: i64 = Scripts::EnqueueOnce
        .key("herd:seen")
        .key("herd:queue")
        .arg(0)
        .arg("dup")
        .invoke_async(&mut con2)
        .await?;
    let stats = con.stats();
    println!(
        "after SCRIPT FLUSH: sum={total}, duplicate refused={}; loads={} calls={} reloads={}",
        again == 0,
        stats.loads,
        stats.calls,
        stats.reloads
    );
    Ok(())
}
