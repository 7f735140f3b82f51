//! Guarantee 4 under fault: a refused SCRIPT LOAD never hides a reply.
//! An ACL user without SCRIPT LOAD (`+@all -script|load`; 6.2: `-script`),
//! scripts preloaded by an admin: every call returns the script's result,
//! and the state turns EVALSHA-first for the server after the first
//! refusal. With nothing preloaded, the call is `PermissionDenied`, names
//! the script and did not run. `LoadMode::EvalshaFirst` sends EVALSHA
//! alone from the first call.

use script_cache::prelude::*;
use script_cache::{Error, LoadMode, Ran, ScriptCache, ScriptState, pipe};
use script_cache_tests::faults::{counter, preload};
use script_cache_tests::{AclUser, Flavor, Recording, RoundTripLog, TestServer, matrix};

script_cache::include_scripts!("fixtures/guarantees");

/// Calls of the refused-load tests.
const CALLS: i64 = 50;

/// Preloads `incr` and `incr_by` as the admin and checks their SHA-1s.
fn preload_scripts(server: &TestServer) {
    let shas = preload(server, &[Scripts::Incr.source(), Scripts::IncrBy.source()]);
    assert_eq!(
        shas,
        vec![
            Scripts::Incr.sha1().to_owned(),
            Scripts::IncrBy.sha1().to_owned()
        ]
    );
}

/// SCRIPT LOAD commands a recorded connection sent.
fn loads_sent(log: &RoundTripLog) -> usize {
    log.round_trips()
        .iter()
        .flatten()
        .filter(|c| *c == "SCRIPT LOAD")
        .count()
}

/// The server saw no SCRIPT LOAD run, and refused at most `refused` (Redis
/// 7+ and Valkey count ACL refusals as `rejected_calls`; 6.2 does not
/// count them).
fn assert_loads_refused_at_most(server: &TestServer, refused: u64) {
    let stats = server.commandstats();
    let load = stats.get("script|load");
    assert_eq!(load.calls, 0, "no SCRIPT LOAD ran as the user: {stats:?}");
    // On Redis 6.2 the user lacks every SCRIPT subcommand (`-script`), so
    // the survey a fresh state sends once with its first call (SCRIPT
    // EXISTS) is refused too, and 6.2 counts it with the loads.
    let survey = u64::from(server.flavor() == Flavor::Redis62);
    assert!(load.rejected_calls <= refused + survey, "{stats:?}");
}

matrix! {
    /// Single calls, sync: every call succeeds, counter == calls, one
    /// refused SCRIPT LOAD at most, then EVALSHA only (also for the second
    /// script, never loaded by this state).
    fn preloaded_scripts_run_for_a_user_without_script_load(server) {
        preload_scripts(server);
        let user = AclUser::without_script_load(server, "app");
        server.reset_stats();
        let rec = Recording::new(user.connection());
        let log = rec.log();
        let state = ScriptState::new();
        let mut con = ScriptCache::with_state(rec, state.clone());
        for i in 1..=CALLS {
            let v = Scripts::incr("acl:n").invoke(&mut con)
                .unwrap_or_else(|e| panic!("call {i}: {e:?}"));
            assert_eq!(v, i, "call {i} returned its own result");
        }
        for i in 1..=CALLS {
            let v = Scripts::incr_by("acl:m", 2).invoke(&mut con)
                .unwrap_or_else(|e| panic!("incr_by call {i}: {e:?}"));
            assert_eq!(v, 2 * i);
        }
        assert_eq!(counter(server, "acl:n"), CALLS, "every call ran exactly once");
        assert_eq!(counter(server, "acl:m"), 2 * CALLS);
        let sent = loads_sent(&log);
        assert!(sent <= 1, "SCRIPT LOAD sent {sent} times: {:?}", log.round_trips());
        assert_eq!(state.stats().refused_loads, sent as u64, "{:?}", state.stats());
        assert_loads_refused_at_most(server, 1);
        let trips = log.round_trips();
        assert!(trips[trips.len() - 10..].iter().all(|t| t == &vec!["EVALSHA"]), "{trips:?}");
    }

    async fn preloaded_scripts_run_for_a_user_without_script_load_async(server) {
        preload_scripts(server);
        let user = AclUser::without_script_load(server, "app");
        server.reset_stats();
        let rec = Recording::new(user.client().get_multiplexed_async_connection().await.expect("connect"));
        let log = rec.log();
        let state = ScriptState::new();
        let con = ScriptCache::with_state(rec, state.clone());
        // Concurrent first calls: each one's reply must come back.
        let mut tasks = Vec::new();
        for _ in 0..CALLS {
            let mut con = con.clone();
            tasks.push(tokio::spawn(async move { Scripts::incr("acl:n").invoke_async(&mut con).await }));
        }
        let mut seen = Vec::new();
        for t in tasks {
            seen.push(t.await.expect("join").unwrap_or_else(|e| panic!("call: {e:?}")));
        }
        seen.sort_unstable();
        assert_eq!(seen, (1..=CALLS).collect::<Vec<_>>(), "each call got its own result");
        assert_eq!(counter(server, "acl:n"), CALLS);
        let sent = loads_sent(&log);
        assert!(sent <= 1, "SCRIPT LOAD sent {sent} times");
        assert_eq!(state.stats().refused_loads, sent as u64);
        assert_loads_refused_at_most(server, 1);
    }

    /// Pipelines as the user: a pipeline with two cold scripts and a plain
    /// command returns every reply, counters right; then a transaction.
    fn pipelines_for_a_user_without_script_load(server) {
        preload_scripts(server);
        let user = AclUser::without_script_load(server, "app");
        server.reset_stats();
        let mut con = ScriptCache::new(user.connection());
        let mut p = pipe();
        p.invoke(Scripts::incr("acl:a")).invoke(Scripts::incr_by("acl:b", 1)).cmd("INCR").arg("acl:c");
        for i in 1..=10 {
            let reply: (i64, i64, i64) = p.query(&mut con).unwrap_or_else(|e| panic!("pipeline {i}: {e:?}"));
            assert_eq!(reply, (i, i, i));
        }
        assert_eq!(["acl:a", "acl:b", "acl:c"].map(|k| counter(server, k)), [10, 10, 10]);
        // Both cold scripts were in the first pipeline: one refused load each.
        assert_eq!(con.stats().refused_loads, 2, "{:?}", con.stats());
        assert_loads_refused_at_most(server, 2);
    }

    async fn pipelines_for_a_user_without_script_load_async(server) {
        preload_scripts(server);
        let user = AclUser::without_script_load(server, "app");
        server.reset_stats();
        let mut con = ScriptCache::new(user.client().get_multiplexed_async_connection().await.expect("connect"));
        let mut p = pipe();
        p.invoke(Scripts::incr("acl:a")).invoke(Scripts::incr_by("acl:b", 1)).cmd("INCR").arg("acl:c");
        for i in 1..=10 {
            let reply: (i64, i64, i64) = p.query_async(&mut con).await.unwrap_or_else(|e| panic!("pipeline {i}: {e:?}"));
            assert_eq!(reply, (i, i, i));
        }
        assert_eq!(["acl:a", "acl:b", "acl:c"].map(|k| counter(server, k)), [10, 10, 10]);
        assert_loads_refused_at_most(server, 2);
    }

    /// A transaction as the user: loads inside MULTI would abort it
    /// (NOPERM at queue time), so once the state knows the server refuses
    /// SCRIPT LOAD the preloaded scripts' transaction applies.
    fn transactions_for_a_user_without_script_load(server) {
        preload_scripts(server);
        let user = AclUser::without_script_load(server, "app");
        let mut con = ScriptCache::new(user.connection());
        // A single call first teaches the state that the server refuses loads.
        assert_eq!(Scripts::incr("acl:a").invoke(&mut con).expect("single call"), 1);
        let mut tx = pipe();
        tx.atomic().invoke(Scripts::incr("acl:a")).invoke(Scripts::incr_by("acl:b", 1)).cmd("INCR").arg("acl:c");
        let mut applied = 0;
        for _ in 0..3 {
            match tx.query::<(i64, i64, i64)>(&mut con) {
                Ok(reply) => {
                    applied += 1;
                    assert_eq!(reply, (1 + applied, applied, applied));
                }
                Err(e) => {
                    assert_eq!(e.ran(), Ran::No, "{e:?}");
                    panic!("the transaction failed as a whole: {e:?}");
                }
            }
        }
        assert_eq!(["acl:a", "acl:b", "acl:c"].map(|k| counter(server, k)), [4, 3, 3]);
    }

    /// Nothing preloaded, for a user who may call preloaded scripts only
    /// (no SCRIPT LOAD, no EVAL): `PermissionDenied` naming the script, did
    /// not run, safe to retry; the counter did not move.
    fn nothing_preloaded_is_permission_denied_and_did_not_run(server) {
        let user = AclUser::preloaded_scripts_only(server, "app");
        let mut con = ScriptCache::new(user.connection());
        for attempt in 0..2 {
            let err = Scripts::incr("acl:n").invoke(&mut con).expect_err("NOPERM");
            match &err {
                Error::PermissionDenied { script, command, .. } => {
                    assert_eq!(&*script.name, "incr");
                    // The first call learns that SCRIPT LOAD is refused and
                    // goes on to EVAL; the next ones call EVALSHA first, then
                    // EVAL: the refusal of EVAL is the last word.
                    assert_eq!(*command, "EVAL", "call {attempt}: {err:?}");
                }
                other => panic!("expected PermissionDenied, got {other:?}"),
            }
            assert_eq!(err.ran(), Ran::No);
            assert!(err.is_retry_safe());
            assert!(err.to_string().contains("incr"), "{err}");
        }
        assert_eq!(counter(server, "acl:n"), 0, "nothing ran");
        let pong: String = redis::cmd("PING").query(&mut con).expect("the connection still works");
        assert_eq!(pong, "PONG");
    }

    /// Nothing preloaded, for a user without SCRIPT LOAD who may EVAL: the
    /// first call's load is refused and its EVALSHA meets NOSCRIPT (nothing
    /// ran), so it runs by EVAL; from then on calls go EVALSHA first (the
    /// EVAL cached the script). Counter == calls.
    fn nothing_preloaded_runs_by_eval_where_eval_is_allowed(server) {
        let user = AclUser::without_script_load(server, "app");
        let mut con = ScriptCache::new(user.connection());
        for n in 1..=3 {
            assert_eq!(Scripts::incr("acl:e").invoke(&mut con).expect("by EVAL, then EVALSHA"), n);
        }
        assert_eq!(counter(server, "acl:e"), 3);
        let stats = server.commandstats();
        assert_eq!(stats.calls("eval"), 1, "one EVAL; it cached the script: {stats:?}");
        assert_eq!(con.stats().refused_loads, 1, "SCRIPT LOAD tried once");
    }

    /// Preloaded, then flushed by an admin, for a user who may call
    /// preloaded scripts only: the call meets NOSCRIPT, cannot load or
    /// EVAL, and is `PermissionDenied` that did not run (never a hidden
    /// run, never a loop); once the admin preloads again, the same
    /// connection's calls succeed.
    fn flushed_under_a_user_without_script_load(server) {
        preload_scripts(server);
        let user = AclUser::preloaded_scripts_only(server, "app");
        let mut con = ScriptCache::new(user.connection());
        assert_eq!(Scripts::incr("acl:n").invoke(&mut con).expect("preloaded"), 1);
        let mut admin = server.connection();
        redis::cmd("SCRIPT").arg("FLUSH").query::<()>(&mut admin).expect("flush");
        let err = Scripts::incr("acl:n").invoke(&mut con).expect_err("NOSCRIPT, then NOPERM");
        match &err {
            Error::PermissionDenied { script, .. } => assert_eq!(&*script.name, "incr"),
            other => panic!("expected PermissionDenied, got {other:?}"),
        }
        assert_eq!(err.ran(), Ran::No);
        assert_eq!(counter(server, "acl:n"), 1, "the refused call did not run");
        preload_scripts(server);
        assert_eq!(Scripts::incr("acl:n").invoke(&mut con).expect("preloaded again"), 2);
        assert_eq!(counter(server, "acl:n"), 2);
    }

    /// `LoadMode::EvalshaFirst`: a preloaded script's first call is one
    /// round trip with EVALSHA alone; a script not preloaded is loaded on
    /// NOSCRIPT (as the admin) and still runs once.
    fn evalsha_first_mode_sends_evalsha_alone(server) {
        preload(server, &[Scripts::Incr.source()]);
        server.reset_stats();
        let rec = Recording::new(server.connection());
        let log = rec.log();
        let state = ScriptState::with_mode(LoadMode::EvalshaFirst);
        let mut con = ScriptCache::with_state(rec, state.clone());
        assert_eq!(Scripts::incr("ef:n").invoke(&mut con).expect("preloaded"), 1);
        assert_eq!(log.round_trips(), vec![vec!["EVALSHA"]]);
        assert!((log.bytes_sent() as usize) < Scripts::Incr.source().len() + 80, "no source sent");
        let stats = server.commandstats();
        assert_eq!((stats.calls("script|load"), stats.calls("evalsha")), (0, 1), "{stats:?}");

        // Not preloaded: NOSCRIPT, then loaded and run once.
        assert_eq!(Scripts::incr_by("ef:m", 4).invoke(&mut con).expect("not preloaded"), 4);
        assert_eq!(counter(server, "ef:m"), 4);
        assert_eq!(Scripts::incr_by("ef:m", 4).invoke(&mut con).expect("now loaded"), 8);
    }
}
