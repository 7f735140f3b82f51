//! A bounded run of one client in one mode, with nothing else: for
//! `valgrind --tool=callgrind` or `perf`, to count what a call costs.
//!
//! ```text
//! cargo bench -p script-cache-tests --bench suite --no-run   # then, with the printed binary:
//! valgrind --tool=callgrind <suite binary> profile --mode sync --client script_cache --calls 20000
//! ```
//!
//! `--client floor` is the floor baseline (see `Client::Floor`): the same
//! `EVALSHA` built and packed once, sent with `req_packed_command`, which
//! the wall-clock sections do not run.
//!
//! `--telemetry spans|metrics|both` (default `none`) installs, before the
//! run, a `tracing` subscriber exporting the spans to the OpenTelemetry
//! SDK's in-memory exporter through `tracing-opentelemetry` (`spans`),
//! and/or enables the `opentelemetry` metrics on the connection's state
//! with an SDK meter provider (`metrics`): what a steady call costs with
//! them on, beside what it costs with them compiled in and off.
//!
//! `--mode cluster` (clients `script_cache`, `evalsha`, a hand-written
//! `EVALSHA` routed to the key's slot, and `floor`, the same command and
//! route built once per task) runs the steady state
//! of the `cluster` section: 64 tasks on one
//! `cluster_async::ClusterConnection`, one key per task. The cluster is the
//! one given by `--cluster URL,URL,...` (start it with `cluster-serve`, a
//! separate process, so that only the client runs under valgrind), else one
//! started here.

use std::time::Instant;

use script_cache::prelude::EmbeddedScript;

use script_cache::ScriptCache;

use crate::clients::{Client, Subject, call_pipeline, call_sync};
use crate::steady::{DEPTH, Mode, TASKS, run_tasks};

/// What to profile, from `--mode`, `--client`, `--script` and `--calls`.
pub(crate) struct ProfileArgs {
    /// `None`: `--mode cluster`.
    pub(crate) mode: Option<Mode>,
    /// `--cluster URL,URL,...`: the nodes of a running cluster.
    pub(crate) cluster: Option<Vec<String>>,
    /// `--workers N` (cluster mode): tokio worker threads; 0, the default,
    /// is a current-thread runtime (the instruction counts then do not
    /// move with how two workers interleave).
    pub(crate) workers: usize,
    pub(crate) client: Client,
    pub(crate) script: String,
    pub(crate) calls: usize,
    /// `--telemetry`: spans, metrics, both or none.
    pub(crate) telemetry: (bool, bool),
}

impl ProfileArgs {
    pub(crate) fn parse(pairs: &[(String, String)]) -> Result<ProfileArgs, String> {
        let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let mode = match get("--mode").unwrap_or("sync") {
            m if m == Mode::Sync.id() => Some(Mode::Sync),
            m if m == Mode::Async.id() => Some(Mode::Async),
            m if m == Mode::Pipeline.id() => Some(Mode::Pipeline),
            "cluster" => None,
            other => return Err(format!("unknown --mode {other}")),
        };
        let client_id = get("--client").unwrap_or("script_cache");
        let client = Client::PROFILED
            .into_iter()
            .find(|c| c.id() == client_id)
            .ok_or_else(|| format!("unknown --client {client_id}"))?;
        let calls = get("--calls")
            .unwrap_or("20000")
            .parse()
            .map_err(|e| format!("--calls: {e}"))?;
        let cluster = get("--cluster").map(|urls| urls.split(',').map(str::to_owned).collect());
        let workers = get("--workers")
            .unwrap_or("0")
            .parse()
            .map_err(|e| format!("--workers: {e}"))?;
        let telemetry = match get("--telemetry").unwrap_or("none") {
            "none" => (false, false),
            "spans" => (true, false),
            "metrics" => (false, true),
            "both" => (true, true),
            other => return Err(format!("unknown --telemetry {other}")),
        };
        Ok(ProfileArgs {
            telemetry,
            mode,
            cluster,
            workers,
            client,
            script: get("--script").unwrap_or("incr").to_owned(),
            calls,
        })
    }
}

/// What `--telemetry` installed; kept for the run.
struct Telemetry {
    _tracer: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
    meter: Option<opentelemetry_sdk::metrics::SdkMeterProvider>,
}

impl Telemetry {
    fn install((spans, metrics): (bool, bool)) -> Telemetry {
        use opentelemetry::trace::TracerProvider as _;
        use tracing_subscriber::layer::SubscriberExt;
        let tracer = spans.then(|| {
            let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
                .with_simple_exporter(opentelemetry_sdk::trace::InMemorySpanExporter::default())
                .build();
            let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("profile"));
            tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
                .expect("the only subscriber");
            provider
        });
        let meter = metrics.then(|| {
            let exporter = opentelemetry_sdk::metrics::InMemoryMetricExporter::default();
            opentelemetry_sdk::metrics::SdkMeterProvider::builder()
                .with_reader(opentelemetry_sdk::metrics::PeriodicReader::builder(exporter).build())
                .build()
        });
        Telemetry {
            _tracer: tracer,
            meter,
        }
    }

    /// Enables the metrics on `state` if asked.
    fn enable(&self, state: &script_cache::ScriptState) {
        if let Some(provider) = &self.meter {
            use opentelemetry::metrics::MeterProvider as _;
            assert!(state.enable_metrics(&provider.meter("profile")));
        }
    }
}

/// The function twin of `bench-lua/incr.lua`, for `--script fcall`.
mod functions {
    script_cache::include_scripts!("bench-functions");
}

/// `--mode sync --script fcall`: the steady `FCALL` of a function library
/// (`bench-functions/bench.lua`), through script-cache (`script_cache`),
/// built and sent with `query` on every call (`evalsha`: here `FCALL` by
/// hand) and pre-packed once (`floor`).
fn run_fcall(args: &ProfileArgs, telemetry: &Telemetry) {
    use functions::Functions;
    use redis::ConnectionLike;
    let server = crate::bench_server();
    let mut admin = server.connection();
    let code = script_cache::EmbeddedFunction::library(Functions::Incr).code();
    let _: String = redis::cmd("FUNCTION")
        .arg("LOAD")
        .arg("REPLACE")
        .arg(code)
        .query(&mut admin)
        .expect("FUNCTION LOAD");
    let key = crate::clients::KEY;
    let mut hand = redis::cmd("FCALL");
    hand.arg("incr").arg(1).arg(key);
    let packed = hand.get_packed_command();
    let mut con = ScriptCache::new(server.connection());
    telemetry.enable(con.state());
    let start = Instant::now();
    for _ in 0..args.calls {
        let n: i64 = match args.client {
            Client::ScriptCache => Functions::incr(key).invoke(&mut con).expect("FCALL"),
            Client::HandEvalsha => {
                let mut cmd = redis::cmd("FCALL");
                cmd.arg("incr").arg(1).arg(key);
                cmd.query(con.get_mut()).expect("FCALL by hand")
            }
            Client::Floor => con
                .get_mut()
                .req_packed_command(&packed)
                .and_then(|v| Ok(redis::from_redis_value::<i64>(v)?))
                .expect("FCALL pre-packed"),
            other => panic!(
                "--script fcall takes --client script_cache, evalsha or floor, not {}",
                other.id()
            ),
        };
        std::hint::black_box(n);
    }
    println!(
        "profile: {} calls, sync / {} / fcall: {:?}",
        args.calls,
        args.client.id(),
        start.elapsed()
    );
}

pub(crate) fn run(args: &ProfileArgs) {
    let telemetry = Telemetry::install(args.telemetry);
    let Some(mode) = args.mode else {
        return run_cluster(args, &telemetry);
    };
    if args.script == "fcall" {
        assert!(
            mode == Mode::Sync,
            "--script fcall runs in --mode sync only"
        );
        return run_fcall(args, &telemetry);
    }
    let server = crate::bench_server();
    let subject = Subject::all()
        .into_iter()
        .find(|s| s.name() == args.script)
        .unwrap_or_else(|| panic!("unknown --script {}", args.script));
    let mut admin = server.connection();
    let _: String = redis::cmd("SCRIPT")
        .arg("LOAD")
        .arg(subject.source())
        .query(&mut admin)
        .expect("SCRIPT LOAD");
    let start = Instant::now();
    match mode {
        Mode::Sync => {
            let mut con = ScriptCache::new(server.connection());
            telemetry.enable(con.state());
            for _ in 0..args.calls {
                std::hint::black_box(call_sync(args.client, &subject, &mut con));
            }
        }
        Mode::Pipeline => {
            let mut con = ScriptCache::new(server.connection());
            telemetry.enable(con.state());
            for _ in 0..args.calls / DEPTH {
                std::hint::black_box(call_pipeline(args.client, &subject, &mut con, DEPTH));
            }
        }
        Mode::Async => {
            let rt = script_cache_tests::runtime();
            rt.block_on(async {
                let con = ScriptCache::new(
                    server
                        .client()
                        .get_multiplexed_async_connection()
                        .await
                        .expect("multiplexed connection"),
                );
                telemetry.enable(con.state());
                run_tasks(args.client, &subject, &con, args.calls / TASKS).await
            });
        }
    }
    println!(
        "profile: {} calls, {} / {} / {}: {:?}",
        args.calls,
        mode.id(),
        args.client.id(),
        subject.name(),
        start.elapsed()
    );
}

/// `--mode cluster`: the steady state of the `cluster` section, one client.
fn run_cluster(args: &ProfileArgs, telemetry: &Telemetry) {
    use crate::cluster::{Client as ClusterClient, TASKS, run_once, task_keys};
    let client = match args.client {
        Client::ScriptCache => ClusterClient::ScriptCache,
        Client::HandEvalsha => ClusterClient::RoutedEvalsha,
        Client::Floor => ClusterClient::Floor,
        other => panic!(
            "--mode cluster takes --client script_cache, evalsha or floor, not {}",
            other.id()
        ),
    };
    // A cluster started here when none is given (its start-up then counts).
    let own = args.cluster.is_none().then(|| {
        script_cache_tests::cluster::TestCluster::start(script_cache_tests::Flavor::Redis7, 0)
    });
    let urls = match (&args.cluster, &own) {
        (Some(urls), _) => urls.clone(),
        (None, Some(cluster)) => {
            load_everywhere(cluster);
            cluster.urls()
        }
        (None, None) => unreachable!(),
    };
    let cluster_client = redis::cluster::ClusterClient::builder(urls)
        .retries(5)
        .min_retry_wait(10)
        .max_retry_wait(200)
        .build()
        .expect("cluster client");
    let keys = task_keys();
    let rt = match args.workers {
        0 => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        n => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build(),
    }
    .expect("tokio runtime");
    let start = Instant::now();
    rt.block_on(async {
        let con = ScriptCache::new(
            cluster_client
                .get_async_connection()
                .await
                .expect("connect"),
        );
        telemetry.enable(con.state());
        // Warm up: the slot map, the load marks, a connection to every node.
        run_once(client, &con, &keys, 5).await;
        run_once(client, &con, &keys, args.calls / TASKS).await;
    });
    println!(
        "profile: {} calls, cluster / {}: {:?}",
        args.calls,
        args.client.id(),
        start.elapsed()
    );
}

/// `SCRIPT LOAD` of the cluster section's script on every node (so that the
/// hand-written `EVALSHA` finds it).
pub(crate) fn load_everywhere(cluster: &script_cache_tests::cluster::TestCluster) {
    for node in cluster.live() {
        let mut con = node.server.connection();
        let _: String = redis::cmd("SCRIPT")
            .arg("LOAD")
            .arg(crate::clients::Bench::Incr.source())
            .query(&mut con)
            .expect("SCRIPT LOAD");
    }
}

/// `cluster-serve`: starts a cluster (3 primaries, Redis 7.0) with the
/// script loaded on every node, prints `cluster: URL,URL,...`, and keeps it
/// until standard input is closed.
pub(crate) fn serve_cluster() {
    use std::io::{Read, Write};
    let cluster =
        script_cache_tests::cluster::TestCluster::start(script_cache_tests::Flavor::Redis7, 0);
    load_everywhere(&cluster);
    println!("cluster: {}", cluster.urls().join(","));
    let _ = std::io::stdout().flush();
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    drop(cluster);
}
