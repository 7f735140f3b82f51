//! Typed calls of the workspace's real `lua/` scripts against real servers:
//! `Scripts::rate_limit(bucket, capacity, refill_per_sec, now_ms, cost)` and
//! friends, with the reply type from each script's `-- @return`; a
//! variadic script with a slice; typed calls in pipelines and transactions;
//! `invoke_as`; and the async versions.

use script_cache::prelude::*;
use script_cache::{Invocation, ScriptCache, TypedInvocation, pipe};
use script_cache_tests::{TestServer, matrix};

script_cache::include_scripts!("../lua");

const NOW_MS: u64 = 1_700_000_000_000;

fn cache(server: &TestServer) -> ScriptCache<redis::Connection> {
    ScriptCache::new(server.connection())
}

/// The reply types come from the headers (checked at compile time).
#[test]
fn reply_types_come_from_the_headers() {
    let _: TypedInvocation<i64> = Scripts::rate_limit("b", 10, 1, NOW_MS, 1);
    let _: TypedInvocation<i64> = Scripts::lock_acquire("l", "me", 5_000);
    let _: TypedInvocation<i64> = Scripts::lock_release("l", "me");
    let _: TypedInvocation<i64> = Scripts::compare_and_set("k", "", "v");
    let _: TypedInvocation<i64> = Scripts::enqueue_once("seen", "queue", "id", "job");
    let _: TypedInvocation<i64> = Scripts::sum_counters(&["a", "b"]);
    let call = Scripts::enqueue_once("seen", "queue", "id", "job");
    let untyped: &Invocation = call.invocation();
    assert_eq!((untyped.key_count(), untyped.arg_count()), (2, 2));
    assert_eq!(untyped.script_name(), "enqueue_once");
    // Owned and borrowed values of any `ToSingleRedisArg` type.
    let bucket = String::from("bucket:7");
    let call = Scripts::rate_limit(&bucket, 10_u32, 2.5_f64, NOW_MS, true);
    assert_eq!(call.invocation().arg_count(), 4);
    assert_eq!(
        Scripts::sum_counters(&Vec::<String>::new())
            .invocation()
            .key_count(),
        0
    );
}

matrix! {
    fn typed_calls_of_the_real_scripts(server) {
        let mut con = cache(server);
        let left = Scripts::rate_limit("bucket", 2, 1, NOW_MS, 1).invoke(&mut con).expect("rate_limit");
        assert_eq!(left, 1);
        assert_eq!(Scripts::rate_limit("bucket", 2, 1, NOW_MS, 1).invoke(&mut con).unwrap(), 0);
        assert_eq!(Scripts::rate_limit("bucket", 2, 1, NOW_MS, 1).invoke(&mut con).unwrap(), -1);

        assert_eq!(Scripts::lock_acquire("lock", "me", 5_000).invoke(&mut con).unwrap(), 1);
        assert_eq!(Scripts::lock_acquire("lock", "you", 5_000).invoke(&mut con).unwrap(), 0);
        assert_eq!(Scripts::lock_release("lock", "you").invoke(&mut con).unwrap(), 0);
        assert_eq!(Scripts::lock_release("lock", "me").invoke(&mut con).unwrap(), 1);

        assert_eq!(Scripts::compare_and_set("cfg", "", "v1").invoke(&mut con).unwrap(), 1);
        assert_eq!(Scripts::compare_and_set("cfg", "v0", "v2").invoke(&mut con).unwrap(), 0);
        assert_eq!(Scripts::compare_and_set("cfg", "v1", "v2").invoke(&mut con).unwrap(), 1);

        assert_eq!(Scripts::enqueue_once("seen", "queue", "job-1", "a").invoke(&mut con).unwrap(), 1);
        assert_eq!(Scripts::enqueue_once("seen", "queue", "job-1", "a").invoke(&mut con).unwrap(), 0);
        assert_eq!(Scripts::enqueue_once("seen", "queue", "job-2", "b").invoke(&mut con).unwrap(), 2);
    }

    fn variadic_script_takes_a_slice(server) {
        let mut con = cache(server);
        redis::cmd("MSET").arg("c1").arg(2).arg("c2").arg(3).query::<()>(&mut con).unwrap();
        let total = Scripts::sum_counters(&["c1", "c2", "missing"]).invoke(&mut con).unwrap();
        assert_eq!(total, 5);
        let keys: Vec<String> = vec!["c2".into(), "c2".into()];
        assert_eq!(Scripts::sum_counters(&keys).invoke(&mut con).unwrap(), 6);
        let none: &[&str] = &[];
        assert_eq!(Scripts::sum_counters(none).invoke(&mut con).unwrap(), 0);
    }

    fn invoke_as_overrides_the_header_type(server) {
        let mut con = cache(server);
        let raw: redis::Value = Scripts::lock_acquire("lock", "me", 5_000)
            .invoke_as(&mut con)
            .unwrap();
        assert_eq!(raw, redis::Value::Int(1));
        let as_bool: bool = Scripts::lock_release("lock", "me").invoke_as(&mut con).unwrap();
        assert!(as_bool);
        // The untyped builder is still there, and gives the same call.
        let left: i64 = Scripts::RateLimit.key("b").arg(5).arg(1).arg(NOW_MS).arg(2)
            .invoke(&mut con)
            .unwrap();
        assert_eq!(left, 3);
    }

    fn typed_calls_in_pipelines_and_transactions(server) {
        let mut con = cache(server);
        let mut p = pipe();
        p.invoke(Scripts::lock_acquire("lock", "me", 5_000))
            .cmd("SET").arg("plain").arg("x")
            .invoke(Scripts::rate_limit("bucket", 10, 1, NOW_MS, 3))
            .invoke(Scripts::sum_counters(&["nothing"]));
        let (acquired, set, left, total): (i64, String, i64, i64) = p.query(&mut con).unwrap();
        assert_eq!((acquired, set.as_str(), left, total), (1, "OK", 7, 0));

        let mut tx = pipe();
        tx.atomic()
            .invoke(Scripts::compare_and_set("config", "", "v1"))
            .invoke(Scripts::lock_release("lock", "me"))
            .cmd("GET").arg("config");
        let (swapped, released, config): (i64, i64, String) = tx.query(&mut con).unwrap();
        assert_eq!((swapped, released, config.as_str()), (1, 1, "v1"));
    }

    async fn typed_calls_async(server) {
        let client = server.client();
        let mut con = ScriptCache::new(client.get_multiplexed_async_connection().await.expect("connect"));
        let left = Scripts::rate_limit("bucket", 10, 1, NOW_MS, 4)
            .invoke_async(&mut con)
            .await
            .expect("async rate_limit");
        assert_eq!(left, 6);
        let raw: redis::Value = Scripts::sum_counters(&["bucket:none"])
            .invoke_as_async(&mut con)
            .await
            .unwrap();
        assert_eq!(raw, redis::Value::Int(0));
        let acquired = Scripts::lock_acquire("lock", "me", 5_000).invoke_async(&mut con).await.unwrap();
        assert_eq!(acquired, 1);
    }
}
