//! The runtime's core paths over RESP3 (every flavor) and over TLS (Redis
//! 7.0: of the matrix's binaries only Debian's Redis 7.0 is built with TLS,
//! see `supports_tls`): first
//! call in one round trip, recovery from SCRIPT FLUSH, read-only scripts,
//! pipelines and transactions with cold scripts, sync and async; and
//! function calls (first call in one round trip, steady `FCALL`, recovery
//! from `FUNCTION FLUSH`) over RESP3 and TLS.

use script_cache::{ScriptCache, pipe};
use script_cache_tests::{Flavor, TestServer, TlsServer, matrix};

script_cache::include_scripts!("../lua");

fn has_evalsha_ro(flavor: Flavor) -> bool {
    !matches!(flavor, Flavor::Redis62)
}

/// What `INFO commandstats` counts as `script|load` for one load and the
/// survey a fresh state sends with its first call (`SCRIPT EXISTS` of the
/// enum): Redis 6.2 counts every `SCRIPT` subcommand as `script`.
fn one_load_and_survey(server: &TestServer) -> u64 {
    if server.flavor() == Flavor::Redis62 {
        2
    } else {
        1
    }
}

fn flush(server: &TestServer) {
    let mut admin = server.connection();
    redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query::<()>(&mut admin)
        .expect("flush");
}

/// The core paths on a sync connection from `client`; `server` is the same
/// server reached through the harness (plain port) for stats and faults.
fn exercise_sync(server: &TestServer, client: &redis::Client) {
    let mut con = ScriptCache::new(client.get_connection().expect("connect"));
    server.reset_stats();
    let acquired: i64 = Scripts::lock_acquire("lock", "me", 10_000)
        .invoke(&mut con)
        .expect("first call");
    assert_eq!(acquired, 1);
    let stats = server.commandstats();
    assert_eq!(
        (stats.calls("script|load"), stats.calls("evalsha")),
        (one_load_and_survey(server), 1),
        "{stats:?}"
    );
    assert_eq!(con.stats().surveys, 1);

    flush(server);
    let released: i64 = Scripts::lock_release("lock", "me")
        .invoke(&mut con)
        .expect("after flush");
    assert_eq!(released, 1);
    let again: i64 = Scripts::lock_acquire("lock", "me", 10_000)
        .invoke(&mut con)
        .expect("reload");
    assert_eq!(again, 1);
    assert_eq!(con.stats().reloads, 1);

    let mut admin = server.connection();
    redis::cmd("MSET")
        .arg("c1")
        .arg(2)
        .arg("c2")
        .arg(40)
        .query::<()>(&mut admin)
        .expect("MSET");
    let total: i64 = Scripts::sum_counters(&["c1", "c2"])
        .invoke(&mut con)
        .expect("read-only");
    assert_eq!(total, 42);
    let ro = server.commandstats().calls("evalsha_ro");
    assert_eq!(ro, u64::from(has_evalsha_ro(server.flavor())));

    flush(server);
    let mut p = pipe();
    p.invoke(Scripts::compare_and_set("cas", "", "v1"))
        .cmd("GET")
        .arg("cas");
    let (swapped, value): (i64, String) = p.query(&mut con).expect("pipeline");
    assert_eq!((swapped, value.as_str()), (1, "v1"));

    flush(server);
    let mut tx = pipe();
    tx.atomic()
        .invoke(Scripts::compare_and_set("cas", "v1", "v2"))
        .cmd("INCR")
        .arg("version");
    let (swapped, version): (i64, i64) = tx.query(&mut con).expect("transaction");
    assert_eq!((swapped, version), (1, 1));
    let ping: String = redis::cmd("PING")
        .query(&mut con)
        .expect("still a connection");
    assert_eq!(ping, "PONG");
}

/// The same on a multiplexed async connection shared by 32 tasks.
async fn exercise_async(server: &TestServer, client: &redis::Client) {
    let con = ScriptCache::new(
        client
            .get_multiplexed_async_connection()
            .await
            .expect("connect"),
    );
    server.reset_stats();
    let mut tasks = Vec::new();
    for i in 0..32 {
        let mut con = con.clone();
        tasks.push(tokio::spawn(async move {
            Scripts::lock_acquire(format!("lock:{i}"), "me", 10_000)
                .invoke_async(&mut con)
                .await
        }));
    }
    for task in tasks {
        assert_eq!(task.await.expect("join").expect("call"), 1);
    }
    assert_eq!(
        server.commandstats().calls("script|load"),
        one_load_and_survey(server),
        "one load (and one survey) for 32 cold tasks"
    );
    assert_eq!(con.stats().surveys, 1);

    flush(server);
    let mut c = con.clone();
    let released: i64 = Scripts::lock_release("lock:0", "me")
        .invoke_async(&mut c)
        .await
        .expect("after flush");
    assert_eq!(released, 1);

    flush(server);
    let mut tx = pipe();
    tx.atomic()
        .invoke(Scripts::compare_and_set("acas", "", "v"))
        .cmd("INCR")
        .arg("aversion");
    let (swapped, version): (i64, i64) = tx.query_async(&mut c).await.expect("transaction");
    assert_eq!((swapped, version), (1, 1));
}

fn resp3_client(server: &TestServer) -> redis::Client {
    redis::Client::open(format!("{}?protocol=resp3", server.url())).expect("resp3 url")
}

matrix! {
    fn resp3_sync(server) {
        let client = resp3_client(server);
        let mut probe = client.get_connection().expect("connect");
        let hello: redis::Value = redis::cmd("HELLO").query(&mut probe).expect("HELLO");
        assert!(format!("{hello:?}").contains("proto"), "{hello:?}");
        assert!(matches!(hello, redis::Value::Map(_)), "RESP3 replies maps: {hello:?}");
        exercise_sync(server, &client);
    }

    async fn resp3_async(server) {
        exercise_async(server, &resp3_client(server)).await;
    }
}

fn tls(flavor: Flavor) {
    // The test is ignored when the flavor was missing at build time
    // (`flavor_test!`): a missing binary here is a failure.
    if let Err(missing) = flavor.binary() {
        panic!("{missing}");
    }
    let tls = TlsServer::start(flavor).expect("TLS server");
    let client = tls.client();
    // Really TLS: a plain-text client cannot talk to the TLS port.
    let plain_to_tls = redis::Client::open(format!("redis://127.0.0.1:{}/", tls.tls_port))
        .expect("url")
        .get_connection_with_timeout(std::time::Duration::from_secs(2));
    assert!(plain_to_tls.is_err(), "the TLS port refuses plain text");
    exercise_sync(&tls.server, &client);
    script_cache_tests::runtime().block_on(exercise_async(&tls.server, &client));
}

script_cache_tests::flavor_test! { Redis7,
    fn tls_redis_7_0() {
        tls(Flavor::Redis7);
    }
}

/// The matrix's Valkey 9.1, Valkey 8.1, Redis 8.2 and Redis 6.2 binaries
/// refuse a TLS port: if a
/// later build of either gains TLS, this fails, and `supports_tls` and the
/// TLS tests above must grow to cover it.
fn refuses_a_tls_port(flavor: Flavor) {
    use script_cache_tests::supports_tls;
    if let Err(missing) = flavor.binary() {
        panic!("{missing}");
    }
    assert!(!supports_tls(flavor));
    let error = match TlsServer::start(flavor) {
        Ok(_) => panic!("{flavor} started with a TLS port: extend the TLS tests to it"),
        Err(e) => format!("{e:?}"),
    };
    assert!(
        error.contains("TLS") || error.contains("tls"),
        "{flavor} failed for another reason: {error}"
    );
}

script_cache_tests::flavor_test! { Valkey9,
    fn valkey_9_1_refuses_a_tls_port() {
        refuses_a_tls_port(Flavor::Valkey9);
    }
}

script_cache_tests::flavor_test! { Redis62,
    fn redis_6_2_refuses_a_tls_port() {
        refuses_a_tls_port(Flavor::Redis62);
    }
}

matrix! {
    /// A borrowed `&mut redis::Connection` is a connection kind of its own
    /// (by trait, no `'static` bound): wrapped with a shared state, it
    /// calls a script another connection loaded with `EVALSHA` only, runs
    /// pipelines, and the connection is usable by the caller afterwards.
    fn borrowed_connection_with_shared_state(server) {
        let state = script_cache::ScriptState::new();
        let mut owned = ScriptCache::with_state(server.connection(), state.clone());
        let acquired: i64 = Scripts::lock_acquire("lock", "me", 10_000)
            .invoke(&mut owned)
            .expect("first call, owned");
        assert_eq!(acquired, 1);

        let mut raw = server.connection();
        server.reset_stats();
        {
            let mut borrowed = ScriptCache::with_state(&mut raw, state.clone());
            let released: i64 = Scripts::lock_release("lock", "me")
                .invoke(&mut borrowed)
                .expect("borrowed call");
            assert_eq!(released, 1);
            let again: i64 = Scripts::lock_acquire("lock", "me", 10_000)
                .invoke(&mut borrowed)
                .expect("loaded by the other connection");
            assert_eq!(again, 1);
            let mut p = pipe();
            p.invoke(Scripts::lock_release("lock", "me")).cmd("EXISTS").arg("lock");
            let (released, exists): (i64, i64) = p.query(&mut borrowed).expect("pipeline");
            assert_eq!((released, exists), (1, 0));
        }
        let stats = server.commandstats();
        // lock_release is loaded once (by the borrowed connection's first
        // call), lock_acquire not at all: the owned connection loaded it.
        assert_eq!(stats.calls("script|load"), 1, "{stats:?}");
        assert_eq!(state.stats().loads, 2);
        // The caller still has its connection.
        let pong: String = redis::cmd("PING").query(&mut raw).expect("PING");
        assert_eq!(pong, "PONG");
    }
}

script_cache_tests::flavor_test! { Redis82,
    fn redis_8_2_refuses_a_tls_port() {
        refuses_a_tls_port(Flavor::Redis82);
    }
}

script_cache_tests::flavor_test! { Valkey81,
    fn valkey_8_1_refuses_a_tls_port() {
        refuses_a_tls_port(Flavor::Valkey81);
    }
}

/// The function library of `tests/functions-lua` (its `Scripts` and
/// `Functions` kept apart from this file's scripts).
mod library {
    script_cache::include_scripts!("functions-lua");
}
use library::Functions;

/// Function calls on a sync connection from `client`, recorded: the first
/// call in one round trip (`FUNCTION LIST`, `FUNCTION LOAD`, `FCALL`),
/// then `FCALL` (`FCALL_RO`) alone, and after `FUNCTION FLUSH` (through
/// the harness's plain connection) one reload.
fn functions_sync(server: &TestServer, client: &redis::Client) {
    use script_cache_tests::Recording;
    let rec = Recording::new(client.get_connection().expect("connect"));
    let log = rec.log();
    let mut con = ScriptCache::new(rec);
    assert_eq!(
        Functions::bump("fn:c", 1)
            .invoke(&mut con)
            .expect("first call"),
        1
    );
    assert_eq!(
        log.round_trips(),
        vec![vec!["FUNCTION LIST", "FUNCTION LOAD", "FCALL"]]
    );
    log.clear();
    assert_eq!(
        Functions::bump("fn:c", 1).invoke(&mut con).expect("steady"),
        2
    );
    assert_eq!(log.round_trips(), vec![vec!["FCALL"]]);
    let v = Functions::peek("fn:c").invoke(&mut con).expect("read-only");
    assert_eq!(v.as_deref(), Some("2"));
    log.clear();
    let v = Functions::peek("fn:c")
        .invoke(&mut con)
        .expect("read-only, steady");
    assert_eq!(v.as_deref(), Some("2"));
    assert_eq!(log.round_trips(), vec![vec!["FCALL_RO"]]);

    let mut admin = server.connection();
    redis::cmd("FUNCTION")
        .arg("FLUSH")
        .query::<()>(&mut admin)
        .expect("FUNCTION FLUSH");
    log.clear();
    assert_eq!(
        Functions::bump("fn:c", 1)
            .invoke(&mut con)
            .expect("after the flush"),
        3
    );
    assert_eq!(
        log.round_trips(),
        vec![
            vec!["FCALL".to_owned()],
            vec![
                "FUNCTION LIST".into(),
                "FUNCTION LOAD".into(),
                "FCALL".into()
            ]
        ]
    );
    let s = con.stats();
    assert_eq!(
        (s.reloads, s.failed_not_run, s.failed_ran, s.failed_unknown),
        (1, 0, 0, 0),
        "{s:?}"
    );
}

/// The same on a multiplexed async connection: 16 tasks share one state
/// (one load between them), then one reload after `FUNCTION FLUSH`.
async fn functions_async(server: &TestServer, client: &redis::Client) {
    let con = ScriptCache::new(
        client
            .get_multiplexed_async_connection()
            .await
            .expect("connect"),
    );
    server.reset_stats();
    let mut tasks = Vec::new();
    for i in 0..16 {
        let mut con = con.clone();
        tasks.push(tokio::spawn(async move {
            Functions::bump(format!("fn:a{i}"), 1)
                .invoke_async(&mut con)
                .await
        }));
    }
    for task in tasks {
        assert_eq!(task.await.expect("join").expect("call"), 1);
    }
    let stats = server.commandstats();
    assert_eq!(
        stats.calls("function|load"),
        1,
        "one load for 16 tasks: {stats:?}"
    );
    assert_eq!(stats.calls("fcall"), 16, "{stats:?}");
    let mut admin = server.connection();
    redis::cmd("FUNCTION")
        .arg("FLUSH")
        .query::<()>(&mut admin)
        .expect("FUNCTION FLUSH");
    let mut c = con.clone();
    let n = Functions::bump("fn:a0", 1)
        .invoke_async(&mut c)
        .await
        .expect("after the flush");
    assert_eq!(n, 2);
    let s = con.stats();
    assert_eq!(
        (
            s.loads,
            s.reloads,
            s.failed_not_run,
            s.failed_ran,
            s.failed_unknown
        ),
        (2, 1, 0, 0, 0),
        "{s:?}"
    );
}

script_cache_tests::functions_matrix! {
    fn functions_resp3_sync(server) {
        functions_sync(server, &resp3_client(server));
    }

    async fn functions_resp3_async(server) {
        functions_async(server, &resp3_client(server)).await;
    }
}

script_cache_tests::flavor_test! { Redis7,
    fn functions_tls_redis_7_0() {
        let tls = TlsServer::start(Flavor::Redis7).expect("TLS server");
        let client = tls.client();
        functions_sync(&tls.server, &client);
        script_cache_tests::runtime().block_on(functions_async(&tls.server, &client));
    }
}
