//! Steady state: warm connections, scripts loaded, many calls. Three modes
//! (sync single connection, async multiplexed with 64 tasks, pipelines of
//! 32) x two scripts x four clients, in interleaved rounds.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use script_cache::ScriptCache;
use script_cache_tests::TestServer;

use crate::clients::{Client, KEY, Subject, call_async, call_pipeline, call_sync};
use crate::json::Json;
use crate::stats::{max, median, min, process_cpu_ns, server_cpu_ns, thousands};
use crate::{Options, Section};

/// Tasks sharing the multiplexed connection.
pub(crate) const TASKS: usize = 64;
/// Calls per pipeline (per round trip).
pub(crate) const DEPTH: usize = 32;

/// How the calls are issued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Sync,
    Async,
    Pipeline,
}

impl Mode {
    pub(crate) const ALL: [Mode; 3] = [Mode::Sync, Mode::Async, Mode::Pipeline];

    pub(crate) fn label(self) -> String {
        match self {
            Mode::Sync => "sync, 1 connection".to_owned(),
            Mode::Async => format!("async multiplexed, {TASKS} tasks"),
            Mode::Pipeline => format!("pipelined, {DEPTH} per round trip"),
        }
    }

    pub(crate) fn id(self) -> &'static str {
        match self {
            Mode::Sync => "sync",
            Mode::Async => "async64",
            Mode::Pipeline => "pipeline32",
        }
    }

    /// Calls per measured run.
    fn ops(self, quick: bool) -> usize {
        match (self, quick) {
            (Mode::Sync, false) => 20_000,
            (Mode::Sync, true) => 1_000,
            (Mode::Async, false) => TASKS * 1_200,
            (Mode::Async, true) => TASKS * 50,
            (Mode::Pipeline, false) => DEPTH * 3_000,
            (Mode::Pipeline, true) => DEPTH * 100,
        }
    }
}

fn rounds(quick: bool) -> usize {
    if quick { 3 } else { 11 }
}

/// One measured run of one client.
#[derive(Clone, Copy, Debug)]
struct Sample {
    ops_per_sec: f64,
    /// Client CPU (all threads of this process) per call.
    cpu_ns_per_op: Option<f64>,
    /// Server CPU (all its threads) per call.
    server_ns_per_op: Option<f64>,
}

/// Everything measured for one (mode, script).
struct Cell {
    mode: Mode,
    script: &'static str,
    ops: usize,
    /// Per client, one sample per round (rounds in order).
    samples: Vec<(Client, Vec<Sample>)>,
}

impl Cell {
    fn of(&self, client: Client) -> &[Sample] {
        self.samples
            .iter()
            .find(|(c, _)| *c == client)
            .map(|(_, s)| s.as_slice())
            .unwrap_or_default()
    }

    fn ops_per_sec(&self, client: Client) -> Vec<f64> {
        self.of(client).iter().map(|s| s.ops_per_sec).collect()
    }

    /// The client's throughput over the baseline's in the same round.
    fn ratios(&self, client: Client) -> Vec<f64> {
        self.ops_per_sec(client)
            .iter()
            .zip(self.ops_per_sec(Client::HandEvalsha))
            .map(|(c, b)| c / b)
            .collect()
    }

    fn cpu_us(&self, client: Client) -> Option<f64> {
        let v: Option<Vec<f64>> = self.of(client).iter().map(|s| s.cpu_ns_per_op).collect();
        v.map(|v| median(&v) / 1000.0)
    }

    fn server_us(&self, client: Client) -> Option<f64> {
        let v: Option<Vec<f64>> = self.of(client).iter().map(|s| s.server_ns_per_op).collect();
        v.map(|v| median(&v) / 1000.0)
    }
}

/// Runs `run` for one client, measuring wall and CPU time, and checks that
/// the counter moved by exactly `ops` (every call ran the script once).
fn measure(
    admin: &mut redis::Connection,
    server_pid: Option<u32>,
    ops: usize,
    client: Client,
    run: impl FnOnce() -> Duration,
) -> Sample {
    let before: i64 = get_counter(admin);
    let srv0 = server_cpu_ns(server_pid);
    let cpu0 = process_cpu_ns();
    let elapsed = run();
    let cpu1 = process_cpu_ns();
    let srv1 = server_cpu_ns(server_pid);
    let after: i64 = get_counter(admin);
    assert_eq!(
        after - before,
        ops as i64,
        "{}: the counter must move once per call",
        client.label()
    );
    Sample {
        ops_per_sec: ops as f64 / elapsed.as_secs_f64(),
        cpu_ns_per_op: cpu0
            .zip(cpu1)
            .map(|(a, b)| b.saturating_sub(a) as f64 / ops as f64),
        server_ns_per_op: srv0
            .zip(srv1)
            .map(|(a, b)| b.saturating_sub(a) as f64 / ops as f64),
    }
}

fn get_counter(admin: &mut redis::Connection) -> i64 {
    redis::cmd("GET")
        .arg(KEY)
        .query::<Option<i64>>(admin)
        .expect("GET counter")
        .unwrap_or(0)
}

/// The runs of one (mode, script): warm-up, then `rounds` rounds, each
/// running every client once, the order rotated every round so that drift
/// and position effects fall on all clients alike.
fn run_cell(
    server: &TestServer,
    rt: &tokio::runtime::Runtime,
    mode: Mode,
    subject: &Subject,
    options: &Options,
) -> Cell {
    let ops = mode.ops(options.quick);
    let server_pid = server.pid();
    let mut admin = server.connection();
    // The baselines need the script loaded; script-cache and redis-rs
    // Script load it themselves on their connection.
    let _: String = redis::cmd("SCRIPT")
        .arg("LOAD")
        .arg(subject.source())
        .query(&mut admin)
        .expect("SCRIPT LOAD");

    let mut sync_con = ScriptCache::new(server.connection());
    let async_con: Option<ScriptCache<MultiplexedConnection>> = (mode == Mode::Async).then(|| {
        rt.block_on(async {
            ScriptCache::new(
                server
                    .client()
                    .get_multiplexed_async_connection()
                    .await
                    .expect("multiplexed connection"),
            )
        })
    });

    let mut one_run = |client: Client, n: usize, admin: &mut redis::Connection| -> Sample {
        // Whole pipelines, whole tasks.
        let n = match mode {
            Mode::Sync => n,
            Mode::Async => n / TASKS * TASKS,
            Mode::Pipeline => n / DEPTH * DEPTH,
        };
        match mode {
            Mode::Sync => measure(admin, server_pid, n, client, || {
                let start = Instant::now();
                for _ in 0..n {
                    std::hint::black_box(call_sync(client, subject, &mut sync_con));
                }
                start.elapsed()
            }),
            Mode::Pipeline => measure(admin, server_pid, n, client, || {
                let start = Instant::now();
                for _ in 0..n / DEPTH {
                    std::hint::black_box(call_pipeline(client, subject, &mut sync_con, DEPTH));
                }
                start.elapsed()
            }),
            Mode::Async => {
                let con = async_con.as_ref().expect("async connection");
                measure(admin, server_pid, n, client, || {
                    rt.block_on(run_tasks(client, subject, con, n / TASKS))
                })
            }
        }
    };

    // Warm-up: connections, allocator, server-side script cache, CPU caches.
    for client in Client::ALL {
        let _ = one_run(client, ops / 4, &mut admin);
    }
    let mut samples: Vec<(Client, Vec<Sample>)> =
        Client::ALL.iter().map(|c| (*c, Vec::new())).collect();
    for round in 0..rounds(options.quick) {
        for k in 0..Client::ALL.len() {
            let i = (round + k) % Client::ALL.len();
            let sample = one_run(Client::ALL[i], ops, &mut admin);
            samples[i].1.push(sample);
        }
    }
    Cell {
        mode,
        script: subject.name(),
        ops,
        samples,
    }
}

/// `TASKS` tasks, each making `per_task` calls on its clone of the
/// multiplexed connection; returns the wall time until all are done.
pub(crate) async fn run_tasks(
    client: Client,
    subject: &Subject,
    con: &ScriptCache<MultiplexedConnection>,
    per_task: usize,
) -> Duration {
    let start = Instant::now();
    let mut handles = Vec::with_capacity(TASKS);
    for _ in 0..TASKS {
        let mut con = con.clone();
        let subject = subject.clone();
        handles.push(tokio::spawn(async move {
            for _ in 0..per_task {
                std::hint::black_box(call_async(client, &subject, &mut con).await);
            }
        }));
    }
    for h in handles {
        h.await.expect("task");
    }
    start.elapsed()
}

pub(crate) fn run(server: &TestServer, options: &Options) -> Section {
    let rt = script_cache_tests::runtime();
    let subjects = Subject::all();
    let mut cells = Vec::new();
    for mode in Mode::ALL {
        for subject in &subjects {
            eprintln!("steady: {} / {} ...", mode.label(), subject.name());
            cells.push(run_cell(server, &rt, mode, subject, options));
        }
    }
    Section {
        markdown: markdown(&cells, options),
        json: json(&cells),
    }
}

fn markdown(cells: &[Cell], options: &Options) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "## Steady state\n\n\
         Median of {} interleaved rounds (order rotated each round); spread is min–max \
         over the rounds. Ratio: ops/s over the hand-written EVALSHA's ops/s **in the \
         same round**, median [min, max] over rounds. CPU: on-CPU time per call of the \
         client process and of the server process (all threads, from \
         `/proc/<pid>/task/*/schedstat`), median over rounds.\n",
        rounds(options.quick)
    );
    let _ = writeln!(
        md,
        "| mode | script | client | ops/s | spread | ratio to EVALSHA | client CPU µs/call | server CPU µs/call |\n\
         |---|---|---|---:|---:|---:|---:|---:|"
    );
    for cell in cells {
        for client in Client::ALL {
            let ops = cell.ops_per_sec(client);
            let ratios = cell.ratios(client);
            let ratio = if client == Client::HandEvalsha {
                "1 (baseline)".to_owned()
            } else {
                format!(
                    "{:.3} [{:.3}, {:.3}]",
                    median(&ratios),
                    min(&ratios),
                    max(&ratios)
                )
            };
            let cpu = cell
                .cpu_us(client)
                .map_or_else(|| "n/a".to_owned(), |c| format!("{c:.2}"));
            let server_cpu = cell
                .server_us(client)
                .map_or_else(|| "n/a".to_owned(), |c| format!("{c:.2}"));
            let bold = if client == Client::ScriptCache {
                "**"
            } else {
                ""
            };
            let _ = writeln!(
                md,
                "| {} | {} | {bold}{}{bold} | {} | {}–{} | {bold}{ratio}{bold} | {cpu} | {server_cpu} |",
                cell.mode.label(),
                cell.script,
                client.label(),
                thousands(median(&ops)),
                thousands(min(&ops)),
                thousands(max(&ops)),
            );
        }
    }
    let _ = writeln!(md, "\n### script-cache against the 2% target\n");
    let _ = writeln!(
        md,
        "| mode | script | ratio (median) | within 2%? |\n|---|---|---:|---|"
    );
    for cell in cells {
        let r = median(&cell.ratios(Client::ScriptCache));
        let _ = writeln!(
            md,
            "| {} | {} | {:.3} | {} |",
            cell.mode.label(),
            cell.script,
            r,
            if r >= 0.98 { "yes" } else { "**no**" }
        );
    }
    md
}

fn json(cells: &[Cell]) -> Json {
    Json::Arr(
        cells
            .iter()
            .map(|cell| {
                let clients = Client::ALL
                    .iter()
                    .map(|&client| {
                        let ops = cell.ops_per_sec(client);
                        let ratios = cell.ratios(client);
                        Json::obj([
                            ("client", Json::str(client.id())),
                            ("label", Json::str(client.label())),
                            ("ops_per_sec_median", Json::num(median(&ops))),
                            ("ops_per_sec_min", Json::num(min(&ops))),
                            ("ops_per_sec_max", Json::num(max(&ops))),
                            ("ratio_median", Json::num(median(&ratios))),
                            ("ratio_min", Json::num(min(&ratios))),
                            ("ratio_max", Json::num(max(&ratios))),
                            (
                                "cpu_us_per_call",
                                cell.cpu_us(client).map_or(Json::Null, Json::num),
                            ),
                            (
                                "server_cpu_us_per_call",
                                cell.server_us(client).map_or(Json::Null, Json::num),
                            ),
                            (
                                "ratio_rounds",
                                Json::Arr(ratios.iter().copied().map(Json::num).collect()),
                            ),
                            (
                                "ops_per_sec_rounds",
                                Json::Arr(ops.into_iter().map(Json::num).collect()),
                            ),
                        ])
                    })
                    .collect();
                Json::obj([
                    ("mode", Json::str(cell.mode.id())),
                    ("mode_label", Json::str(cell.mode.label())),
                    ("script", Json::str(cell.script)),
                    ("calls_per_run", Json::count(cell.ops as u64)),
                    ("clients", Json::Arr(clients)),
                ])
            })
            .collect(),
    )
}
