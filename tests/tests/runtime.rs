//! The runtime cache against real servers: load policy, NOSCRIPT recovery,
//! read-only scripts, pipelines and transactions, runtime registration and
//! every error kind, on each server flavor.

use script_cache::prelude::*;
use script_cache::{Condition, Error, Ran, ScriptCache, pipe};
use script_cache_tests::{Flavor, Recording, RoundTripLog, TestServer, matrix};

script_cache::include_scripts!("../lua");

fn now_ms() -> u64 {
    1_700_000_000_000
}

/// A fresh connection to `server`, wrapped.
fn cache(server: &TestServer) -> ScriptCache<redis::Connection> {
    ScriptCache::new(server.connection())
}

/// A fresh connection that records its round trips, wrapped.
fn recorded(server: &TestServer) -> (ScriptCache<Recording<redis::Connection>>, RoundTripLog) {
    let rec = Recording::new(server.connection());
    let log = rec.log();
    (ScriptCache::new(rec), log)
}

fn has_evalsha_ro(flavor: Flavor) -> bool {
    flavor != Flavor::Redis62
}

/// What `INFO commandstats` counts as `script|load` after `loads` loads
/// and `surveys` surveys (a fresh state's first call of an embedded script
/// asks `SCRIPT EXISTS` of its enum): Redis 6.2 counts every `SCRIPT`
/// subcommand as `script`.
fn script_loads(flavor: Flavor, loads: u64, surveys: u64) -> u64 {
    if flavor == Flavor::Redis62 {
        loads + surveys
    } else {
        loads
    }
}

matrix! {
    fn first_call_loads_in_the_same_round_trip_then_evalsha_only(server) {
        let (mut con, rec) = recorded(server);
        server.reset_stats();

        let left: i64 = Scripts::RateLimit
            .key("bucket")
            .arg(10).arg(1).arg(now_ms()).arg(1)
            .invoke(&mut con)
            .expect("first call");
        assert_eq!(left, 9);
        let stats = server.commandstats();
        let flavor = server.flavor();
        assert_eq!(stats.calls("script|load"), script_loads(flavor, 1, 1));
        assert_eq!(stats.calls("evalsha"), 1);
        assert_eq!(stats.total_errors(), 0, "{stats:?}");
        // One round trip: the state's survey of the enum, the load, the call.
        assert_eq!(rec.round_trips(), vec![vec!["SCRIPT EXISTS", "SCRIPT LOAD", "EVALSHA"]]);
        assert_eq!(con.stats().surveys, 1);
        assert!(con.is_loaded(Scripts::RateLimit));

        for _ in 0..100 {
            let _: i64 = Scripts::RateLimit
                .key("bucket")
                .arg(1000).arg(1).arg(now_ms()).arg(0)
                .invoke(&mut con)
                .expect("warm call");
        }
        let stats = server.commandstats();
        assert_eq!(stats.calls("script|load"), script_loads(flavor, 1, 1), "no more loads");
        assert_eq!(stats.calls("evalsha"), 101);
        assert_eq!(stats.total_errors(), 0);
        let trips = rec.round_trips();
        assert_eq!(trips.len(), 101, "one round trip per call");
        assert!(trips[1..].iter().all(|t| t == &vec!["EVALSHA"]));
        let counters = con.stats();
        assert_eq!((counters.loads, counters.reloads, counters.calls), (1, 0, 101));
    }

    fn recovers_from_script_flush_between_calls(server) {
        let mut con = cache(server);
        let seen: i64 = Scripts::EnqueueOnce.key("seen").key("queue").arg("job-1").arg("payload")
            .invoke(&mut con).expect("first");
        assert_eq!(seen, 1);

        let mut admin = server.connection();
        redis::cmd("SCRIPT").arg("FLUSH").query::<()>(&mut admin).expect("flush");
        server.reset_stats();

        let again: i64 = Scripts::EnqueueOnce.key("seen").key("queue").arg("job-1").arg("payload")
            .invoke(&mut con).expect("after flush");
        assert_eq!(again, 0, "the duplicate is refused: the script ran exactly once");
        let stats = server.commandstats();
        // NOSCRIPT, then the retry: SCRIPT LOAD + EVALSHA in one round trip
        // (the server then holds it as SCRIPT LOAD's, which no server
        // evicts); no EVAL, as nothing came between the two.
        assert_eq!(stats.calls("evalsha"), 2, "NOSCRIPT, then the call after the load");
        assert_eq!(stats.get("evalsha").failed_calls, 1);
        assert_eq!(stats.calls("script|load"), 1, "{stats:?}");
        assert_eq!(stats.calls("eval"), 0, "{stats:?}");
        assert_eq!(con.stats().reloads, 1);
        assert_eq!(con.stats().atomic_retries, 0);
        // Loaded again: the next call is EVALSHA only.
        server.reset_stats();
        let third: i64 = Scripts::EnqueueOnce.key("seen").key("queue").arg("job-1").arg("payload")
            .invoke(&mut con).expect("third");
        assert_eq!(third, 0);
        assert_eq!(server.commandstats().calls("evalsha"), 1);
        assert_eq!(server.commandstats().total_errors(), 0);
        let len: i64 = redis::cmd("LLEN").arg("queue").query(&mut admin).expect("LLEN");
        assert_eq!(len, 1, "the job was pushed once");
    }

    async fn recovers_from_a_restart_with_connection_manager(server) {
        let manager = server.client().get_connection_manager().await.expect("manager");
        let mut con = ScriptCache::new(manager);
        let v: i64 = Scripts::CompareAndSet.key("k").arg("").arg("one")
            .invoke_async(&mut con).await.expect("first");
        assert_eq!(v, 1);

        server.restart().expect("restart");

        // The manager reconnects by itself; a call that meets the dead
        // connection fails with a connection error (it may or may not have
        // run, so it is not retried). Within a bounded time calls succeed,
        // and the first one on the new server recovers from NOSCRIPT.
        let mut result = None;
        for _ in 0..50 {
            match Scripts::CompareAndSet.key("k").arg("").arg("two")
                .invoke_async::<i64>(&mut con).await
            {
                Ok(v) => { result = Some(v); break; }
                Err(e) => {
                    assert!(e.is_connection_error(), "only connection errors while reconnecting: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
        assert_eq!(result, Some(1), "the restarted server has no key, so the CAS applies");
        assert_eq!(con.stats().reloads, 1, "one reload after NOSCRIPT");
        let stats = server.commandstats();
        assert_eq!((stats.calls("script|load"), stats.calls("eval")), (1, 0), "{stats:?}");
    }

    fn read_only_scripts_use_evalsha_ro_where_the_server_has_it(server) {
        let mut con = cache(server);
        let mut admin = server.connection();
        redis::cmd("MSET").arg("c1").arg(2).arg("c2").arg(40).query::<()>(&mut admin).expect("MSET");
        server.reset_stats();

        assert!(Scripts::SumCounters.read_only());
        for _ in 0..2 {
            let total: i64 = Scripts::SumCounters.key("c1").key("c2").key("missing")
                .invoke(&mut con).expect("sum");
            assert_eq!(total, 42);
        }
        // A flush: the retry loads it again with the read-only call where
        // there is one.
        redis::cmd("SCRIPT").arg("FLUSH").query::<()>(&mut admin).expect("flush");
        let total: i64 = Scripts::SumCounters.key("c1").invoke(&mut con).expect("after flush");
        assert_eq!(total, 2);

        let stats = server.commandstats();
        if has_evalsha_ro(server.flavor()) {
            assert_eq!((stats.calls("evalsha_ro"), stats.calls("eval_ro")), (4, 0), "{stats:?}");
            assert_eq!((stats.calls("evalsha"), stats.calls("eval")), (0, 0));
        } else {
            assert_eq!((stats.calls("evalsha"), stats.calls("eval")), (4, 0), "{stats:?}");
            assert_eq!((stats.calls("evalsha_ro"), stats.calls("eval_ro")), (0, 0));
        }
        assert_eq!(con.stats().loads, 2, "the first load and the reload: {stats:?}");
        // Asked before the first call, and checked again in the round trip
        // of the reload after the NOSCRIPT (the server that lost the script
        // may be another one): never on a steady call.
        assert_eq!(stats.calls("command|info"), 2, "capabilities asked at load time only");
        assert_eq!(con.stats().reloads, 1);
    }

    fn pipeline_loads_unknown_scripts_in_the_same_round_trip(server) {
        let (mut con, rec) = recorded(server);
        server.reset_stats();
        let mut p = pipe();
        p.invoke(Scripts::LockAcquire.key("lock").arg("me").arg(10_000))
            .cmd("SET").arg("plain").arg("x")
            .invoke(Scripts::CompareAndSet.key("cas").arg("").arg("v"))
            .cmd("GET").arg("plain")
            .invoke(Scripts::LockRelease.key("lock").arg("me"));
        let (acquired, set, cas, get, released): (i64, String, i64, String, i64) =
            p.query(&mut con).expect("pipeline");
        assert_eq!((acquired, set.as_str(), cas, get.as_str(), released), (1, "OK", 1, "x", 1));
        assert_eq!(
            rec.round_trips(),
            vec![vec!["SCRIPT LOAD", "SCRIPT LOAD", "SCRIPT LOAD", "EVALSHA", "SET", "EVALSHA", "GET", "EVALSHA"]]
        );
        let stats = server.commandstats();
        assert_eq!(stats.calls("script|load"), 3);
        assert_eq!(stats.calls("evalsha"), 3);
        assert_eq!(stats.total_errors(), 0);

        // Now confirmed: the same pipeline sends no loads.
        rec.clear();
        let _: (i64, String, i64, String, i64) = p.query(&mut con).expect("again");
        assert_eq!(rec.round_trips(), vec![vec!["EVALSHA", "SET", "EVALSHA", "GET", "EVALSHA"]]);
    }

    fn transaction_loads_inside_multi_ahead_of_the_calls(server) {
        let (mut con, rec) = recorded(server);
        let mut p = pipe();
        p.atomic()
            .invoke(Scripts::LockAcquire.key("lock").arg("me").arg(10_000))
            .cmd("INCR").arg("n")
            .invoke(Scripts::LockRelease.key("lock").arg("me"));
        let (acquired, n, released): (i64, i64, i64) = p.query(&mut con).expect("transaction");
        assert_eq!((acquired, n, released), (1, 1, 1));
        assert_eq!(
            rec.round_trips(),
            vec![vec!["MULTI", "SCRIPT LOAD", "SCRIPT LOAD", "EVALSHA", "INCR", "EVALSHA", "EXEC"]]
        );
        assert!(con.is_loaded(Scripts::LockAcquire) && con.is_loaded(Scripts::LockRelease));

        // By default every script is loaded inside the MULTI again, marks
        // or not: a flush since the last transaction cannot split this one.
        rec.clear();
        let (_, n, _): (i64, i64, i64) = p.query(&mut con).expect("again");
        assert_eq!(n, 2);
        assert_eq!(
            rec.round_trips(),
            vec![vec!["MULTI", "SCRIPT LOAD", "SCRIPT LOAD", "EVALSHA", "INCR", "EVALSHA", "EXEC"]]
        );
        // trust_marks(): confirmed scripts get no load (unsafe under flushes).
        rec.clear();
        p.trust_marks();
        let (_, n, _): (i64, i64, i64) = p.query(&mut con).expect("trust_marks");
        assert_eq!(n, 3);
        assert_eq!(rec.round_trips(), vec![vec!["MULTI", "EVALSHA", "INCR", "EVALSHA", "EXEC"]]);
    }

    fn transaction_loads_before_multi_on_request(server) {
        let (mut con, rec) = recorded(server);
        let mut p = pipe();
        p.atomic()
            .loads_before_multi()
            .invoke(Scripts::lock_acquire("lock", "me", 10_000))
            .cmd("INCR").arg("n")
            .invoke(Scripts::lock_release("lock", "me"));
        let (acquired, n, released): (i64, i64, i64) = p.query(&mut con).expect("transaction");
        assert_eq!((acquired, n, released), (1, 1, 1));
        assert_eq!(
            rec.round_trips(),
            vec![vec!["SCRIPT LOAD", "SCRIPT LOAD", "MULTI", "EVALSHA", "INCR", "EVALSHA", "EXEC"]]
        );
        assert!(con.is_loaded(Scripts::LockAcquire) && con.is_loaded(Scripts::LockRelease));
        rec.clear();
        let _: (i64, i64, i64) = p.query(&mut con).expect("again");
        assert_eq!(
            rec.round_trips(),
            vec![vec!["SCRIPT LOAD", "SCRIPT LOAD", "MULTI", "EVALSHA", "INCR", "EVALSHA", "EXEC"]]
        );

        // Loads sent before an aborted transaction still ran: they count.
        let mut tx = pipe();
        tx.atomic().loads_before_multi()
            .invoke(Scripts::compare_and_set("cas", "", "v"))
            .cmd("INCR"); // wrong number of arguments: EXECABORT
        let err = tx.query::<(i64, i64)>(&mut con).expect_err("EXECABORT");
        assert!(matches!(err, Error::TransactionAborted { .. }), "{err}");
        assert!(con.is_loaded(Scripts::CompareAndSet));
        let v: Option<String> = redis::cmd("GET").arg("cas").query(&mut con).expect("GET");
        assert_eq!(v, None, "the script itself did not run");
    }

    fn pipeline_noscript_is_a_typed_error_and_never_replayed(server) {
        let mut con = cache(server);
        let _: i64 = Scripts::CompareAndSet.key("cas").arg("").arg("a").invoke(&mut con).expect("load");
        let mut admin = server.connection();
        redis::cmd("SCRIPT").arg("FLUSH").query::<()>(&mut admin).expect("flush");

        let mut p = pipe();
        p.cmd("INCR").arg("counter")
            .invoke(Scripts::CompareAndSet.key("cas").arg("a").arg("b"));
        let err = p.query::<(i64, i64)>(&mut con).expect_err("NOSCRIPT inside a pipeline");
        // The INCR ran: the pipeline's error says so; the entry's error
        // says the script did not.
        assert_eq!(err.ran(), Ran::Yes, "{err}");
        match &err {
            Error::Pipeline { entries } => match entries[1].error() {
                Some(Error::NoScript { script, after_reload: false }) => {
                    assert_eq!(&*script.name, "compare_and_set");
                    assert_eq!(entries[1].ran(), Ran::No);
                    assert_eq!(entries[0].ran(), Ran::Yes);
                }
                other => panic!("expected NoScript for entry 1, got {other:?}"),
            },
            other => panic!("expected Pipeline, got {other}"),
        }
        let each = p.query_each(&mut con).expect("sent").expect("not a transaction");
        assert_eq!(each.len(), 2);
        assert!(each[0].is_ok() && each[1].is_ok(), "marked unloaded, so this time it loads: {each:?}");
        let counter: i64 = redis::cmd("GET").arg("counter").query(&mut admin).expect("GET");
        assert_eq!(counter, 2, "the pipeline was sent twice by the caller, never replayed");
    }

    fn pipeline_command_errors_and_aborted_transactions(server) {
        let mut con = cache(server);
        redis::cmd("RPUSH").arg("a_list").arg(1).query::<()>(&mut con).expect("RPUSH");
        // A plain command failing inside a pipeline names its position.
        let mut p = pipe();
        p.invoke(Scripts::SumCounters.key("x")).cmd("INCR").arg("a_list");
        let err = p.query::<(i64, i64)>(&mut con).expect_err("WRONGTYPE");
        assert_eq!(err.ran(), Ran::Yes, "{err}");
        match err {
            Error::Pipeline { entries } => match entries[1].error() {
                Some(Error::Command { index, source }) => {
                    assert_eq!(*index, 1);
                    assert_eq!(source.code(), Some("WRONGTYPE"));
                    assert_eq!(entries[1].ran(), Ran::Yes, "the server answered");
                }
                other => panic!("expected Command for entry 1, got {other:?}"),
            },
            other => panic!("expected Pipeline, got {other:?}"),
        }
        // A command refused while queueing aborts the whole transaction:
        // nothing ran, not even the loads inside MULTI.
        let mut tx = pipe();
        tx.atomic()
            .invoke(Scripts::CompareAndSet.key("cas").arg("").arg("v"))
            .cmd("INCR"); // wrong number of arguments
        match tx.query::<(i64, i64)>(&mut con).expect_err("EXECABORT") {
            Error::TransactionAborted { message } => assert!(message.contains("ERR"), "{message}"),
            other => panic!("expected TransactionAborted, got {other:?}"),
        }
        assert!(!con.is_loaded(Scripts::CompareAndSet));
        let v: Option<String> = redis::cmd("GET").arg("cas").query(&mut con).expect("GET");
        assert_eq!(v, None, "the script did not run");
        // A WATCHed key changed: the transaction's reply is nil, like redis-rs.
        redis::cmd("WATCH").arg("w").query::<()>(&mut con).expect("WATCH");
        let mut admin = server.connection();
        redis::cmd("SET").arg("w").arg("changed").query::<()>(&mut admin).expect("SET");
        let mut tx = pipe();
        tx.atomic().invoke(Scripts::CompareAndSet.key("w").arg("changed").arg("mine"));
        let reply: Option<(i64,)> = tx.query(&mut con).expect("aborted by WATCH");
        assert_eq!(reply, None);
        let w: String = redis::cmd("GET").arg("w").query(&mut admin).expect("GET");
        assert_eq!(w, "changed");
    }

    async fn herd_of_cold_tasks_loads_once(server) {
        let client = server.client();
        let shared = ScriptCache::new(client.get_multiplexed_async_connection().await.expect("connect"));
        server.reset_stats();
        let mut tasks = Vec::new();
        for i in 0..500u32 {
            let mut con = shared.clone();
            tasks.push(tokio::spawn(async move {
                Scripts::EnqueueOnce.key("seen").key("queue").arg(i).arg("job")
                    .invoke_async::<i64>(&mut con).await
            }));
        }
        let mut ok = 0;
        for task in tasks {
            let len = task.await.expect("join").expect("call");
            assert!(len >= 1);
            ok += 1;
        }
        assert_eq!(ok, 500);
        let stats = server.commandstats();
        // The first task loads (with the state's survey); the others wait
        // for its reply instead of sending the source too.
        assert_eq!(stats.calls("script|load"), script_loads(server.flavor(), 1, 1), "{stats:?}");
        assert_eq!(shared.stats().surveys, 1);
        assert_eq!(stats.calls("evalsha"), 500);
        assert_eq!(stats.total_errors(), 0, "{stats:?}");
        assert_eq!(shared.stats().calls, 500);
    }

    async fn herd_after_a_flush_reloads_once(server) {
        let client = server.client();
        let shared = ScriptCache::new(client.get_multiplexed_async_connection().await.expect("connect"));
        let mut warm = shared.clone();
        let _: i64 = Scripts::SumCounters.key("x").invoke_async(&mut warm).await.expect("warm up");
        let mut admin = server.connection();
        redis::cmd("SCRIPT").arg("FLUSH").query::<()>(&mut admin).expect("flush");
        server.reset_stats();
        let mut tasks = Vec::new();
        for _ in 0..200 {
            let mut con = shared.clone();
            tasks.push(tokio::spawn(async move {
                Scripts::SumCounters.key("x").invoke_async::<i64>(&mut con).await
            }));
        }
        for task in tasks {
            assert_eq!(task.await.expect("join").expect("call"), 0);
        }
        let stats = server.commandstats();
        // The tasks meet NOSCRIPT (or start after the first one cleared the
        // mark), but they wait for one reload: an EVAL_RO (EVAL on 6.2) by a
        // task that met NOSCRIPT, or a SCRIPT LOAD by one whose first
        // attempt found the script unmarked. After an EVAL, one SCRIPT LOAD
        // by a later first attempt loads the script for good (EVAL's copy
        // is evictable on newer servers). No herd either way.
        let evals = stats.calls("eval") + stats.calls("eval_ro");
        let loads = stats.calls("script|load");
        assert!(evals <= 1 && loads <= 1 && evals + loads >= 1, "{stats:?}");
        assert_eq!(shared.stats().reloads, 1);
        assert_eq!(stats.total_errors(), stats.get("evalsha").failed_calls + stats.get("evalsha_ro").failed_calls, "only NOSCRIPTs failed: {stats:?}");
    }

    async fn cancelled_loaders_do_not_block_the_others(server) {
        let client = server.client();
        let shared = ScriptCache::new(client.get_multiplexed_async_connection().await.expect("connect"));
        // Calls dropped mid-flight, some of them while loading the script:
        // the "loading" mark they leave must not make later calls wait forever.
        for _ in 0..20 {
            let mut con = shared.clone();
            let call = async move {
                Scripts::compare_and_set("cancelled", "", "x").invoke_async(&mut con).await
            };
            let _ = tokio::time::timeout(std::time::Duration::from_micros(50), call).await;
        }
        let mut tasks = Vec::new();
        for _ in 0..100 {
            let mut con = shared.clone();
            tasks.push(tokio::spawn(async move {
                Scripts::sum_counters(&["nothing"]).invoke_async(&mut con).await
            }));
        }
        let all = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            for task in tasks {
                assert_eq!(task.await.expect("join").expect("call"), 0);
            }
        });
        all.await.expect("no call may hang on an abandoned load");
        let mut con = shared.clone();
        let v: i64 = Scripts::compare_and_set("after", "", "y").invoke_async(&mut con).await.expect("after");
        assert_eq!(v, 1);
    }

    async fn async_clones_share_what_is_loaded(server) {
        let client = server.client();
        let mut a = ScriptCache::new(client.get_multiplexed_async_connection().await.expect("connect"));
        let mut b = a.clone();
        server.reset_stats();
        let _: i64 = Scripts::LockAcquire.key("l").arg("x").arg(1000).invoke_async(&mut a).await.expect("a");
        let _: i64 = Scripts::LockRelease.key("l").arg("x").invoke_async(&mut b).await.expect("b");
        let _: i64 = Scripts::LockAcquire.key("l").arg("y").arg(1000).invoke_async(&mut b).await.expect("b");
        let stats = server.commandstats();
        assert_eq!(stats.calls("script|load"), script_loads(server.flavor(), 2, 1));
        assert_eq!(stats.calls("evalsha"), 3);
        assert_eq!(a.stats(), b.stats());
        assert_eq!(a.stats().surveys, 1, "one survey for the clones' state");
        // Still a normal async connection.
        let v: Option<String> = redis::cmd("GET").arg("l").query_async(&mut a).await.expect("GET");
        assert_eq!(v.as_deref(), Some("y"));
        // Async pipelines too.
        let mut p = pipe();
        p.invoke(Scripts::SumCounters.key("nothing")).cmd("PING");
        let (sum, pong): (i64, String) = p.query_async(&mut b).await.expect("pipeline");
        assert_eq!((sum, pong.as_str()), (0, "PONG"));
    }

    fn load_all_preloads_in_one_round_trip(server) {
        let (mut con, rec) = recorded(server);
        let n = con.load_all::<Scripts>().expect("load_all");
        assert_eq!(n, Scripts::ALL.len());
        let trips = rec.round_trips();
        assert_eq!(trips.len(), 2, "capability probe, then all loads: {trips:?}");
        assert_eq!(trips[1].len(), Scripts::ALL.len());
        assert!(trips[1].iter().all(|c| c == "SCRIPT LOAD"));
        assert!(Scripts::ALL.iter().all(|s| con.is_loaded(*s)));
        assert_eq!(con.load_all::<Scripts>().expect("again"), 0, "nothing left to load");
        rec.clear();
        let _: i64 = Scripts::LockRelease.key("l").arg("x").invoke(&mut con).expect("call");
        assert_eq!(rec.round_trips(), vec![vec!["EVALSHA"]]);
    }

    fn still_a_normal_connection(server) {
        let mut con = cache(server);
        redis::cmd("SET").arg("plain").arg("value").query::<()>(&mut con).expect("SET");
        let v: String = redis::cmd("GET").arg("plain").query(&mut con).expect("GET");
        assert_eq!(v, "value");
        let (a, b): (String, i64) = redis::pipe().cmd("GET").arg("plain").cmd("INCR").arg("n")
            .query(&mut con).expect("redis pipeline");
        assert_eq!((a.as_str(), b), ("value", 1));
    }

    fn registration_verbs(server) {
        let mut con = cache(server);
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("b_get.lua"), "return redis.call('GET', KEYS[1])").expect("write");
        std::fs::write(dir.path().join("a_set.lua"), "return redis.call('SET', KEYS[1], ARGV[1])").expect("write");
        std::fs::write(dir.path().join(".hidden.lua"), "return 1").expect("write");
        std::fs::write(dir.path().join("notes.txt"), "not a script").expect("write");
        std::fs::create_dir(dir.path().join("lib")).expect("mkdir");
        std::fs::write(dir.path().join("lib/util.lua"), "return 2").expect("write");
        std::fs::write(dir.path().join("lib/echo.lua"), "return ARGV[1]").expect("write");

        // register_all_scripts: top-level *.lua, sorted, names returned.
        let names = con.register_all_scripts(dir.path()).expect("register_all_scripts");
        assert_eq!(names, vec!["a_set", "b_get"]);
        // register_file: relative to the script folder.
        con.set_script_dir(dir.path().join("lib"));
        assert_eq!(con.register_file("echo.lua").expect("register_file"), "echo");
        // register_script returns the SHA-1 SCRIPT LOAD will answer.
        let sha = con.register_script("sum", "return tonumber(ARGV[1]) + tonumber(ARGV[2])").expect("register");
        let mut admin = server.connection();
        let server_sha: String = redis::cmd("SCRIPT").arg("LOAD")
            .arg("return tonumber(ARGV[1]) + tonumber(ARGV[2])").query(&mut admin).expect("load");
        assert_eq!(sha, server_sha);
        assert_eq!(con.scripts(), vec!["a_set", "b_get", "echo", "sum"]);

        // run_script
        let ok: String = con.run_script("a_set", &["k"], &["v"]).expect("run a_set");
        assert_eq!(ok, "OK");
        let v: Option<String> = con.run_script("b_get", &["k"], &[] as &[&str]).expect("run b_get");
        assert_eq!(v.as_deref(), Some("v"));
        let echo: String = con.run_script("echo", &[] as &[&str], &["hi"]).expect("run echo");
        assert_eq!(echo, "hi");
        let sum: i64 = con.run_script("sum", &[] as &[&str], (2, 40)).expect("run sum");
        assert_eq!(sum, 42);

        // Same name, same source: fine. Other source: refused unless replaced.
        con.register_script("sum", "return tonumber(ARGV[1]) + tonumber(ARGV[2])").expect("same again");
        let err = con.register_script("sum", "return 0").expect_err("taken");
        assert!(matches!(err, Error::NameTaken { ref name, .. } if name == "sum"), "{err}");
        con.replace_script("sum", "return 7").expect("replace");
        let seven: i64 = con.run_script("sum", &[] as &[&str], &[] as &[&str]).expect("replaced");
        assert_eq!(seven, 7);

        // flush_cache: SCRIPT FLUSH, registry kept, next call reloads.
        server.reset_stats();
        con.flush_cache().expect("flush");
        assert_eq!(con.loaded_count(), 0);
        assert_eq!(con.scripts(), vec!["a_set", "b_get", "echo", "sum"]);
        let v: Option<String> = con.run_script("b_get", &["k"], &[] as &[&str]).expect("after flush");
        assert_eq!(v.as_deref(), Some("v"));
        let stats = server.commandstats();
        if server.flavor() == Flavor::Redis62 {
            assert_eq!(stats.calls("script"), 2, "FLUSH and LOAD: 6.2 counts SCRIPT as one command");
        } else {
            assert_eq!(stats.calls("script|flush"), 1);
            assert_eq!(stats.calls("script|load"), 1);
        }
        assert_eq!(stats.get("evalsha").failed_calls, 0, "marks forgotten, so no NOSCRIPT");
    }

    fn registered_script_with_shebang_runs_everywhere(server) {
        let mut con = cache(server);
        con.register_script("ro_get", "#!lua flags=no-writes\nreturn redis.call('GET', KEYS[1])").expect("register");
        redis::cmd("SET").arg("k").arg("v").query::<()>(&mut con).expect("SET");
        server.reset_stats();
        let v: String = con.run_script("ro_get", &["k"], &[] as &[&str]).expect("run");
        assert_eq!(v, "v");
        let stats = server.commandstats();
        let expected = if has_evalsha_ro(server.flavor()) { "evalsha_ro" } else { "evalsha" };
        assert_eq!(stats.calls(expected), 1, "{stats:?}");
    }

    fn unknown_script_names_similar_ones(server) {
        let mut con = cache(server);
        con.register_script("rate_limit", "return 1").expect("register");
        con.register_script("lock_acquire", "return 1").expect("register");
        let err = con.run_script::<i64>("rate_limt", &[] as &[&str], &[] as &[&str]).expect_err("unknown");
        match &err {
            Error::UnknownScript { name, similar } => {
                assert_eq!(name, "rate_limt");
                assert_eq!(similar, &vec!["rate_limit".to_owned()]);
            }
            other => panic!("expected UnknownScript, got {other}"),
        }
        assert!(err.to_string().contains("did you mean `rate_limit`?"), "{err}");
        // The embedded enum's FromStr agrees on names.
        assert_eq!("rate_limit".parse::<Scripts>().expect("parse"), Scripts::RateLimit);
        assert!("rate_limt".parse::<Scripts>().is_err());
    }

    /// An error reply without a conventional code (an all-uppercase word)
    /// keeps its whole text; one with a code of the script's own keeps it.
    fn error_reply_without_a_code_keeps_its_text(server) {
        let mut con = cache(server);
        con.register_script("mine", "return redis.error_reply('my failure')").expect("register");
        let err = con.run_script::<i64>("mine", &[] as &[&str], &[] as &[&str]).expect_err("error_reply");
        match &err {
            Error::Script { code, message, .. } => {
                assert_eq!(code, "", "{err}");
                assert_eq!(message, "my failure", "{err}");
            }
            other => panic!("expected Script, got {other:?}"),
        }
        assert!(err.to_string().ends_with("failed: my failure"), "{err}");
        con.register_script("coded", "return redis.error_reply('RATE_LIMITED slow down')").expect("register");
        let err = con.run_script::<i64>("coded", &[] as &[&str], &[] as &[&str]).expect_err("error_reply");
        match &err {
            Error::Script { code, message, .. } => {
                assert_eq!(code, "RATE_LIMITED", "{err}");
                assert_eq!(message, "slow down", "{err}");
            }
            other => panic!("expected Script, got {other:?}"),
        }
        assert_eq!(err.ran(), Ran::Yes);
    }

    /// The server closes the connection (CLIENT KILL): the next call's
    /// error says the connection was lost and the script may have run.
    fn a_dropped_connection_says_the_script_may_have_run(server) {
        let mut con = cache(server);
        let id: i64 = redis::cmd("CLIENT").arg("ID").query(&mut con).expect("CLIENT ID");
        let _: i64 = Scripts::LockRelease.key("l").arg("me").invoke(&mut con).expect("first call");
        let mut admin = server.connection();
        let killed: i64 = redis::cmd("CLIENT").arg("KILL").arg("ID").arg(id).query(&mut admin).expect("CLIENT KILL");
        assert_eq!(killed, 1);
        let err = Scripts::LockRelease.key("l").arg("me").invoke::<i64>(&mut con).expect_err("connection closed");
        assert_eq!(err.ran(), Ran::Unknown, "{err:?}");
        assert!(err.is_connection_error(), "{err:?}");
        assert!(
            err.to_string().contains("connection lost; the script may have run"),
            "{err}"
        );
        assert!(err.to_string().contains("lock_release"), "{err}");
    }

    fn lua_runtime_error_names_script_and_line(server) {
        let mut con = cache(server);
        con.register_script("broken", "local t = nil\nlocal x = 1\nreturn t.field").expect("register");
        let err = con.run_script::<i64>("broken", &[] as &[&str], &[] as &[&str]).expect_err("runtime error");
        match &err {
            Error::Script { script, line, message, location, .. } => {
                assert_eq!(&*script.name, "broken");
                assert_eq!(*line, Some(3), "{message}");
                let location = location.as_ref().expect("a location");
                assert_eq!((location.file.as_str(), location.line), ("broken", 3));
            }
            other => panic!("expected Script, got {other:?}"),
        }
        assert!(err.to_string().contains("script `broken`"), "{err}");
        assert!(err.to_string().contains("failed at broken:3"), "{err}");

        // An error_reply from a real script, with its own message.
        let err = Scripts::RateLimit.key("b").arg(0).arg(1).arg(now_ms()).arg(1)
            .invoke::<i64>(&mut con).expect_err("capacity 0 is refused");
        match &err {
            Error::Script { script, message, .. } => {
                assert_eq!(&*script.name, "rate_limit");
                assert_eq!(&*script.sha1, Scripts::RateLimit.sha1());
                assert!(message.contains("capacity and refill_per_sec must be > 0"), "{message}");
            }
            other => panic!("expected Script, got {other:?}"),
        }
        // A failing redis.call inside the script keeps the server's code.
        redis::cmd("RPUSH").arg("a_list").arg(1).query::<()>(&mut con).expect("RPUSH");
        let err = Scripts::CompareAndSet.key("a_list").arg("").arg("x")
            .invoke::<i64>(&mut con).expect_err("wrong type");
        match &err {
            Error::Script { code, .. } => assert_eq!(code, "WRONGTYPE", "{err}"),
            other => panic!("expected Script, got {other:?}"),
        }
    }

    fn acl_refusals_are_permission_errors(server) {
        let mut admin = server.connection();
        // No SCRIPT LOAD and no EVAL: only scripts an admin preloaded run.
        let mut noload_rules = redis::cmd("ACL");
        noload_rules.arg("SETUSER").arg("noload").arg("on").arg("nopass").arg("~*").arg("+@all").arg("-script").arg("-eval");
        if has_evalsha_ro(server.flavor()) {
            noload_rules.arg("-eval_ro");
        }
        noload_rules.query::<()>(&mut admin).expect("ACL SETUSER noload");
        let mut setuser = redis::cmd("ACL");
        setuser.arg("SETUSER").arg("nocall").arg("on").arg("nopass").arg("~*").arg("+@all").arg("-evalsha");
        if has_evalsha_ro(server.flavor()) {
            setuser.arg("-evalsha_ro");
        }
        setuser.query::<()>(&mut admin).expect("ACL SETUSER nocall");

        let mut noload = cache(server);
        redis::cmd("AUTH").arg("noload").arg("x").query::<()>(&mut noload).expect("AUTH noload");
        let err = Scripts::LockRelease.key("l").arg("me").invoke::<i64>(&mut noload).expect_err("NOPERM");
        match &err {
            Error::PermissionDenied { script, command, .. } => {
                assert_eq!(&*script.name, "lock_release");
                // SCRIPT LOAD refused, then EVAL refused: the last word.
                assert_eq!(*command, "EVAL");
            }
            other => panic!("expected PermissionDenied, got {other:?}"),
        }
        assert!(!noload.is_loaded(Scripts::LockRelease));

        let mut nocall = cache(server);
        redis::cmd("AUTH").arg("nocall").arg("x").query::<()>(&mut nocall).expect("AUTH nocall");
        let err = Scripts::LockRelease.key("l").arg("me").invoke::<i64>(&mut nocall).expect_err("NOPERM");
        match &err {
            Error::PermissionDenied { command, .. } => assert_eq!(*command, "EVALSHA"),
            other => panic!("expected PermissionDenied, got {other:?}"),
        }
    }

    fn out_of_memory_is_its_own_error(server) {
        let mut admin = server.connection();
        redis::cmd("SET").arg("filler").arg("x".repeat(64 * 1024)).query::<()>(&mut admin).expect("SET");
        let mut con = cache(server);
        con.load_all::<Scripts>().expect("load before the limit");
        redis::cmd("CONFIG").arg("SET").arg("maxmemory").arg(1).query::<()>(&mut admin).expect("maxmemory");
        redis::cmd("CONFIG").arg("SET").arg("maxmemory-policy").arg("noeviction").query::<()>(&mut admin).expect("policy");
        let err = Scripts::EnqueueOnce.key("seen").key("q").arg("id").arg("job")
            .invoke::<i64>(&mut con).expect_err("OOM");
        redis::cmd("CONFIG").arg("SET").arg("maxmemory").arg(0).query::<()>(&mut admin).expect("reset");
        match &err {
            Error::Unavailable { script: Some(script), condition: Condition::OutOfMemory, .. } => {
                assert_eq!(&*script.name, "enqueue_once");
            }
            other => panic!("expected OOM, got {other:?}"),
        }
        assert_eq!(err.ran(), Ran::No, "an OOM refusal applied nothing");
        let seen: bool = redis::cmd("EXISTS").arg("seen").query(&mut admin).expect("EXISTS");
        assert!(!seen, "nothing was written");
    }

    fn connection_errors_name_the_script(server) {
        let mut con = cache(server);
        server.kill();
        let err = Scripts::LockRelease.key("l").arg("me").invoke::<i64>(&mut con).expect_err("dead server");
        assert!(err.is_connection_error(), "{err:?}");
        assert_eq!(err.script().map(|s| &*s.name), Some("lock_release"));
    }
}

/// A script whose build-time SHA-1 is stale: what a binary built from an
/// older file would carry if the SHA were not recomputed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stale {
    Body,
}

static STALE_BODY: script_cache::ScriptMeta = script_cache::ScriptMeta::__new(
    "stale_body",
    "stale_body.lua",
    "return 'the new body'",
    "1111111111111111111111111111111111111111",
    None,
    &[],
    script_cache::Arity::Exact(0),
    script_cache::Arity::Exact(0),
    "",
    &[],
);

impl EmbeddedScript for Stale {
    const ALL: &'static [Self] = &[Stale::Body];
    fn meta(self) -> &'static script_cache::ScriptMeta {
        &STALE_BODY
    }
}

matrix! {
    fn sha_mismatch_is_an_error_and_never_marks_loaded(server) {
        let mut con = cache(server);
        for _ in 0..2 {
            let err = Stale::Body.invocation().invoke::<String>(&mut con).expect_err("mismatch");
            match &err {
                Error::ShaMismatch { script, server_sha1 } => {
                    assert_eq!(&*script.name, "stale_body");
                    assert_eq!(&*script.sha1, "1111111111111111111111111111111111111111");
                    let real = sha1_smol::Sha1::from("return 'the new body'").digest().to_string();
                    assert_eq!(server_sha1, &real, "the server's SHA-1 of the body");
                }
                other => panic!("expected ShaMismatch, got {other:?}"),
            }
            assert!(!con.is_loaded(Stale::Body));
        }
        let err = con.load_all::<Stale>().expect_err("load_all checks too");
        assert!(matches!(err, Error::ShaMismatch { .. }), "{err}");
        let err = pipe().invoke(Stale::Body.invocation()).query::<(String,)>(&mut con).expect_err("pipelines check too");
        assert!(matches!(err, Error::ShaMismatch { .. }), "{err}");
        assert_eq!(con.loaded_count(), 0);
    }
}

/// Bodies whose `#!` line every flavor refuses at `SCRIPT LOAD`: Redis 7
/// and Valkey for the shebang itself, Redis 6.2 because `#!` is not Lua.
const REFUSED_SHEBANGS: &[&str] = &[
    "#!lua flags=bogus\nreturn 1",
    "#!lua flags=no-writes,,allow-oom\nreturn 1",
    "#!lua name=mylib\nreturn 1",
    "#!python\nreturn 1",
    "#!lua",
];

/// Calls of the script commands in `INFO commandstats`: what a refusal
/// before sending must leave at zero.
fn script_commands(server: &TestServer) -> u64 {
    let stats = server.commandstats();
    [
        "eval",
        "eval_ro",
        "evalsha",
        "evalsha_ro",
        "script|load",
        "script",
    ]
    .iter()
    .map(|c| stats.calls(c))
    .sum()
}

matrix! {
    fn registration_refuses_what_script_load_refuses(server) {
        let mut con = cache(server);
        let mut raw = server.connection();
        server.reset_stats();
        for body in REFUSED_SHEBANGS {
            let err = con.register_script("x", body).expect_err("refused at registration");
            assert!(matches!(&err, Error::Shebang { name, .. } if name == "x"), "{body:?}: {err:?}");
            assert_eq!(err.ran(), Ran::No, "{err}");
            assert!(err.to_string().contains("script `x`"), "{err}");
        }
        assert!(con.scripts().is_empty(), "nothing registered");
        assert_eq!(script_commands(server), 0, "nothing sent");
        // The server refuses the same bodies.
        for body in REFUSED_SHEBANGS {
            let reply = redis::cmd("SCRIPT").arg("LOAD").arg(*body).query::<String>(&mut raw);
            let err = reply.expect_err("the server refuses it too");
            let text = err.to_string();
            if server.flavor() == Flavor::Redis62 {
                assert!(text.contains("Error compiling script"), "{body:?}: {text}");
            } else {
                let text = text.to_lowercase();
                assert!(text.contains("shebang") || text.contains("scripting engine"), "{body:?}: {text}");
            }
            eprintln!("{}: {body:?}: {text}", server.flavor());
        }
        // A valid shebang registers, loads where the server reads shebangs
        // (under the SHA-1 registration computed) and runs everywhere.
        let body = "#!lua flags=no-writes,allow-stale\nreturn redis.call('GET', KEYS[1])";
        let sha = con.register_script("ro", body).expect("a valid shebang registers");
        let loaded = redis::cmd("SCRIPT").arg("LOAD").arg(body).query::<String>(&mut raw);
        if server.flavor() == Flavor::Redis62 {
            assert!(loaded.is_err(), "6.2 gets the legacy body, never this one");
        } else {
            assert_eq!(loaded.expect("SCRIPT LOAD"), sha);
        }
        redis::cmd("SET").arg("k").arg("v").query::<()>(&mut raw).expect("SET");
        let v: String = con.run_script("ro", &["k"], &[] as &[&str]).expect("run");
        assert_eq!(v, "v");
    }

    fn untyped_calls_with_a_wrong_count_are_refused_before_sending(server) {
        let mut con = cache(server);
        server.reset_stats();
        // rate_limit takes 1 key and 4 args.
        let err = Scripts::RateLimit.key("b").arg(3).invoke::<i64>(&mut con).expect_err("wrong count");
        match &err {
            Error::WrongArity { script, expected_keys, keys, expected_args, args } => {
                assert_eq!(&*script.name, "rate_limit");
                assert_eq!((*expected_keys, *keys), (Arity::Exact(1), 1));
                assert_eq!((*expected_args, *args), (Arity::Exact(4), 1));
            }
            other => panic!("expected WrongArity, got {other:?}"),
        }
        assert_eq!(err.ran(), Ran::No);
        let text = err.to_string();
        assert!(text.contains("rate_limit") && text.contains("4 arguments") && text.contains("gives 1 key and 1 argument"), "{text}");
        // Too many keys, too few: refused as well.
        for inv in [
            Scripts::RateLimit.key("b").key("c").arg(10).arg(1).arg(now_ms()).arg(1),
            Scripts::RateLimit.arg(10).arg(1).arg(now_ms()).arg(1),
            Scripts::LockAcquire.key("l").arg("me"),
        ] {
            let err = inv.invoke::<redis::Value>(&mut con).expect_err("wrong count");
            assert!(matches!(err, Error::WrongArity { .. }), "{err}");
        }
        // A variadic script takes any count from its minimum up.
        assert_eq!(Scripts::SumCounters.keys(), Arity::Variadic { min: 0 });
        let err = Scripts::SumCounters.key("a").arg(1).invoke::<i64>(&mut con).expect_err("an arg too many");
        assert!(matches!(err, Error::WrongArity { args: 1, .. }), "{err}");
        assert_eq!(script_commands(server), 0, "nothing sent");
        let mut raw = server.connection();
        let exists: i64 = redis::cmd("EXISTS").arg("b").arg("l").query(&mut raw).expect("EXISTS");
        assert_eq!(exists, 0, "nothing written");
        // The right counts run.
        let left: i64 = Scripts::RateLimit.key("b").arg(10).arg(1).arg(now_ms()).arg(3)
            .invoke(&mut con).expect("right count");
        assert_eq!(left, 7);
        let none: i64 = Scripts::SumCounters.invocation().invoke(&mut con).expect("no keys");
        assert_eq!(none, 0);
        redis::cmd("SET").arg("c1").arg(2).query::<()>(&mut raw).expect("SET");
        let sum: i64 = Scripts::SumCounters.key("c1").key("c2").invoke(&mut con).expect("two keys");
        assert_eq!(sum, 2);
    }

    fn registered_scripts_are_preloaded_and_verified(server) {
        let mut con = cache(server);
        let mut raw = server.connection();
        con.register_script("plain", "return 1").expect("register");
        con.register_script("ro", "#!lua flags=no-writes\nreturn 2").expect("register");
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(con.missing_registered().expect("verify"), names(&["plain", "ro"]));
        server.reset_stats();
        let report = con.load_registered().expect("preload");
        assert_eq!((report.loaded, report.known, report.failed.len()), (2, 0, 0));
        // One SCRIPT LOAD each, the body this server runs (the legacy one
        // on Redis 6.2: it is what the server then has).
        assert_eq!(server.commandstats().calls("script|load"), 2);
        assert!(con.missing_registered().expect("verify").is_empty());
        let again = con.load_registered().expect("preload again");
        assert_eq!((again.loaded, again.known), (0, 2));
        redis::cmd("SCRIPT").arg("FLUSH").query::<()>(&mut raw).expect("flush");
        // The server is asked, not the state.
        assert_eq!(con.missing_registered().expect("verify"), names(&["plain", "ro"]));
        let v: i64 = con.run_script("ro", &[] as &[&str], &[] as &[&str]).expect("run");
        assert_eq!(v, 2);
    }

    fn pipelines_with_a_wrong_count_are_refused_before_sending(server) {
        let mut con = cache(server);
        let mut raw = server.connection();
        server.reset_stats();
        for atomic in [false, true] {
            let mut p = script_cache::pipe();
            if atomic {
                p.atomic();
            }
            // An INCR before the bad entry: nothing of the pipeline is sent.
            p.cmd("INCR").arg("n").invoke(Scripts::RateLimit.key("b").arg(3));
            let err = p.query::<redis::Value>(&mut con).expect_err("wrong count");
            assert!(matches!(err, Error::WrongArity { keys: 1, args: 1, .. }), "{err}");
            assert_eq!(err.ran(), Ran::No);
        }
        let stats = server.commandstats();
        assert_eq!((script_commands(server), stats.calls("incr")), (0, 0), "{stats:?}");
        let exists: i64 = redis::cmd("EXISTS").arg("n").arg("b").query(&mut raw).expect("EXISTS");
        assert_eq!(exists, 0, "nothing written");
    }

    async fn untyped_async_calls_with_a_wrong_count_are_refused_before_sending(server) {
        let conn = server.client().get_multiplexed_async_connection().await.expect("connect");
        let mut con = ScriptCache::new(conn);
        server.reset_stats();
        let err = Scripts::RateLimit.key("b").arg(3).invoke_async::<i64>(&mut con).await.expect_err("wrong count");
        assert!(matches!(err, Error::WrongArity { keys: 1, args: 1, .. }), "{err}");
        assert_eq!(err.ran(), Ran::No);
        assert_eq!(script_commands(server), 0, "nothing sent");
    }
}

#[test]
fn registration_keeps_to_the_script_folder() {
    let root = tempfile::tempdir().expect("tempdir");
    let scripts = root.path().join("scripts");
    let other = root.path().join("other");
    std::fs::create_dir(&scripts).expect("mkdir");
    std::fs::create_dir(&other).expect("mkdir");
    std::fs::write(scripts.join("inside.lua"), "return 1").expect("write");
    std::fs::write(root.path().join("outside.lua"), "return 2").expect("write");
    std::fs::write(other.join("b.lua"), "return 3").expect("write");
    std::os::unix::fs::symlink(root.path().join("outside.lua"), scripts.join("link.lua"))
        .expect("symlink");
    std::os::unix::fs::symlink(&other, scripts.join("sub")).expect("symlink");

    let state = ScriptState::new();
    state.set_script_dir(&scripts);
    let outside = |err: Error, named: &str| {
        match &err {
            Error::OutsideScriptDir { path, script_dir } => {
                assert!(path.ends_with(named), "{path:?} names {named}");
                assert_eq!(script_dir, &scripts);
            }
            other => panic!("{named}: expected OutsideScriptDir, got {other:?}"),
        }
        assert_eq!(err.ran(), Ran::No);
        assert!(err.to_string().contains(named), "{err}");
    };
    // register_all_scripts: `..`, an absolute folder outside, a symlinked
    // folder leading out, and a folder holding a symlink that leads out.
    outside(state.register_all_scripts("..").expect_err(".."), "..");
    outside(
        state
            .register_all_scripts(root.path())
            .expect_err("absolute"),
        &root.path().display().to_string(),
    );
    outside(
        state.register_all_scripts(&other).expect_err("absolute"),
        "other",
    );
    outside(
        state
            .register_all_scripts("sub")
            .expect_err("symlinked folder"),
        "sub",
    );
    outside(
        state
            .register_all_scripts("sub/..")
            .expect_err("via a symlink"),
        "sub/..",
    );
    outside(
        state
            .register_all_scripts(".")
            .expect_err("a symlink inside"),
        "link.lua",
    );
    outside(
        state
            .register_all_scripts(&scripts)
            .expect_err("a symlink inside"),
        "link.lua",
    );
    // register_file: the same, and a missing file outside is outside too.
    outside(
        state.register_file("../outside.lua").expect_err(".."),
        "../outside.lua",
    );
    outside(
        state.register_file("../missing.lua").expect_err(".."),
        "../missing.lua",
    );
    outside(
        state
            .register_file(root.path().join("outside.lua"))
            .expect_err("absolute"),
        "outside.lua",
    );
    outside(
        state.register_file("link.lua").expect_err("symlink"),
        "link.lua",
    );
    outside(
        state
            .register_file("sub/b.lua")
            .expect_err("symlinked folder"),
        "sub/b.lua",
    );
    assert!(state.scripts().is_empty(), "nothing registered");
    // Inside the folder, relative or absolute, all is well.
    assert_eq!(state.register_file("inside.lua").expect("inside"), "inside");
    assert_eq!(
        state
            .register_file(scripts.join("inside.lua"))
            .expect("absolute inside"),
        "inside"
    );
    std::fs::remove_file(scripts.join("link.lua")).expect("rm");
    assert_eq!(
        state.register_all_scripts(".").expect("the folder itself"),
        vec!["inside"]
    );
    assert_eq!(
        state.register_all_scripts(&scripts).expect("absolute"),
        vec!["inside"]
    );
    assert_eq!(state.scripts(), vec!["inside"]);
}

#[test]
fn invocation_debug_shows_counts_not_values() {
    let inv = Scripts::LockAcquire
        .key("secret-key")
        .arg("secret-owner")
        .arg(1000);
    let text = format!("{inv:?}");
    assert!(text.contains("lock_acquire"), "{text}");
    assert!(
        text.contains("keys: 1") && text.contains("args: 2"),
        "{text}"
    );
    assert!(!text.contains("secret"), "{text}");
}
