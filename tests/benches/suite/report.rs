//! The run's report: the machine and server it ran on, each section's
//! tables, written as markdown and JSON.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use script_cache_tests::{TestServer, workspace_root};

use crate::json::Json;
use crate::stats::loadavg;
use crate::{Options, Section};

pub(crate) struct Report {
    meta: Vec<(String, String)>,
    sections: Vec<(String, Section)>,
}

/// First line of a command's output, or `unknown`.
fn output_of(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .current_dir(workspace_root())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

fn memory() -> String {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            let kb: u64 = s
                .lines()
                .find(|l| l.starts_with("MemTotal:"))?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            Some(format!("{:.0} GiB", kb as f64 / 1024.0 / 1024.0))
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The version of `name` in the workspace's Cargo.lock.
fn locked_version(name: &str) -> String {
    let lock = std::fs::read_to_string(workspace_root().join("Cargo.lock")).unwrap_or_default();
    let needle = format!("name = \"{name}\"\nversion = \"");
    lock.find(&needle)
        .and_then(|i| {
            let rest = &lock[i + needle.len()..];
            rest.split('"').next().map(str::to_owned)
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

impl Report {
    pub(crate) fn new(options: &Options) -> Report {
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        let git = output_of("git", &["rev-parse", "--short", "HEAD"]);
        let dirty = output_of("git", &["status", "--porcelain", "--untracked-files=no"]);
        let meta = vec![
            (
                "date".into(),
                output_of("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
            ),
            (
                "machine".into(),
                format!("{} ({cores} cores available), {}", cpu_model(), memory()),
            ),
            ("kernel".into(), output_of("uname", &["-sr"])),
            ("rustc".into(), output_of("rustc", &["--version"])),
            ("redis-rs".into(), locked_version("redis")),
            ("tokio".into(), locked_version("tokio")),
            (
                "commit".into(),
                if dirty == "unknown" {
                    git
                } else {
                    format!("{git} (with uncommitted changes)")
                },
            ),
            ("load average at start".into(), loadavg()),
            (
                "command".into(),
                format!(
                    "cargo bench -p script-cache-tests --bench suite{}",
                    if options.quick { " -- --quick" } else { "" }
                ),
            ),
            (
                "quick".into(),
                if options.quick {
                    "yes: short runs, not for quoting".into()
                } else {
                    "no".into()
                },
            ),
        ];
        Report {
            meta,
            sections: Vec::new(),
        }
    }

    pub(crate) fn set_server(&mut self, server: &TestServer, pin: crate::Pin) {
        self.meta
            .insert(1, ("placement".into(), pin.label().into()));
        self.meta.insert(
            1,
            (
                "server".into(),
                format!(
                    "{} (`--save '' --appendonly no`, loopback), redis-benchmark: {}",
                    server.version(),
                    output_of(
                        &std::env::var("REDIS_BENCHMARK")
                            .unwrap_or_else(|_| "redis-benchmark".into()),
                        &["--version"]
                    )
                ),
            ),
        );
    }

    pub(crate) fn header_markdown(&self) -> String {
        let mut md = String::from("# script-cache benchmarks\n\n| | |\n|---|---|\n");
        for (k, v) in &self.meta {
            let _ = writeln!(md, "| {k} | {v} |");
        }
        md
    }

    pub(crate) fn section(&mut self, name: &str, section: Section) {
        println!("{}", section.markdown);
        self.sections.push((name.to_owned(), section));
    }

    pub(crate) fn finish(&mut self, elapsed: Duration) {
        self.meta.push(("load average at end".into(), loadavg()));
        self.meta.push((
            "suite run time".into(),
            format!("{:.0} s", elapsed.as_secs_f64()),
        ));
        println!(
            "load average at end: {}; suite run time {:.0} s",
            loadavg(),
            elapsed.as_secs_f64()
        );
    }

    /// Writes `results.md` and `results.json` into `dir`.
    pub(crate) fn write(&self, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir)?;
        let mut md = self.header_markdown();
        for (_, section) in &self.sections {
            md.push('\n');
            md.push_str(&section.markdown);
        }
        let md_path = dir.join("results.md");
        std::fs::write(&md_path, md)?;

        let meta = Json::Obj(
            self.meta
                .iter()
                .map(|(k, v)| (k.clone(), Json::str(v.clone())))
                .collect(),
        );
        let mut pairs = vec![("meta".to_owned(), meta)];
        for (name, section) in &self.sections {
            pairs.push((name.clone(), section.json.clone()));
        }
        let json_path = dir.join("results.json");
        std::fs::write(&json_path, Json::Obj(pairs).render())?;
        Ok(vec![md_path, json_path])
    }
}
