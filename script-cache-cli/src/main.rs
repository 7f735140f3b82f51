//! `script-cache`: check, list, preload and verify a folder of Redis/Valkey
//! Lua scripts, for CI and deploys, with the checker and folder rules of
//! the `script-cache` macros (`script_cache_check`).
//!
//! ```text
//! script-cache check lua/                 # the macros' diagnostics; exit 1 on any error
//! script-cache check lua/ --format json
//! script-cache list lua/                  # name, SHA-1, keys, args, flags, read-only
//! script-cache manifest lua/ -o scripts.json
//! script-cache preload lua/ --url redis://user:pass@host:6379/ [--cluster]
//! script-cache verify lua/ --url redis://host:6379/ [--cluster]
//! script-cache flush --url redis://host:6379/ [--cluster]
//! ```
//!
//! * The folder is read as the macros read it: its top-level `*.lua` files
//!   are the scripts, subfolders hold snippets for `-- @include`. The
//!   SHA-1s are over the expanded source, what the embedded enum sends.
//! * `--url` takes what redis-rs takes: `redis://[user][:password@]host:port/`,
//!   `rediss://` for TLS (default feature `tls`: the system's roots, or
//!   `--tls-ca ca.pem`; `--tls-cert`/`--tls-key` for client certificates),
//!   `redis+unix:///path`. `SCRIPT_CACHE_URL` in the environment stands in
//!   for `--url`, keeping a password off the command line.
//! * `--cluster` reaches every primary and replica that the node of `--url`
//!   lists in `CLUSTER NODES`, with the URL's credentials and TLS settings
//!   (nodes flagged `fail`, `handshake` or `noaddr` are skipped, with a
//!   note on stderr).
//! * On a server before Redis 7, a script with a `#!lua` shebang is loaded
//!   and checked as its legacy body (`#!` turned into `--!`), as the
//!   runtime does.
//! * Exit codes: 0 when all is well; 1 when a script has an error, a node
//!   misses a script, a node could not be reached or refused a script (each
//!   named); 2 for a usage error.
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod nodes;
mod remote;
mod scripts;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use script_cache_check::servers::Servers;

/// Check, list, preload and verify a folder of Redis/Valkey Lua scripts.
#[derive(Debug, Parser)]
#[command(name = "script-cache", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the servers are.
#[derive(Debug, clap::Args)]
pub(crate) struct Target {
    /// The server, as redis-rs reads it: `redis://[user][:password@]host:port/`
    /// (`rediss://` for TLS). From the environment, a password stays out of
    /// the process list and the shell history.
    #[arg(long, env = "SCRIPT_CACHE_URL", hide_env_values = true)]
    url: String,
    /// Every primary and replica of the cluster of `--url` (`CLUSTER NODES`).
    #[arg(long)]
    pub(crate) cluster: bool,
    /// With `rediss://`: trust this CA certificate (PEM) instead of the
    /// system's roots.
    #[cfg(feature = "tls")]
    #[arg(long, value_name = "PEM")]
    tls_ca: Option<std::path::PathBuf>,
    /// With `rediss://`: a client certificate (PEM), with `--tls-key`.
    #[cfg(feature = "tls")]
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,
    /// With `rediss://`: the client certificate's key (PEM).
    #[cfg(feature = "tls")]
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
}

impl Target {
    /// The connection settings of `--url` (and the TLS files).
    pub(crate) fn connection_info(&self) -> Result<redis::ConnectionInfo, String> {
        #[cfg(feature = "tls")]
        if self.tls_ca.is_some() || self.tls_cert.is_some() {
            let read = |p: &std::path::Path| {
                std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()))
            };
            let root_cert = self.tls_ca.as_deref().map(read).transpose()?;
            let client_tls = match (&self.tls_cert, &self.tls_key) {
                (Some(cert), Some(key)) => Some(redis::ClientTlsConfig {
                    client_cert: read(cert)?,
                    client_key: read(key)?,
                }),
                _ => None,
            };
            let certs = redis::TlsCertificates {
                client_tls,
                root_cert,
            };
            return redis::Client::build_with_tls(self.url.as_str(), certs)
                .map(|c| c.get_connection_info().clone())
                .map_err(|e| format!("invalid URL or TLS files: {e}"));
        }
        redis::IntoConnectionInfo::into_connection_info(self.url.as_str())
            .map_err(|e| format!("invalid URL: {e}"))
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Checks every script of DIR as the macros do; exit code 1 on any error.
    Check {
        /// The script folder.
        dir: String,
        /// Human-readable diagnostics, or one JSON document on stdout.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Fail on lint warnings too (hazards such as keys not passed in
        /// KEYS), not only on errors.
        #[arg(long)]
        deny_warnings: bool,
        /// The servers the scripts run on, e.g. `redis-8.2,valkey-9.1`,
        /// instead of what the folder's script-cache.toml declares (every
        /// known server without one).
        #[arg(long, value_parser = parse_servers)]
        servers: Option<Servers>,
    },
    /// A table of the scripts of DIR: name, SHA-1, keys, args, flags, read-only.
    List {
        /// The script folder.
        dir: String,
    },
    /// The scripts of DIR as JSON: name -> SHA-1, arity, flags.
    Manifest {
        /// The script folder.
        dir: String,
        /// Write to this file instead of stdout.
        #[arg(long, short)]
        output: Option<std::path::PathBuf>,
    },
    /// SCRIPT LOAD every script of DIR on the server, or on every node.
    Preload {
        /// The script folder.
        dir: String,
        #[command(flatten)]
        target: Target,
    },
    /// SCRIPT EXISTS on every node; exit code 1 if any script is missing.
    Verify {
        /// The script folder.
        dir: String,
        #[command(flatten)]
        target: Target,
    },
    /// SCRIPT FLUSH on the server, or on every node.
    Flush {
        #[command(flatten)]
        target: Target,
    },
}

/// How `check` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

fn main() -> ExitCode {
    // rustls needs one crypto provider for the process: ring, as redis-rs.
    #[cfg(feature = "tls")]
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check {
            dir,
            format,
            deny_warnings,
            servers,
        } => check(&dir, format, deny_warnings, servers),
        Command::List { dir } => list(&dir),
        Command::Manifest { dir, output } => manifest(&dir, output.as_deref()),
        Command::Preload { dir, target } => with_scripts(&dir, |s| remote::preload(s, &target)),
        Command::Verify { dir, target } => with_scripts(&dir, |s| remote::verify(s, &target)),
        Command::Flush { target } => remote::flush(&target),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Prints the problems of a folder to stderr.
fn print_errors(errors: &[String]) {
    for e in errors {
        eprintln!("error: {e}\n");
    }
    let n = errors.len();
    eprintln!(
        "{n} error{} in the script folder",
        if n == 1 { "" } else { "s" }
    );
}

/// Runs `f` on the scripts of `dir` when they are all fine.
fn with_scripts(
    dir: &str,
    f: impl FnOnce(&[scripts::Script]) -> Result<bool, String>,
) -> Result<bool, String> {
    let checked = scripts::check_folder(dir, None);
    if !checked.errors.is_empty() {
        print_errors(&checked.errors);
        return Ok(false);
    }
    f(&checked.scripts)
}

/// `--servers redis-8.2,valkey-9.1`.
fn parse_servers(list: &str) -> Result<Servers, String> {
    Servers::parse(list.split(',').map(str::trim).filter(|s| !s.is_empty()))
}

fn check(
    dir: &str,
    format: Format,
    deny_warnings: bool,
    servers: Option<Servers>,
) -> Result<bool, String> {
    let checked = scripts::check_folder(dir, servers);
    let ok = checked.errors.is_empty() && (!deny_warnings || checked.warnings.is_empty());
    let n = checked.warnings.len();
    let warned = if n == 0 {
        String::new()
    } else {
        format!(", {n} warning{}", if n == 1 { "" } else { "s" })
    };
    match format {
        Format::Text => {
            for w in &checked.warnings {
                eprintln!("warning: {w}\n");
            }
            if checked.errors.is_empty() {
                out(&format!(
                    "{dir}: {} scripts, no errors{warned}\n",
                    checked.scripts.len()
                ));
            } else {
                print_errors(&checked.errors);
            }
        }
        Format::Json => {
            let entry = |e: &String| {
                serde_json::json!({
                    "message": e.lines().next().unwrap_or_default(),
                    "location": location(e),
                    "rendered": e,
                })
            };
            let errors: Vec<serde_json::Value> = checked.errors.iter().map(entry).collect();
            let warnings: Vec<serde_json::Value> = checked.warnings.iter().map(entry).collect();
            let scripts: Vec<&str> = checked.scripts.iter().map(|s| s.name.as_str()).collect();
            let doc = serde_json::json!({
                "dir": dir,
                "ok": ok,
                "scripts": scripts,
                "errors": errors,
                "warnings": warnings,
            });
            out(&(pretty(&doc)? + "\n"));
        }
    }
    Ok(ok)
}

/// The `file:line:col` of a rendered diagnostic (its `--> ` line).
fn location(rendered: &str) -> Option<&str> {
    rendered
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("--> "))
        .map(str::trim)
}

fn pretty(doc: &serde_json::Value) -> Result<String, String> {
    serde_json::to_string_pretty(doc).map_err(|e| e.to_string())
}

fn list(dir: &str) -> Result<bool, String> {
    with_scripts(dir, |scripts| {
        let mut rows = vec![row(&[
            "NAME",
            "SHA-1",
            "KEYS",
            "ARGS",
            "FLAGS",
            "READ-ONLY",
        ])];
        for s in scripts {
            rows.push(vec![
                s.name.clone(),
                s.sha1.clone(),
                scripts::arity(s.keys),
                scripts::arity(s.args),
                if s.flags.is_empty() {
                    "-".to_owned()
                } else {
                    s.flags.join(",")
                },
                if s.read_only() { "yes" } else { "no" }.to_owned(),
            ]);
        }
        crate::out(&table(&rows));
        Ok(true)
    })
}

fn manifest(dir: &str, output: Option<&std::path::Path>) -> Result<bool, String> {
    with_scripts(dir, |scripts| {
        let mut map = serde_json::Map::new();
        for s in scripts {
            let arity = |a: script_cache_check::usage::Arity| serde_json::json!({ "min": a.min(), "variadic": a.is_variadic() });
            map.insert(
                s.name.clone(),
                serde_json::json!({
                    "file": s.file,
                    "sha1": s.sha1,
                    "legacy_sha1": s.legacy.as_ref().map(|(_, sha)| sha),
                    "keys": arity(s.keys),
                    "args": arity(s.args),
                    "flags": s.flags,
                    "read_only": s.read_only(),
                }),
            );
        }
        let text = pretty(&serde_json::Value::Object(map))?;
        match output {
            Some(path) => std::fs::write(path, text + "\n")
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?,
            None => out(&(text + "\n")),
        }
        Ok(true)
    })
}

/// Writes to stdout; a closed pipe (`| head`) is not an error.
pub(crate) fn out(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
}

/// A row of string slices.
pub(crate) fn row(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|c| (*c).to_owned()).collect()
}

/// Left-aligned columns separated by two spaces.
pub(crate) fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            let pad = widths.get(c).copied().unwrap_or(0);
            line.push_str(&format!("{cell:pad$}  "));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_and_locations() {
        let t = table(&[row(&["A", "BB"]), row(&["ccc", "d"])]);
        assert_eq!(t, "A    BB\nccc  d\n");
        assert_eq!(
            location("msg\n  --> lua/a.lua:3:7\n   |"),
            Some("lua/a.lua:3:7")
        );
        assert_eq!(location("msg"), None);
    }

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
