//! Pools: one `ScriptState` per pool, every checkout wrapped. A pool of 8
//! connections, 2,000 checkouts each calling a cold script: one survey of
//! the enum and one `SCRIPT LOAD` per script, no error but the `NOSCRIPT`s of the large
//! script's first `EVALSHA`s (at most one per connection), every call
//! counted once.

use script_cache::{ScriptPool, ScriptState};
use script_cache_tests::{Flavor, TestServer, matrix};

#[script_cache::scripts(dir = "bench-lua")]
enum Bench {}

const CHECKOUTS: usize = 2_000;
const POOL_SIZE: u32 = 8;

/// What a run of checkouts did, read from the server.
fn assert_one_load_per_script(server: &TestServer, state: &ScriptState, what: &str) {
    let stats = server.commandstats();
    // One survey for the pool's state (the first call's SCRIPT EXISTS of
    // the enum), which Redis 6.2 counts with the loads as `script`.
    assert_eq!(state.stats().surveys, 1, "{what}: one survey per state");
    let survey = u64::from(server.flavor() == Flavor::Redis62);
    assert_eq!(
        stats.calls("script|load"),
        2 + survey,
        "{what}: one load per script: {stats:?}"
    );
    // `incr_4k` is over `LAZY_LOAD_MAX`: its first calls go out as EVALSHA
    // first, and those that reach the server before the one load (at most
    // one per connection of the pool) meet NOSCRIPT, the one failed
    // command allowed. Redis 6.2 counts no failed calls: EVALSHAs beyond
    // one per call are those NOSCRIPTs.
    let noscripts = stats.calls("evalsha") - CHECKOUTS as u64;
    assert!(
        noscripts <= u64::from(POOL_SIZE),
        "{what}: {noscripts} NOSCRIPTs: {stats:?}"
    );
    // redis-rs sends CLIENT SETINFO when it connects, which Redis 6.2 does
    // not know: that failure is the client library's, not a script's.
    let setup = stats.get("client|setinfo").failed_calls;
    let failed = stats.total_errors() - setup;
    assert!(
        failed == 0 || failed == noscripts,
        "{what}: no failed command but NOSCRIPT: {stats:?}"
    );
    assert_eq!(state.stats().loads, 2, "{what}");
    assert_eq!(
        state.stats().calls,
        CHECKOUTS as u64 + noscripts,
        "{what}: one EVALSHA per call, and one per NOSCRIPT"
    );
    let mut admin = server.connection();
    let (a, b): (u64, u64) = redis::cmd("MGET")
        .arg("pool:a")
        .arg("pool:b")
        .query(&mut admin)
        .expect("MGET");
    assert_eq!(a + b, CHECKOUTS as u64, "{what}: every call counted once");
}

matrix! {
    async fn deadpool_checkouts_share_one_state(server) {
        let cfg = deadpool_redis::Config::from_url(server.url());
        let pool = cfg
            .builder()
            .expect("builder")
            .max_size(POOL_SIZE as usize)
            .runtime(deadpool_redis::Runtime::Tokio1)
            .build()
            .expect("pool");
        let pool = ScriptPool::new(pool);
        server.reset_stats();
        let mut tasks = Vec::new();
        for i in 0..CHECKOUTS {
            let pool = pool.clone();
            tasks.push(tokio::spawn(async move {
                let mut con = pool.get().await.expect("checkout");
                if i % 2 == 0 {
                    Bench::incr("pool:a").invoke_async(&mut con).await
                } else {
                    Bench::incr_4k("pool:b").invoke_async(&mut con).await
                }
            }));
        }
        for task in tasks {
            task.await.expect("join").expect("call");
        }
        assert_eq!(pool.pool().status().max_size, POOL_SIZE as usize);
        assert_one_load_per_script(server, pool.state(), "deadpool");
    }

    async fn bb8_checkouts_share_one_state(server) {
        let pool = bb8::Pool::builder()
            .max_size(POOL_SIZE)
            .build(server.client())
            .await
            .expect("pool");
        let pool = ScriptPool::new(pool);
        server.reset_stats();
        let mut tasks = Vec::new();
        for i in 0..CHECKOUTS {
            let pool = pool.clone();
            tasks.push(tokio::spawn(async move {
                let mut con = pool.get().await.expect("checkout");
                if i % 2 == 0 {
                    Bench::incr("pool:a").invoke_async(&mut con).await
                } else {
                    Bench::incr_4k("pool:b").invoke_async(&mut con).await
                }
            }));
        }
        for task in tasks {
            task.await.expect("join").expect("call");
        }
        assert!(pool.pool().state().connections <= POOL_SIZE);
        assert_one_load_per_script(server, pool.state(), "bb8");
    }

    fn r2d2_checkouts_share_one_state(server) {
        let pool = r2d2::Pool::builder()
            .max_size(POOL_SIZE)
            .build(server.client())
            .expect("pool");
        let pool = ScriptPool::new(pool);
        server.reset_stats();
        std::thread::scope(|scope| {
            for t in 0..POOL_SIZE as usize {
                let pool = &pool;
                scope.spawn(move || {
                    for i in (t..CHECKOUTS).step_by(POOL_SIZE as usize) {
                        let mut con = pool.get().expect("checkout");
                        let result = if i % 2 == 0 {
                            Bench::incr("pool:a").invoke(&mut con)
                        } else {
                            Bench::incr_4k("pool:b").invoke(&mut con)
                        };
                        result.expect("call");
                    }
                });
            }
        });
        assert_one_load_per_script(server, pool.state(), "r2d2");
    }
}
