//! Sentinel: calls through connections from redis-rs's `SentinelClient`
//! recover after the primary is killed and the replica promoted, with no
//! user action beyond asking the sentinel client for a new connection.

// The guard that runs one deployment at a time is held for a whole test,
// each on a runtime of its own where no other task takes it.
#![allow(clippy::await_holding_lock)]

use std::time::{Duration, Instant};

use redis::sentinel::{SentinelClient, SentinelServerType};
use script_cache::{Error, Ran, ScriptCache, ScriptState};
use script_cache_tests::{SentinelSetup, TestServer, matrix, sentinel};

#[script_cache::scripts(dir = "bench-lua")]
enum Bench {}

/// One Sentinel deployment at a time: six of them (30 processes) on two
/// cores starve the sentinels' failure detection and elections.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn counter(server: &TestServer, key: &str) -> i64 {
    let mut con = server.connection();
    redis::cmd("GET")
        .arg(key)
        .query::<Option<i64>>(&mut con)
        .expect("GET")
        .unwrap_or(0)
}

fn client(setup: &SentinelSetup) -> SentinelClient {
    SentinelClient::build(
        setup.sentinel_urls(),
        sentinel::SERVICE,
        None,
        SentinelServerType::Master,
    )
    .expect("sentinel client")
}

/// An error seen while the primary is down must be typed and honest: a
/// connection error (`Ran::No` when refused before sending, else
/// `Ran::Unknown`), or a server condition.
fn assert_outage_error(e: &Error) {
    assert!(
        e.is_connection_error() || e.condition().is_some() || matches!(e, Error::Redis { .. }),
        "unexpected error during the outage: {e:?}"
    );
    assert_ne!(e.ran(), Ran::Yes, "{e:?}");
}

matrix! {
    fn sync_calls_recover_after_a_sentinel_failover(server) {
        let _serial = serial();
        let flavor = server.flavor();
        let mut setup = SentinelSetup::start(flavor).expect("sentinel setup");
        let mut sentinel = client(&setup);
        let state = ScriptState::new();
        for _ in 0..50 {
            let mut con = ScriptCache::with_state(sentinel.get_connection().expect("primary"), state.clone());
            let _: i64 = Bench::incr("sentinel:n").invoke(&mut con).expect("before the failover");
        }
        assert_eq!(counter(&setup.primary, "sentinel:n"), 50);
        assert_eq!(state.stats().loads, 1);

        let took = setup.fail_over().expect("failover");
        eprintln!("failover on {flavor} took {took:?}");
        // Recover: a new connection from the sentinel client, same state.
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut con = loop {
            match sentinel.get_connection() {
                Ok(c) => break ScriptCache::with_state(c, state.clone()),
                Err(e) if Instant::now() < deadline => {
                    eprintln!("waiting for the new primary: {e}");
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!("no primary after the failover: {e}"),
            }
        };
        let before = counter(&setup.replica, "sentinel:n");
        for _ in 0..100 {
            let _: i64 = Bench::incr("sentinel:n").invoke(&mut con).expect("after the failover");
        }
        assert_eq!(counter(&setup.replica, "sentinel:n"), before + 100, "every call counted once");
        // The promoted replica did not have the script (or had it):
        // either way no call failed, and at most one reload happened.
        assert!(state.stats().loads <= 2, "{:?}", state.stats());
    }

    async fn async_calls_recover_after_a_sentinel_failover(server) {
        let _serial = serial();
        let flavor = server.flavor();
        let mut setup = SentinelSetup::start(flavor).expect("sentinel setup");
        let mut sentinel = client(&setup);
        let con = ScriptCache::new(sentinel.get_async_connection().await.expect("primary"));
        let state = con.state().clone();
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let mut con = con.clone();
            tasks.push(tokio::spawn(async move {
                Bench::incr("sentinel:a").invoke_async(&mut con).await
            }));
        }
        for t in tasks {
            t.await.expect("join").expect("before the failover");
        }
        assert_eq!(state.stats().loads, 1);
        setup.fail_over().expect("failover");

        // Calls on the old connection fail, typed and honest.
        let mut old = con.clone();
        match Bench::incr("sentinel:a").invoke_async(&mut old).await {
            Ok(_) => panic!("a call reached a killed primary"),
            Err(e) => assert_outage_error(&e),
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        let new = loop {
            match sentinel.get_async_connection().await {
                Ok(c) => break c,
                Err(e) if Instant::now() < deadline => {
                    eprintln!("waiting for the new primary: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("no primary after the failover: {e}"),
            }
        };
        let con = ScriptCache::with_state(new, state.clone());
        let before = counter(&setup.replica, "sentinel:a");
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let mut con = con.clone();
            tasks.push(tokio::spawn(async move {
                for _ in 0..10 {
                    Bench::incr("sentinel:a").invoke_async(&mut con).await?;
                }
                Ok::<_, Error>(())
            }));
        }
        for t in tasks {
            t.await.expect("join").expect("after the failover");
        }
        assert_eq!(counter(&setup.replica, "sentinel:a"), before + 160, "every call counted once");
    }
}

/// The function library of `tests/functions-lua`.
mod library {
    script_cache::include_scripts!("functions-lua");
}
use library::Functions;

fn has_library(server: &TestServer) -> bool {
    let listed: Vec<redis::Value> = redis::cmd("FUNCTION")
        .arg("LIST")
        .arg("LIBRARYNAME")
        .arg("counters")
        .query(&mut server.connection())
        .expect("FUNCTION LIST");
    listed.len() == 1
}

script_cache_tests::functions_matrix! {
    /// Functions through a Sentinel failover: sync calls load the library
    /// on the primary, which replicates it; the primary is killed and the
    /// replica promoted; sync calls on a new connection from the sentinel
    /// client and 16 async tasks on another go on with the same state, no
    /// call fails, every call counted once, and nothing is loaded again
    /// (the promoted replica has the library).
    fn function_calls_recover_after_a_sentinel_failover(server) {
        let _serial = serial();
        let flavor = server.flavor();
        let mut setup = SentinelSetup::start(flavor).expect("sentinel setup");
        let mut sentinel = client(&setup);
        let state = ScriptState::new();
        {
            let mut con = ScriptCache::with_state(sentinel.get_connection().expect("primary"), state.clone());
            for _ in 0..50 {
                let _: i64 = Functions::bump("sentinel:f", 1).invoke(&mut con).expect("before the failover");
            }
        }
        assert_eq!(counter(&setup.primary, "sentinel:f"), 50);
        assert!(script_cache_tests::faults::wait_replicated(&setup.primary), "{flavor}: replicated");
        assert!(has_library(&setup.replica), "{flavor}: the replica has the library by replication");

        let took = setup.fail_over().expect("failover");
        eprintln!("failover on {flavor} took {took:?}");
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut con = loop {
            match sentinel.get_connection() {
                Ok(c) => break ScriptCache::with_state(c, state.clone()),
                Err(e) if Instant::now() < deadline => {
                    eprintln!("waiting for the new primary: {e}");
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!("no primary after the failover: {e}"),
            }
        };
        let before = counter(&setup.replica, "sentinel:f");
        assert_eq!(before, 50, "{flavor}: every call before the kill was replicated");
        for _ in 0..100 {
            let _: i64 = Functions::bump("sentinel:f", 1).invoke(&mut con).expect("after the failover");
        }
        let asynch = script_cache_tests::runtime().block_on(async {
            let con = ScriptCache::with_state(
                sentinel.get_async_connection().await.expect("the new primary"),
                state.clone(),
            );
            let mut tasks = Vec::new();
            for _ in 0..16 {
                let mut con = con.clone();
                tasks.push(tokio::spawn(async move {
                    for _ in 0..10 {
                        Functions::bump("sentinel:f", 1).invoke_async(&mut con).await?;
                    }
                    Ok::<_, Error>(())
                }));
            }
            let mut failed = Vec::new();
            for t in tasks {
                if let Err(e) = t.await.expect("join") {
                    failed.push(e);
                }
            }
            failed
        });
        assert!(asynch.is_empty(), "{flavor}: async calls failed: {asynch:?}");
        assert_eq!(counter(&setup.replica, "sentinel:f"), 50 + 100 + 160, "every call counted once");
        let s = state.stats();
        assert_eq!(
            (s.loads, s.reloads, s.failed_not_run, s.failed_ran, s.failed_unknown),
            (1, 0, 0, 0, 0),
            "{flavor}: one load, before the failover: {s:?}"
        );
    }
}
