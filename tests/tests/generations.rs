//! What changed between server generations, each tested on the flavors it
//! concerns (and shown not to happen on the others):
//!
//! * scripts loaded by `EVAL` are evicted (LRU, beyond 500 of them) on
//!   Redis 7.4+ and Valkey 8+, those loaded by `SCRIPT LOAD` never: a
//!   script that came back by the `EVAL` retry must end up loaded by
//!   `SCRIPT LOAD`, and calls beside a client that `EVAL`s 2,000 distinct
//!   scripts never fail;
//! * `SCRIPT LOAD` under `maxmemory`: what each server does, and that a
//!   cold call there either runs or is `Unavailable(OutOfMemory)` that did
//!   not run;
//! * Valkey's `server` table (`server.call`): accepted where every target
//!   has it, refused by the lint elsewhere;
//! * the targets of a folder's `script-cache.toml` in runtime
//!   registration (`HSETEX` on Redis 8.2).

use script_cache::{Condition, Error, Ran, ScriptCache, ScriptState};
use script_cache_tests::{Flavor, TestServer, fill_memory, matrix};

const NO_ARGS: &[&str] = &[];

/// How many distinct scripts the other client `EVAL`s: four times what
/// Redis 7.4+ and Valkey 8+ keep of the scripts `EVAL` loaded.
const NOISE: usize = 2_000;

/// Redis 7.4+ and Valkey 8+ evict scripts loaded by `EVAL`.
fn evicts_eval_scripts(flavor: Flavor) -> bool {
    matches!(flavor, Flavor::Redis82 | Flavor::Valkey81 | Flavor::Valkey9)
}

/// `EVAL`s `NOISE` distinct scripts on a connection of its own.
fn eval_noise(server: &TestServer, tag: &str) {
    let mut con = server.connection();
    for i in 0..NOISE {
        let reply: String = redis::cmd("EVAL")
            .arg(format!("return '{tag}:{i}'"))
            .arg(0)
            .query(&mut con)
            .expect("noise EVAL");
        assert_eq!(reply, format!("{tag}:{i}"));
    }
}

fn exists(server: &TestServer, sha: &str) -> bool {
    let mut con = server.connection();
    let found: Vec<bool> = redis::cmd("SCRIPT")
        .arg("EXISTS")
        .arg(sha)
        .query(&mut con)
        .expect("SCRIPT EXISTS");
    found == [true]
}

fn sha1(source: &str) -> String {
    sha1_smol::Sha1::from(source.as_bytes())
        .digest()
        .to_string()
}

const INCR: &str = "return redis.call('INCR', KEYS[1])";

matrix! {
    /// The generation change itself: a script `EVAL` loaded is gone after
    /// 2,000 other `EVAL`s on Redis 8.2 and Valkey, kept on Redis 6.2 and
    /// 7.0; one `SCRIPT LOAD` loaded is kept everywhere.
    fn eval_loaded_scripts_are_evicted_on_newer_servers(server) {
        let mut con = server.connection();
        let by_eval = "return 'loaded by EVAL'";
        let by_load = "return 'loaded by SCRIPT LOAD'";
        let _: String = redis::cmd("EVAL").arg(by_eval).arg(0).query(&mut con).expect("EVAL");
        let sha: String = redis::cmd("SCRIPT").arg("LOAD").arg(by_load).query(&mut con).expect("SCRIPT LOAD");
        // Loaded by EVAL, then by SCRIPT LOAD: SCRIPT LOAD's copy.
        let both = "return 'loaded by EVAL, then by SCRIPT LOAD'";
        let _: String = redis::cmd("EVAL").arg(both).arg(0).query(&mut con).expect("EVAL");
        let _: String = redis::cmd("SCRIPT").arg("LOAD").arg(both).query(&mut con).expect("SCRIPT LOAD");
        assert!(exists(server, &sha1(by_eval)));
        eval_noise(server, "noise");
        let flavor = server.flavor();
        assert_eq!(exists(server, &sha1(by_eval)), !evicts_eval_scripts(flavor), "{flavor}: the EVAL copy");
        assert!(exists(server, &sha), "{flavor}: SCRIPT LOAD's copy is never evicted");
        // Valkey makes an EVAL copy SCRIPT LOAD's when it is loaded again;
        // Redis 8.2 leaves it evictable.
        let promoted = flavor != Flavor::Redis82;
        assert_eq!(exists(server, &sha1(both)), promoted, "{flavor}: SCRIPT LOAD after EVAL");
    }

    /// Our calls beside a client that `EVAL`s 2,000 distinct scripts, with
    /// a `SCRIPT FLUSH` first so that some come back by `EVAL`: no call
    /// fails, and each returns what it should.
    fn calls_beside_a_client_that_evals_two_thousand_scripts(server) {
        let state = ScriptState::new();
        state.register_script("incr", INCR).expect("register");
        state
            .register_script("read", "#!lua flags=no-writes\nreturn redis.call('GET', KEYS[1])")
            .expect("register");
        let mut con = ScriptCache::with_state(server.connection(), state.clone());
        let _: i64 = con.run_script("incr", "gen:c", NO_ARGS).expect("warm");
        let mut admin = server.connection();
        redis::cmd("SCRIPT").arg("FLUSH").query::<()>(&mut admin).expect("SCRIPT FLUSH");
        let noise = std::thread::scope(|scope| {
            let noise = scope.spawn(|| eval_noise(server, "beside"));
            let mut calls = 1;
            let mut failed = Vec::new();
            // Bounded: until the noise is over, at most 20,000 calls.
            while !noise.is_finished() && calls < 20_000 {
                calls += 1;
                match con.run_script::<i64>("incr", "gen:c", NO_ARGS) {
                    Ok(n) => assert_eq!(n, calls),
                    Err(e) => failed.push(e.to_string()),
                }
                match con.run_script::<Option<i64>>("read", "gen:c", NO_ARGS) {
                    Ok(v) => assert_eq!(v, Some(calls)),
                    Err(e) => failed.push(e.to_string()),
                }
            }
            noise.join().expect("the noise client");
            (calls, failed)
        });
        let (calls, failed) = noise;
        eprintln!(
            "{}: {calls} calls of each script beside {NOISE} EVALs, {} failed, {:?}",
            server.flavor(),
            failed.len(),
            state.stats()
        );
        assert!(failed.is_empty(), "{failed:?}");
        assert!(calls > 1, "no call ran beside the noise");
        // And after it, from the scripts' SCRIPT LOAD copies.
        assert!(exists(server, &sha1(INCR)), "{:?}", state.stats());
    }

    /// `SCRIPT LOAD` under `maxmemory` (noeviction, memory full): each
    /// server of the matrix accepts it (it is not a `denyoom` command);
    /// a cold read-only script then runs, and a cold writing one is
    /// `Unavailable(OutOfMemory)` and did not run. Where a server refuses
    /// the load, the cold calls must be `Unavailable(OutOfMemory)` with
    /// `Ran::No`, which this checks too.
    fn script_load_under_maxmemory(server) {
        let mut admin = server.connection();
        redis::cmd("SET").arg("gen:m").arg(7).query::<()>(&mut admin).expect("SET");
        let full = fill_memory(server);
        let probe: redis::RedisResult<String> = redis::cmd("SCRIPT")
            .arg("LOAD")
            .arg("return 'a script loaded under maxmemory'")
            .query(&mut admin);
        let refused = match &probe {
            Ok(_) => false,
            Err(e) if e.code() == Some("OOM") => true,
            Err(e) => panic!("{}: SCRIPT LOAD under maxmemory: {e}", server.flavor()),
        };
        eprintln!("{}: SCRIPT LOAD under maxmemory: {probe:?}", server.flavor());
        assert!(!refused, "{}: SCRIPT LOAD is refused for memory now: the checks below hold the contract", server.flavor());
        let state = ScriptState::new();
        state
            .register_script("read", "#!lua flags=no-writes\nreturn redis.call('GET', KEYS[1])")
            .expect("register");
        state.register_script("incr", INCR).expect("register");
        let mut con = ScriptCache::with_state(server.connection(), state.clone());
        let read = con.run_script::<Option<i64>>("read", "gen:m", NO_ARGS);
        match (&read, refused) {
            (Ok(v), false) => assert_eq!(*v, Some(7)),
            (Err(e), true) => assert_oom_not_run(e),
            (other, _) => panic!("{}: cold read-only script under maxmemory: {other:?}", server.flavor()),
        }
        let write = con.run_script::<i64>("incr", "gen:m", NO_ARGS).expect_err("a write under OOM");
        assert_oom_not_run(&write);
        full.release();
        let n: i64 = con.run_script("incr", "gen:m", NO_ARGS).expect("after release");
        assert_eq!(n, 8);
    }

    /// Valkey's `server` table: a folder whose `script-cache.toml` targets
    /// Valkey only registers `server.call`, which runs on Valkey; a state
    /// with the default targets (every known server) refuses it as
    /// `server-support`, before anything is sent.
    fn server_call_where_every_target_has_it(server) {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("script-cache.toml"), "servers = [\"valkey-8.1\", \"valkey-9.1\"]\n").expect("write");
        std::fs::write(dir.path().join("bump.lua"), "return server.call('INCR', KEYS[1])\n").expect("write");
        let default = ScriptState::new();
        match default.register_script("bump", "return server.call('INCR', KEYS[1])\n") {
            Err(Error::Lint { rule, message, .. }) => {
                assert_eq!(rule, "server-support");
                assert!(message.contains("Redis 8.2"), "{message}");
            }
            other => panic!("expected a server-support lint error, got {other:?}"),
        }
        let state = ScriptState::new();
        assert_eq!(state.register_all_scripts(dir.path()).expect("a Valkey-only folder"), ["bump"]);
        // register_script takes the folder's targets from the state.
        state.register_script("bump_twice", "server.call('INCR', KEYS[1])\nreturn server.call('INCR', KEYS[1])\n")
            .expect("Valkey targets");
        if matches!(server.flavor(), Flavor::Valkey81 | Flavor::Valkey9) {
            let mut con = ScriptCache::with_state(server.connection(), state.clone());
            assert_eq!(con.run_script::<i64>("bump", "gen:s", NO_ARGS).expect("server.call on Valkey"), 1);
            assert_eq!(con.run_script::<i64>("bump_twice", "gen:s", NO_ARGS).expect("server.call on Valkey"), 3);
        } else {
            // The folder says Valkey only: on Redis the global is missing,
            // as the lint would have said for this server.
            let mut con = ScriptCache::with_state(server.connection(), state.clone());
            let err = con.run_script::<i64>("bump", "gen:s", NO_ARGS).expect_err("no `server` on Redis");
            assert!(err.to_string().contains("server"), "{err}");
        }
    }

    /// Runtime registration from a folder reads its `script-cache.toml`:
    /// `redis-8.2` accepts `HSETEX` (which runs on Redis 8.2), `redis-7.0`
    /// refuses it as `server-support`, and a misspelt key is an error that
    /// names the file, with "did you mean".
    fn registration_reads_the_folders_servers(server) {
        let script = "return redis.call('HSETEX', KEYS[1], 'EX', 60, 'FIELDS', 1, 'f', 'v')\n";
        let folder = |toml: &str| {
            let dir = tempfile::tempdir().expect("temp dir");
            std::fs::write(dir.path().join("script-cache.toml"), toml).expect("write");
            std::fs::write(dir.path().join("hash_ttl.lua"), script).expect("write");
            dir
        };
        let redis_8 = folder("servers = [\"redis-8.2\"]\n");
        let state = ScriptState::new();
        assert_eq!(state.register_all_scripts(redis_8.path()).expect("redis-8.2 folder"), ["hash_ttl"]);
        let redis_7 = folder("servers = [\"redis-7.0\"]\n");
        match ScriptState::new().register_file(redis_7.path().join("hash_ttl.lua")) {
            Err(Error::Lint { rule, .. }) => assert_eq!(rule, "server-support"),
            other => panic!("expected a server-support lint error, got {other:?}"),
        }
        let bad = folder("sever = [\"redis-8.2\"]\n");
        let err = ScriptState::new().register_all_scripts(bad.path()).expect_err("a misspelt key");
        let text = err.to_string();
        assert!(text.contains("script-cache.toml") && text.contains("did you mean `servers`?"), "{text}");
        if server.flavor() == Flavor::Redis82 {
            let mut con = ScriptCache::with_state(server.connection(), state.clone());
            assert_eq!(con.run_script::<i64>("hash_ttl", "gen:h", NO_ARGS).expect("HSETEX on Redis 8.2"), 1);
            let mut admin = server.connection();
            let ttl: Vec<i64> = redis::cmd("HTTL").arg("gen:h").arg("FIELDS").arg(1).arg("f")
                .query(&mut admin).expect("HTTL");
            assert!(ttl[0] > 0 && ttl[0] <= 60, "{ttl:?}");
        }
    }
}

fn assert_oom_not_run(err: &Error) {
    match err {
        Error::Unavailable { condition, .. } => {
            assert_eq!(*condition, Condition::OutOfMemory, "{err:?}")
        }
        other => panic!("expected Unavailable(OutOfMemory), got {other:?}"),
    }
    assert_eq!(err.ran(), Ran::No, "{err:?}");
}

/// After `SCRIPT FLUSH` a call comes back by `SCRIPT LOAD` + `EVALSHA` in
/// one round trip (not by `EVAL`, whose copy Redis 7.4+ and Valkey 8+
/// evict, and which Redis 8.2 keeps evictable even after a later `SCRIPT
/// LOAD`), so 2,000 other `EVAL`s (no call of ours meanwhile) do not evict
/// it, on every flavor.
fn back_after_a_flush(server: &mut TestServer) {
    let state = ScriptState::new();
    state.register_script("incr", INCR).expect("register");
    let mut con = ScriptCache::with_state(server.connection(), state.clone());
    let n: i64 = con
        .run_script("incr", "gen:n", NO_ARGS)
        .expect("first call");
    assert_eq!(n, 1);
    let mut admin = server.connection();
    redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query::<()>(&mut admin)
        .expect("SCRIPT FLUSH");
    let n: i64 = con
        .run_script("incr", "gen:n", NO_ARGS)
        .expect("after the flush");
    assert_eq!(n, 2);
    let stats = state.stats();
    assert_eq!(
        (stats.reloads, stats.atomic_retries, stats.loads),
        (1, 0, 2),
        "came back by SCRIPT LOAD, not EVAL: {stats:?}"
    );
    for i in 3..=5 {
        let n: i64 = con.run_script("incr", "gen:n", NO_ARGS).expect("steady");
        assert_eq!(n, i);
    }
    eval_noise(server, "after");
    assert!(
        exists(server, &sha1(INCR)),
        "{}: the script must be held as SCRIPT LOAD's, not EVAL's evictable copy ({:?})",
        server.flavor(),
        state.stats()
    );
    let n: i64 = con
        .run_script("incr", "gen:n", NO_ARGS)
        .expect("after the noise");
    assert_eq!(n, 6);
    assert_eq!(state.stats().reloads, 1, "no NOSCRIPT after the noise");
}

/// The test of `back_after_a_flush` on one flavor.
fn back_after_a_flush_on(flavor: Flavor) {
    let mut server = TestServer::start(flavor);
    back_after_a_flush(&mut server);
}

// Every flavor: a script that came back after a flush is held as
// `SCRIPT LOAD`'s, so `EVAL` noise that evicts `EVAL`'s copies (Redis 7.4+,
// Valkey 8+) cannot take it away.
script_cache_tests::per_flavor!(
    a_script_back_after_a_flush_is_held_as_script_loads,
    back_after_a_flush_on
);
