//! Function libraries (`#!lua name=<library>` files of the script folder,
//! `tests/functions-lua/`): what the macros generate from them, and their
//! typed `FCALL` / `FCALL_RO` calls against every server that has
//! functions (Redis 7.0, 8.2, Valkey 8.1, 9.1; Redis 6.2 gets a typed
//! error).

use script_cache::prelude::*;
use script_cache::{FunctionMeta, Invocation, TypedInvocation};

script_cache::include_scripts!("functions-lua");

/// The library is no script: `Scripts` has the folder's script only, and
/// `Functions` one variant per registered function, with the library's
/// name, file, code and SHA-1, and each function's flags and arity.
#[test]
fn the_macros_read_the_library() {
    assert_eq!(Scripts::ALL, &[Scripts::Get]);
    assert_eq!(
        Functions::ALL,
        &[
            Functions::Bump,
            Functions::Peek,
            Functions::CountersVersion,
            Functions::Refuse,
            Functions::MoveBy
        ]
    );
    let bump: &FunctionMeta = Functions::Bump.meta();
    assert_eq!(bump.name(), "bump");
    let lib = bump.library();
    assert_eq!(lib.name(), "counters");
    assert_eq!(lib.file(), "counters.lua");
    let on_disk = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("functions-lua/counters.lua"),
    )
    .unwrap();
    assert_eq!(lib.code(), on_disk);
    assert_eq!(lib.sha1(), script_cache_check::sha1_hex(&on_disk));
    assert!(!Functions::Bump.read_only());
    assert!(Functions::Peek.read_only());
    assert_eq!(Functions::Peek.meta().flags(), &["no-writes"]);
    assert_eq!(
        (Functions::Bump.keys(), Functions::Bump.args()),
        (Arity::Exact(1), Arity::Exact(1))
    );
    assert_eq!(
        (Functions::MoveBy.keys(), Functions::MoveBy.args()),
        (Arity::Exact(2), Arity::Exact(1))
    );
    assert_eq!(Functions::Bump.meta().doc(), "Adds `by` to a counter.");
    assert_eq!(Functions::from_name("move_by"), Some(Functions::MoveBy));
    assert_eq!(Functions::from_name("nope"), None);
    assert_eq!("peek".parse::<Functions>().unwrap(), Functions::Peek);
    assert_eq!(Functions::CountersVersion.to_string(), "counters_version");
}

/// Typed calls: parameters from the comment block above each
/// registration, or inferred from the callback's parameters; the reply
/// type from `-- @return`.
#[test]
fn typed_calls_have_the_header_s_parameters() {
    let bump: TypedInvocation<i64> = Functions::bump("c", 2);
    assert_eq!(bump.invocation().script_name(), "bump");
    assert_eq!(
        (bump.invocation().key_count(), bump.invocation().arg_count()),
        (1, 1)
    );
    let _: TypedInvocation<Option<String>> = Functions::peek("c");
    let _: TypedInvocation<String> = Functions::counters_version();
    // No header: an untyped invocation with inferred parameters.
    let moved: Invocation = Functions::move_by("a", "b", 3);
    assert_eq!((moved.key_count(), moved.arg_count()), (2, 1));
}

use script_cache::{Error, Ran, ScriptCache, ScriptState, pipe};
use script_cache_tests::{Flavor, Recording, RoundTripLog, TestServer, functions_matrix};

fn recorded(
    server: &TestServer,
    state: &ScriptState,
) -> (ScriptCache<Recording<redis::Connection>>, RoundTripLog) {
    let rec = Recording::new(server.connection());
    let log = rec.log();
    (ScriptCache::with_state(rec, state.clone()), log)
}

/// Loads a library of the same name as the binary's with other code, as
/// an older deploy or a hand edit would.
fn load_other_copy(server: &TestServer) {
    let other = "#!lua name=counters\n\
                 redis.register_function('counters_version', function() return 'other' end)\n";
    let _: String = redis::cmd("FUNCTION")
        .arg("LOAD")
        .arg("REPLACE")
        .arg(other)
        .query(&mut server.connection())
        .unwrap();
}

fn fcall_version(server: &TestServer) -> String {
    redis::cmd("FCALL")
        .arg("counters_version")
        .arg(0)
        .query(&mut server.connection())
        .unwrap()
}

functions_matrix! {
    /// The first call of a function loads its library in the same round
    /// trip (one `FUNCTION LOAD`, after a look at what the server holds
    /// under the library's name); later calls, from every connection
    /// sharing the state, send `FCALL` only; `no-writes` goes out as
    /// `FCALL_RO`. The mark is the library's: the first calls of its other
    /// functions send no load.
    fn first_call_one_round_trip_then_fcall_only(server) {
        let state = ScriptState::new();
        let (mut con, log) = recorded(server, &state);
        server.reset_stats();
        assert_eq!(Functions::bump("c", 2).invoke(&mut con).unwrap(), 2);
        assert_eq!(
            log.round_trips(),
            vec![vec!["FUNCTION LIST", "FUNCTION LOAD", "FCALL"]]
        );
        log.clear();
        assert_eq!(Functions::bump("c", 3).invoke(&mut con).unwrap(), 5);
        assert_eq!(log.round_trips(), vec![vec!["FCALL"]]);

        // Another connection sharing the state: FCALL only.
        let (mut other, other_log) = recorded(server, &state);
        assert_eq!(Functions::bump("c", 1).invoke(&mut other).unwrap(), 6);
        assert_eq!(other_log.round_trips(), vec![vec!["FCALL"]]);

        // no-writes: FCALL_RO.
        log.clear();
        assert_eq!(Functions::peek("c").invoke(&mut con).unwrap().as_deref(), Some("6"));
        assert_eq!(Functions::peek("c").invoke(&mut con).unwrap().as_deref(), Some("6"));
        assert_eq!(Functions::peek("nothing").invoke(&mut con).unwrap(), None);
        assert_eq!(log.round_trips(), vec![vec!["FCALL_RO"]; 3]);

        // Inferred parameters, untyped reply.
        log.clear();
        let moved: i64 = Functions::move_by("c", "d", 4).invoke(&mut con).unwrap();
        assert_eq!(moved, 4);
        assert_eq!(log.round_trips(), vec![vec!["FCALL"]]);

        let stats = server.commandstats();
        assert_eq!(stats.calls("function|load"), 1, "one load for the library: {stats:?}");
        assert_eq!(stats.calls("fcall"), 4, "{stats:?}");
        assert_eq!(stats.calls("fcall_ro"), 3, "{stats:?}");
        assert_eq!(stats.total_errors(), 0, "{stats:?}");
        let s = state.stats();
        assert_eq!((s.loads, s.reloads, s.libraries_replaced), (1, 0, 0));
    }

    /// The bytes of the first calls of three functions of one library on
    /// a server: the library's code goes out once (one `FUNCTION LOAD`
    /// for the three, not one per function), then each call is its name
    /// and arguments.
    fn one_load_covers_every_function_of_a_library(server) {
        let state = ScriptState::new();
        let (mut con, log) = recorded(server, &state);
        let calls = |con: &mut ScriptCache<Recording<redis::Connection>>| {
            let _ = Functions::bump("b", 1).invoke(con).unwrap();
            let _ = Functions::peek("b").invoke(con).unwrap();
            let _: i64 = Functions::move_by("b", "m", 1).invoke(con).unwrap();
        };
        server.reset_stats();
        calls(&mut con);
        let first = log.bytes_sent();
        log.clear();
        calls(&mut con);
        let steady = log.bytes_sent();
        let code = Functions::Bump.library().code().len() as u64;
        let extra = first - steady;
        // The library once, with its `FUNCTION LIST` and `LOAD REPLACE`
        // framing (three loads would be over 3x the code).
        assert!(extra > code && extra < code + 200, "first {first} B, steady {steady} B, code {code} B");
        let stats = server.commandstats();
        assert_eq!(stats.calls("function|load"), 1, "{stats:?}");
        assert_eq!(stats.calls("function|list"), 1, "{stats:?}");
        assert_eq!(state.stats().loads, 1);
        // A pipeline of the three on a fresh state: one load too.
        let fresh = ScriptState::new();
        let (mut con, log) = recorded(server, &fresh);
        let mut p = pipe();
        p.invoke(Functions::bump("b", 1))
            .invoke(Functions::peek("b"))
            .invoke(Functions::move_by("b", "m", 1));
        let _: (i64, Option<String>, i64) = p.query(&mut con).unwrap();
        assert_eq!(
            log.round_trips(),
            vec![vec!["FUNCTION LIST", "FUNCTION LOAD", "FCALL", "FCALL_RO", "FCALL"]]
        );
    }

    /// After `FUNCTION FLUSH` the next call meets "Function not found"
    /// once, reloads the library with the call, and returns the value.
    fn recovers_after_function_flush(server) {
        let state = ScriptState::new();
        let (mut con, log) = recorded(server, &state);
        assert_eq!(Functions::bump("c", 1).invoke(&mut con).unwrap(), 1);
        let _: () = redis::cmd("FUNCTION").arg("FLUSH").query(&mut server.connection()).unwrap();
        log.clear();
        assert_eq!(Functions::bump("c", 1).invoke(&mut con).unwrap(), 2);
        assert_eq!(
            log.round_trips(),
            vec![vec!["FCALL".to_owned()], vec!["FUNCTION LIST".into(), "FUNCTION LOAD".into(), "FCALL".into()]]
        );
        let s = state.stats();
        assert_eq!((s.loads, s.reloads, s.failed_not_run, s.failed_ran), (2, 1, 0, 0));
    }

    /// A library of the same name with other code on the server never runs
    /// in place of the binary's: replaced by default (counted), refused on
    /// request (typed error, nothing ran, the server's copy left alone).
    fn the_binary_s_own_code_runs(server) {
        load_other_copy(server);
        assert_eq!(fcall_version(server), "other");
        let state = ScriptState::new();
        let (mut con, _) = recorded(server, &state);
        assert_eq!(Functions::counters_version().invoke(&mut con).unwrap(), "binary");
        assert_eq!(fcall_version(server), "binary");
        assert_eq!(state.stats().libraries_replaced, 1);
        // The same code: nothing to replace.
        let fresh = ScriptState::new();
        let (mut con, _) = recorded(server, &fresh);
        assert_eq!(Functions::bump("c", 1).invoke(&mut con).unwrap(), 1);
        assert_eq!(fresh.stats().libraries_replaced, 0);

        // Refusing.
        load_other_copy(server);
        let refusing = ScriptState::new();
        refusing.refuse_other_libraries(true);
        let (mut con, log) = recorded(server, &refusing);
        let err = Functions::counters_version().invoke(&mut con).unwrap_err();
        assert!(matches!(err, Error::OtherLibrary { ref library, .. } if library == "counters"), "{err}");
        assert_eq!(err.ran(), Ran::No);
        assert_eq!(log.round_trips(), vec![vec!["FUNCTION LIST"]]);
        assert_eq!(fcall_version(server), "other", "the server's copy is left alone");
        // Once the server holds the binary's code, calls go through.
        let _: String = redis::cmd("FUNCTION").arg("LOAD").arg("REPLACE")
            .arg(Functions::Bump.library().code()).query(&mut server.connection()).unwrap();
        log.clear();
        assert_eq!(Functions::counters_version().invoke(&mut con).unwrap(), "binary");
        assert_eq!(
            log.round_trips(),
            vec![vec!["FUNCTION LIST".to_owned()], vec!["FUNCTION LOAD".into(), "FCALL".into()]]
        );
        // An absent library is loaded.
        let _: () = redis::cmd("FUNCTION").arg("FLUSH").query(&mut server.connection()).unwrap();
        assert_eq!(Functions::bump("e", 1).invoke(&mut con).unwrap(), 1);
        assert_eq!(refusing.stats().libraries_replaced, 0);
    }

    /// Pipelines and transactions treat another copy of a library as a
    /// single call does: replaced by default (counted once, the look sent
    /// with the load), refused on request (`OtherLibrary`, nothing of the
    /// batch sent, the server's copy left alone), sync and async.
    fn pipelines_honour_refusal_and_count_replacements(server) {
        // Replace (default), a plain pipeline.
        load_other_copy(server);
        let state = ScriptState::new();
        let (mut con, log) = recorded(server, &state);
        let mut p = pipe();
        p.invoke(Functions::counters_version()).cmd("INCR").arg("x");
        let (v, x): (String, i64) = p.query(&mut con).unwrap();
        assert_eq!((v.as_str(), x), ("binary", 1));
        assert_eq!(
            log.round_trips(),
            vec![vec!["FUNCTION LIST", "FUNCTION LOAD", "FCALL", "INCR"]]
        );
        assert_eq!(state.stats().libraries_replaced, 1);
        assert_eq!(fcall_version(server), "binary");
        // Marked now: no look, no load.
        log.clear();
        let (v, x): (String, i64) = p.query(&mut con).unwrap();
        assert_eq!((v.as_str(), x), ("binary", 2));
        assert_eq!(log.round_trips(), vec![vec!["FCALL", "INCR"]]);

        // Replace, a transaction: the look goes inside the MULTI too.
        load_other_copy(server);
        let fresh = ScriptState::new();
        let (mut con, log) = recorded(server, &fresh);
        let mut t = pipe();
        t.atomic().invoke(Functions::counters_version()).cmd("INCR").arg("t");
        let (v, n): (String, i64) = t.query(&mut con).unwrap();
        assert_eq!((v.as_str(), n), ("binary", 1));
        assert_eq!(
            log.round_trips(),
            vec![vec!["MULTI", "FUNCTION LIST", "FUNCTION LOAD", "FCALL", "INCR", "EXEC"]]
        );
        assert_eq!(fresh.stats().libraries_replaced, 1);
        // The same code on the server: nothing counted.
        let same = ScriptState::new();
        let (mut con, _) = recorded(server, &same);
        let (_, n): (String, i64) = t.query(&mut con).unwrap();
        assert_eq!(n, 2);
        assert_eq!(same.stats().libraries_replaced, 0);

        // Refuse: a pipeline and a transaction meeting another copy fail
        // before anything of them is sent.
        load_other_copy(server);
        let refusing = ScriptState::new();
        refusing.refuse_other_libraries(true);
        let (mut con, log) = recorded(server, &refusing);
        let mut p = pipe();
        p.cmd("INCR").arg("y").invoke(Functions::counters_version());
        let err = p.query::<(i64, String)>(&mut con).unwrap_err();
        assert!(matches!(err, Error::OtherLibrary { ref library, .. } if library == "counters"), "{err:?}");
        assert_eq!(err.ran(), Ran::No);
        assert_eq!(log.round_trips(), vec![vec!["FUNCTION LIST"]]);
        let err = p.query_each(&mut con).unwrap_err();
        assert!(matches!(err, Error::OtherLibrary { .. }), "{err:?}");
        log.clear();
        let mut t = pipe();
        t.atomic().cmd("INCR").arg("y").invoke(Functions::bump("y", 5));
        let err = t.query::<(i64, i64)>(&mut con).unwrap_err();
        assert!(matches!(err, Error::OtherLibrary { .. }), "{err:?}");
        assert_eq!(err.ran(), Ran::No);
        assert_eq!(log.round_trips(), vec![vec!["FUNCTION LIST"]]);
        let y: Option<i64> = redis::cmd("GET").arg("y").query(&mut server.connection()).unwrap();
        assert_eq!(y, None, "nothing of the batches ran");
        assert_eq!(fcall_version(server), "other", "the server's copy is left alone");
        assert_eq!(refusing.stats().libraries_replaced, 0);
        script_cache_tests::runtime().block_on(async {
            let client = server.client();
            let mut acon = ScriptCache::with_state(
                client.get_multiplexed_async_connection().await.unwrap(),
                refusing.clone(),
            );
            let err = t.query_async::<(i64, i64)>(&mut acon).await.unwrap_err();
            assert!(matches!(err, Error::OtherLibrary { .. }), "{err:?}");
            assert_eq!(err.ran(), Ran::No);
        });
        let y: Option<i64> = redis::cmd("GET").arg("y").query(&mut server.connection()).unwrap();
        assert_eq!(y, None, "nothing of the async transaction ran");

        // Refuse, and the library is absent: looked at, then loaded and
        // called with the batch.
        let _: () = redis::cmd("FUNCTION").arg("FLUSH").query(&mut server.connection()).unwrap();
        log.clear();
        let (y, b): (i64, i64) = t.query(&mut con).unwrap();
        assert_eq!((y, b), (1, 6));
        assert_eq!(
            log.round_trips(),
            vec![
                vec!["FUNCTION LIST"],
                vec!["MULTI", "FUNCTION LOAD", "INCR", "FCALL", "EXEC"]
            ]
        );
        script_cache_tests::runtime().block_on(async {
            let client = server.client();
            let mut acon = ScriptCache::new(client.get_multiplexed_async_connection().await.unwrap());
            acon.state().refuse_other_libraries(true);
            let mut p = pipe();
            p.invoke(Functions::bump("z", 1)).invoke(Functions::bump("z", 1));
            let (a, b): (i64, i64) = p.query_async(&mut acon).await.unwrap();
            assert_eq!((a, b), (1, 2));
        });
    }

    /// Errors say whether the function ran: a function's own error ran;
    /// a wrong arity is refused before anything is sent; "Function not
    /// found" inside a plain pipeline is that entry's `NoScript`, which
    /// did not run, and the next call reloads.
    fn errors_say_whether_the_function_ran(server) {
        let state = ScriptState::new();
        let (mut con, log) = recorded(server, &state);
        let err = Functions::refuse().invoke(&mut con).unwrap_err();
        assert!(matches!(err, Error::Script { .. }), "{err:?}");
        assert_eq!(err.ran(), Ran::Yes);
        assert_eq!(err.script().map(|s| s.name.as_ref()), Some("refuse"));
        assert!(err.to_string().contains("NOPE"), "{err}");

        log.clear();
        let err = Functions::Bump.key("only-a-key").invoke::<i64>(&mut con).unwrap_err();
        assert!(matches!(err, Error::WrongArity { .. }), "{err:?}");
        assert_eq!(err.ran(), Ran::No);
        assert!(log.round_trips().is_empty(), "nothing sent");

        assert_eq!(Functions::bump("p", 1).invoke(&mut con).unwrap(), 1);
        let _: () = redis::cmd("FUNCTION").arg("FLUSH").query(&mut server.connection()).unwrap();
        let mut p = pipe();
        p.invoke(Functions::bump("p", 1)).cmd("INCR").arg("q");
        let entries = p.query_each(&mut con).unwrap().expect("no WATCH");
        assert!(
            matches!(&entries[0], Err(Error::NoScript { .. })),
            "{:?}",
            entries[0]
        );
        assert_eq!(entries[0].as_ref().unwrap_err().ran(), Ran::No);
        assert!(entries[1].is_ok());
        assert_eq!(Functions::bump("p", 1).invoke(&mut con).unwrap(), 2);
    }

    /// A transaction after `FUNCTION FLUSH` applies whole: its libraries
    /// are loaded inside the `MULTI`, whatever the marks say.
    fn a_transaction_after_function_flush_applies_whole(server) {
        let state = ScriptState::new();
        let (mut con, log) = recorded(server, &state);
        assert_eq!(Functions::bump("a", 1).invoke(&mut con).unwrap(), 1);
        let _: () = redis::cmd("FUNCTION").arg("FLUSH").query(&mut server.connection()).unwrap();
        log.clear();
        let mut p = pipe();
        p.atomic()
            .invoke(Functions::bump("a", 10))
            .cmd("INCR").arg("b")
            .invoke(Functions::bump("a", 100));
        let (a1, b, a2): (i64, i64, i64) = p.query(&mut con).unwrap();
        assert_eq!((a1, b, a2), (11, 1, 111));
        let trips = log.round_trips();
        assert_eq!(trips.len(), 1, "{trips:?}");
        assert_eq!(
            trips[0],
            vec!["MULTI", "FUNCTION LOAD", "FCALL", "INCR", "FCALL", "EXEC"]
        );
    }

    /// Many async tasks sharing one state and one multiplexed connection
    /// while another connection flushes the libraries: no call fails, each
    /// call counted once.
    fn sixteen_tasks_through_function_flushes(server) {
        script_cache_tests::runtime().block_on(async {
            let client = server.client();
            let con = ScriptCache::new(client.get_multiplexed_async_connection().await.unwrap());
            let state = con.state().clone();
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let flusher = {
                let stop = stop.clone();
                let mut admin = client.get_multiplexed_async_connection().await.unwrap();
                tokio::spawn(async move {
                    let mut flushes = 0_u32;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) && flushes < 2_000 {
                        let _: () = redis::cmd("FUNCTION").arg("FLUSH").query_async(&mut admin).await.unwrap();
                        flushes += 1;
                        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                    }
                    flushes
                })
            };
            const TASKS: usize = 16;
            const CALLS: usize = 100;
            let mut tasks = Vec::new();
            for t in 0..TASKS {
                let mut con = con.clone();
                tasks.push(tokio::spawn(async move {
                    for _ in 0..CALLS {
                        Functions::bump(format!("k{t}"), 1).invoke_async(&mut con).await.unwrap();
                    }
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            let flushes = flusher.await.unwrap();
            assert!(flushes >= 1);
            let mut check = server.connection();
            for t in 0..TASKS {
                let n: i64 = redis::cmd("GET").arg(format!("k{t}")).query(&mut check).unwrap();
                assert_eq!(n, CALLS as i64, "every call ran exactly once");
            }
            let s = state.stats();
            assert_eq!(s.failed_ran + s.failed_not_run + s.failed_unknown, 0, "{s:?}");
            assert!(s.loads >= 1, "{s:?}");
        });
    }

    /// `kill -9` and a restart (no persistence: no data, no library): 16
    /// async tasks sharing one state and one `ConnectionManager` call a
    /// function before and after; after the restart the first calls meet
    /// "Function not found", one reload serves them all, no call fails,
    /// and every call ran once.
    fn sixteen_tasks_across_kill_and_restart(server) {
        script_cache_tests::runtime().block_on(async {
            const TASKS: usize = 16;
            const CALLS: i64 = 50;
            let manager = server.client().get_connection_manager().await.unwrap();
            let con = ScriptCache::new(manager);
            let state = con.state().clone();
            let run = |prefix: &'static str| {
                let mut handles = Vec::new();
                for t in 0..TASKS {
                    let mut con = con.clone();
                    handles.push(tokio::spawn(async move {
                        for _ in 0..CALLS {
                            Functions::bump(format!("{prefix}{t}"), 1)
                                .invoke_async(&mut con)
                                .await
                                .unwrap();
                        }
                    }));
                }
                handles
            };
            for h in run("before") {
                h.await.unwrap();
            }
            server.restart().expect("restart on the same port");
            // The manager reconnects by itself: wait (bounded) until a
            // command through it gets an answer from the new server.
            let mut probe = con.clone();
            let mut answered = false;
            for _ in 0..200 {
                if redis::cmd("PING").query_async::<String>(&mut probe).await.is_ok() {
                    answered = true;
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            assert!(answered, "the manager reconnected within 10 s");
            let before = state.stats();
            for h in run("after") {
                h.await.unwrap();
            }
            let mut check = server.connection();
            for t in 0..TASKS {
                let n: i64 = redis::cmd("GET").arg(format!("after{t}")).query(&mut check).unwrap();
                assert_eq!(n, CALLS, "every call ran exactly once");
            }
            let s = state.stats();
            assert_eq!(s.failed_ran + s.failed_not_run + s.failed_unknown, 0, "{s:?}");
            assert_eq!((before.loads, before.reloads), (1, 0), "{before:?}");
            assert_eq!((s.loads, s.reloads), (2, 1), "one reload served every task: {s:?}");
            // Each call sent FCALL at least once (those that met "Function
            // not found" once more, with the reload or after waiting for it).
            assert!(s.calls - before.calls >= (TASKS as u64) * (CALLS as u64), "{s:?}");
        });
    }

    /// A pool: one state for every checkout. 1,000 async checkouts of an
    /// 8-connection deadpool pool and 1,000 sync checkouts of an r2d2 pool
    /// call two functions of one library: one `FUNCTION LOAD` for the
    /// library, no failed command, every call counted once.
    fn pools_share_one_state(server) {
        const CHECKOUTS: usize = 1_000;
        const POOL_SIZE: u32 = 8;
        let check = |state: &ScriptState, what: &str, prefix: &str| {
            let stats = server.commandstats();
            assert_eq!(stats.calls("function|load"), 1, "{what}: one load for the library: {stats:?}");
            assert_eq!(stats.calls("fcall") + stats.calls("fcall_ro"), CHECKOUTS as u64, "{what}: {stats:?}");
            assert_eq!(stats.total_errors(), 0, "{what}: {stats:?}");
            assert_eq!(state.stats().loads, 1, "{what}");
            let n: i64 = redis::cmd("GET").arg(format!("{prefix}a")).query(&mut server.connection()).unwrap();
            assert_eq!(n, (CHECKOUTS / 2) as i64, "{what}: every call counted once");
        };

        let cfg = deadpool_redis::Config::from_url(server.url());
        let pool = cfg
            .builder()
            .unwrap()
            .max_size(POOL_SIZE as usize)
            .runtime(deadpool_redis::Runtime::Tokio1)
            .build()
            .unwrap();
        let pool = script_cache::ScriptPool::new(pool);
        server.reset_stats();
        script_cache_tests::runtime().block_on(async {
            let mut tasks = Vec::new();
            for i in 0..CHECKOUTS {
                let pool = pool.clone();
                tasks.push(tokio::spawn(async move {
                    let mut con = pool.get().await.unwrap();
                    if i % 2 == 0 {
                        Functions::bump("dp:a", 1).invoke_async(&mut con).await.map(|_| ())
                    } else {
                        Functions::peek("dp:a").invoke_async(&mut con).await.map(|_| ())
                    }
                }));
            }
            for t in tasks {
                t.await.unwrap().unwrap();
            }
        });
        check(pool.state(), "deadpool", "dp:");

        let _: () = redis::cmd("FUNCTION").arg("FLUSH").query(&mut server.connection()).unwrap();
        let pool = r2d2::Pool::builder().max_size(POOL_SIZE).build(server.client()).unwrap();
        let pool = script_cache::ScriptPool::new(pool);
        server.reset_stats();
        std::thread::scope(|scope| {
            for t in 0..POOL_SIZE as usize {
                let pool = &pool;
                scope.spawn(move || {
                    for i in (t..CHECKOUTS).step_by(POOL_SIZE as usize) {
                        let mut con = pool.get().unwrap();
                        if i % 2 == 0 {
                            Functions::bump("r2:a", 1).invoke(&mut con).unwrap();
                        } else {
                            Functions::peek("r2:a").invoke(&mut con).unwrap();
                        }
                    }
                });
            }
        });
        check(pool.state(), "r2d2", "r2:");
    }
}

// Redis 6.2 has no functions: a typed error that says so, and that
// nothing ran; scripts keep working on the same connection. The state
// remembers it: later function calls (single or in a pipeline) fail at
// once with the same error, nothing sent, until a sign that another
// server may answer there (a script's NOSCRIPT).
script_cache_tests::flavor_test! { Redis62, fn redis_6_2_says_functions_need_7_0() {
    let server = TestServer::start(Flavor::Redis62);
    let state = ScriptState::new();
    let (mut con, log) = recorded(&server, &state);
    server.reset_stats();
    let err = Functions::bump("c", 1).invoke(&mut con).unwrap_err();
    assert!(matches!(err, Error::FunctionsUnsupported { .. }), "{err:?}");
    assert_eq!(err.ran(), Ran::No);
    assert!(err.to_string().contains("Redis 7.0 or newer"), "{err}");
    let exists: bool = redis::cmd("EXISTS").arg("c").query(&mut server.connection()).unwrap();
    assert!(!exists, "nothing ran");
    assert_eq!(
        log.round_trips(),
        vec![vec!["FUNCTION LIST", "FUNCTION LOAD", "FCALL"]]
    );
    // The unknown commands of that first request, as the server counted
    // them.
    let refused = unknown_commands(&server);
    assert_eq!(refused, 3, "the first request's three commands were refused");

    // Remembered: nothing more is sent for functions.
    log.clear();
    let err = Functions::peek("c").invoke(&mut con).unwrap_err();
    assert!(matches!(err, Error::FunctionsUnsupported { .. }), "{err:?}");
    assert_eq!(err.ran(), Ran::No);
    let err = Functions::bump("c", 1).invoke(&mut con).unwrap_err();
    assert!(matches!(err, Error::FunctionsUnsupported { .. }), "{err:?}");
    let mut p = pipe();
    p.invoke(Functions::bump("c", 1));
    let err = p.query::<Vec<i64>>(&mut con).unwrap_err();
    assert!(matches!(err, Error::FunctionsUnsupported { .. }), "{err:?}");
    assert_eq!(err.ran(), Ran::No, "{err:?}");
    let mut p = pipe();
    p.atomic().cmd("INCR").arg("t").invoke(Functions::bump("c", 1));
    let err = p.query::<(i64, i64)>(&mut con).unwrap_err();
    assert!(matches!(err, Error::FunctionsUnsupported { .. }), "{err:?}");
    assert!(log.round_trips().is_empty(), "sent: {:?}", log.round_trips());
    // Another connection sharing the state knows it too.
    let (mut other, other_log) = recorded(&server, &state);
    let err = Functions::bump("c", 1).invoke(&mut other).unwrap_err();
    assert!(matches!(err, Error::FunctionsUnsupported { .. }), "{err:?}");
    assert!(other_log.round_trips().is_empty());
    assert_eq!(unknown_commands(&server), refused, "nothing more reached the server");
    let t: Option<i64> = redis::cmd("GET").arg("t").query(&mut server.connection()).unwrap();
    assert_eq!(t, None, "the refused transaction sent nothing");

    // Scripts work.
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut server.connection()).unwrap();
    assert_eq!(Scripts::get("k").invoke(&mut con).unwrap().as_deref(), Some("v"));
    assert!(log.round_trips().iter().all(|trip| trip.iter().all(|c| !c.starts_with("F"))));

    // A script meets NOSCRIPT (the server lost its scripts: a restart,
    // perhaps into another version): the next function call asks again.
    let _: () = redis::cmd("SCRIPT").arg("FLUSH").query(&mut server.connection()).unwrap();
    assert_eq!(Scripts::get("k").invoke(&mut con).unwrap().as_deref(), Some("v"));
    log.clear();
    let err = Functions::bump("c", 1).invoke(&mut con).unwrap_err();
    assert!(matches!(err, Error::FunctionsUnsupported { .. }), "{err:?}");
    assert_eq!(
        log.round_trips(),
        vec![vec!["FUNCTION LIST", "FUNCTION LOAD", "FCALL"]]
    );
    assert_eq!(unknown_commands(&server), refused + 3);
    log.clear();
    let err = Functions::bump("c", 1).invoke(&mut con).unwrap_err();
    assert!(matches!(err, Error::FunctionsUnsupported { .. }), "{err:?}");
    assert!(log.round_trips().is_empty());
} }

/// How many commands the server refused as unknown (`errorstat_ERR` of
/// `INFO errorstats`; only this test's function calls send any).
fn unknown_commands(server: &TestServer) -> u64 {
    let text: String = redis::cmd("INFO")
        .arg("errorstats")
        .query(&mut server.connection())
        .unwrap();
    text.lines()
        .find_map(|l| l.trim().strip_prefix("errorstat_ERR:count="))
        .map_or(0, |n| n.parse().unwrap())
}
