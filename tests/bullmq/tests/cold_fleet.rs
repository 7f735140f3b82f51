//! Cold fleets with BullMQ's 64 scripts: 300 fresh `ScriptState`s, each
//! with its own multiplexed connection, call every script once, all at
//! once, against a server that already has them (an admin loaded them) and
//! against one that has none. Bytes that reached the server per process
//! (`INFO stats` `total_net_input_bytes`, the measuring command
//! subtracted), and the same states calling again (every script marked:
//! the calls alone), so that what the cold start adds is their difference.
//! Quoted in BENCHMARKS.md §11. A fresh state's first call asks the
//! server which of the 64 scripts it has (one `SCRIPT EXISTS`): against a
//! server that has them, at most 5,000 bytes per process beyond the calls
//! (asserted). Each script is called with its declared minimum of keys
//! and arguments, all `""`: most stop on a Lua error of their own (what
//! is measured is what was sent, and that no call met `NOSCRIPT` as an
//! error).

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use script_cache::{EmbeddedScript, Error, ScriptCache, ScriptState};
use script_cache_bullmq::Scripts;
use script_cache_tests::{Flavor, INFO_STATS_REQUEST, net_input_bytes, server_for};

const FLEET: usize = 300;
/// Every process calls every script once; (bytes, NOSCRIPT errors, other
/// errors, calls).
fn fresh_fleet(
    rt: &tokio::runtime::Runtime,
    server: &script_cache_tests::TestServer,
) -> Vec<ScriptCache<MultiplexedConnection>> {
    rt.block_on(async {
        let mut fleet = Vec::with_capacity(FLEET);
        for _ in 0..FLEET {
            let con = server
                .client()
                .get_multiplexed_async_connection()
                .await
                .expect("connection");
            fleet.push(ScriptCache::with_state(con, ScriptState::new()));
        }
        fleet
    })
}

fn round(
    rt: &tokio::runtime::Runtime,
    fleet: &[ScriptCache<MultiplexedConnection>],
    admin: &mut redis::Connection,
) -> (u64, usize, usize, usize) {
    let before = net_input_bytes(admin);
    let (noscript, other, calls) = rt.block_on(async {
        let (go_tx, go_rx) = tokio::sync::watch::channel(false);
        let mut handles = Vec::new();
        for (i, con) in fleet.iter().enumerate() {
            let mut con = con.clone();
            let mut go = go_rx.clone();
            handles.push(tokio::spawn(async move {
                let _ = go.wait_for(|go| *go).await;
                let (mut noscript, mut other, mut calls) = (0, 0, 0);
                for script in Scripts::ALL {
                    let mut call = script.invocation();
                    for k in 0..script.keys().min() {
                        call = call.key(format!("{{p{}}}:{k}", i % 16));
                    }
                    for _ in 0..script.args().min() {
                        call = call.arg("");
                    }
                    calls += 1;
                    let result = tokio::time::timeout(
                        Duration::from_secs(30),
                        call.invoke_async::<redis::Value>(&mut con),
                    )
                    .await;
                    match result {
                        Ok(Ok(_)) => {}
                        Ok(Err(e @ Error::NoScript { .. })) => {
                            eprintln!("{}: {e}", script.file());
                            noscript += 1;
                        }
                        Ok(Err(_)) => other += 1,
                        Err(_) => noscript += 1,
                    }
                }
                (noscript, other, calls)
            }));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let _ = go_tx.send(true);
        let mut sum = (0, 0, 0);
        for h in handles {
            let (a, b, c) = h.await.expect("task");
            sum = (sum.0 + a, sum.1 + b, sum.2 + c);
        }
        sum
    });
    let after = net_input_bytes(admin);
    (
        after - before - INFO_STATS_REQUEST.len() as u64,
        noscript,
        other,
        calls,
    )
}

#[test]
fn bullmq_fleet_bytes_per_process() {
    let expanded: usize = Scripts::ALL.iter().map(|s| s.source().len()).sum();
    println!(
        "BULLMQ FLEET: {} scripts, {expanded} bytes expanded, {FLEET} fresh states",
        Scripts::ALL.len()
    );
    println!(
        "| flavor | server | bytes | bytes/process | of which the calls | beyond the calls | NOSCRIPT errors | script errors (empty args) | calls |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    let small = Scripts::ALL
        .iter()
        .filter(|s| s.source().len() <= script_cache::LAZY_LOAD_MAX)
        .count();
    let small_sources: u64 = Scripts::ALL
        .iter()
        .map(|s| s.source().len())
        .filter(|&n| n <= script_cache::LAZY_LOAD_MAX)
        .sum::<usize>() as u64;
    println!("{small} scripts of at most LAZY_LOAD_MAX bytes, {small_sources} bytes together");
    let rt = script_cache_tests::runtime();
    for flavor in Flavor::ALL {
        let Some(server) = server_for(flavor) else {
            continue;
        };
        let mut admin = server.connection();
        for script in Scripts::ALL {
            let _: String = redis::cmd("SCRIPT")
                .arg("LOAD")
                .arg(script.source())
                .query(&mut admin)
                .expect("SCRIPT LOAD");
        }
        let fleet = fresh_fleet(&rt, &server);
        let (bytes, noscript, other, calls) = round(&rt, &fleet, &mut admin);
        let per = bytes / FLEET as u64;
        // The same states again: every script marked, the calls alone.
        let (calls_only, ..) = round(&rt, &fleet, &mut admin);
        let calls_per = calls_only / FLEET as u64;
        drop(fleet);
        println!(
            "| {flavor} | has the scripts | {bytes} | {per} | {calls_per} | {} | {noscript} | {other} | {calls} |",
            per - calls_per
        );
        assert_eq!(noscript, 0, "{flavor}");
        // Beyond the calls: the survey each fresh state sends with its
        // first call (one SCRIPT EXISTS of the 64 SHA-1s), which marks
        // every script the server has; no source, small or large.
        assert!(
            per - calls_per <= 5_000,
            "{flavor}: {} bytes per process beyond the calls",
            per - calls_per
        );

        redis::cmd("SCRIPT")
            .arg("FLUSH")
            .query::<()>(&mut admin)
            .expect("SCRIPT FLUSH");
        let fleet = fresh_fleet(&rt, &server);
        let (bytes, noscript, other, calls) = round(&rt, &fleet, &mut admin);
        drop(fleet);
        let per = bytes / FLEET as u64;
        println!(
            "| {flavor} | has none | {bytes} | {per} | {calls_per} | {} | {noscript} | {other} | {calls} |",
            per.saturating_sub(calls_per)
        );
        assert_eq!(noscript, 0, "{flavor}");
    }
}
