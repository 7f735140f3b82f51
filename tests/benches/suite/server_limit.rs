//! The server's own ceiling: `redis-benchmark` sending `EVALSHA` at the
//! concurrency and pipeline depth of each steady-state mode, against the
//! same server.

use std::fmt::Write as _;
use std::process::Command;

use script_cache_tests::TestServer;

use crate::clients::Subject;
use crate::json::Json;
use crate::stats::{max, median, min, thousands};
use crate::steady::{DEPTH, TASKS};
use crate::{Options, Section};

/// One redis-benchmark configuration.
struct Config {
    /// The steady-state mode it stands for.
    mode: &'static str,
    clients: usize,
    pipeline: usize,
    note: &'static str,
}

fn configs() -> Vec<Config> {
    vec![
        Config {
            mode: "sync",
            clients: 1,
            pipeline: 1,
            note: "one connection, one call in flight",
        },
        Config {
            mode: "async64",
            clients: TASKS,
            pipeline: 1,
            note: "64 connections, one call in flight each",
        },
        Config {
            mode: "async64",
            clients: 1,
            pipeline: TASKS,
            note: "one connection, batches of 64",
        },
        Config {
            mode: "pipeline32",
            clients: 1,
            pipeline: DEPTH,
            note: "one connection, pipelines of 32",
        },
    ]
}

/// Requests per run: about a second each.
fn requests(c: &Config, quick: bool) -> usize {
    let n = if c.clients * c.pipeline == 1 {
        20_000
    } else {
        150_000
    };
    if quick { n / 10 } else { n }
}

/// Where redis-benchmark is: `REDIS_BENCHMARK`, else `PATH`.
fn binary() -> String {
    std::env::var("REDIS_BENCHMARK").unwrap_or_else(|_| "redis-benchmark".to_owned())
}

/// The exact command line, for the report.
fn command_line(server: &TestServer, c: &Config, n: usize, sha1: &str) -> Vec<String> {
    [
        "-h",
        "127.0.0.1",
        "-p",
        &server.port().to_string(),
        "-n",
        &n.to_string(),
        "-c",
        &c.clients.to_string(),
        "-P",
        &c.pipeline.to_string(),
        "--csv",
        "EVALSHA",
        sha1,
        "1",
        "bench:redis-benchmark",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

/// Runs redis-benchmark once; returns requests per second.
fn run_once(args: &[String]) -> Result<f64, String> {
    let out = Command::new(binary())
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", binary()))?;
    if !out.status.success() {
        return Err(format!(
            "redis-benchmark failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    // "test","rps",...  then  "EVALSHA ...","12345.67",...
    let line = text
        .lines()
        .find(|l| l.starts_with("\"EVALSHA"))
        .ok_or_else(|| format!("no EVALSHA line in: {text}"))?;
    let rps = line
        .split("\",\"")
        .nth(1)
        .ok_or_else(|| format!("cannot read: {line}"))?;
    rps.trim_matches('"')
        .parse()
        .map_err(|e| format!("cannot read {rps:?}: {e}"))
}

pub(crate) fn run(server: &TestServer, options: &Options) -> Section {
    let subjects = Subject::all();
    let mut admin = server.connection();
    let runs = if options.quick { 1 } else { 5 };
    let mut rows = Vec::new();
    let mut md = String::new();
    let _ = writeln!(
        md,
        "## Server limit (redis-benchmark)\n\n\
         `{} -h 127.0.0.1 -p PORT -n N -c C -P P --csv EVALSHA <sha1> 1 bench:redis-benchmark` \
         against the same server, median of {runs} runs (interleaved over the configurations).\n",
        binary()
    );
    let _ = writeln!(
        md,
        "| stands for | script | -c | -P | N | requests/s | spread | what it is |\n\
         |---|---|---:|---:|---:|---:|---:|---|"
    );
    for subject in &subjects {
        let _: String = redis::cmd("SCRIPT")
            .arg("LOAD")
            .arg(subject.source())
            .query(&mut admin)
            .expect("SCRIPT LOAD");
        let configs = configs();
        let mut samples: Vec<Vec<f64>> = vec![Vec::new(); configs.len()];
        let mut skipped = None;
        'runs: for _ in 0..runs {
            for (i, c) in configs.iter().enumerate() {
                let n = requests(c, options.quick);
                eprintln!(
                    "server: redis-benchmark -c {} -P {} / {} ...",
                    c.clients,
                    c.pipeline,
                    subject.name()
                );
                match run_once(&command_line(server, c, n, subject.sha1())) {
                    Ok(rps) => samples[i].push(rps),
                    Err(e) => {
                        skipped = Some(e);
                        break 'runs;
                    }
                }
            }
        }
        if let Some(e) = skipped {
            let _ = writeln!(md, "\nSkipped: {e}\n");
            eprintln!("server: skipped: {e}");
            return Section {
                markdown: md,
                json: Json::Null,
            };
        }
        for (c, s) in configs.iter().zip(samples) {
            let n = requests(c, options.quick);
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {}–{} | {} |",
                c.mode,
                subject.name(),
                c.clients,
                c.pipeline,
                n,
                thousands(median(&s)),
                thousands(min(&s)),
                thousands(max(&s)),
                c.note
            );
            rows.push(Json::obj([
                ("mode", Json::str(c.mode)),
                ("script", Json::str(subject.name())),
                ("clients", Json::count(c.clients as u64)),
                ("pipeline", Json::count(c.pipeline as u64)),
                ("requests", Json::count(n as u64)),
                ("rps_median", Json::num(median(&s))),
                ("rps_min", Json::num(min(&s))),
                ("rps_max", Json::num(max(&s))),
                ("note", Json::str(c.note)),
            ]));
        }
    }
    Section {
        markdown: md,
        json: Json::Arr(rows),
    }
}
