//! Side-by-side benchmarks of script-cache against the ways people call
//! Lua scripts with redis-rs today, on servers the suite starts itself.
//!
//! ```text
//! cargo bench -p script-cache-tests --bench suite                 # everything (a few minutes)
//! cargo bench -p script-cache-tests --bench suite -- --quick      # short runs, for development
//! cargo bench -p script-cache-tests --bench suite -- steady cold  # some sections only
//! ```
//!
//! Sections: `steady`, `cold`, `herd`, `pipeline`, `txn`, `server`, `build`.
//! Every number is measured in this run against baselines of the same run
//! on the same server; the tables go to stdout and to
//! `<target>/script-cache-bench/results.md`, the raw numbers to
//! `results.json` next to it (`--out DIR` picks another folder), which
//! `docs/plot_bench.py` turns into the plot in `docs/`.
//!
//! See BENCHMARKS.md for what each section measures and the last results.

mod build_cost;
mod clients;
mod cluster;
mod cold;
mod herd;
mod json;
mod pool;
mod profile;
mod report;
mod server_limit;
mod stats;
mod steady;
mod txn;
mod unloaded;
mod wire;

use std::path::PathBuf;
use std::time::Instant;

use script_cache_tests::{Flavor, TestServer, workspace_root};

use crate::json::Json;
use crate::report::Report;

/// What to run, from the command line.
pub(crate) struct Options {
    /// Short runs: a smoke test of every section, numbers not for quoting.
    pub(crate) quick: bool,
    sections: Vec<String>,
    out: PathBuf,
    /// `--pin same|split|none`: CPU placement of this process and the server.
    pub(crate) pin: Pin,
    /// `profile --mode M --client C [--script S] [--calls N]`: one client
    /// alone, for a profiler.
    profile: Option<Vec<(String, String)>>,
}

const SECTIONS: [&str; 9] = [
    "steady", "cold", "herd", "pipeline", "txn", "pool", "server", "build", "cluster",
];

impl Options {
    fn parse() -> Options {
        let mut quick = false;
        let mut sections = Vec::new();
        let mut out = None;
        let mut profile = None;
        let mut pin = Pin::Same;
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                // `cargo bench` passes `--bench` to harness-less benches.
                "--bench" => {}
                "--quick" => quick = true,
                "--out" => out = args.next().map(PathBuf::from),
                "profile" => profile = Some(Vec::new()),
                "cluster-serve" => {
                    profile::serve_cluster();
                    std::process::exit(0);
                }
                "--pin" => {
                    pin = match args.next().as_deref() {
                        Some("same") => Pin::Same,
                        Some("split") => Pin::Split,
                        Some("none") => Pin::None,
                        other => {
                            eprintln!("--pin takes same, split or none, not {other:?}");
                            std::process::exit(2);
                        }
                    }
                }
                flag @ ("--mode" | "--client" | "--script" | "--calls" | "--cluster"
                | "--workers" | "--telemetry") => {
                    let value = args.next().unwrap_or_default();
                    profile
                        .get_or_insert_with(Vec::new)
                        .push((flag.to_owned(), value));
                }
                "-h" | "--help" => {
                    println!(
                        "usage: cargo bench -p script-cache-tests --bench suite -- \
                         [--quick] [--out DIR] [{}]\n       \
                         ... -- profile --mode sync|async64|pipeline32 \
                         --client script_cache|evalsha|redis_script|eval|floor \
                         [--script incr|incr_4k] [--calls N]\n       \
                         ... -- profile --mode cluster --client script_cache|evalsha|floor \
                         [--calls N] [--cluster URL,URL,...] [--workers N]\n       \
                         ... -- cluster-serve   (a cluster for --cluster, until stdin closes)",
                        SECTIONS.join("|")
                    );
                    std::process::exit(0);
                }
                s if SECTIONS.contains(&s) => sections.push(s.to_owned()),
                other => {
                    eprintln!("unknown argument {other:?} (try --help)");
                    std::process::exit(2);
                }
            }
        }
        if sections.is_empty() {
            sections = SECTIONS.iter().map(|s| (*s).to_owned()).collect();
        }
        let out = out.unwrap_or_else(|| target_dir().join("script-cache-bench"));
        Options {
            quick,
            sections,
            out,
            pin,
            profile,
        }
    }

    fn wants(&self, section: &str) -> bool {
        self.sections.iter().any(|s| s == section)
    }
}

/// Where the client (this process, all its threads) and the server run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pin {
    /// Both on CPU 0: no cross-CPU wake-ups, so loopback round trips are
    /// short and stable; client and server share one CPU's time.
    Same,
    /// Client on CPU 0, server on CPU 1.
    Split,
    /// Wherever the scheduler puts them.
    None,
}

impl Pin {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Pin::Same => "client and server pinned to CPU 0 (`taskset`)",
            Pin::Split => "client pinned to CPU 0, server to CPU 1 (`taskset`)",
            Pin::None => "not pinned",
        }
    }

    /// Pins this process (every thread) and the server. Returns what was
    /// done, or why not.
    fn apply(self, server: &TestServer) -> Result<(), String> {
        let (client_cpu, server_cpu) = match self {
            Pin::Same => ("0", "0"),
            Pin::Split => ("0", "1"),
            Pin::None => return Ok(()),
        };
        let pid = server
            .pid()
            .ok_or_else(|| "the server is not running".to_owned())?;
        for (cpu, pid) in [(client_cpu, std::process::id()), (server_cpu, pid)] {
            let status = std::process::Command::new("taskset")
                .args(["-a", "-p", "-c", cpu, &pid.to_string()])
                .stdout(std::process::Stdio::null())
                .status()
                .map_err(|e| format!("cannot run taskset: {e}"))?;
            if !status.success() {
                return Err(format!("taskset -a -p -c {cpu} {pid} failed: {status}"));
            }
        }
        Ok(())
    }
}

/// `CARGO_TARGET_DIR`, or the workspace's `target/`.
pub(crate) fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// A server for the benchmarks: Redis 7 (Debian's `redis-server`), no
/// persistence (the harness passes `--save '' --appendonly no`).
pub(crate) fn bench_server() -> TestServer {
    TestServer::start(Flavor::Redis7)
}

fn main() {
    let mut options = Options::parse();
    if let Some(pairs) = &options.profile {
        match profile::ProfileArgs::parse(pairs) {
            Ok(args) => profile::run(&args),
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(2);
            }
        }
        return;
    }
    let started = Instant::now();
    let mut report = Report::new(&options);
    let server = bench_server();
    if let Err(e) = options.pin.apply(&server) {
        eprintln!("cannot pin ({e}); running unpinned");
        options.pin = Pin::None;
    }
    report.set_server(&server, options.pin);
    println!("{}", report.header_markdown());

    if options.wants("steady") {
        let steady = steady::run(&server, &options);
        report.section("steady", steady);
    }
    if options.wants("server") {
        let limit = server_limit::run(&server, &options);
        report.section("server", limit);
    }
    if options.wants("cold") {
        report.section("cold", cold::run(&server, &options));
    }
    if options.wants("herd") {
        report.section("herd", herd::run(&server, &options));
    }
    if options.wants("pipeline") {
        report.section("pipeline", unloaded::run(&server, &options));
    }
    if options.wants("txn") {
        report.section("txn", txn::run(&server, &options));
    }
    if options.wants("pool") {
        report.section("pool", pool::run(&server, &options));
    }
    drop(server);
    if options.wants("cluster") {
        report.section("cluster", cluster::run(&options));
    }
    if options.wants("build") {
        report.section("build", build_cost::run(&options));
    }
    report.finish(started.elapsed());
    match report.write(&options.out) {
        Ok(paths) => {
            for p in paths {
                println!("wrote {}", p.display());
            }
        }
        Err(e) => {
            eprintln!("cannot write results to {}: {e}", options.out.display());
            std::process::exit(1);
        }
    }
}

/// What one section hands to the report: its markdown and its raw numbers.
pub(crate) struct Section {
    pub(crate) markdown: String,
    pub(crate) json: Json,
}
