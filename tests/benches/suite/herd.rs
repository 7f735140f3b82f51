//! Herd: 1,000 tasks make their first call of a script the server has
//! never seen, all at once, on one multiplexed connection.

use std::fmt::Write as _;
use std::time::Instant;

use redis::aio::MultiplexedConnection;
use script_cache::ScriptCache;
use script_cache_tests::TestServer;

use crate::clients::{KEY, Subject};
use crate::json::Json;
use crate::stats::{max, median, micros, min, percentile};
use crate::wire::script_commands;
use crate::{Options, Section};

const TASKS: usize = 1_000;

#[derive(Clone, Copy, PartialEq, Eq)]
enum HerdClient {
    ScriptCache,
    RedisScript,
    Eval,
}

impl HerdClient {
    const ALL: [HerdClient; 3] = [
        HerdClient::ScriptCache,
        HerdClient::RedisScript,
        HerdClient::Eval,
    ];

    fn label(self) -> &'static str {
        match self {
            HerdClient::ScriptCache => "script-cache",
            HerdClient::RedisScript => "redis-rs Script",
            HerdClient::Eval => "EVAL",
        }
    }
}

/// One herd.
struct Outcome {
    latencies_us: Vec<f64>,
    wall_us: f64,
    errors: usize,
    loads: u64,
    server: String,
}

fn herd(
    server: &TestServer,
    rt: &tokio::runtime::Runtime,
    admin: &mut redis::Connection,
    client: HerdClient,
    s: &Subject,
) -> Outcome {
    redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query::<()>(admin)
        .expect("SCRIPT FLUSH");
    server.reset_stats();
    let (latencies_us, wall_us, errors) = rt.block_on(async {
        let con = ScriptCache::new(
            server
                .client()
                .get_multiplexed_async_connection()
                .await
                .expect("multiplexed connection"),
        );
        let (go_tx, go_rx) = tokio::sync::watch::channel(false);
        let mut handles = Vec::with_capacity(TASKS);
        for _ in 0..TASKS {
            let mut con: ScriptCache<MultiplexedConnection> = con.clone();
            let mut go = go_rx.clone();
            let s = s.clone();
            handles.push(tokio::spawn(async move {
                let _ = go.wait_for(|go| *go).await;
                let start = Instant::now();
                let result: Result<i64, String> = match client {
                    HerdClient::ScriptCache => s
                        .call(KEY)
                        .invoke_async(&mut con)
                        .await
                        .map_err(|e| e.to_string()),
                    HerdClient::RedisScript => {
                        s.rs.key(KEY)
                            .invoke_async(con.get_mut())
                            .await
                            .map_err(|e| e.to_string())
                    }
                    HerdClient::Eval => redis::cmd("EVAL")
                        .arg(s.source())
                        .arg(1)
                        .arg(KEY)
                        .query_async(con.get_mut())
                        .await
                        .map_err(|e| e.to_string()),
                };
                (micros(start.elapsed()), result)
            }));
        }
        // Let every task reach the starting line.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let start = Instant::now();
        let _ = go_tx.send(true);
        let mut latencies = Vec::with_capacity(TASKS);
        let mut errors = 0;
        for h in handles {
            let (us, result) = h.await.expect("task");
            latencies.push(us);
            if let Err(e) = result {
                if errors == 0 {
                    eprintln!("herd: {} {}: {e}", client.label(), s.name());
                }
                errors += 1;
            }
        }
        (latencies, micros(start.elapsed()), errors)
    });
    let stats = server.commandstats();
    Outcome {
        latencies_us,
        wall_us,
        errors,
        loads: stats.calls("script|load"),
        server: script_commands(&stats),
    }
}

pub(crate) fn run(server: &TestServer, options: &Options) -> Section {
    let rt = script_cache_tests::runtime();
    let trials = if options.quick { 2 } else { 7 };
    let mut admin = server.connection();
    let mut md = String::new();
    let _ = writeln!(
        md,
        "## Herd: {TASKS} cold tasks on one multiplexed connection\n\n\
         `SCRIPT FLUSH`, a new multiplexed connection, then {TASKS} tasks make their first \
         call at the same moment. Latency of each task's call (µs); median over {trials} \
         herds of each statistic; herds of the clients interleaved. Server commands from \
         `INFO commandstats` of the last herd.\n"
    );
    let _ = writeln!(
        md,
        "| script | client | SCRIPT LOADs: median [min–max] | server ran (last herd) | p50 µs | p99 µs | max µs | all done µs | errors |\n\
         |---|---|---:|---|---:|---:|---:|---:|---:|"
    );
    let mut rows = Vec::new();
    for s in Subject::all() {
        eprintln!("herd: {} ...", s.name());
        let mut outcomes: Vec<Vec<Outcome>> = HerdClient::ALL.iter().map(|_| Vec::new()).collect();
        for _ in 0..trials {
            for (i, &client) in HerdClient::ALL.iter().enumerate() {
                outcomes[i].push(herd(server, &rt, &mut admin, client, &s));
            }
        }
        for (i, &client) in HerdClient::ALL.iter().enumerate() {
            let o = &outcomes[i];
            let stat = |f: &dyn Fn(&Outcome) -> f64| median(&o.iter().map(f).collect::<Vec<_>>());
            let loads = stat(&|x| x.loads as f64);
            let all_loads: Vec<f64> = o.iter().map(|x| x.loads as f64).collect();
            let (loads_min, loads_max) = (min(&all_loads), max(&all_loads));
            let p50 = stat(&|x| percentile(&x.latencies_us, 50.0));
            let p99 = stat(&|x| percentile(&x.latencies_us, 99.0));
            let mx = stat(&|x| max(&x.latencies_us));
            let wall = stat(&|x| x.wall_us);
            let errors: usize = o.iter().map(|x| x.errors).sum();
            let server_ran = o.last().map(|x| x.server.clone()).unwrap_or_default();
            let bold = if client == HerdClient::ScriptCache {
                "**"
            } else {
                ""
            };
            let _ = writeln!(
                md,
                "| {} | {bold}{}{bold} | {bold}{loads:.0}{bold} [{loads_min:.0}–{loads_max:.0}] | {server_ran} | {p50:.0} | {bold}{p99:.0}{bold} | {mx:.0} | {wall:.0} | {errors} |",
                s.name(),
                client.label(),
            );
            rows.push(Json::obj([
                ("script", Json::str(s.name())),
                ("client", Json::str(client.label())),
                ("tasks", Json::count(TASKS as u64)),
                ("script_loads_median", Json::num(loads)),
                (
                    "script_loads_per_herd",
                    Json::Arr(all_loads.iter().copied().map(Json::num).collect()),
                ),
                ("server_ran_last", Json::str(server_ran)),
                ("p50_us", Json::num(p50)),
                ("p99_us", Json::num(p99)),
                ("max_us", Json::num(mx)),
                ("all_done_us", Json::num(wall)),
                ("errors_total", Json::count(errors as u64)),
                (
                    "p99_us_per_herd",
                    Json::Arr(
                        o.iter()
                            .map(|x| Json::num(percentile(&x.latencies_us, 99.0)))
                            .collect(),
                    ),
                ),
            ]));
        }
    }
    Section {
        markdown: md,
        json: Json::Arr(rows),
    }
}
