//! The runtime's guarantees (DESIGN.md "Run time", "Guarantees"), each
//! under the fault that would break it, on every server flavor:
//! transactions under flush storms and restarts, runtime registration of
//! bad scripts and bad files, stale load marks, aborted transactions.
//! The single-call flush storms are in `storms.rs`.

use std::path::Path;
use std::time::{Duration, Instant};

use script_cache::prelude::*;
use script_cache::{Error, ScriptCache, pipe};
use script_cache_tests::faults::{counter, scripts_exist, within};
use script_cache_tests::{FlushStorm, TestServer, matrix};

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

const CAFE: &str = "local café = 1\nreturn café\n";

matrix! {
    /// Guarantee 3: ≥5,000 two-script transactions (two scripts on two
    /// keys + a plain INCR) under a flush every 1–2 ms: every EXEC applied
    /// fully or failed as a whole; the three counters end equal.
    fn transactions_never_half_apply_under_flush_storm(server) {
        let mut con = ScriptCache::new(server.connection());
        let tx = two_script_transaction("tx");
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
            match tx.query::<(i64, i64, i64), _>(&mut con) {
                Ok((a, b, c)) => {
                    let next = [a, b, c];
                    if next == last.map(|v| v + 1) {
                        applied += 1;
                    } else {
                        half += 1;
                        if samples.len() < 5 {
                            samples.push(format!("Ok({next:?}) after {last:?}"));
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
    /// (deterministic: today the plain INCR runs and the scripts meet
    /// NOSCRIPT).
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
            match tx.query_async::<(i64, i64, i64), _>(&mut con).await {
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
        assert!(err.to_string().contains("cafe"), "names the script: {err}");
        assert!(con.scripts().is_empty(), "nothing registered");
        let pong: String = redis::cmd("PING").query(&mut con).expect("the connection still answers");
        assert_eq!(pong, "PONG");
        assert_eq!(server.commandstats().calls("script|load"), 0, "nothing was sent");
    }

    async fn cafe_is_refused_at_registration_async(server) {
        let mut con = ScriptCache::new(
            server.client().get_multiplexed_async_connection().await.expect("connect"),
        );
        let mut other = con.clone();
        let err = con.register_script("cafe", CAFE).expect_err("a Lua 5.1 syntax error");
        assert!(err.to_string().contains("cafe"), "names the script: {err}");
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
        let base = ScriptCache::new(
            server.client().get_multiplexed_async_connection().await.expect("connect"),
        );
        let mut flusher = base.clone();
        let mut caller = base.clone();
        let mut stale = 0u32;
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
            if base.is_loaded(Scripts::Incr) && !exists {
                stale += 1;
            }
        }
        assert_eq!(stale, 0, "tries that left a stale mark");
        assert_eq!(counter(server, "stale:n"), 2_000, "every call ran once");
    }

    /// A WATCHed key changed: read into a plain tuple, the abort is
    /// `TransactionAborted`; read into an `Option`, it is `Ok(None)`.
    fn watch_abort_is_transaction_aborted_or_none(server) {
        let mut con = ScriptCache::new(server.connection());
        let mut admin = server.connection();
        let tx = two_script_transaction("w");
        redis::cmd("WATCH").arg("w:watched").query::<()>(&mut con).expect("WATCH");
        redis::cmd("INCR").arg("w:watched").query::<()>(&mut admin).expect("INCR");
        let err = tx.query::<(i64, i64, i64), _>(&mut con).expect_err("aborted by WATCH");
        assert!(matches!(err, Error::TransactionAborted { .. }), "{err:?}");
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
            con.register_file("x.lua").map_err(|e| format!("{e:?}"))
        });
        if outcome.is_none() {
            release_fifo_reader(&fifo);
        }
        let result = outcome.expect("register_file on a FIFO returned within 5 s");
        let err = result.expect_err("a FIFO is not a script file");
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
        assert!(err.to_string().contains("x.lua"), "{err}");
        let err = con.register_file(folders.outside()).expect_err("absolute path outside");
        assert!(err.to_string().contains("x.lua"), "{err}");
        std::os::unix::fs::symlink(folders.outside(), folders.scripts().join("link.lua")).expect("symlink");
        let err = con.register_file("link.lua").expect_err("a symlink leaving the folder");
        assert!(err.to_string().contains("link.lua"), "{err}");

        // Just over 1 MiB of valid Lua (a comment and a return).
        let mut big = String::from("return 1\n");
        while big.len() <= 1024 * 1024 {
            big.push_str("-- padding padding padding padding padding padding padding padding\n");
        }
        std::fs::write(folders.scripts().join("big.lua"), &big).expect("write");
        let err = con.register_file("big.lua").expect_err("over the size limit");
        assert!(err.to_string().contains("big.lua"), "{err}");

        assert_eq!(con.scripts(), vec!["ok"], "only the file inside was registered");
        let mut con = con;
        let v: String = con.run_script("ok", &[] as &[&str], &[] as &[&str]).expect("run ok");
        assert_eq!(v, "inside");
    }
}
