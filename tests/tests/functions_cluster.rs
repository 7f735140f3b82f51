//! Function libraries on a Redis Cluster (3 primaries, 1 replica each):
//! each primary loads the library it runs with its first call there, later
//! calls send `FCALL` only, and a primary that lost the library
//! (`FUNCTION FLUSH`) gets it back with the next call; calls from a sync
//! and an async cluster connection go on through a `CLUSTER FAILOVER`
//! (the promoted replica has the library by replication) and a slot
//! migration to a new primary (which gets the library with its first
//! call). `FCALL_RO` reads from replicas on connections that read from
//! them, and a replica that lost the library fails no call.

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

/// Waits (bounded) until the replica of `primary` has `key` at `value`:
/// what was written before it (the library) is there too.
fn wait_replicated(cluster: &TestCluster, primary: usize, key: &str, value: &str) {
    let replica = cluster.replica_of(primary).expect("a replica");
    let mut con = cluster.nodes()[replica].server.connection();
    let _: () = redis::cmd("READONLY").query(&mut con).unwrap();
    for _ in 0..300 {
        let got: Option<String> = redis::cmd("GET").arg(key).query(&mut con).unwrap();
        if got.as_deref() == Some(value) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("replica {replica} did not get {key} = {value}");
}

/// Takes the libraries off one replica while its primary keeps them (a
/// replica flushed apart): a read-only replica refuses `FUNCTION FLUSH`,
/// so it is made writable for that one command.
fn flush_functions_on_replica(cluster: &TestCluster, replica: usize) {
    let mut con = cluster.nodes()[replica].server.connection();
    let refused = redis::cmd("FUNCTION").arg("FLUSH").query::<()>(&mut con);
    let err = refused.expect_err("a read-only replica refuses FUNCTION FLUSH");
    assert_eq!(err.code(), Some("READONLY"), "{err}");
    let set = |value: &str, con: &mut redis::Connection| {
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg("replica-read-only")
            .arg(value)
            .query(con)
            .unwrap();
    };
    set("no", &mut con);
    let _: () = redis::cmd("FUNCTION").arg("FLUSH").query(&mut con).unwrap();
    set("yes", &mut con);
    assert!(libraries_on(cluster, replica).is_empty());
}

/// The names of the libraries `FUNCTION LIST` shows on node `i`.
fn libraries_on(cluster: &TestCluster, i: usize) -> Vec<redis::Value> {
    let mut con = cluster.nodes()[i].server.connection();
    redis::cmd("FUNCTION").arg("LIST").query(&mut con).unwrap()
}

/// A replica that lost the library (flushed apart from its primary) is
/// recovered with no failed call: its "Function not found" sends the call
/// to the primary, which loads the library again (replicated back to the
/// replica), and the calls read from the replica again.
fn replica_without_the_library_is_recovered(
    cluster: &TestCluster,
    primary: usize,
    what: &str,
    mut peek: impl FnMut() -> Option<String>,
    stats: impl Fn() -> script_cache::Stats,
) {
    let flavor = cluster.flavor();
    let replica = cluster.replica_of(primary).expect("a replica");
    flush_functions_on_replica(cluster, replica);
    let before = stats();
    cluster.reset_stats();
    for _ in 0..20 {
        assert_eq!(peek().as_deref(), Some("1"), "{flavor} {what}");
    }
    let after = stats();
    let fallbacks = after.replica_fallbacks - before.replica_fallbacks;
    assert!(fallbacks >= 1, "{flavor} {what}: {after:?}");
    let failed = |s: &script_cache::Stats| s.failed_ran + s.failed_not_run + s.failed_unknown;
    assert_eq!(
        failed(&after),
        failed(&before),
        "{flavor} {what}: no call failed"
    );
    let nodes = cluster.all_commandstats();
    // The replica's misses are its failed FCALL_RO, one per fallback; the
    // primary answered those calls and loaded the library again.
    assert_eq!(
        nodes[&replica].get("fcall_ro").failed_calls,
        fallbacks,
        "{flavor} {what}"
    );
    assert_eq!(
        nodes[&primary].calls("fcall_ro"),
        fallbacks,
        "{flavor} {what}"
    );
    assert!(
        nodes[&primary].calls("function|load") >= 1,
        "{flavor} {what}"
    );
    assert_eq!(nodes[&primary].total_errors(), 0, "{flavor} {what}");
    assert!(
        !libraries_on(cluster, replica).is_empty(),
        "{flavor} {what}: replicated back"
    );
    // Healed: the replica serves every call again.
    cluster.reset_stats();
    for _ in 0..10 {
        assert_eq!(peek().as_deref(), Some("1"), "{flavor} {what}");
    }
    let nodes = cluster.all_commandstats();
    assert_eq!(
        nodes[&replica].calls("fcall_ro"),
        10,
        "{flavor} {what}: {nodes:?}"
    );
    assert_eq!(nodes[&replica].total_errors(), 0, "{flavor} {what}");
    assert_eq!(nodes[&primary].calls("fcall_ro"), 0, "{flavor} {what}");
    assert_eq!(stats().replica_fallbacks, after.replica_fallbacks);
}

/// On a connection that reads from replicas (async `RandomReplicaStrategy`,
/// sync `read_from_replicas`), a `no-writes` function's `FCALL_RO` runs on
/// the shard's replica once the state knows the primary holds the
/// library: the first call of a fresh state goes to the primary with the
/// library, the next ones to the replica. A replica without the library
/// never fails a call.
fn fcall_ro_reads_replicas(flavor: Flavor) {
    let cluster = cluster_for(flavor);
    let keys = keys_per_shard(&cluster, "r");
    let primaries = cluster.primaries();
    // One runtime: the async connections' tasks live on it.
    let rt = runtime();
    rt.block_on(async {
        let client = cluster.client();
        let mut con = ScriptCache::new(client.get_async_connection().await.unwrap());
        for key in keys.values() {
            let n = Functions::bump(key, 1)
                .invoke_async(&mut con)
                .await
                .unwrap();
            assert_eq!(n, 1);
        }
    });
    for (p, key) in &keys {
        wait_replicated(&cluster, *p, key, "1");
    }
    let count = |what: &str| {
        let stats = cluster.all_commandstats();
        for p in &primaries {
            let r = cluster.replica_of(*p).unwrap();
            assert_eq!(
                stats[p].calls("fcall_ro"),
                1,
                "{flavor} {what}: primary {p}"
            );
            assert_eq!(
                stats[p].calls("function|load"),
                1,
                "{flavor} {what}: primary {p}"
            );
            assert_eq!(
                stats[&r].calls("fcall_ro"),
                2,
                "{flavor} {what}: replica {r}"
            );
            assert_eq!(stats[p].total_errors(), 0, "{flavor} {what}: primary {p}");
            assert_eq!(stats[&r].total_errors(), 0, "{flavor} {what}: replica {r}");
        }
    };

    // Async.
    let ro_client = cluster
        .client_builder()
        .read_routing_strategy(redis::cluster_read_routing::RandomReplicaStrategy)
        .build()
        .unwrap();
    let mut ro =
        rt.block_on(async { ScriptCache::new(ro_client.get_async_connection().await.unwrap()) });
    cluster.reset_stats();
    for key in keys.values() {
        for _ in 0..3 {
            let v = rt
                .block_on(Functions::peek(key).invoke_async(&mut ro))
                .unwrap();
            assert_eq!(v.as_deref(), Some("1"));
        }
    }
    count("async");
    assert_eq!(ro.stats().replica_fallbacks, 0);
    let first = primaries[0];
    let state = ro.state().clone();
    replica_without_the_library_is_recovered(
        &cluster,
        first,
        "async",
        || {
            rt.block_on(Functions::peek(&keys[&first]).invoke_async(&mut ro))
                .unwrap()
        },
        || state.stats(),
    );

    // Sync.
    let sync_client = cluster
        .client_builder()
        .read_routing_strategy(redis::cluster_read_routing::RandomReplicaStrategy)
        .build()
        .unwrap();
    let mut sro = ScriptCache::new(sync_client.get_connection().unwrap());
    cluster.reset_stats();
    for key in keys.values() {
        for _ in 0..3 {
            let v = Functions::peek(key).invoke(&mut sro).unwrap();
            assert_eq!(v.as_deref(), Some("1"));
        }
    }
    count("sync");
    let second = primaries[1];
    let state = sro.state().clone();
    replica_without_the_library_is_recovered(
        &cluster,
        second,
        "sync",
        || Functions::peek(&keys[&second]).invoke(&mut sro).unwrap(),
        || state.stats(),
    );

    // A connection that does not read from replicas: the primaries.
    let mut con = ScriptCache::new(cluster.client().get_connection().unwrap());
    cluster.reset_stats();
    for key in keys.values() {
        for _ in 0..2 {
            let v = Functions::peek(key).invoke(&mut con).unwrap();
            assert_eq!(v.as_deref(), Some("1"));
        }
    }
    let stats = cluster.all_commandstats();
    for r in cluster.replicas() {
        assert_eq!(stats[&r].calls("fcall_ro"), 0, "{flavor}: replica {r}");
    }
    for p in &primaries {
        assert_eq!(stats[p].calls("fcall_ro"), 2, "{flavor}: primary {p}");
    }
    assert_eq!(con.stats().replica_fallbacks, 0);
}

/// Sixteen async tasks sharing one state call a `no-writes` function on
/// one shard through a connection that reads from replicas while another
/// client keeps flushing the libraries of that shard's replica: no call
/// fails, every call reads the value, and the misses went to the primary.
fn replica_flushed_under_load(flavor: Flavor) {
    let cluster = cluster_for(flavor);
    let keys = keys_per_shard(&cluster, "s");
    let primary = cluster.primaries()[0];
    let replica = cluster.replica_of(primary).expect("a replica");
    let key = keys[&primary].clone();
    let rt = runtime();
    rt.block_on(async {
        let client = cluster.client();
        let mut con = ScriptCache::new(client.get_async_connection().await.unwrap());
        assert_eq!(
            Functions::bump(&key, 1)
                .invoke_async(&mut con)
                .await
                .unwrap(),
            1
        );
    });
    wait_replicated(&cluster, primary, &key, "1");
    let mut admin = cluster.nodes()[replica].server.connection();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("replica-read-only")
        .arg("no")
        .query(&mut admin)
        .unwrap();
    let ro_client = cluster
        .client_builder()
        .read_routing_strategy(redis::cluster_read_routing::RandomReplicaStrategy)
        .build()
        .unwrap();
    let (state, flushes) = rt.block_on(async {
        let con = ScriptCache::new(ro_client.get_async_connection().await.unwrap());
        let state = con.state().clone();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flusher = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut flushes = 0_u32;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) && flushes < 2_000 {
                    let _: () = redis::cmd("FUNCTION")
                        .arg("FLUSH")
                        .query(&mut admin)
                        .unwrap();
                    flushes += 1;
                    std::thread::sleep(std::time::Duration::from_millis(3));
                }
                let _: () = redis::cmd("CONFIG")
                    .arg("SET")
                    .arg("replica-read-only")
                    .arg("yes")
                    .query(&mut admin)
                    .unwrap();
                flushes
            })
        };
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let mut con = con.clone();
            let key = key.clone();
            tasks.push(tokio::spawn(async move {
                for _ in 0..50 {
                    let v = Functions::peek(&key).invoke_async(&mut con).await.unwrap();
                    assert_eq!(v.as_deref(), Some("1"));
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        (state, flusher.join().unwrap())
    });
    assert!(flushes >= 1);
    let s = state.stats();
    assert_eq!(
        s.failed_ran + s.failed_not_run + s.failed_unknown,
        0,
        "{flavor}: {s:?}"
    );
    assert!(s.replica_fallbacks >= 1, "{flavor}: {s:?}");
    let nodes = cluster.all_commandstats();
    assert_eq!(
        nodes[&replica].get("fcall_ro").failed_calls,
        s.replica_fallbacks,
        "{flavor}: every miss on the replica went to the primary: {s:?}"
    );
}

script_cache_tests::functions_per_flavor!(
    each_primary_loads_the_library_it_runs,
    per_primary_loads
);
script_cache_tests::functions_per_flavor!(fcall_ro_reads_replicas, fcall_ro_reads_replicas);
script_cache_tests::functions_per_flavor!(replica_flushed_under_load, replica_flushed_under_load);

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

    if flavor == Flavor::Valkey9 {
        // Valkey 9's atomic slot migration moves keys, never libraries:
        // the slot goes to a primary whose libraries were flushed, under
        // calls, and the calls load the library there.
        for (k, n) in ok {
            *total.entry(k).or_default() += n;
        }
        let third = *cluster
            .primaries()
            .iter()
            .find(|p| **p != new)
            .expect("another primary");
        flush_functions_on(&cluster, third);
        assert!(!has_library(&cluster, third), "{flavor}: flushed");
        cluster.reset_stats();
        let ok = calls_through(&rt, &mut cluster, &mut sync, &asynch, &keys, |c| {
            c.migrate_slot_atomic(slot, third);
            assert_eq!(c.slot_owner(slot), third);
        });
        counted_once(&cluster, &total, &ok);
        assert!(
            has_library(&cluster, third),
            "{flavor}: loaded on the slot's new owner"
        );
        for con in [sync.stats(), asynch.stats()] {
            assert_eq!(
                (con.failed_not_run, con.failed_ran, con.failed_unknown),
                (0, 0, 0),
                "{flavor}: {con:?}"
            );
        }
    }
}

script_cache_tests::functions_per_flavor!(failover_then_slot_migration, failover_then_migration);
