//! The runtime's guarantees (DESIGN.md "Run time", "Guarantees"), each
//! under the fault that would break it, on every server flavor:
//! transactions under flush storms and restarts, runtime registration of
//! bad scripts and bad files, stale load marks, aborted transactions.
//! The single-call flush storms are in `storms.rs`.

use std::path::Path;
use std::time::{Duration, Instant};

use script_cache::prelude::*;
use script_cache::{EntryOutcome, Error, Ran, ScriptCache, ScriptState, pipe};
use script_cache_tests::faults::{counter, scripts_exist, within};
use script_cache_tests::{Flavor, FlushStorm, Recording, RoundTripLog, TestServer, matrix};

script_cache::include_scripts!("fixtures/guarantees");

/// Transactions in the storm test, at least.
const TRANSACTIONS: u64 = 5_000;

/// The transaction storm lasts at least this long (more transactions than
/// [`TRANSACTIONS`] when they are fast).
const MIN_STORM: Duration = Duration::from_secs(3);

/// The three counters of a transaction: two scripts on two keys and a
/// plain INCR on a third.
fn three_counters(server: &TestServer, prefix: &str) -> [i64; 3] {
    ["a", "b", "c"].map(|k| counter(server, &format!("{prefix}:{k}")))
}

fn two_script_transaction(prefix: &str) -> script_cache::Pipeline {
    let mut p = pipe();
    p.atomic()
        .invoke(Scripts::incr(format!("{prefix}:a")))
        .invoke(Scripts::incr_by(format!("{prefix}:b"), 1))
        .cmd("INCR")
        .arg(format!("{prefix}:c"));
    p
}

/// The storm's transaction: [`two_script_transaction`] plus a read-only
/// script (`EVALSHA_RO` where the server has it, a body without the
/// shebang on 6.2) reading the first counter.
fn storm_transaction(prefix: &str) -> script_cache::Pipeline {
    let mut p = two_script_transaction(prefix);
    p.invoke(Scripts::read_counter(format!("{prefix}:a")));
    p
}

const CAFE: &str = "local café = 1\nreturn café\n";

fn assert_cafe_syntax_error(err: &Error) {
    match err {
        Error::Syntax {
            name,
            line,
            message,
        } => {
            assert_eq!(name, "cafe");
            assert_eq!(*line, 1, "{message}");
        }
        other => panic!("expected Syntax, got {other:?}"),
    }
    assert!(err.to_string().contains("cafe"), "names the script: {err}");
    assert_eq!(err.ran(), Ran::No);
}

matrix! {
    /// Guarantee 3: ≥5,000 two-script transactions (two scripts on two
    /// keys + a plain INCR) under a flush every 1–2 ms: every EXEC applied
    /// fully or failed as a whole; the three counters end equal.
    fn transactions_never_half_apply_under_flush_storm(server) {
        let mut con = ScriptCache::new(server.connection());
        let tx = storm_transaction("tx");
        let storm = FlushStorm::start(server, Duration::from_secs(120));
        assert!(storm.wait_for(1, Duration::from_secs(10)), "the flush storm did not start");
        let started = Instant::now();
        let deadline = started + Duration::from_secs(90);
        // What the counters were after the last transaction.
        let mut last = [0i64; 3];
        let (mut sent, mut applied, mut failed, mut half) = (0u64, 0u64, 0u64, 0u64);
        let mut samples = Vec::new();
        while sent < TRANSACTIONS || (started.elapsed() < MIN_STORM && sent < 100_000) {
            assert!(Instant::now() < deadline, "{sent} transactions took over 90 s");
            sent += 1;
            match tx.query::<(i64, i64, i64, i64)>(&mut con) {
                Ok((a, b, c, read)) => {
                    let next = [a, b, c];
                    if next == last.map(|v| v + 1) && read == a {
                        applied += 1;
                    } else {
                        half += 1;
                        if samples.len() < 5 {
                            samples.push(format!("Ok({next:?}, read {read}) after {last:?}"));
                        }
                    }
                    last = next;
                }
                Err(e) => {
                    failed += 1;
                    // An error must mean nothing of the transaction ran.
                    let now = three_counters(server, "tx");
                    if now != last {
                        half += 1;
                        if samples.len() < 5 {
                            samples.push(format!("{e:?}: counters {last:?} -> {now:?}"));
                        }
                    }
                    last = now;
                }
            }
        }
        let end = storm.stop();
        let counters = three_counters(server, "tx");
        eprintln!(
            "STORM transactions on {}: transactions={sent} applied={applied} failed={failed} \
             half_applied={half} counters={counters:?} flushes={} in {:?}",
            server.flavor(), end.flushes, started.elapsed()
        );
        assert!(end.flushes >= 100, "only {} flushes: the storm did not happen", end.flushes);
        assert_eq!(half, 0, "{half} transactions half-applied, e.g. {samples:#?}");
        let applied = i64::try_from(applied).unwrap_or(i64::MAX);
        assert_eq!(counters, [applied; 3], "all three counters moved together");
        assert_eq!(failed, 0, "the default loads inside MULTI: no transaction fails");
    }

    /// Guarantee 3 after a restart: the state still marks the scripts
    /// loaded, the new server has none; the next transaction applies fully
    /// (deterministic: a transaction that trusted the marks would run the
    /// plain INCR while both scripts meet NOSCRIPT).
    async fn transaction_after_restart_applies_fully(server) {
        let manager = server.client().get_connection_manager().await.expect("manager");
        let mut con = ScriptCache::new(manager);
        let tx = two_script_transaction("rs");
        let first: (i64, i64, i64) = tx.query_async(&mut con).await.expect("first");
        assert_eq!(first, (1, 1, 1));

        server.restart().expect("restart");

        // The manager reconnects by itself; transactions that meet the dead
        // connection fail with a connection error. The first that gets an
        // answer from the new server must apply fully.
        let mut outcome = None;
        for _ in 0..100 {
            match tx.query_async::<(i64, i64, i64)>(&mut con).await {
                Err(e) if e.is_connection_error() => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                other => {
                    outcome = Some(other);
                    break;
                }
            }
        }
        let outcome = outcome.expect("the manager reconnected within 5 s");
        let counters = three_counters(server, "rs");
        match outcome {
            Ok(reply) => assert_eq!(reply, (1, 1, 1), "applied fully on the fresh server"),
            Err(e) => panic!("the transaction after the restart failed: {e:?} (counters {counters:?})"),
        }
        assert_eq!(counters, [1, 1, 1]);
    }

    /// Guarantee 6: a script the server's Lua would refuse (here a non-ASCII
    /// identifier, whose error message carries a raw byte) is refused at
    /// registration, and the connection keeps working.
    fn cafe_is_refused_at_registration_sync(server) {
        let mut con = ScriptCache::new(server.connection());
        server.reset_stats();
        let err = con.register_script("cafe", CAFE).expect_err("a Lua 5.1 syntax error");
        assert_cafe_syntax_error(&err);
        assert!(con.scripts().is_empty(), "nothing registered");
        let err = con.run_script::<i64>("cafe", &[] as &[&str], &[] as &[&str]).expect_err("not registered");
        assert!(matches!(err, Error::UnknownScript { .. }), "{err:?}");
        let pong: String = redis::cmd("PING").query(&mut con).expect("the connection still answers");
        assert_eq!(pong, "PONG");
        assert_eq!(server.commandstats().calls("script|load"), 0, "nothing was sent");
    }

    async fn cafe_is_refused_at_registration_async(server) {
        let mut con = ScriptCache::new(
            server.client().get_multiplexed_async_connection().await.expect("connect"),
        );
        let mut other = con.clone();
        let err = con.state().register_script("cafe", CAFE).expect_err("a Lua 5.1 syntax error");
        assert_cafe_syntax_error(&err);
        let pong: String = redis::cmd("PING").query_async(&mut con).await.expect("PING");
        assert_eq!(pong, "PONG");
        let pong: String = redis::cmd("PING").query_async(&mut other).await.expect("PING on a clone");
        assert_eq!(pong, "PONG");
        let v: i64 = Scripts::incr("after-cafe").invoke_async(&mut other).await.expect("a call");
        assert_eq!(v, 1);
    }

    /// `flush_cache` racing a cold call on another handle sharing the
    /// state, 2,000 times: every call succeeds, and once nothing is in
    /// flight no script is marked loaded that the server lacks.
    async fn flush_cache_racing_cold_calls_leaves_no_stale_mark(server) {
        let state = ScriptState::new();
        let client = server.client();
        let mut flusher = ScriptCache::with_state(
            client.get_multiplexed_async_connection().await.expect("connect"),
            state.clone(),
        );
        let mut caller = ScriptCache::with_state(
            client.get_multiplexed_async_connection().await.expect("connect"),
            state.clone(),
        );
        let (mut stale, mut gone) = (0u32, 0u32);
        let deadline = Instant::now() + Duration::from_secs(60);
        for i in 0..2_000u32 {
            assert!(Instant::now() < deadline, "2,000 tries took over 60 s (at {i})");
            flusher.flush_cache_async().await.expect("cold start");
            let call = Scripts::incr("stale:n");
            let (flushed, called) = tokio::join!(
                flusher.flush_cache_async(),
                call.invoke_async(&mut caller),
            );
            flushed.expect("flush_cache");
            called.unwrap_or_else(|e| panic!("try {i}: the call failed: {e:?}"));
            let exists = scripts_exist(server, &[Scripts::Incr.sha1()])[0];
            if !exists {
                gone += 1;
                if caller.is_loaded(Scripts::Incr) {
                    stale += 1;
                }
            }
        }
        eprintln!("async stale-mark race on {}: 2000 tries, flush last in {gone}, {stale} stale", server.flavor());
        assert!(gone > 0, "the flush never came after the load: the race did not race");
        assert_eq!(stale, 0, "tries that left a stale mark");
        assert_eq!(counter(server, "stale:n"), 2_000, "every call ran once");
    }

    /// Guarantee 2 with a `WATCH` in place: a single call that meets
    /// NOSCRIPT succeeds (it does not fail because a WATCHed key changed),
    /// and the caller's WATCH still guards the caller's own transaction.
    fn single_call_under_watch_survives_a_flush_and_keeps_the_watch(server) {
        let mut con = ScriptCache::new(server.connection());
        let mut admin = server.connection();
        assert_eq!(Scripts::incr("wr:n").invoke(&mut con).expect("warm"), 1);
        redis::cmd("SCRIPT").arg("FLUSH").query::<()>(&mut admin).expect("flush");
        redis::cmd("WATCH").arg("wr:w").query::<()>(&mut con).expect("WATCH");
        redis::cmd("SET").arg("wr:w").arg("theirs").query::<()>(&mut admin).expect("SET");
        let n = Scripts::incr("wr:n").invoke(&mut con);
        assert!(matches!(n, Ok(2)), "a single call does not fail because of NOSCRIPT: {n:?}");
        let mut tx = pipe();
        tx.atomic().cmd("SET").arg("wr:w").arg("mine");
        let reply: Option<(String,)> = tx.query(&mut con).expect("the caller's transaction");
        assert_eq!(reply, None, "the WATCHed key changed: the caller's transaction must abort");
        let w: String = redis::cmd("GET").arg("wr:w").query(&mut admin).expect("GET");
        assert_eq!(w, "theirs");
        assert_eq!(counter(server, "wr:n"), 2);
    }

    /// Guarantee 7 under a flush storm: a non-atomic pipeline (a script,
    /// a plain INCR, a read-only script) is sent once and never replayed.
    /// The plain INCR runs exactly once per pipeline; a script entry that
    /// meets NOSCRIPT is `Error::NoScript` and did not run; the script's
    /// counter counts exactly the entries that succeeded.
    fn pipelines_are_never_replayed_under_flush_storm(server) {
        let mut con = ScriptCache::new(server.connection());
        let mut p = pipe();
        p.invoke(Scripts::incr("pl:s"))
            .cmd("INCR")
            .arg("pl:c")
            .invoke(Scripts::read_counter("pl:s"));
        let storm = FlushStorm::start(server, Duration::from_secs(120));
        assert!(storm.wait_for(1, Duration::from_secs(10)), "the flush storm did not start");
        let started = Instant::now();
        let (mut sent, mut script_ok, mut noscript) = (0i64, 0i64, 0u64);
        while sent < 2_000 || (started.elapsed() < MIN_STORM && sent < 100_000) {
            assert!(started.elapsed() < Duration::from_secs(90), "{sent} pipelines took over 90 s");
            let each = p
                .query_each(&mut con)
                .unwrap_or_else(|e| panic!("pipeline {sent}: {e:?}"))
                .expect("not a transaction");
            sent += 1;
            assert_eq!(each.len(), 3);
            let plain: i64 = match &each[1] {
                Ok(v) => redis::from_redis_value(v.clone()).expect("an integer"),
                Err(e) => panic!("the plain INCR failed: {e:?}"),
            };
            assert_eq!(plain, sent, "the plain INCR ran once per pipeline");
            match &each[0] {
                Ok(v) => {
                    script_ok += 1;
                    let n: i64 = redis::from_redis_value(v.clone()).expect("an integer");
                    assert_eq!(n, script_ok, "the script ran once per success");
                }
                Err(e) => {
                    assert!(matches!(e, Error::NoScript { .. }), "{e:?}");
                    assert_eq!(e.ran(), Ran::No, "{e:?}");
                    noscript += 1;
                }
            }
            match &each[2] {
                Ok(v) => {
                    let n: i64 = redis::from_redis_value(v.clone()).expect("an integer");
                    assert_eq!(n, script_ok, "the read sees every increment so far");
                }
                Err(e) => assert!(matches!(e, Error::NoScript { .. }) && e.ran() == Ran::No, "{e:?}"),
            }
        }
        let end = storm.stop();
        eprintln!(
            "STORM pipelines on {}: pipelines={sent} script_ok={script_ok} noscript={noscript} flushes={} in {:?}",
            server.flavor(), end.flushes, started.elapsed()
        );
        assert!(end.flushes >= 100, "only {} flushes", end.flushes);
        assert_eq!(counter(server, "pl:c"), sent);
        assert_eq!(counter(server, "pl:s"), script_ok);
    }

    /// `invoke::<T>` and `invoke_async::<T>` take one type argument, as
    /// the docs and rustdoc write them; so do `query::<T>` and `run_script::<T>`.
    async fn one_turbofish_type_argument(server) {
        let mut con = ScriptCache::new(server.connection());
        let v = Scripts::Incr.key("tf:n").invoke::<i64>(&mut con).expect("invoke::<T>");
        assert_eq!(v, 1);
        let mut acon = ScriptCache::new(server.client().get_multiplexed_async_connection().await.expect("connect"));
        let v = Scripts::Incr.key("tf:n").invoke_async::<i64>(&mut acon).await.expect("invoke_async::<T>");
        assert_eq!(v, 2);
        let mut p = pipe();
        p.invoke(Scripts::incr("tf:n"));
        assert_eq!(p.query::<(i64,)>(&mut con).expect("query::<T>"), (3,));
        assert_eq!(p.query_async::<(i64,)>(&mut acon).await.expect("query_async::<T>"), (4,));
        con.register_script("get", "return redis.call('GET', KEYS[1])").expect("register");
        let v = con.run_script::<String>("get", &["tf:n"], &[] as &[&str]).expect("run_script::<T>");
        assert_eq!(v, "4");
    }

    /// A WATCHed key changed: read into a plain tuple, the abort is
    /// `TransactionAborted`; read into an `Option`, it is `Ok(None)`.
    fn watch_abort_is_transaction_aborted_or_none(server) {
        let mut con = ScriptCache::new(server.connection());
        let mut admin = server.connection();
        let tx = two_script_transaction("w");
        redis::cmd("WATCH").arg("w:watched").query::<()>(&mut con).expect("WATCH");
        redis::cmd("INCR").arg("w:watched").query::<()>(&mut admin).expect("INCR");
        let err = tx.query::<(i64, i64, i64)>(&mut con).expect_err("aborted by WATCH");
        assert!(matches!(err, Error::TransactionAborted { .. }), "{err:?}");
        assert_eq!(err.ran(), Ran::No);
        assert_eq!(three_counters(server, "w"), [0, 0, 0], "nothing ran");

        redis::cmd("WATCH").arg("w:watched").query::<()>(&mut con).expect("WATCH");
        redis::cmd("INCR").arg("w:watched").query::<()>(&mut admin).expect("INCR");
        let reply: Option<(i64, i64, i64)> = tx.query(&mut con).expect("aborted by WATCH");
        assert_eq!(reply, None);
        assert_eq!(three_counters(server, "w"), [0, 0, 0], "nothing ran");

        // Without a WATCH in the way, it applies.
        let reply: Option<(i64, i64, i64)> = tx.query(&mut con).expect("applies");
        assert_eq!(reply, Some((1, 1, 1)));
    }
}

// ---------------------------------------------------------------------------
// register_file: regular files inside the script folder, size-limited.

/// A script folder inside a temporary root, with files around it:
/// `root/x.lua` (outside), `root/scripts/ok.lua`.
struct Folders {
    root: tempfile::TempDir,
}

impl Folders {
    fn new() -> Folders {
        let root = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(root.path().join("scripts")).expect("mkdir");
        std::fs::write(root.path().join("x.lua"), "return 'outside'").expect("write");
        std::fs::write(root.path().join("scripts/ok.lua"), "return 'inside'").expect("write");
        Folders { root }
    }

    fn scripts(&self) -> std::path::PathBuf {
        self.root.path().join("scripts")
    }

    fn outside(&self) -> std::path::PathBuf {
        self.root.path().join("x.lua")
    }
}

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("run mkfifo");
    assert!(status.success(), "mkfifo {}", path.display());
}

/// Opens a FIFO for writing without blocking and closes it, so a reader
/// blocked on it sees end of file. `O_NONBLOCK` on Linux; it fails (and
/// does nothing) when no reader is there.
fn release_fifo_reader(path: &Path) {
    use std::os::unix::fs::OpenOptionsExt;
    const O_NONBLOCK: i32 = 0o4000;
    let _ = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(O_NONBLOCK)
        .open(path);
}

matrix! {
    /// Guarantee 6: a FIFO named `x.lua` is an error at once, not a hang
    /// (the call runs on a thread with a 5 s bound).
    fn register_file_refuses_a_fifo_without_blocking(server) {
        let folders = Folders::new();
        let fifo = folders.scripts().join("x.lua");
        mkfifo(&fifo);
        let con = ScriptCache::new(server.connection());
        con.set_script_dir(folders.scripts());
        let outcome = within(Duration::from_secs(5), move || {
            con.register_file("x.lua").map_err(|e| format!("{e:?}: {e}"))
        });
        if outcome.is_none() {
            release_fifo_reader(&fifo);
        }
        let result = outcome.expect("register_file on a FIFO returned within 5 s");
        let err = result.expect_err("a FIFO is not a script file");
        assert!(err.starts_with("InvalidScript"), "{err}");
        assert!(err.contains("x.lua"), "names the file: {err}");
    }

    /// Guarantee 6: `..`, absolute paths outside the folder and symlinks
    /// leaving it are errors; a file over the size limit is an error; a
    /// plain file inside is fine.
    fn register_file_stays_inside_the_script_folder(server) {
        let folders = Folders::new();
        let con = ScriptCache::new(server.connection());
        con.set_script_dir(folders.scripts());
        assert_eq!(con.register_file("ok.lua").expect("inside"), "ok");

        let err = con.register_file("../x.lua").expect_err("`..` leaves the folder");
        assert!(matches!(err, Error::OutsideScriptDir { .. }), "{err:?}");
        assert!(err.to_string().contains("x.lua"), "{err}");
        let err = con.register_file(folders.outside()).expect_err("absolute path outside");
        assert!(matches!(err, Error::OutsideScriptDir { .. }), "{err:?}");
        assert!(err.to_string().contains("x.lua"), "{err}");
        std::os::unix::fs::symlink(folders.outside(), folders.scripts().join("link.lua")).expect("symlink");
        let err = con.register_file("link.lua").expect_err("a symlink leaving the folder");
        assert!(matches!(err, Error::OutsideScriptDir { .. }), "{err:?}");
        assert!(err.to_string().contains("link.lua"), "{err}");

        // Just over the limit (1 MiB) of valid Lua (a comment and a return),
        // and a file exactly at the limit, which is fine.
        let limit = usize::try_from(script_cache::MAX_SCRIPT_FILE_BYTES).expect("limit");
        assert_eq!(limit, 1024 * 1024);
        let mut big = String::from("return 1\n");
        while big.len() <= limit {
            big.push_str("-- padding padding padding padding padding padding padding padding\n");
        }
        std::fs::write(folders.scripts().join("big.lua"), &big).expect("write");
        let err = con.register_file("big.lua").expect_err("over the size limit");
        assert!(matches!(err, Error::InvalidScript { .. }), "{err:?}");
        assert!(err.to_string().contains("big.lua"), "{err}");
        let mut at_limit = String::from("return 2\n");
        at_limit.push_str(&"-".repeat(limit - at_limit.len()));
        assert_eq!(at_limit.len(), limit);
        std::fs::write(folders.scripts().join("at_limit.lua"), &at_limit).expect("write");
        assert_eq!(con.register_file("at_limit.lua").expect("at the limit"), "at_limit");

        assert_eq!(con.scripts(), vec!["at_limit", "ok"], "only the files inside were registered");
        let mut con = con;
        let v: String = con.run_script("ok", &[] as &[&str], &[] as &[&str]).expect("run ok");
        assert_eq!(v, "inside");
    }
}

/// What `INFO commandstats` counts as `script|load` after one load and
/// one survey (the state's first call of an embedded script asks
/// `SCRIPT EXISTS` of its enum): Redis 6.2 counts every `SCRIPT`
/// subcommand as `script`.
fn one_load_and_survey(flavor: Flavor) -> u64 {
    if flavor == Flavor::Redis62 { 2 } else { 1 }
}

/// A connection that records what it sends, wrapped with a shared state.
fn recorded_with(
    server: &TestServer,
    state: &ScriptState,
) -> (ScriptCache<Recording<redis::Connection>>, RoundTripLog) {
    let rec = Recording::new(server.connection());
    let log = rec.log();
    (ScriptCache::with_state(rec, state.clone()), log)
}

matrix! {
    /// Guarantee 1 with a shared state: two connections, one state, one
    /// SCRIPT LOAD in `INFO commandstats`; the second connection's first
    /// call is one round trip with EVALSHA alone (no source bytes). The
    /// script is over `LAZY_LOAD_MAX`: the first call of it, on a server
    /// that lacks it, is EVALSHA first (with the state's survey of the
    /// enum) and then the load with the call.
    fn two_connections_sharing_a_state_load_once(server) {
        let state = ScriptState::new();
        let (mut a, log_a) = recorded_with(server, &state);
        let (mut b, log_b) = recorded_with(server, &state);
        server.reset_stats();
        assert_eq!(Scripts::big_incr("share:n").invoke(&mut a).expect("a"), 1);
        assert_eq!(
            log_a.round_trips(),
            vec![vec!["SCRIPT EXISTS", "EVALSHA"], vec!["SCRIPT LOAD", "EVALSHA"]]
        );
        assert_eq!(Scripts::big_incr("share:n").invoke(&mut b).expect("b"), 2);
        assert_eq!(log_b.round_trips(), vec![vec!["EVALSHA"]], "EVALSHA only");
        let source = Scripts::BigIncr.source().len() as u64;
        assert!(source > 4000);
        assert!(log_b.bytes_sent() < 200, "no source sent: {} bytes", log_b.bytes_sent());
        assert!(log_a.bytes_sent() > source, "a sent the source once");
        assert!(log_a.bytes_sent() < 2 * source, "a sent the source once");
        let stats = server.commandstats();
        assert_eq!(stats.calls("script|load"), one_load_and_survey(server.flavor()), "{stats:?}");
        // The NOSCRIPT of the first EVALSHA, then one call per connection.
        assert_eq!(stats.calls("evalsha"), 3, "{stats:?}");
        assert!(stats.total_errors() <= 1, "{stats:?}");
        let counters = state.stats();
        // Calls sent: A's EVALSHA first, A's call with the load, B's call.
        assert_eq!((counters.loads, counters.calls, counters.surveys), (1, 3, 1), "{counters:?}");
        assert_eq!(a.stats(), b.stats(), "one state, one set of counters");
    }

    async fn two_async_connections_sharing_a_state_load_once(server) {
        let state = ScriptState::new();
        let client = server.client();
        let mut a = ScriptCache::with_state(client.get_multiplexed_async_connection().await.expect("a"), state.clone());
        let rec = Recording::new(client.get_multiplexed_async_connection().await.expect("b"));
        let log_b = rec.log();
        let mut b = ScriptCache::with_state(rec, state.clone());
        server.reset_stats();
        assert_eq!(Scripts::big_incr("share:n").invoke_async(&mut a).await.expect("a"), 1);
        assert_eq!(Scripts::big_incr("share:n").invoke_async(&mut b).await.expect("b"), 2);
        assert_eq!(log_b.round_trips(), vec![vec!["EVALSHA"]]);
        assert!(log_b.bytes_sent() < 200, "{} bytes", log_b.bytes_sent());
        let stats = server.commandstats();
        assert_eq!(stats.calls("script|load"), one_load_and_survey(server.flavor()), "{stats:?}");
        // A's EVALSHA first (NOSCRIPT) and its call after the load, B's call.
        assert_eq!(stats.calls("evalsha"), 3, "{stats:?}");
    }

    /// Guarantee 3's opt-out: `trust_marks()` sends no source for a script
    /// marked loaded (the default sends it inside MULTI every time).
    fn trust_marks_sends_no_source_for_marked_scripts(server) {
        let state = ScriptState::new();
        let (mut con, log) = recorded_with(server, &state);
        assert_eq!(Scripts::big_incr("tm:n").invoke(&mut con).expect("mark it loaded"), 1);
        let source = Scripts::BigIncr.source().len() as u64;

        let mut trusting = pipe();
        trusting.atomic().trust_marks().invoke(Scripts::big_incr("tm:n")).cmd("INCR").arg("tm:c");
        log.clear();
        let reply: (i64, i64) = trusting.query(&mut con).expect("trusting");
        assert_eq!(reply, (2, 1));
        assert_eq!(log.round_trips(), vec![vec!["MULTI", "EVALSHA", "INCR", "EXEC"]]);
        assert!(log.bytes_sent() < 300, "no source: {} bytes", log.bytes_sent());

        let mut default = pipe();
        default.atomic().invoke(Scripts::big_incr("tm:n")).cmd("INCR").arg("tm:c");
        log.clear();
        let reply: (i64, i64) = default.query(&mut con).expect("default");
        assert_eq!(reply, (3, 2));
        assert_eq!(log.round_trips(), vec![vec!["MULTI", "SCRIPT LOAD", "EVALSHA", "INCR", "EXEC"]]);
        assert!(log.bytes_sent() > source, "the default loads inside MULTI: {} bytes", log.bytes_sent());

        // A script not marked loaded is loaded inside MULTI even when
        // trusting marks.
        let mut cold = pipe();
        cold.atomic().trust_marks().invoke(Scripts::incr_by("tm:m", 5));
        log.clear();
        let reply: (i64,) = cold.query(&mut con).expect("cold");
        assert_eq!(reply, (5,));
        assert_eq!(log.round_trips(), vec![vec!["MULTI", "SCRIPT LOAD", "EVALSHA", "EXEC"]]);
    }

    /// Guarantee 3 after a restart, sync: the state marks the scripts
    /// loaded, a new connection to the restarted server shares it; the
    /// first transaction applies fully.
    fn transaction_on_a_new_connection_after_restart_applies_fully(server) {
        let state = ScriptState::new();
        let tx = two_script_transaction("rs");
        let mut con = ScriptCache::with_state(server.connection(), state.clone());
        let first: (i64, i64, i64) = tx.query(&mut con).expect("first");
        assert_eq!(first, (1, 1, 1));
        assert!(con.is_loaded(Scripts::Incr) && con.is_loaded(Scripts::IncrBy));
        server.restart().expect("restart");
        let mut con = ScriptCache::with_state(server.connection(), state.clone());
        let reply: (i64, i64, i64) = tx.query(&mut con).expect("after the restart");
        assert_eq!(reply, (1, 1, 1));
        assert_eq!(three_counters(server, "rs"), [1, 1, 1]);
    }

    /// `flush_cache` on one connection racing a cold call on another
    /// connection sharing the state, 2,000 times (threads started together
    /// by a barrier): every call succeeds, and once both are done no script
    /// is marked loaded that the server lacks.
    fn flush_cache_racing_cold_calls_on_other_connections(server) {
        use std::sync::{Arc, Barrier};
        const TRIES: usize = 2_000;
        let state = ScriptState::new();
        let mut checker = ScriptCache::with_state(server.connection(), state.clone());
        let mut flusher = ScriptCache::with_state(server.connection(), state.clone());
        let mut caller = ScriptCache::with_state(server.connection(), state.clone());
        let start = Arc::new(Barrier::new(3));
        let done = Arc::new(Barrier::new(3));
        let flushing = {
            let (start, done) = (Arc::clone(&start), Arc::clone(&done));
            std::thread::spawn(move || {
                let mut failures = Vec::new();
                for _ in 0..TRIES {
                    start.wait();
                    if let Err(e) = flusher.flush_cache() { failures.push(format!("{e:?}")); }
                    done.wait();
                }
                failures
            })
        };
        let calling = {
            let (start, done) = (Arc::clone(&start), Arc::clone(&done));
            std::thread::spawn(move || {
                let mut failures = Vec::new();
                for _ in 0..TRIES {
                    start.wait();
                    if let Err(e) = Scripts::incr("stale:n").invoke(&mut caller) { failures.push(format!("{e:?}")); }
                    done.wait();
                }
                failures
            })
        };
        let (mut stale, mut gone) = (0, 0);
        let started = Instant::now();
        for _ in 0..TRIES {
            // Cold start: SCRIPT FLUSH and no marks.
            checker.flush_cache().expect("cold start");
            start.wait();
            done.wait();
            if !scripts_exist(server, &[Scripts::Incr.sha1()])[0] {
                gone += 1;
                if checker.is_loaded(Scripts::Incr) {
                    stale += 1;
                }
            }
        }
        let flush_failures = flushing.join().expect("flusher");
        let call_failures = calling.join().expect("caller");
        assert!(flush_failures.is_empty(), "{flush_failures:?}");
        assert!(call_failures.is_empty(), "{} calls failed, e.g. {:?}", call_failures.len(), call_failures.first());
        eprintln!(
            "stale-mark race on {}: {TRIES} tries in {:?}, flush last in {gone}, {stale} stale",
            server.flavor(),
            started.elapsed()
        );
        assert!(gone > 0, "the flush never came after the load: the race did not race");
        assert_eq!(stale, 0, "tries that left a stale mark, of {TRIES}");
        assert_eq!(counter(server, "stale:n"), TRIES as i64, "every call ran once");
    }
}

/// The flavor a server is swapped for, and back: Redis 6.2 for every
/// newer one (its bodies and commands differ: no shebang, no
/// `EVALSHA_RO`), Redis 7.0 for 6.2.
fn swap_partner(flavor: Flavor) -> Flavor {
    match flavor {
        Flavor::Redis62 => Flavor::Redis7,
        Flavor::Redis7 | Flavor::Redis82 | Flavor::Valkey81 | Flavor::Valkey9 => Flavor::Redis62,
    }
}

/// A pipeline with the read-only shebang script (`EVALSHA_RO` and the
/// shebang body where the server has them, `EVALSHA` and the legacy body
/// on 6.2) and a plain INCR of the same counter.
fn read_then_incr(key: &str) -> script_cache::Pipeline {
    let mut p = pipe();
    p.invoke(Scripts::read_counter(key)).cmd("INCR").arg(key);
    p
}

/// Reads the counter with single calls until the ConnectionManager has
/// reconnected (connection errors meanwhile, nothing else), bounded.
async fn single_calls_recover<C>(con: &mut ScriptCache<C>, key: &str, on: Flavor) -> i64
where
    C: script_cache::AsyncConnection + 'static,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match Scripts::read_counter(key).invoke_async(con).await {
            Ok(n) => return n,
            Err(e) => {
                assert!(e.is_connection_error(), "on {on}: {e:?}");
                assert!(
                    Instant::now() < deadline,
                    "no reconnect to {on} within 20 s: {e:?}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

matrix! {
    /// Guarantee 7, "a node's marks do not outlive a change of server":
    /// the server behind a ConnectionManager is swapped for another
    /// version on the same port and back (7.0 -> 6.2 -> 7.0, 6.2 -> 7.0 ->
    /// 6.2, Valkey -> 6.2 -> Valkey). Once single calls have recovered on
    /// the new server, the next pipeline with the read-only shebang script
    /// succeeds: no mark of a body the previous server confirmed is
    /// trusted on the next one.
    async fn pipeline_after_a_server_swap_and_back_succeeds(server) {
        let first = server.flavor();
        let port = server.port();
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_response_timeout(Some(Duration::from_secs(5)));
        let manager = server
            .client()
            .get_connection_manager_with_config(config)
            .await
            .expect("manager");
        let mut con = ScriptCache::new(manager);
        let key = "swap:n";
        let p = read_then_incr(key);
        assert_eq!(Scripts::read_counter(key).invoke_async(&mut con).await.expect("single"), 0);
        let reply: (i64, i64) = p.query_async(&mut con).await.expect("pipeline on the first server");
        assert_eq!(reply, (0, 1));
        let mut current: Option<TestServer> = None;
        for next in [swap_partner(first), first] {
            match current.as_mut() {
                Some(s) => s.kill(),
                None => server.kill(),
            }
            let started = TestServer::builder(next).start_on_port(port).expect("the next server on the same port");
            current = Some(started);
            // Each server starts empty.
            assert_eq!(single_calls_recover(&mut con, key, next).await, 0);
            for round in 1..=2 {
                let each = p
                    .query_each_async(&mut con)
                    .await
                    .expect("pipeline sent")
                    .expect("not a transaction");
                assert_eq!(each.len(), 2);
                for (i, entry) in each.iter().enumerate() {
                    assert!(entry.is_ok(), "on {next}, pipeline {round}, entry {i}: {entry:?} (stats {:?})", con.stats());
                }
                let values: Vec<i64> = each
                    .into_iter()
                    .map(|e| redis::from_redis_value(e.expect("checked")).expect("an integer"))
                    .collect();
                assert_eq!(values, vec![round - 1, round], "on {next}, pipeline {round}");
            }
            let last = current.as_ref().expect("started");
            assert_eq!(counter(last, key), 2, "on {next}");
            let stats = last.commandstats();
            if next == Flavor::Redis62 {
                assert_eq!(stats.calls("evalsha_ro"), 0, "6.2 has no EVALSHA_RO: {stats:?}");
            } else {
                assert!(stats.calls("evalsha_ro") >= 2, "{next} reads with EVALSHA_RO: {stats:?}");
            }
        }
    }
}

matrix! {
    /// The same swap and back with sync connections: after each swap a
    /// new connection shares the state (as docs/connections.md says to do after a
    /// reconnect); one single call, then pipelines succeed.
    fn pipeline_on_a_new_connection_after_a_server_swap_and_back_succeeds(server) {
        let first = server.flavor();
        let port = server.port();
        let state = ScriptState::new();
        let key = "swap:s";
        let p = read_then_incr(key);
        let mut con = ScriptCache::with_state(server.connection(), state.clone());
        let reply: (i64, i64) = p.query(&mut con).expect("pipeline on the first server");
        assert_eq!(reply, (0, 1));
        let mut current: Option<TestServer> = None;
        for next in [swap_partner(first), first] {
            match current.as_mut() {
                Some(s) => s.kill(),
                None => server.kill(),
            }
            let started = TestServer::builder(next).start_on_port(port).expect("the next server on the same port");
            let mut con = ScriptCache::with_state(started.connection(), state.clone());
            assert_eq!(Scripts::read_counter(key).invoke(&mut con).expect("single call"), 0, "on {next}");
            for round in 1..=2 {
                let reply = p.query::<(i64, i64)>(&mut con);
                assert!(matches!(reply, Ok((r, n)) if r == round - 1 && n == round), "on {next}, pipeline {round}: {reply:?}");
            }
            current = Some(started);
        }
    }
}

matrix! {
    /// Guarantees 5 and 7 for a whole pipeline: after an external
    /// `SCRIPT FLUSH`, `pipe().invoke(script).cmd("INCR")` fails (the
    /// script entry met NOSCRIPT and did not run) while the INCR ran. The
    /// error of `query` says the pipeline ran (`Ran::Yes`: a caller that
    /// retries on `Ran::No` must not apply the INCR twice) and names which
    /// entries ran and which did not; `query_each` keeps each entry's own
    /// outcome. The NOSCRIPT clears the mark it relied on, so the next
    /// pipeline loads the script.
    fn whole_pipeline_error_says_which_entries_ran(server) {
        let mut con = ScriptCache::new(server.connection());
        let mut admin = server.connection();
        let flush = |admin: &mut redis::Connection| {
            redis::cmd("SCRIPT").arg("FLUSH").query::<()>(admin).expect("external SCRIPT FLUSH");
        };
        assert_eq!(Scripts::incr("wp:s").invoke(&mut con).expect("loaded and marked"), 1);
        flush(&mut admin);
        let mut p = pipe();
        p.invoke(Scripts::incr("wp:s")).cmd("INCR").arg("wp:c");

        let err = p.query::<(i64, i64)>(&mut con).expect_err("the script entry meets NOSCRIPT");
        assert_eq!(counter(server, "wp:c"), 1, "the INCR ran");
        assert_eq!(counter(server, "wp:s"), 1, "the script did not");
        assert_eq!(err.ran(), Ran::Yes, "{err}");
        assert!(!err.is_retry_safe(), "{err}");
        match &err {
            Error::Pipeline { entries } => {
                assert_eq!(entries.len(), 2, "{entries:?}");
                assert!(matches!(entries[0].error(), Some(Error::NoScript { .. })), "{entries:?}");
                assert_eq!(entries[0].ran(), Ran::No);
                assert!(matches!(entries[1], EntryOutcome::Ran), "{entries:?}");
                assert_eq!(entries[1].ran(), Ran::Yes);
            }
            other => panic!("expected Error::Pipeline, got {other:?}"),
        }
        let message = err.to_string();
        assert!(message.contains("entry #0 did not run"), "{message}");
        assert!(message.contains("script `incr`"), "{message}");
        assert!(message.contains("entry #1 ran"), "{message}");

        // The NOSCRIPT cleared the mark: the same pipeline loads and runs.
        let each = p.query_each(&mut con).expect("sent").expect("not a transaction");
        let values: Vec<i64> = each
            .into_iter()
            .map(|e| redis::from_redis_value(e.expect("both entries succeed")).expect("an integer"))
            .collect();
        assert_eq!(values, vec![2, 2]);

        // query_each keeps each entry's own outcome.
        flush(&mut admin);
        let each = p.query_each(&mut con).expect("sent").expect("not a transaction");
        assert_eq!(each.len(), 2);
        match &each[0] {
            Err(e @ Error::NoScript { .. }) => assert_eq!(e.ran(), Ran::No),
            other => panic!("expected NoScript for the script entry, got {other:?}"),
        }
        assert_eq!(each[1].as_ref().ok(), Some(&redis::Value::Int(3)), "{each:?}");
        assert_eq!((counter(server, "wp:s"), counter(server, "wp:c")), (2, 3));

        // Every entry provably did not run: then, and only then, `Ran::No`.
        let mut both = pipe();
        both.invoke(Scripts::incr("wp:s")).invoke(Scripts::incr_by("wp:b", 5));
        let _: (i64, i64) = both.query(&mut con).expect("load both");
        flush(&mut admin);
        let err = both.query::<(i64, i64)>(&mut con).expect_err("both meet NOSCRIPT");
        assert_eq!(err.ran(), Ran::No, "{err}");
        assert!(matches!(&err, Error::Pipeline { entries } if entries.len() == 2), "{err:?}");
        assert!(err.to_string().contains("no entry ran"), "{err}");
        assert_eq!((counter(server, "wp:s"), counter(server, "wp:b")), (3, 5));

        // A plain command the server refused ran and was refused: not
        // "may have run".
        redis::cmd("RPUSH").arg("wp:list").arg(1).query::<()>(&mut admin).expect("RPUSH");
        let mut refused = pipe();
        refused.invoke(Scripts::incr("wp:s")).cmd("INCR").arg("wp:list");
        let each = refused.query_each(&mut con).expect("sent").expect("not a transaction");
        match &each[1] {
            Err(e @ Error::Command { index: 1, source }) => {
                assert_eq!(source.code(), Some("WRONGTYPE"));
                assert_eq!(e.ran(), Ran::Yes, "the server answered: {e}");
            }
            other => panic!("expected Command, got {other:?}"),
        }
        let err = refused.query::<(i64, i64)>(&mut con).expect_err("WRONGTYPE");
        assert_eq!(err.ran(), Ran::Yes, "{err}");
        let message = err.to_string();
        assert!(message.contains("entry #1 ran and failed") && message.contains("WRONGTYPE"), "{message}");
        assert!(message.contains("entry #0 ran"), "{message}");
        assert_eq!(counter(server, "wp:s"), 5, "the script entry ran in both pipelines");
    }
}

matrix! {
    /// The same through `query_async` on a multiplexed connection: the
    /// whole pipeline's error says it ran, and names the entry that did
    /// not.
    async fn whole_pipeline_error_says_which_entries_ran_async(server) {
        let client = server.client();
        let mut con = ScriptCache::new(client.get_multiplexed_async_connection().await.expect("connect"));
        assert_eq!(Scripts::incr("wpa:s").invoke_async(&mut con).await.expect("loaded and marked"), 1);
        redis::cmd("SCRIPT").arg("FLUSH").query::<()>(&mut server.connection()).expect("external SCRIPT FLUSH");
        let mut p = pipe();
        p.cmd("INCR").arg("wpa:c").invoke(Scripts::incr("wpa:s"));
        let err = p.query_async::<(i64, i64)>(&mut con).await.expect_err("NOSCRIPT for entry 1");
        assert_eq!(err.ran(), Ran::Yes, "{err}");
        assert!(matches!(&err, Error::Pipeline { entries } if entries[1].ran() == Ran::No && entries[0].ran() == Ran::Yes), "{err:?}");
        let message = err.to_string();
        assert!(message.contains("entry #1 did not run") && message.contains("entry #0 ran"), "{message}");
        assert_eq!((counter(server, "wpa:c"), counter(server, "wpa:s")), (1, 1));
        let each = p.query_each_async(&mut con).await.expect("sent").expect("not a transaction");
        assert!(each.iter().all(Result::is_ok), "the mark was cleared, so this time it loads: {each:?}");
        assert_eq!((counter(server, "wpa:c"), counter(server, "wpa:s")), (2, 2));
    }
}
