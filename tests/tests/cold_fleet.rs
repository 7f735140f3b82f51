//! Cold fleets: many client processes start at once, each with a fresh
//! `ScriptState` and its own connection, against one server. What reaches
//! the server (`INFO stats` `total_net_input_bytes`, the measuring
//! connection's own command subtracted) per process, the commands it ran
//! (`INFO commandstats`) and the round trips of each process's first call
//! (a [`Recording`] around each connection), on every flavor:
//!
//! * **preloaded**: the server already has the script (an admin loaded it);
//! * **absent**: the server has never seen it (0 failed calls);
//! * **warm, after a flush**: every state called it once, then the
//!   server's scripts were flushed, then the whole fleet calls again;
//! * **small, absent**: a script under `LAZY_LOAD_MAX` the server never
//!   saw (its first call stays one round trip).
//!
//! A fresh state's first call also asks which scripts of the enum the
//! server has (one `SCRIPT EXISTS`, the survey): its bytes are counted,
//! and `SCRIPT LOAD`s are counted by the states (`Stats::loads`), as
//! Redis 6.2's `INFO commandstats` does not tell `SCRIPT` subcommands
//! apart.
//!
//! The script is `bench-lua/incr_4k.lua` (4,096 bytes of source), the
//! small one `bench-lua/incr.lua`.
//! `cargo test -p script-cache-tests --test cold_fleet -- --nocapture`
//! prints the table quoted in BENCHMARKS.md ("Cold fleets").

use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use script_cache::{EmbeddedScript, ScriptCache, ScriptState};
use script_cache_tests::cluster::TestCluster;
use script_cache_tests::{
    CommandStats, Flavor, INFO_STATS_REQUEST, Recording, RoundTripLog, TestServer, matrix,
    net_input_bytes,
};

#[script_cache::scripts(dir = "bench-lua")]
enum Bench {}

/// Fresh states (processes) calling at once.
const FLEET: usize = 300;

/// One process of the fleet: its connection (recorded) over its own state.
struct Process {
    con: ScriptCache<Recording<MultiplexedConnection>>,
    log: RoundTripLog,
}

/// The bytes of one survey of the `Bench` scripts (`SCRIPT EXISTS` of
/// both SHA-1s), as sent.
fn survey_bytes() -> u64 {
    let mut cmd = redis::cmd("SCRIPT");
    cmd.arg("EXISTS");
    for script in Bench::ALL {
        cmd.arg(script.sha1());
    }
    cmd.get_packed_command().len() as u64
}

/// What one round of the fleet cost.
struct Round {
    /// Bytes that reached the server, all processes together.
    bytes: u64,
    /// `SCRIPT LOAD`s the server confirmed, all states together.
    loads: u64,
    /// Surveys the states sent and read.
    surveys: u64,
    /// Calls that returned an error.
    failed: usize,
    /// Round trips of each process's call, most first.
    trips: Vec<usize>,
    commands: CommandStats,
    wall: Duration,
}

impl Round {
    fn per_process(&self) -> u64 {
        self.bytes / FLEET as u64
    }

    fn row(&self, flavor: &str, case: &str) -> String {
        let c = &self.commands;
        // Every call ends in one EVALSHA that ran or one EVAL; the other
        // EVALSHAs met NOSCRIPT (Redis 6.2 has no `failed_calls`).
        let noscript = (c.calls("evalsha") + c.calls("eval")).saturating_sub(FLEET as u64);
        let max_trips = self.trips.iter().copied().max().unwrap_or(0);
        let two = self.trips.iter().filter(|&&t| t >= 2).count();
        format!(
            "| {flavor} | {case} | {} | {} | {} | {} | {} | {} | {noscript} | {} | {max_trips} ({two} took 2+) | {} ms |",
            self.bytes,
            self.per_process(),
            self.failed,
            c.calls("evalsha"),
            self.surveys,
            self.loads,
            c.calls("eval"),
            self.wall.as_millis(),
        )
    }
}

fn open_fleet(rt: &tokio::runtime::Runtime, server: &TestServer) -> Vec<Process> {
    rt.block_on(async {
        let mut fleet = Vec::with_capacity(FLEET);
        for _ in 0..FLEET {
            let con = server
                .client()
                .get_multiplexed_async_connection()
                .await
                .expect("multiplexed connection");
            let rec = Recording::new(con);
            let log = rec.log();
            fleet.push(Process {
                con: ScriptCache::with_state(rec, ScriptState::new()),
                log,
            });
        }
        fleet
    })
}

/// Every process calls the script once, all at once; measured.
fn round(
    rt: &tokio::runtime::Runtime,
    server: &TestServer,
    admin: &mut redis::Connection,
    fleet: &mut [Process],
    script: Bench,
) -> Round {
    for p in fleet.iter() {
        p.log.clear();
    }
    let counted = |fleet: &[Process]| {
        fleet.iter().fold((0, 0), |(l, s), p| {
            let stats = p.con.stats();
            (l + stats.loads, s + stats.surveys)
        })
    };
    let (loads_before, surveys_before) = counted(fleet);
    server.reset_stats();
    let before = net_input_bytes(admin);
    let start = Instant::now();
    let failed = rt.block_on(async {
        let (go_tx, go_rx) = tokio::sync::watch::channel(false);
        let mut handles = Vec::with_capacity(fleet.len());
        for (i, p) in fleet.iter().enumerate() {
            let mut con = p.con.clone();
            let mut go = go_rx.clone();
            handles.push(tokio::spawn(async move {
                let _ = go.wait_for(|go| *go).await;
                tokio::time::timeout(
                    Duration::from_secs(30),
                    script
                        .key(format!("fleet:{}", i % 16))
                        .invoke_async::<i64>(&mut con),
                )
                .await
            }));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let _ = go_tx.send(true);
        let mut failed = 0;
        for h in handles {
            match h.await.expect("task") {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    if failed == 0 {
                        eprintln!("a call failed: {e}");
                    }
                    failed += 1;
                }
                Err(_) => {
                    eprintln!("a call timed out");
                    failed += 1;
                }
            }
        }
        failed
    });
    let wall = start.elapsed();
    let after = net_input_bytes(admin);
    let commands = server.commandstats();
    let mut trips: Vec<usize> = fleet.iter().map(|p| p.log.round_trips().len()).collect();
    trips.sort_unstable_by(|a, b| b.cmp(a));
    let (loads, surveys) = counted(fleet);
    Round {
        bytes: after - before - INFO_STATS_REQUEST.len() as u64,
        loads: loads - loads_before,
        surveys: surveys - surveys_before,
        failed,
        trips,
        commands,
        wall,
    }
}

/// The cases on `server`, printed as table rows: preloaded, absent, warm
/// after a flush (the 4 KB script), absent (the small script).
fn cold_fleet(server: &mut TestServer) -> [Round; 4] {
    let flavor = server.flavor().to_string();
    let rt = script_cache_tests::runtime();
    let mut admin = server.connection();
    let source = Bench::Incr4k.source();
    assert!(source.len() > script_cache::LAZY_LOAD_MAX);
    assert!(Bench::Incr.source().len() <= script_cache::LAZY_LOAD_MAX);
    let sha1: String = redis::cmd("SCRIPT")
        .arg("LOAD")
        .arg(source)
        .query(&mut admin)
        .expect("SCRIPT LOAD");
    assert_eq!(sha1, Bench::Incr4k.sha1());

    // Preloaded: the server has the script, the states are fresh.
    let before = net_input_bytes(&mut admin);
    let mut fleet = open_fleet(&rt, server);
    let connect = net_input_bytes(&mut admin) - before - INFO_STATS_REQUEST.len() as u64;
    let preloaded = round(&rt, server, &mut admin, &mut fleet, Bench::Incr4k);
    drop(fleet);

    // Absent: the server never saw it, the states are fresh.
    let flush = |admin: &mut redis::Connection| {
        redis::cmd("SCRIPT")
            .arg("FLUSH")
            .query::<()>(admin)
            .expect("SCRIPT FLUSH");
    };
    flush(&mut admin);
    let mut fleet = open_fleet(&rt, server);
    let absent = round(&rt, server, &mut admin, &mut fleet, Bench::Incr4k);

    // Warm states, then a flush: the whole fleet meets it at once.
    flush(&mut admin);
    let warm = round(&rt, server, &mut admin, &mut fleet, Bench::Incr4k);
    drop(fleet);

    // A small script the server never saw, fresh states.
    flush(&mut admin);
    let mut fleet = open_fleet(&rt, server);
    let small = round(&rt, server, &mut admin, &mut fleet, Bench::Incr);
    drop(fleet);

    println!(
        "COLD FLEET on {flavor}: {FLEET} processes, incr_4k ({} B source) and incr ({} B), connection handshake {} B per process (not counted below)",
        source.len(),
        Bench::Incr.source().len(),
        connect / FLEET as u64
    );
    println!(
        "| flavor | case | bytes | bytes/process | failed calls | EVALSHA | SCRIPT EXISTS | SCRIPT LOAD | NOSCRIPT | EVAL | round trips of a call, max | wall |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|");
    println!("{}", preloaded.row(&flavor, "preloaded, fresh states"));
    println!("{}", absent.row(&flavor, "absent, fresh states"));
    println!("{}", warm.row(&flavor, "warm states after SCRIPT FLUSH"));
    println!(
        "{}",
        small.row(&flavor, "small script absent, fresh states")
    );
    [preloaded, absent, warm, small]
}

/// At most one load per process that met NOSCRIPT: every other process
/// sent its call alone, after its survey (if its state sent one).
fn at_most_one_source_per_noscript(r: &Round, source: usize) {
    let loads = r.loads;
    let bound = FLEET as u64 * 200 + r.surveys * survey_bytes() + loads * (source as u64 + 200);
    assert!(
        r.bytes <= bound,
        "{} bytes for {loads} loads (bound {bound})",
        r.bytes
    );
}

matrix! {
    /// The bounds of the cold-state policy on every flavor: a fleet of
    /// fresh states against a server that has the 4 KB script sends at
    /// most 600 bytes per process and no source (one survey and one call
    /// each); against a server that lacks it, no call fails and none
    /// takes more than two round trips; a small script the server lacks
    /// is one round trip; warm states after a flush send no survey and
    /// reload at most once per NOSCRIPT.
    fn fleet_bytes_per_process(server) {
        let [preloaded, absent, warm, small] = cold_fleet(server);
        let source = Bench::Incr4k.source().len();
        for r in [&preloaded, &absent, &warm, &small] {
            assert_eq!(r.failed, 0, "a call failed");
            assert!(r.trips.iter().all(|&t| (1..=2).contains(&t)), "round trips {:?}", &r.trips[..5]);
        }
        assert!(preloaded.per_process() <= 600, "{} bytes per process", preloaded.per_process());
        assert_eq!(preloaded.loads, 0);
        assert_eq!(preloaded.surveys, FLEET as u64, "one survey per fresh state");
        assert!(preloaded.trips.iter().all(|&t| t == 1));
        at_most_one_source_per_noscript(&absent, source);
        at_most_one_source_per_noscript(&warm, source);
        assert_eq!(warm.surveys, 0, "warm states do not survey again");
        assert!(small.trips.iter().all(|&t| t == 1), "a small script's first call is one round trip");
        assert_eq!(small.commands.calls("evalsha"), FLEET as u64);
        assert_eq!(small.loads, FLEET as u64);
    }
}

// ---------------------------------------------------------------------
// The same on a 3+3 Redis Cluster, through `CLUSTER FAILOVER`.

type ClusterCon = ScriptCache<redis::cluster_async::ClusterConnection>;

/// What one round of a cluster fleet cost, summed over the primaries.
struct ClusterRound {
    bytes: u64,
    failed: usize,
    evalsha: u64,
    /// `SCRIPT LOAD`s confirmed, counted by the states.
    loads: u64,
    /// Surveys sent and read, counted by the states.
    surveys: u64,
    evals: u64,
}

impl ClusterRound {
    fn per_process(&self) -> u64 {
        self.bytes / FLEET as u64
    }

    /// Calls that met NOSCRIPT (and so took a second round trip).
    fn noscript(&self) -> u64 {
        (self.evalsha + self.evals).saturating_sub(FLEET as u64)
    }

    fn row(&self, flavor: &str, case: &str) -> String {
        format!(
            "| {flavor} (3+3 cluster) | {case} | {} | {} | {} | {} | {} | {} | {} | {} |",
            self.bytes,
            self.per_process(),
            self.failed,
            self.evalsha,
            self.surveys,
            self.loads,
            self.noscript(),
            self.evals,
        )
    }
}

/// A sync connection to every node, by index.
fn node_connections(cluster: &TestCluster) -> Vec<redis::Connection> {
    cluster
        .nodes()
        .iter()
        .map(|n| n.server.connection())
        .collect()
}

fn open_cluster_fleet(rt: &tokio::runtime::Runtime, cluster: &TestCluster) -> Vec<ClusterCon> {
    let client = cluster.client();
    rt.block_on(async {
        let mut fleet = Vec::with_capacity(FLEET);
        for _ in 0..FLEET {
            let con = client
                .get_async_connection()
                .await
                .expect("async cluster connection");
            fleet.push(ScriptCache::with_state(con, ScriptState::new()));
        }
        fleet
    })
}

/// Every process calls the 4 KB script once on one of `keys` (one per
/// shard), all at once; bytes summed over the primaries.
fn cluster_round(
    rt: &tokio::runtime::Runtime,
    cluster: &TestCluster,
    fleet: &[ClusterCon],
    keys: &[String],
) -> ClusterRound {
    let primaries = cluster.primaries();
    let mut nodes = node_connections(cluster);
    let counted = |fleet: &[ClusterCon]| {
        fleet.iter().fold((0, 0), |(l, s), con| {
            let stats = con.stats();
            (l + stats.loads, s + stats.surveys)
        })
    };
    let (loads_before, surveys_before) = counted(fleet);
    cluster.reset_stats();
    let before: u64 = primaries
        .iter()
        .map(|&i| net_input_bytes(&mut nodes[i]))
        .sum();
    let failed = rt.block_on(async {
        let (go_tx, go_rx) = tokio::sync::watch::channel(false);
        let mut handles = Vec::with_capacity(fleet.len());
        for (i, con) in fleet.iter().enumerate() {
            let mut con = con.clone();
            let mut go = go_rx.clone();
            let key = keys[i % keys.len()].clone();
            handles.push(tokio::spawn(async move {
                let _ = go.wait_for(|go| *go).await;
                tokio::time::timeout(
                    Duration::from_secs(30),
                    Bench::Incr4k.key(key).invoke_async::<i64>(&mut con),
                )
                .await
            }));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let _ = go_tx.send(true);
        let mut failed = 0;
        for h in handles {
            match h.await.expect("task") {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    if failed == 0 {
                        eprintln!("a call failed: {e}");
                    }
                    failed += 1;
                }
                Err(_) => {
                    eprintln!("a call timed out");
                    failed += 1;
                }
            }
        }
        failed
    });
    let after: u64 = primaries
        .iter()
        .map(|&i| net_input_bytes(&mut nodes[i]))
        .sum();
    let (mut evalsha, mut evals) = (0, 0);
    for &i in &primaries {
        let c = cluster.commandstats(i);
        evalsha += c.calls("evalsha");
        evals += c.calls("eval");
    }
    let (loads, surveys) = counted(fleet);
    ClusterRound {
        bytes: after - before - primaries.len() as u64 * INFO_STATS_REQUEST.len() as u64,
        failed,
        evalsha,
        loads: loads - loads_before,
        surveys: surveys - surveys_before,
        evals,
    }
}

/// One key per shard.
fn key_per_shard(cluster: &TestCluster) -> Vec<String> {
    let mut keys = std::collections::BTreeMap::new();
    for i in 0..10_000 {
        let key = format!("{{fleet:{i}}}");
        keys.entry(cluster.key_owner(&key)).or_insert(key);
        if keys.len() == 3 {
            break;
        }
    }
    assert_eq!(keys.len(), 3, "a key for every shard");
    keys.into_values().collect()
}

/// A 3+3 cluster: fresh states against primaries that have the script;
/// then a `CLUSTER FAILOVER` to a replica whose scripts were flushed, met
/// by the (now warm) fleet; then fresh states after it; then fresh states
/// against a cluster that has no script at all.
fn cluster_fleet(flavor: Flavor) {
    let cluster = match flavor.binary() {
        Ok(_) => TestCluster::start(flavor, 1),
        Err(missing) => panic!("{missing}"),
    };
    let rt = script_cache_tests::runtime();
    let name = flavor.to_string();
    let keys = key_per_shard(&cluster);
    let load_everywhere = |cluster: &TestCluster| {
        for mut con in node_connections(cluster) {
            let sha1: String = redis::cmd("SCRIPT")
                .arg("LOAD")
                .arg(Bench::Incr4k.source())
                .query(&mut con)
                .expect("SCRIPT LOAD");
            assert_eq!(sha1, Bench::Incr4k.sha1());
        }
    };
    load_everywhere(&cluster);

    let fleet = open_cluster_fleet(&rt, &cluster);
    let preloaded = cluster_round(&rt, &cluster, &fleet, &keys);

    // The replica of the first key's primary forgets its scripts, then
    // takes over: the warm fleet meets NOSCRIPT there.
    let victim = cluster.key_owner(&keys[0]);
    let replica = cluster.replica_of(victim).expect("a replica");
    cluster.flush_scripts_on(replica);
    let new = cluster.failover(victim);
    assert_eq!(new, replica);
    let through_failover = cluster_round(&rt, &cluster, &fleet, &keys);
    drop(fleet);

    let fleet = open_cluster_fleet(&rt, &cluster);
    let after_failover = cluster_round(&rt, &cluster, &fleet, &keys);
    drop(fleet);

    for i in 0..cluster.nodes().len() {
        cluster.flush_scripts_on(i);
    }
    let fleet = open_cluster_fleet(&rt, &cluster);
    let absent = cluster_round(&rt, &cluster, &fleet, &keys);
    drop(fleet);

    println!("COLD FLEET on a 3+3 {name} cluster: {FLEET} processes, incr_4k, keys on every shard");
    println!(
        "| flavor | case | bytes (primaries) | bytes/process | failed calls | EVALSHA | SCRIPT EXISTS | SCRIPT LOAD | NOSCRIPT | EVAL |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    println!("{}", preloaded.row(&name, "preloaded, fresh states"));
    println!(
        "{}",
        through_failover.row(&name, "warm states through CLUSTER FAILOVER")
    );
    println!(
        "{}",
        after_failover.row(&name, "fresh states after the failover")
    );
    println!("{}", absent.row(&name, "absent, fresh states"));

    let source = Bench::Incr4k.source().len() as u64;
    for r in [&preloaded, &through_failover, &after_failover, &absent] {
        assert_eq!(r.failed, 0, "a call failed");
        // At most one source per NOSCRIPT (a load or an EVAL), beyond
        // each state's call and its survey.
        let bound =
            FLEET as u64 * 200 + r.surveys * survey_bytes() + (r.loads + r.evals) * (source + 200);
        assert!(r.bytes <= bound, "{} bytes (bound {bound})", r.bytes);
    }
    // One survey per fresh state (every key of a state is on one shard);
    // none by the warm states through the failover.
    for r in [&preloaded, &after_failover, &absent] {
        assert_eq!(r.surveys, FLEET as u64);
    }
    assert_eq!(through_failover.surveys, 0);
    assert!(
        preloaded.per_process() <= 600,
        "{} B per process",
        preloaded.per_process()
    );
    assert!(
        after_failover.per_process() <= 600,
        "{} B per process",
        after_failover.per_process()
    );
    assert_eq!(preloaded.loads + preloaded.evals, 0);
}

script_cache_tests::per_flavor!(cluster_fleet_bytes_per_process, cluster_fleet);

matrix! {
    /// A herd on one state: 1,000 tasks of one multiplexed connection make
    /// the first call of the 4 KB script, which the server lacks, at once.
    /// One task calls `EVALSHA` first (with the state's survey); the
    /// others wait for it: exactly one `NOSCRIPT` and one `SCRIPT LOAD`,
    /// no failed call.
    async fn herd_on_one_state_meets_noscript_once(server) {
        let con = ScriptCache::new(
            server.client().get_multiplexed_async_connection().await.expect("connection"),
        );
        server.reset_stats();
        let mut tasks = Vec::new();
        for _ in 0..1_000 {
            let mut con = con.clone();
            tasks.push(tokio::spawn(async move {
                tokio::time::timeout(
                    Duration::from_secs(30),
                    Bench::Incr4k.key("herd").invoke_async::<i64>(&mut con),
                )
                .await
            }));
        }
        for t in tasks {
            let result = t.await.expect("task");
            assert!(matches!(result, Ok(Ok(_))), "{result:?}");
        }
        let stats = server.commandstats();
        // One SCRIPT LOAD after one survey (Redis 6.2 counts both as
        // `script`).
        let script_commands = if server.flavor() == Flavor::Redis62 { 2 } else { 1 };
        assert_eq!(stats.calls("script|load"), script_commands, "{stats:?}");
        assert_eq!(stats.calls("evalsha"), 1_001, "one NOSCRIPT: {stats:?}");
        assert_eq!(con.stats().loads, 1);
        assert_eq!(con.stats().surveys, 1);
    }
}
