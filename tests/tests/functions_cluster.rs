//! Function libraries on a Redis Cluster (3 primaries, 1 replica each):
//! each primary loads the library it runs with its first call there, later
//! calls send `FCALL` only, and a primary that lost the library
//! (`FUNCTION FLUSH`) gets it back with the next call; calls from a sync
//! and an async cluster connection go on through a `CLUSTER FAILOVER`
//! (the promoted replica has the library by replication) and a slot
//! migration to a new primary (which gets the library with its first
//! call).

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

macro_rules! function_flavors {
    ($name:ident, $body:path) => {
        mod $name {
            use super::*;
            script_cache_tests::flavor_test! { Redis7, fn redis_7_0() { $body(Flavor::Redis7) } }
            script_cache_tests::flavor_test! { Valkey9, fn valkey_9_1() { $body(Flavor::Valkey9) } }
            script_cache_tests::flavor_test! { Redis82, fn redis_8_2() { $body(Flavor::Redis82) } }
            script_cache_tests::flavor_test! { Valkey81, fn valkey_8_1() { $body(Flavor::Valkey81) } }
        }
    };
}

function_flavors!(each_primary_loads_the_library_it_runs, per_primary_loads);
function_flavors!(
    fcall_ro_with_a_replica_strategy_reads_primaries,
    fcall_ro_with_a_replica_strategy_reads_primaries
);

/// Calls `bump` on `keys` (round robin) from a sync `ClusterConnection`
/// thread and 8 async tasks on one async `ClusterConnection` while `fault`
/// runs, then 20 more calls each; every call must succeed. Returns the
/// successes per key.
fn calls_through(
    rt: &tokio::runtime::Runtime,
    cluster: &mut TestCluster,
    sync: &mut ScriptCache<redis::cluster::ClusterConnection>,
    asynch: &ScriptCache<redis::cluster_async::ClusterConnection>,
    keys: &[String],
    fault: impl FnOnce(&mut TestCluster),
) -> BTreeMap<String, i64> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let flavor = cluster.flavor();
    let stop = Arc::new(AtomicBool::new(false));
    let mut done: BTreeMap<String, i64> = BTreeMap::new();
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let mut con = asynch.clone();
            let keys = keys.to_vec();
            let stop = stop.clone();
            rt.spawn(async move {
                let mut ok: BTreeMap<String, i64> = BTreeMap::new();
                let mut tail = 20;
                // Bounded: at most 20 000 calls per task.
                for i in 0..20_000 {
                    if stop.load(Ordering::Acquire) {
                        if tail == 0 {
                            break;
                        }
                        tail -= 1;
                    }
                    let key = &keys[(t + i) % keys.len()];
                    match Functions::bump(key, 1).invoke_async(&mut con).await {
                        Ok(_) => *ok.entry(key.clone()).or_default() += 1,
                        Err(e) => panic!("{flavor}: an async call failed: {e:?}"),
                    }
                    tokio::task::yield_now().await;
                }
                ok
            })
        })
        .collect();
    std::thread::scope(|scope| {
        let stopped = stop.clone();
        let calls = scope.spawn(move || {
            let mut ok: BTreeMap<String, i64> = BTreeMap::new();
            let mut tail = 20;
            for i in 0..20_000 {
                if stopped.load(Ordering::Acquire) {
                    if tail == 0 {
                        break;
                    }
                    tail -= 1;
                }
                let key = &keys[i % keys.len()];
                match Functions::bump(key, 1).invoke(sync) {
                    Ok(_) => *ok.entry(key.clone()).or_default() += 1,
                    Err(e) => panic!("{flavor}: a sync call failed: {e:?}"),
                }
            }
            ok
        });
        std::thread::sleep(std::time::Duration::from_millis(200));
        fault(cluster);
        stop.store(true, Ordering::Release);
        let Ok(ok) = calls.join() else {
            panic!("{flavor}: the sync calls panicked")
        };
        for (k, n) in ok {
            *done.entry(k).or_default() += n;
        }
    });
    for task in tasks {
        for (k, n) in rt.block_on(task).expect("task") {
            *done.entry(k).or_default() += n;
        }
    }
    done
}

/// Every key's counter equals the calls that succeeded on it.
fn counted_once(cluster: &TestCluster, before: &BTreeMap<String, i64>, ok: &BTreeMap<String, i64>) {
    let flavor = cluster.flavor();
    let client = cluster.client();
    let mut con = client.get_connection().expect("sync cluster");
    for (key, n) in ok {
        let got: i64 = redis::cmd("GET").arg(key).query(&mut con).expect("GET");
        let was = before.get(key).copied().unwrap_or(0);
        assert_eq!(got, was + n, "{flavor}: {key}: every call counted once");
    }
}

fn has_library(cluster: &TestCluster, node: usize) -> bool {
    let mut con = cluster.nodes()[node].server.connection();
    let listed: Vec<redis::Value> = redis::cmd("FUNCTION")
        .arg("LIST")
        .arg("LIBRARYNAME")
        .arg("counters")
        .query(&mut con)
        .expect("FUNCTION LIST");
    listed.len() == 1
}

/// `CLUSTER FAILOVER` of a shard, then its slot moved to a brand-new
/// primary, while a sync and an async cluster connection call a function
/// on it: no call fails, every call is counted once. The promoted replica
/// holds the library by replication (no load, no reload there); the new
/// node does not, and the calls that reach it load it there.
fn failover_then_migration(flavor: Flavor) {
    let mut cluster = cluster_for(flavor);
    let shard_keys = keys_per_shard(&cluster, "fo");
    let client = cluster.client();
    let mut sync = ScriptCache::new(client.get_connection().expect("sync cluster"));
    // The async connection lives on this runtime (its driver task dies
    // with the runtime it was made on).
    let rt = runtime();
    let asynch = rt.block_on(async {
        ScriptCache::new(client.get_async_connection().await.expect("async cluster"))
    });
    let first = *shard_keys.keys().next().expect("a shard");
    let slot = key_slot(shard_keys[&first].as_bytes());
    // Keys of the victim's slot (the one that moves later) and of the others.
    let mut keys: Vec<String> = (0..4)
        .map(|i| format!("{}:{i}", shard_keys[&first]))
        .collect();
    keys.extend(shard_keys.values().skip(1).cloned());
    let ok = calls_through(&rt, &mut cluster, &mut sync, &asynch, &keys, |_| {});
    counted_once(&cluster, &BTreeMap::new(), &ok);
    let replica = cluster.replica_of(first).expect("a replica");
    assert!(has_library(&cluster, replica), "{flavor}: replicated");

    // Failover under calls.
    cluster.reset_stats();
    let before = ok;
    let ok = calls_through(&rt, &mut cluster, &mut sync, &asynch, &keys, |c| {
        assert_eq!(c.failover(first), replica);
    });
    counted_once(&cluster, &before, &ok);
    let stats = cluster.commandstats(replica);
    assert_eq!(
        stats.calls("function|load"),
        0,
        "{flavor}: the promoted replica had the library: {stats:?}"
    );
    assert!(stats.calls("fcall") > 0, "{flavor}: {stats:?}");
    for con in [sync.stats(), asynch.stats()] {
        assert_eq!(
            (
                con.reloads,
                con.failed_not_run,
                con.failed_ran,
                con.failed_unknown
            ),
            (0, 0, 0, 0),
            "{flavor}: {con:?}"
        );
    }
    let mut total = before;
    for (k, n) in ok {
        *total.entry(k).or_default() += n;
    }

    // The slot moved to a new primary without the library, under calls.
    let new = cluster.add_primary();
    assert!(!has_library(&cluster, new), "{flavor}: a new node is empty");
    cluster.reset_stats();
    let ok = calls_through(&rt, &mut cluster, &mut sync, &asynch, &keys, |c| {
        c.move_slot(slot, new, 2, std::time::Duration::from_millis(15));
        assert_eq!(c.slot_owner(slot), new);
    });
    counted_once(&cluster, &total, &ok);
    assert!(
        has_library(&cluster, new),
        "{flavor}: loaded on the new node"
    );
    let stats = cluster.commandstats(new);
    // Loaded there by the calls (while the slot is migrating, a call
    // whose key was moved already meets "Function not found" there through
    // `ASK` and is sent again, bounded, so the count varies from run to
    // run; the library is not loaded by anything else).
    assert!(
        stats.calls("function|load") >= 1,
        "{flavor}: the calls loaded the library on the new node: {stats:?}"
    );
    eprintln!(
        "{flavor}: FUNCTION LOADs on the new node: {}; sync {:?}; async {:?}",
        stats.calls("function|load"),
        sync.stats(),
        asynch.stats()
    );
    for con in [sync.stats(), asynch.stats()] {
        assert_eq!(
            (con.failed_not_run, con.failed_ran, con.failed_unknown),
            (0, 0, 0),
            "{flavor}: {con:?}"
        );
    }
}

function_flavors!(failover_then_slot_migration, failover_then_migration);
