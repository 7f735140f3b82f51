//! Guarantee 5 under fault: server conditions are not script errors. A
//! call that meets BUSY, READONLY or OOM is `Error::Unavailable` with the
//! right `Condition`, says it did not run, and succeeds once the condition
//! is gone. And a reconnect to a server of another version asks its
//! capabilities again.

use std::time::Duration;

use script_cache::{Condition, Error, Ran, ScriptCache, pipe};
use script_cache_tests::faults::{counter, wait_link_down};
use script_cache_tests::{BusyScript, Flavor, TestServer, fill_memory, matrix, start_replica};

script_cache::include_scripts!("fixtures/guarantees");

/// Asserts `err` is `Unavailable` with `condition`, about `script`, and
/// provably did not run.
fn assert_unavailable(err: &Error, condition: Condition, script: &str) {
    match err {
        Error::Unavailable {
            condition: got,
            script: id,
            ..
        } => {
            assert_eq!(*got, condition, "{err:?}");
            assert_eq!(id.as_ref().map(|s| &*s.name), Some(script), "{err:?}");
        }
        other => panic!("expected Unavailable({condition:?}), got {other:?}"),
    }
    assert_eq!(err.ran(), Ran::No, "{err:?}");
    assert!(err.is_retry_safe(), "{err:?}");
    assert_eq!(err.script().map(|s| &*s.name), Some(script));
}

/// Two scripts and a plain INCR in one transaction, on `prefix:{a,b,c}`.
fn transaction(prefix: &str) -> script_cache::Pipeline {
    let mut t = pipe();
    t.atomic()
        .invoke(Scripts::incr(format!("{prefix}:a")))
        .invoke(Scripts::incr_by(format!("{prefix}:b"), 1))
        .cmd("INCR")
        .arg(format!("{prefix}:c"));
    t
}

fn counters(server: &TestServer, prefix: &str) -> [i64; 3] {
    ["a", "b", "c"].map(|k| counter(server, &format!("{prefix}:{k}")))
}

/// A transaction refused by a server condition failed as a whole: it did
/// not run, it is not a script error, and nothing of it was applied.
fn assert_refused_as_a_whole(err: &Error, what: &str) {
    assert_eq!(err.ran(), Ran::No, "{what}: {err:?}");
    assert!(err.is_retry_safe(), "{what}: {err:?}");
    assert!(
        !matches!(err, Error::Script { .. }),
        "{what}: a condition, not a script error: {err:?}"
    );
}

matrix! {
    /// Transactions under BUSY, OOM and on a replica: each fails as a
    /// whole (did not run, nothing applied, not a script error), and
    /// applies fully once the condition is gone.
    fn transactions_under_server_conditions_fail_as_a_whole(server) {
        let mut con = ScriptCache::new(server.connection());
        let tx = transaction("tc");
        let warm: (i64, i64, i64) = tx.query(&mut con).expect("warm");
        assert_eq!(warm, (1, 1, 1));

        let busy = BusyScript::start(server, Duration::from_secs(5));
        let err = tx.query::<(i64, i64, i64)>(&mut con).expect_err("BUSY");
        assert_refused_as_a_whole(&err, "BUSY");
        let killed = busy.kill();
        assert!(killed.is_err(), "{killed:?}");
        assert_eq!(counters(server, "tc"), [1, 1, 1], "nothing applied under BUSY");
        let reply: (i64, i64, i64) = tx.query(&mut con).expect("after SCRIPT KILL");
        assert_eq!(reply, (2, 2, 2));

        let full = fill_memory(server);
        let err = tx.query::<(i64, i64, i64)>(&mut con).expect_err("OOM");
        assert_refused_as_a_whole(&err, "OOM");
        full.release();
        assert_eq!(counters(server, "tc"), [2, 2, 2], "nothing applied under OOM");
        let reply: (i64, i64, i64) = tx.query(&mut con).expect("after the memory is released");
        assert_eq!(reply, (3, 3, 3));

        let replica = start_replica(server).expect("replica");
        let mut on_replica = ScriptCache::new(replica.connection());
        let err = tx.query::<(i64, i64, i64)>(&mut on_replica).expect_err("READONLY");
        assert_refused_as_a_whole(&err, "READONLY");
        assert_eq!(counters(server, "tc"), [3, 3, 3], "nothing applied on the replica");
        assert_eq!(counters(&replica, "tc"), [3, 3, 3]);
    }

    /// BUSY: a script keeps the server busy; a call of a loaded script and
    /// the first call of another are `Unavailable(Busy)` and did not run;
    /// after SCRIPT KILL the same calls succeed.
    fn busy_server_is_unavailable_until_script_kill(server) {
        let mut con = ScriptCache::new(server.connection());
        assert_eq!(Scripts::incr("busy:n").invoke(&mut con).expect("warm"), 1);

        let busy = BusyScript::start(server, Duration::from_secs(5));
        let warm = Scripts::incr("busy:n").invoke(&mut con).expect_err("BUSY");
        assert_unavailable(&warm, Condition::Busy, "incr");
        let cold = Scripts::incr_by("busy:m", 5).invoke(&mut con).expect_err("BUSY");
        assert_unavailable(&cold, Condition::Busy, "incr_by");
        let killed = busy.kill();
        assert!(killed.is_err(), "the busy script was killed: {killed:?}");

        assert_eq!(Scripts::incr("busy:n").invoke(&mut con).expect("after SCRIPT KILL"), 2);
        assert_eq!(Scripts::incr_by("busy:m", 5).invoke(&mut con).expect("after SCRIPT KILL"), 5);
        assert_eq!((counter(server, "busy:n"), counter(server, "busy:m")), (2, 5));
    }

    async fn busy_server_is_unavailable_async(server) {
        let mut con = ScriptCache::new(
            server.client().get_multiplexed_async_connection().await.expect("connect"),
        );
        assert_eq!(Scripts::incr("busy:n").invoke_async(&mut con).await.expect("warm"), 1);
        let busy = BusyScript::start(server, Duration::from_secs(5));
        let warm = Scripts::incr("busy:n").invoke_async(&mut con).await.expect_err("BUSY");
        assert_unavailable(&warm, Condition::Busy, "incr");
        let cold = Scripts::incr_by("busy:m", 5).invoke_async(&mut con).await.expect_err("BUSY");
        assert_unavailable(&cold, Condition::Busy, "incr_by");
        let killed = tokio::task::spawn_blocking(move || busy.kill()).await.expect("join");
        assert!(killed.is_err(), "the busy script was killed: {killed:?}");
        assert_eq!(Scripts::incr("busy:n").invoke_async(&mut con).await.expect("after kill"), 2);
        assert_eq!(Scripts::incr_by("busy:m", 5).invoke_async(&mut con).await.expect("after kill"), 5);
    }

    /// READONLY: a writing script called on a replica is
    /// `Unavailable(ReadOnly)`, and nothing is written on either server; a
    /// read-only script runs there.
    fn writing_script_on_a_replica_is_unavailable_read_only(server) {
        let replica = start_replica(server).expect("replica");
        let mut primary = server.connection();
        redis::cmd("SET").arg("ro:n").arg(41).query::<()>(&mut primary).expect("SET");
        assert!(script_cache_tests::faults::wait_replicated(server), "replicated");

        let mut con = ScriptCache::new(replica.connection());
        let err = Scripts::incr("ro:n").invoke(&mut con).expect_err("READONLY");
        assert_unavailable(&err, Condition::ReadOnly, "incr");
        // Warm: the script is loaded on the replica now (SCRIPT LOAD is
        // allowed there); the second call meets READONLY the same way.
        let err = Scripts::incr("ro:n").invoke(&mut con).expect_err("READONLY again");
        assert_unavailable(&err, Condition::ReadOnly, "incr");

        assert_eq!(counter(server, "ro:n"), 41, "nothing written on the primary");
        assert_eq!(counter(&replica, "ro:n"), 41, "nothing written on the replica");
        let v = Scripts::read_counter("ro:n").invoke(&mut con).expect("a read-only script runs on the replica");
        assert_eq!(v, 41);
    }

    /// NOREPLICAS: `min-replicas-to-write 1` and no replica: a writing
    /// script (cold, then loaded) is `Unavailable(NoReplicas)`, did not
    /// run; with the setting back to 0 it runs.
    fn writing_script_without_enough_replicas_is_unavailable(server) {
        let mut admin = server.connection();
        let mut con = ScriptCache::new(server.connection());
        redis::cmd("CONFIG").arg("SET").arg("min-replicas-to-write").arg(1).query::<()>(&mut admin).expect("CONFIG SET");
        for _ in 0..2 {
            let err = Scripts::incr("nr:n").invoke(&mut con).expect_err("NOREPLICAS");
            assert_unavailable(&err, Condition::NoReplicas, "incr");
        }
        assert_eq!(counter(server, "nr:n"), 0);
        redis::cmd("CONFIG").arg("SET").arg("min-replicas-to-write").arg(0).query::<()>(&mut admin).expect("CONFIG SET");
        assert_eq!(Scripts::incr("nr:n").invoke(&mut con).expect("with the setting back"), 1);
    }

    /// MASTERDOWN: a replica with `replica-serve-stale-data no` whose
    /// primary died answers `Unavailable(MasterDown)` to a loaded
    /// read-only script and to cold scripts.
    fn replica_without_its_primary_is_unavailable_master_down(server) {
        let replica = start_replica(server).expect("replica");
        let mut on_replica = replica.connection();
        redis::cmd("CONFIG").arg("SET").arg("replica-serve-stale-data").arg("no")
            .query::<()>(&mut on_replica).expect("CONFIG SET");
        let mut con = ScriptCache::new(replica.connection());
        assert_eq!(Scripts::read_counter("md:n").invoke(&mut con).expect("while the link is up"), 0);
        server.kill();
        assert!(wait_link_down(&replica, Duration::from_secs(10)), "the replica saw its primary go");
        let err = Scripts::read_counter("md:n").invoke(&mut con).expect_err("MASTERDOWN");
        assert_unavailable(&err, Condition::MasterDown, "read_counter");
        let err = Scripts::incr("md:n").invoke(&mut con).expect_err("MASTERDOWN");
        assert_unavailable(&err, Condition::MasterDown, "incr");
    }

    /// OOM: under maxmemory with noeviction, a writing script (loaded or
    /// not) is `Unavailable(OutOfMemory)` and did not run; once memory is
    /// released the same calls succeed.
    fn writing_script_under_maxmemory_is_unavailable_out_of_memory(server) {
        let mut con = ScriptCache::new(server.connection());
        assert_eq!(Scripts::incr("oom:n").invoke(&mut con).expect("warm"), 1);
        let full = fill_memory(server);
        let warm = Scripts::incr("oom:n").invoke(&mut con).expect_err("OOM");
        assert_unavailable(&warm, Condition::OutOfMemory, "incr");
        let cold = Scripts::incr_by("oom:m", 3).invoke(&mut con).expect_err("OOM");
        assert_unavailable(&cold, Condition::OutOfMemory, "incr_by");
        assert_eq!((counter(server, "oom:n"), counter(server, "oom:m")), (1, 0), "nothing ran");
        full.release();
        assert_eq!(Scripts::incr("oom:n").invoke(&mut con).expect("after release"), 2);
        assert_eq!(Scripts::incr_by("oom:m", 3).invoke(&mut con).expect("after release"), 3);
    }

    /// Like the test below, but the first call after the swap is of a
    /// script the state never loaded (so no NOSCRIPT tells the state that
    /// the server changed): it must still go out as the new server wants
    /// it.
    async fn reconnect_then_a_cold_read_only_script_uses_the_new_capabilities(server) {
        let new_flavor = server.flavor();
        let old_flavor = if new_flavor == Flavor::Redis62 { Flavor::Redis7 } else { Flavor::Redis62 };
        let port = server.port();
        server.kill();
        let mut old = TestServer::builder(old_flavor).start_on_port(port).expect("old server");
        let manager = old.client().get_connection_manager().await.expect("manager");
        let mut con = ScriptCache::new(manager);
        assert_eq!(Scripts::read_counter("rc:n").invoke_async(&mut con).await.expect("old"), 0);
        old.kill();
        drop(old);
        server.restart().expect("the new server on the same port");
        let mut first = None;
        for _ in 0..100 {
            match Scripts::read_sum("rc:a", "rc:b").invoke_async(&mut con).await {
                Ok(v) => {
                    first = Some(v);
                    break;
                }
                Err(e) => {
                    assert!(e.is_connection_error(), "only connection errors while reconnecting: {e:?}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        assert_eq!(first, Some(0), "a call succeeded on the new server within 5 s");
        server.reset_stats();
        for _ in 0..3 {
            assert_eq!(Scripts::read_sum("rc:a", "rc:b").invoke_async(&mut con).await.expect("new"), 0);
        }
        let stats = server.commandstats();
        let (ro, plain) = (stats.calls("evalsha_ro"), stats.calls("evalsha"));
        if new_flavor == Flavor::Redis62 {
            assert_eq!((ro, plain), (0, 3), "6.2 has no EVALSHA_RO: {stats:?}");
        } else {
            assert_eq!((ro, plain), (3, 0), "{new_flavor} has EVALSHA_RO: {stats:?}");
        }
    }

    /// Transactions and pipelines with a read-only script across a
    /// reconnect to another version: once the manager reaches the new
    /// server, the first transaction that gets an answer applies fully
    /// (no `EVALSHA_RO` sent to 6.2, no shebang body loaded there), and so
    /// does a non-atomic pipeline.
    async fn transactions_after_a_reconnect_to_another_version(server) {
        let new_flavor = server.flavor();
        let old_flavor = if new_flavor == Flavor::Redis62 { Flavor::Redis7 } else { Flavor::Redis62 };
        let port = server.port();
        server.kill();
        let mut old = TestServer::builder(old_flavor).start_on_port(port).expect("old server");
        let manager = old.client().get_connection_manager().await.expect("manager");
        let mut con = ScriptCache::new(manager);
        let mut tx = pipe();
        tx.atomic().invoke(Scripts::incr("rt:n")).invoke(Scripts::read_counter("rt:n"));
        let first: (i64, i64) = tx.query_async(&mut con).await.expect("on the old server");
        assert_eq!(first, (1, 1));
        old.kill();
        drop(old);
        server.restart().expect("the new server on the same port");

        let mut outcome = None;
        for _ in 0..100 {
            match tx.query_async::<(i64, i64)>(&mut con).await {
                Err(e) if e.is_connection_error() => tokio::time::sleep(Duration::from_millis(50)).await,
                other => {
                    outcome = Some(other);
                    break;
                }
            }
        }
        let outcome = outcome.expect("the manager reached the new server within 5 s");
        assert!(matches!(outcome, Ok((1, 1))), "{old_flavor} -> {new_flavor}: first transaction: {outcome:?}");
        let again = tx.query_async::<(i64, i64)>(&mut con).await;
        assert!(matches!(again, Ok((2, 2))), "{old_flavor} -> {new_flavor}: second transaction: {again:?}");

        let mut p = pipe();
        p.invoke(Scripts::read_counter("rt:n")).invoke(Scripts::read_sum("rt:n", "rt:none"));
        let reply = p.query_async::<(i64, i64)>(&mut con).await;
        assert!(matches!(reply, Ok((2, 2))), "{old_flavor} -> {new_flavor}: pipeline: {reply:?}");
    }

    /// A ConnectionManager whose server is replaced by one of another
    /// version on the same port: the capabilities are asked again, so a
    /// read-only script goes out as EVALSHA_RO where the new server has it
    /// and as EVALSHA (with a body 6.2 accepts) where it does not. The
    /// matrix flavor is the new server; the old one is Redis 6.2, or Redis
    /// 7.0 when the new one is 6.2.
    async fn reconnect_to_another_version_asks_capabilities_again(server) {
        let new_flavor = server.flavor();
        let old_flavor = if new_flavor == Flavor::Redis62 { Flavor::Redis7 } else { Flavor::Redis62 };
        let port = server.port();
        server.kill();
        let mut old = TestServer::builder(old_flavor).start_on_port(port).expect("old server");
        let manager = old.client().get_connection_manager().await.expect("manager");
        let mut con = ScriptCache::new(manager);
        for _ in 0..3 {
            assert_eq!(Scripts::read_counter("rc:n").invoke_async(&mut con).await.expect("old"), 0);
        }
        let old_stats = old.commandstats();
        let (old_ro, old_plain) = (old_stats.calls("evalsha_ro"), old_stats.calls("evalsha"));
        if old_flavor == Flavor::Redis62 {
            assert_eq!((old_ro, old_plain), (0, 3), "6.2 has no EVALSHA_RO");
        } else {
            assert_eq!((old_ro, old_plain), (3, 0));
        }
        old.kill();
        drop(old);
        server.restart().expect("the new server on the same port");
        let mut admin = server.connection();
        redis::cmd("SET").arg("rc:n").arg(7).query::<()>(&mut admin).expect("SET");

        // The manager reconnects by itself; calls that meet the dead
        // connection fail with a connection error (bounded: 5 s).
        let mut first = None;
        for _ in 0..100 {
            match Scripts::read_counter("rc:n").invoke_async(&mut con).await {
                Ok(v) => {
                    first = Some(v);
                    break;
                }
                Err(e) => {
                    assert!(e.is_connection_error(), "only connection errors while reconnecting: {e:?}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        assert_eq!(first, Some(7), "a call succeeded on the new server within 5 s");
        // Steady state on the new server: the right command every time.
        server.reset_stats();
        for _ in 0..3 {
            assert_eq!(Scripts::read_counter("rc:n").invoke_async(&mut con).await.expect("new"), 7);
        }
        let stats = server.commandstats();
        let (ro, plain) = (stats.calls("evalsha_ro"), stats.calls("evalsha"));
        if new_flavor == Flavor::Redis62 {
            assert_eq!((ro, plain), (0, 3), "6.2 has no EVALSHA_RO: {stats:?}");
        } else {
            assert_eq!((ro, plain), (3, 0), "{new_flavor} has EVALSHA_RO: {stats:?}");
        }
    }
}
