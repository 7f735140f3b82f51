//! Function libraries on a Redis Cluster (3 primaries, 1 replica each):
//! each primary loads the library it runs with its first call there, later
//! calls send `FCALL` only, and a primary that lost the library
//! (`FUNCTION FLUSH`) gets it back with the next call.

use std::collections::BTreeMap;

use script_cache::ScriptCache;
use script_cache::cluster::key_slot;
use script_cache_tests::cluster::TestCluster;
use script_cache_tests::{Flavor, runtime};

script_cache::include_scripts!("functions-lua");

fn cluster_for(flavor: Flavor) -> TestCluster {
    match flavor.binary() {
        Ok(_) => TestCluster::start(flavor, 1),
        Err(missing) => panic!("{missing}"),
    }
}

/// One key per primary, by primary index.
fn keys_per_shard(cluster: &TestCluster, prefix: &str) -> BTreeMap<usize, String> {
    let primaries = cluster.primaries();
    let map = cluster.slot_map();
    let mut out = BTreeMap::new();
    for i in 0..10_000 {
        let key = format!("{{{prefix}:{i}}}");
        let slot = key_slot(key.as_bytes());
        if let Some((_, owner)) = map.iter().find(|((s, e), _)| (*s..=*e).contains(&slot)) {
            out.entry(*owner).or_insert(key);
        }
        if out.len() == primaries.len() {
            break;
        }
    }
    assert_eq!(out.len(), primaries.len(), "a key for every shard");
    out
}

fn flush_functions_on(cluster: &TestCluster, i: usize) {
    let mut con = cluster.nodes()[i].server.connection();
    let _: () = redis::cmd("FUNCTION").arg("FLUSH").query(&mut con).unwrap();
}

fn per_primary_loads(flavor: Flavor) {
    let cluster = cluster_for(flavor);
    let primaries = cluster.primaries();
    let keys = keys_per_shard(&cluster, "f");

    // Sync cluster connection.
    let client = cluster.client();
    let mut con = ScriptCache::new(client.get_connection().expect("sync cluster"));
    cluster.reset_stats();
    for key in keys.values() {
        assert_eq!(Functions::bump(key, 1).invoke(&mut con).unwrap(), 1);
        assert_eq!(Functions::bump(key, 1).invoke(&mut con).unwrap(), 2);
    }
    let stats = cluster.all_commandstats();
    for p in &primaries {
        assert_eq!(stats[p].calls("function|load"), 1, "{flavor}: primary {p}");
        assert_eq!(stats[p].calls("fcall"), 2, "{flavor}: primary {p}");
        assert_eq!(stats[p].total_errors(), 0, "{flavor}: primary {p}");
    }
    let first = primaries[0];
    flush_functions_on(&cluster, first);
    assert_eq!(
        Functions::bump(&keys[&first], 1).invoke(&mut con).unwrap(),
        3
    );
    assert_eq!(con.stats().reloads, 1);

    // Async cluster connection, a fresh state: the primaries hold the
    // library already; each first call loads it again with the call (the
    // state has no mark yet), then FCALL only.
    runtime().block_on(async {
        let mut con = ScriptCache::new(client.get_async_connection().await.expect("async cluster"));
        cluster.reset_stats();
        for key in keys.values() {
            for expected in [4, 5] {
                let got = Functions::bump(key, 1)
                    .invoke_async(&mut con)
                    .await
                    .unwrap();
                if key == &keys[&first] {
                    assert_eq!(got, expected);
                }
            }
        }
        let stats = cluster.all_commandstats();
        for p in &primaries {
            assert_eq!(stats[p].calls("function|load"), 1, "{flavor} async: {p}");
            assert_eq!(stats[p].calls("fcall"), 2, "{flavor} async: {p}");
            assert_eq!(stats[p].total_errors(), 0, "{flavor} async: {p}");
        }
        assert_eq!(con.stats().libraries_replaced, 0);
    });
}

/// A connection that reads scripts from replicas
/// (`RandomReplicaStrategy`) sends a function's `FCALL_RO` to the primary:
/// only `EVALSHA_RO` is routed to replicas, and a replica could not load a
/// missing library (`FUNCTION LOAD` is a write). Every call succeeds.
fn fcall_ro_with_a_replica_strategy_reads_primaries(flavor: Flavor) {
    let cluster = cluster_for(flavor);
    let keys = keys_per_shard(&cluster, "r");
    runtime().block_on(async {
        let client = cluster.client();
        let mut con = ScriptCache::new(client.get_async_connection().await.unwrap());
        for key in keys.values() {
            assert_eq!(
                Functions::bump(key, 1)
                    .invoke_async(&mut con)
                    .await
                    .unwrap(),
                1
            );
        }
        let ro_client = cluster
            .client_builder()
            .read_routing_strategy(redis::cluster_read_routing::RandomReplicaStrategy)
            .build()
            .unwrap();
        let mut ro = ScriptCache::new(ro_client.get_async_connection().await.unwrap());
        cluster.reset_stats();
        for key in keys.values() {
            for _ in 0..2 {
                let v = Functions::peek(key).invoke_async(&mut ro).await.unwrap();
                assert_eq!(v.as_deref(), Some("1"));
            }
        }
        let stats = cluster.all_commandstats();
        let on =
            |nodes: Vec<usize>| -> u64 { nodes.iter().map(|n| stats[n].calls("fcall_ro")).sum() };
        assert_eq!(on(cluster.replicas()), 0, "{flavor}: {stats:?}");
        assert_eq!(
            on(cluster.primaries()),
            2 * keys.len() as u64,
            "{flavor}: {stats:?}"
        );
        for p in cluster.primaries() {
            assert_eq!(stats[&p].total_errors(), 0, "{flavor}: primary {p}");
        }
    });
}

script_cache_tests::functions_per_flavor!(
    each_primary_loads_the_library_it_runs,
    per_primary_loads
);
script_cache_tests::functions_per_flavor!(
    fcall_ro_with_a_replica_strategy_reads_primaries,
    fcall_ro_with_a_replica_strategy_reads_primaries
);
