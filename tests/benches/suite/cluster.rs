//! Redis Cluster (3 primaries, Redis 7.0): steady state with 64 async
//! tasks on one `cluster_async::ClusterConnection`, script-cache against a
//! hand-written `EVALSHA` routed the same way (`route_command` to the key's
//! slot), and the cold start per shard against redis-rs's `Script`.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::Value;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use script_cache::ScriptCache;
use script_cache::cluster::key_slot;
use script_cache::prelude::EmbeddedScript;
use script_cache_tests::Flavor;
use script_cache_tests::cluster::TestCluster;

use crate::clients::Bench;
use crate::json::Json;
use crate::stats::{median, micros, thousands};
use crate::{Options, Section};

pub(crate) const TASKS: usize = 64;
/// `tests/bench-lua/incr.lua` (the same script as the other sections).
const SCRIPT: &str = "incr.lua: return redis.call('INCR', KEYS[1])";

fn sha1(_: &str) -> String {
    Bench::Incr.sha1().to_owned()
}

/// One key per task, spread over the shards.
pub(crate) fn task_keys() -> Arc<Vec<String>> {
    Arc::new((0..TASKS).map(|t| format!("{{bench:{t}}}")).collect())
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Client {
    ScriptCache,
    /// `EVALSHA` built per call and routed by hand to the key's slot; the
    /// reply is converted to `i64`, as script-cache's typed call and every
    /// other mode's hand-written baseline (`query::<i64>`) do.
    RoutedEvalsha,
    /// The floor (`profile --mode cluster --client floor` only, not in this
    /// section's wall-clock table): the routed `EVALSHA` and its route
    /// built once per task. `route_command` takes the `Cmd` by value (and
    /// puts it in an `Arc`), so every call sends a clone of the task's
    /// command and route, as redis-rs's own
    /// `ClusterConnection::req_packed_command(&cmd)` does (minus its
    /// key-slot lookup); the reply is converted to `i64`.
    Floor,
}

impl Client {
    fn label(self) -> &'static str {
        match self {
            Client::ScriptCache => "script-cache",
            Client::RoutedEvalsha => "hand-written EVALSHA, routed",
            Client::Floor => "routed EVALSHA, built once per task",
        }
    }
}

pub(crate) async fn run_once(
    client: Client,
    con: &ScriptCache<ClusterConnection>,
    keys: &Arc<Vec<String>>,
    per_task: usize,
) -> (f64, Option<f64>) {
    let sha = Arc::new(sha1(SCRIPT));
    let cpu = crate::stats::process_cpu_ns();
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(TASKS);
    for t in 0..TASKS {
        let mut con = con.clone();
        let keys = keys.clone();
        let sha = sha.clone();
        tasks.push(tokio::spawn(async move {
            let key = &keys[t];
            // The floor's command and route, built once per task.
            let floor = (client == Client::Floor).then(|| {
                let mut cmd = redis::cmd("EVALSHA");
                cmd.arg(sha.as_str()).arg(1).arg(key);
                let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(
                    Route::new(key_slot(key.as_bytes()), SlotAddr::Master),
                ));
                (cmd, route)
            });
            for _ in 0..per_task {
                match client {
                    Client::ScriptCache => {
                        let v: i64 = Bench::incr(key.as_str())
                            .invoke_async(&mut con)
                            .await
                            .expect("script-cache call");
                        std::hint::black_box(v);
                    }
                    Client::RoutedEvalsha => {
                        let mut cmd = redis::cmd("EVALSHA");
                        cmd.arg(sha.as_str()).arg(1).arg(key);
                        let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(
                            Route::new(key_slot(key.as_bytes()), SlotAddr::Master),
                        ));
                        let v = con
                            .get_mut()
                            .route_command(cmd, route)
                            .await
                            .and_then(|v| Ok(redis::from_redis_value::<i64>(v)?))
                            .expect("routed EVALSHA");
                        std::hint::black_box(v);
                    }
                    Client::Floor => {
                        let (cmd, route) = floor.as_ref().expect("the floor's command");
                        let v = con
                            .get_mut()
                            .route_command(cmd.clone(), route.clone())
                            .await
                            .and_then(|v| Ok(redis::from_redis_value::<i64>(v)?))
                            .expect("routed EVALSHA (floor)");
                        std::hint::black_box(v);
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    let ops = (TASKS * per_task) as f64;
    let rate = ops / started.elapsed().as_secs_f64();
    let cpu = match (cpu, crate::stats::process_cpu_ns()) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a) as f64 / ops),
        _ => None,
    };
    (rate, cpu)
}

/// Commands the servers counted, summed over the nodes.
fn counted(cluster: &TestCluster) -> (u64, u64, u64) {
    let mut loads = 0;
    let mut evalshas = 0;
    let mut errors = 0;
    for stats in cluster.all_commandstats().values() {
        loads += stats.calls("script|load");
        evalshas += stats.calls("evalsha");
        errors += stats.total_errors();
    }
    (loads, evalshas, errors)
}

pub(crate) fn run(options: &Options) -> Section {
    let cluster = TestCluster::start(Flavor::Redis7, 0);
    let rt = script_cache_tests::runtime();
    let client = cluster.client();
    let keys = task_keys();
    let per_task = if options.quick { 50 } else { 1_000 };
    let rounds = if options.quick { 3 } else { 9 };

    let mut md = String::new();
    let _ = writeln!(
        md,
        "## cluster\n\nRedis 7.0 cluster, 3 primaries on loopback, one \
         `cluster_async::ClusterConnection` shared by {TASKS} tasks, one key per \
         task (spread over the shards), script `{SCRIPT}`; {rounds} interleaved \
         rounds of {} calls (order alternated), median.\n",
        TASKS * per_task
    );

    // ---- steady state ----
    let (sc, routed, sc_cpu, routed_cpu) = rt.block_on(async {
        let con = ScriptCache::new(client.get_async_connection().await.expect("connect"));
        // Warm up: every shard has the script, both clients connected.
        run_once(Client::ScriptCache, &con, &keys, 5).await;
        run_once(Client::RoutedEvalsha, &con, &keys, 5).await;
        let mut sc = Vec::new();
        let mut routed = Vec::new();
        let mut sc_cpu = Vec::new();
        let mut routed_cpu = Vec::new();
        for round in 0..rounds {
            // Order rotated each round.
            let order = if round % 2 == 0 {
                [Client::ScriptCache, Client::RoutedEvalsha]
            } else {
                [Client::RoutedEvalsha, Client::ScriptCache]
            };
            for client in order {
                let (rate, cpu) = run_once(client, &con, &keys, per_task).await;
                let (rates, cpus) = match client {
                    Client::ScriptCache => (&mut sc, &mut sc_cpu),
                    Client::RoutedEvalsha => (&mut routed, &mut routed_cpu),
                    Client::Floor => unreachable!("the floor is for profile only"),
                };
                rates.push(rate);
                if let Some(cpu) = cpu {
                    cpus.push(cpu / 1000.0);
                }
            }
        }
        (sc, routed, sc_cpu, routed_cpu)
    });
    let (sc_med, routed_med) = (median(&sc), median(&routed));
    // Ratio per round (the two runs of a round are back to back), median.
    let ratios: Vec<f64> = sc.iter().zip(&routed).map(|(a, b)| a / b).collect();
    let ratio = median(&ratios);
    let (rmin, rmax) = (crate::stats::min(&ratios), crate::stats::max(&ratios));
    let cpu = |v: &[f64]| {
        if v.is_empty() {
            "n/a".to_owned()
        } else {
            format!("{:.2}", median(v))
        }
    };
    let _ = writeln!(
        md,
        "| client | calls/s (median) | client CPU µs/call (median) |\n|---|---|---|"
    );
    let _ = writeln!(
        md,
        "| {} | {} | {} |",
        Client::ScriptCache.label(),
        thousands(sc_med),
        cpu(&sc_cpu)
    );
    let _ = writeln!(
        md,
        "| {} | {} | {} |",
        Client::RoutedEvalsha.label(),
        thousands(routed_med),
        cpu(&routed_cpu)
    );
    let _ = writeln!(
        md,
        "\nratio script-cache / routed EVALSHA, per round, median [min, max]: **{ratio:.3}** [{rmin:.3}, {rmax:.3}]\n"
    );

    // ---- cold start per shard ----
    let shards = cluster.primaries();
    let mut cold_keys = Vec::new();
    for i in 0..10_000 {
        let key = format!("{{cold:{i}}}");
        let owner = cluster.key_owner(&key);
        if !cold_keys.iter().any(|(o, _)| *o == owner) {
            cold_keys.push((owner, key));
        }
        if cold_keys.len() == shards.len() {
            break;
        }
    }
    let mut cold = Vec::new();
    for client_kind in ["script-cache", "redis-rs Script"] {
        rt.block_on(async {
            let mut con = client.get_async_connection().await.expect("connect");
            // Forget every script on every node (SCRIPT FLUSH goes to all).
            let _: Value = redis::cmd("SCRIPT")
                .arg("FLUSH")
                .query_async(&mut con)
                .await
                .expect("flush");
            cluster.reset_stats();
            let mut latencies = Vec::new();
            if client_kind == "script-cache" {
                let mut sc = ScriptCache::new(con);
                // The slot map is asked once per state: not part of a
                // script's cold start.
                sc.load_all_async::<Bench>().await.expect("slot map");
                let _: Value = redis::cmd("SCRIPT")
                    .arg("FLUSH")
                    .query_async(&mut sc)
                    .await
                    .expect("flush");
                sc.forget_loaded();
                cluster.reset_stats();
                for (_, key) in &cold_keys {
                    let t = Instant::now();
                    let _: i64 = Bench::incr(key.as_str())
                        .invoke_async(&mut sc)
                        .await
                        .expect("cold");
                    latencies.push(micros(t.elapsed()));
                }
            } else {
                let script = redis::Script::new(Bench::Incr.source());
                for (_, key) in &cold_keys {
                    let t = Instant::now();
                    let _: i64 = script.key(key).invoke_async(&mut con).await.expect("cold");
                    latencies.push(micros(t.elapsed()));
                }
            }
            let (loads, evalshas, errors) = counted(&cluster);
            cold.push((
                client_kind,
                loads,
                evalshas,
                errors,
                latencies.iter().sum::<f64>(),
            ));
        });
    }
    let _ = writeln!(
        md,
        "Cold start: first call on each of the {} shards after `SCRIPT FLUSH` on every node \
         (commands as the servers counted them, all nodes summed).\n\n\
         | client | SCRIPT LOADs | EVALSHAs | failed commands | the first calls, total µs |\n|---|---|---|---|---|",
        cold_keys.len()
    );
    for (name, loads, evalshas, errors, lat) in &cold {
        let _ = writeln!(
            md,
            "| {name} | {loads} | {evalshas} | {errors} | {lat:.0} |"
        );
    }
    let _ = writeln!(
        md,
        "\nscript-cache: one routed `SCRIPT LOAD` + `EVALSHA` pipeline per shard (one round trip); \
         redis-rs `Script`: `EVALSHA` (NOSCRIPT), `SCRIPT LOAD` broadcast to every node, `EVALSHA`."
    );
    drop(cluster);
    std::thread::sleep(Duration::from_millis(10));
    Section {
        markdown: md,
        json: Json::obj([
            ("script_cache_calls_per_sec", Json::num(sc_med)),
            ("routed_evalsha_calls_per_sec", Json::num(routed_med)),
            ("ratio", Json::num(ratio)),
            (
                "cold_script_cache_failed",
                Json::count(cold.first().map_or(0, |c| c.3)),
            ),
            (
                "cold_redis_script_failed",
                Json::count(cold.get(1).map_or(0, |c| c.3)),
            ),
        ]),
    }
}
