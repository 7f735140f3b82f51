//! Versioned function libraries (`functions = "versioned"` in the
//! folder's `script-cache.toml`): two versions of one library
//! (`tests/functions-versioned/v1` and `v2`, as two deploys of an
//! application would embed them) share one server or one cluster, and
//! each call runs its own version's code, on every server that has
//! functions.

use script_cache::prelude::*;
use script_cache::{ScriptCache, ScriptState};
use script_cache_tests::{TestServer, functions_matrix};

mod v1 {
    script_cache::include_scripts!("functions-versioned/v1");
}
mod v2 {
    script_cache::include_scripts!("functions-versioned/v2");
}

fn on_disk(version: &str) -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("functions-versioned/{version}/counters.lua")),
    )
    .unwrap()
}

/// The names on the server carry the first 12 hex digits of the SHA-1 of
/// the library as written; the code sent is the file with those names
/// written in (same lines), and `sha1()` is that code's; the names in
/// the file and the typed API stay.
#[test]
fn the_names_on_the_server_carry_the_version() {
    for (version, tick, which) in [
        (
            "v1",
            v1::Functions::Tick.meta(),
            v1::Functions::Which.meta(),
        ),
        (
            "v2",
            v2::Functions::Tick.meta(),
            v2::Functions::Which.meta(),
        ),
    ] {
        let written = on_disk(version);
        let hash = &script_cache_check::sha1_hex(&written)[..12];
        let lib = tick.library();
        assert_eq!(
            (lib.name(), tick.name(), which.name()),
            ("counters", "tick", "which")
        );
        assert_eq!(lib.server_name(), format!("counters_v{hash}"));
        assert_eq!(tick.server_name(), format!("tick_v{hash}"));
        assert_eq!(which.server_name(), format!("which_v{hash}"));
        let sent = written
            .replacen(
                "#!lua name=counters\n",
                &format!("#!lua name=counters_v{hash}\n"),
                1,
            )
            .replacen("('tick',", &format!("('tick_v{hash}',"), 1)
            .replacen("= 'which',", &format!("= 'which_v{hash}',"), 1);
        assert_ne!(sent, written);
        assert_eq!(lib.code(), sent);
        assert_eq!(lib.code().lines().count(), written.lines().count());
        assert_eq!(lib.sha1(), script_cache_check::sha1_hex(&sent));
        assert!(which.read_only());
    }
    assert_ne!(
        v1::Functions::Tick.library().server_name(),
        v2::Functions::Tick.library().server_name()
    );
    // The typed call takes the name in the file and sends the server's.
    assert_eq!(v1::Functions::tick("c").invocation().script_name(), "tick");
    assert_eq!(v1::Functions::from_name("tick"), Some(v1::Functions::Tick));
}

fn tick_v1(con: &mut ScriptCache<redis::Connection>) -> (String, i64) {
    v1::Functions::tick("c")
        .into_invocation()
        .invoke(con)
        .unwrap()
}

fn tick_v2(con: &mut ScriptCache<redis::Connection>) -> (String, i64) {
    v2::Functions::tick("c")
        .into_invocation()
        .invoke(con)
        .unwrap()
}

fn libraries_on(server: &TestServer) -> Vec<String> {
    let list: Vec<redis::Value> = redis::cmd("FUNCTION")
        .arg("LIST")
        .query(&mut server.connection())
        .unwrap();
    let mut names: Vec<String> = list
        .iter()
        .filter_map(|lib| {
            let fields: Vec<(String, redis::Value)> = match lib {
                redis::Value::Array(flat) => flat
                    .chunks(2)
                    .filter_map(|p| {
                        Some((
                            redis::from_redis_value(p.first()?.clone()).ok()?,
                            p.get(1)?.clone(),
                        ))
                    })
                    .collect(),
                redis::Value::Map(m) => m
                    .iter()
                    .filter_map(|(k, v)| {
                        Some((redis::from_redis_value(k.clone()).ok()?, v.clone()))
                    })
                    .collect(),
                _ => return None,
            };
            let (_, name) = fields.into_iter().find(|(k, _)| k == "library_name")?;
            redis::from_redis_value(name).ok()
        })
        .collect();
    names.sort();
    names
}

functions_matrix! {
    /// Two deploys (each with its own state, as two processes) interleave
    /// calls against one server: each call runs its own version, nothing
    /// is replaced, both libraries stay on the server; after `FUNCTION
    /// FLUSH` both recover with their own code.
    fn two_versions_on_one_server_each_run_their_own_code(server) {
        let (old, new) = (ScriptState::new(), ScriptState::new());
        let mut a = ScriptCache::with_state(server.connection(), old.clone());
        let mut b = ScriptCache::with_state(server.connection(), new.clone());
        assert_eq!(tick_v1(&mut a), ("v1".to_owned(), 1));
        assert_eq!(tick_v2(&mut b), ("v2".to_owned(), 11));
        assert_eq!(tick_v1(&mut a), ("v1".to_owned(), 12));
        assert_eq!(v2::Functions::which().invoke(&mut b).unwrap(), "v2");
        assert_eq!(v1::Functions::which().invoke(&mut a).unwrap(), "v1");
        assert_eq!(tick_v2(&mut b), ("v2".to_owned(), 22));
        let mut both = vec![
            v1::Functions::Tick.library().server_name().to_owned(),
            v2::Functions::Tick.library().server_name().to_owned(),
        ];
        both.sort();
        assert_eq!(libraries_on(server), both);
        // By hand, the name in the file is no function on the server.
        let by_hand: redis::RedisResult<String> =
            redis::cmd("FCALL").arg("which").arg(0).query(&mut server.connection());
        assert!(by_hand.is_err());
        let by_hand: String = redis::cmd("FCALL")
            .arg(v2::Functions::Which.meta().server_name())
            .arg(0)
            .query(&mut server.connection())
            .unwrap();
        assert_eq!(by_hand, "v2");

        let _: () = redis::cmd("FUNCTION").arg("FLUSH").query(&mut server.connection()).unwrap();
        // The data stays (only the libraries went).
        assert_eq!(tick_v2(&mut b), ("v2".to_owned(), 32));
        assert_eq!(tick_v1(&mut a), ("v1".to_owned(), 33));
        assert_eq!(v1::Functions::which().invoke(&mut a).unwrap(), "v1");
        assert_eq!(v2::Functions::which().invoke(&mut b).unwrap(), "v2");
        assert_eq!(libraries_on(server), both);
        for (state, name) in [(&old, "v1"), (&new, "v2")] {
            let s = state.stats();
            assert_eq!(s.libraries_replaced, 0, "{name}: {s:?}");
            assert_eq!(s.reloads, 1, "{name}: one reload after the flush: {s:?}");
            assert_eq!((s.failed_not_run, s.failed_ran), (0, 0), "{name}: {s:?}");
        }

        // One state shared by both versions (one process embedding both):
        // still each its own.
        let shared = ScriptState::new();
        let mut c = ScriptCache::with_state(server.connection(), shared.clone());
        assert_eq!(tick_v1(&mut c), ("v1".to_owned(), 34));
        assert_eq!(tick_v2(&mut c), ("v2".to_owned(), 44));
        assert_eq!(v1::Functions::which().invoke(&mut c).unwrap(), "v1");
        assert_eq!(shared.stats().libraries_replaced, 0);
    }
}

/// Both versions through Redis Cluster connections (3 primaries, 1
/// replica each; sync for one deploy, async for the other): every
/// primary runs each version's own code, nothing is replaced, and a
/// primary that lost its libraries (`FUNCTION FLUSH`) gets both back.
fn two_versions_on_a_cluster(flavor: script_cache_tests::Flavor) {
    use script_cache_tests::cluster::TestCluster;
    if let Err(missing) = flavor.binary() {
        panic!("{missing}");
    }
    let cluster = TestCluster::start(flavor, 1);
    let primaries = cluster.primaries();
    // One key per primary.
    let map = cluster.slot_map();
    let mut keys = std::collections::BTreeMap::new();
    for i in 0..10_000 {
        let key = format!("{{v:{i}}}");
        let slot = script_cache::cluster::key_slot(key.as_bytes());
        if let Some((_, owner)) = map.iter().find(|((s, e), _)| (*s..=*e).contains(&slot)) {
            keys.entry(*owner).or_insert(key);
        }
        if keys.len() == primaries.len() {
            break;
        }
    }
    assert_eq!(keys.len(), primaries.len(), "a key for every shard");
    let client = cluster.client();
    let mut old = ScriptCache::new(client.get_connection().unwrap());
    script_cache_tests::runtime().block_on(async {
        let mut new = ScriptCache::new(client.get_async_connection().await.unwrap());
        round(&mut old, &mut new, &keys, [1, 11]).await;
        round(&mut old, &mut new, &keys, [12, 22]).await;
        let first = primaries[0];
        let _: () = redis::cmd("FUNCTION")
            .arg("FLUSH")
            .query(&mut cluster.nodes()[first].server.connection())
            .unwrap();
        round(&mut old, &mut new, &keys, [23, 33]).await;
        for p in &primaries {
            let mut names = libraries_on(&cluster.nodes()[*p].server);
            names.sort();
            let mut both = vec![
                v1::Functions::Tick.library().server_name().to_owned(),
                v2::Functions::Tick.library().server_name().to_owned(),
            ];
            both.sort();
            assert_eq!(names, both, "{flavor}: primary {p}");
        }
        assert_eq!(old.stats().libraries_replaced, 0);
        assert_eq!(new.stats().libraries_replaced, 0);
        assert_eq!((old.stats().reloads, new.stats().reloads), (1, 1));
    });
}

/// One call of each version per key: each returns its own version's
/// value (`expected`: v1's, v2's).
async fn round(
    old: &mut ScriptCache<redis::cluster::ClusterConnection>,
    new: &mut ScriptCache<redis::cluster_async::ClusterConnection>,
    keys: &std::collections::BTreeMap<usize, String>,
    expected: [i64; 2],
) {
    for key in keys.values() {
        let a: (String, i64) = v1::Functions::tick(key)
            .into_invocation()
            .invoke(old)
            .unwrap();
        let b: (String, i64) = v2::Functions::tick(key)
            .into_invocation()
            .invoke_async(new)
            .await
            .unwrap();
        assert_eq!(
            (a, b),
            (
                ("v1".to_owned(), expected[0]),
                ("v2".to_owned(), expected[1])
            ),
            "{key}"
        );
    }
}

script_cache_tests::functions_per_flavor!(
    two_versions_on_a_cluster_each_run_their_own_code,
    two_versions_on_a_cluster
);
