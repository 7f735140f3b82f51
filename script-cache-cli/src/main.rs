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
//! script-cache flush --url redis://host:6379/ [--cluster] [--yes]
//! script-cache prune lua/ --url redis://host:6379/ [--cluster] [--keep old.json] [--yes]
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
//! * `--format json` on every command: one JSON document on stdout
//!   (`docs/cli.md` describes each).
//! * `--timeout` (default 5 s) bounds connecting to each server and each
//!   reply: a server that accepts and never answers fails after it.
//! * Exit codes: 0 when all is well; 1 for findings (a script has an
//!   error, a node misses a script or refused one, each named); 2 for a
//!   usage error (a bad argument or URL, `flush` without confirmation, a
//!   `prune --keep` file that is no manifest with libraries);
//!   3 when a server could not be reached (refused, timed out, dropped).
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod nodes;
mod remote;
mod report;
mod scripts;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use script_cache_check::servers::Servers;

/// The exit codes, at the end of every `--help`.
const EXIT_CODES: &str = "\
Exit codes:
  0  all is well
  1  findings: a script has an error, a node misses a script or refused one
  2  usage: a bad argument or URL, `flush` without confirmation, a `prune
     --keep` file that is no manifest with libraries
  3  a server could not be reached (refused, timed out, connection lost)";

/// Check, list, preload and verify a folder of Redis/Valkey Lua scripts.
#[derive(Debug, Parser)]
#[command(name = "script-cache", version, about, after_help = EXIT_CODES)]
struct Cli {
    /// Human-readable text, one JSON document on stdout, or for `check`
    /// a SARIF 2.1.0 log or GitHub annotations (see docs/cli.md).
    #[arg(long, value_enum, default_value_t = Format::Text, global = true)]
    format: Format,
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
    /// How long connecting to each server, and each reply, may take:
    /// `5` or `5s` (seconds), `500ms`.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_timeout)]
    pub(crate) timeout: Duration,
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
    /// The connection settings of `--url` (and the TLS files); a usage
    /// error when they do not parse.
    pub(crate) fn connection_info(&self) -> Result<redis::ConnectionInfo, Failure> {
        #[cfg(feature = "tls")]
        if self.tls_ca.is_some() || self.tls_cert.is_some() {
            let read = |p: &std::path::Path| {
                std::fs::read(p)
                    .map_err(|e| Failure::usage(format!("cannot read {}: {e}", p.display())))
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
                .map_err(|e| {
                    Failure::usage(format!(
                        "invalid URL or TLS files: {e}{}",
                        url_hint(&self.url)
                    ))
                });
        }
        redis::IntoConnectionInfo::into_connection_info(self.url.as_str()).map_err(|e| {
            Failure::usage(format!(
                "invalid URL `{}`: {e}{}",
                redact(&self.url),
                url_hint(&self.url)
            ))
        })
    }
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// For a URL without a scheme (`localhost:6379`): the URL it meant.
fn url_hint(url: &str) -> String {
    if url.contains("://") || url.trim().is_empty() {
        return String::new();
    }
    let bare = url.trim().trim_end_matches('/');
    format!(
        "; a URL starts with its scheme: `redis://{bare}/` (`rediss://{bare}/` for TLS, \
         `redis+unix:///path/to.sock` for a socket)"
    )
}

/// `--timeout`: `5`, `2.5`, `5s`, `500ms`.
fn parse_timeout(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, scale) = if let Some(ms) = text.strip_suffix("ms") {
        (ms, 0.001)
    } else {
        (text.strip_suffix('s').unwrap_or(text), 1.0)
    };
    let seconds = number
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(|s| s * scale)
        .ok_or_else(|| {
            format!("`{text}` is not a duration; write seconds (`5`, `2.5s`) or `500ms`")
        })?;
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("`{text}`: {e}"))
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Checks every script of DIR as the macros do; exit code 1 on any error.
    #[command(after_help = EXIT_CODES)]
    Check {
        /// The script folder.
        dir: String,
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
    #[command(after_help = EXIT_CODES)]
    List {
        /// The script folder.
        dir: String,
    },
    /// The scripts of DIR as JSON: name -> SHA-1, arity, flags; and when
    /// DIR has function libraries, `libraries`: each library's name, name
    /// on the server, SHA-1, file and functions.
    #[command(after_help = EXIT_CODES)]
    Manifest {
        /// The script folder.
        dir: String,
        /// Write to this file instead of stdout.
        #[arg(long, short)]
        output: Option<std::path::PathBuf>,
    },
    /// SCRIPT LOAD every script of DIR on the server, or on every node;
    /// FUNCTION LOAD every function library on the server, or on every
    /// primary (replicas get libraries by replication).
    #[command(after_help = EXIT_CODES)]
    Preload {
        /// The script folder.
        dir: String,
        #[command(flatten)]
        target: Target,
        /// Replace a library of the same name the server holds
        /// (`FUNCTION LOAD REPLACE`); without it, another copy is named
        /// as a problem and left alone.
        #[arg(long)]
        replace: bool,
    },
    /// SCRIPT EXISTS on every node, and FUNCTION LIST for the function
    /// libraries; exit code 1 if any script or library is missing, or a
    /// library has other code (drift).
    #[command(after_help = EXIT_CODES)]
    Verify {
        /// The script folder.
        dir: String,
        #[command(flatten)]
        target: Target,
    },
    /// FUNCTION DELETE the old versions of DIR's versioned libraries
    /// (`<library>_v<version>`) on the server, or on every primary: those
    /// neither DIR nor a `--keep` manifest names. Any other library is
    /// left alone. Without `--yes` it only prints what it would delete
    /// (exit code 0).
    #[command(after_help = EXIT_CODES)]
    Prune {
        /// The script folder.
        dir: String,
        #[command(flatten)]
        target: Target,
        /// A manifest (`script-cache manifest`) of a version still
        /// deployed: its libraries are kept. Repeat for more.
        #[arg(long, value_name = "MANIFEST")]
        keep: Vec<std::path::PathBuf>,
        /// Delete; without it, only print what would be deleted.
        #[arg(long, short)]
        yes: bool,
    },
    /// SCRIPT FLUSH on the server, or on every node (function libraries
    /// are left alone). Asks first on a terminal; elsewhere (CI, a pipe)
    /// it needs `--yes`.
    #[command(after_help = EXIT_CODES)]
    Flush {
        #[command(flatten)]
        target: Target,
        /// Flush without asking.
        #[arg(long, short)]
        yes: bool,
    },
}

/// How a command reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// Human-readable text.
    Text,
    /// One JSON document on stdout.
    Json,
    /// `check` only: a SARIF 2.1.0 log on stdout, for code-scanning uploads.
    Sarif,
    /// `check` only: GitHub workflow commands (annotations) on stdout.
    Github,
}

/// How a command ended: its exit code. The worse of two is the larger,
/// except that a usage error stops a command before anything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Outcome {
    /// 0: all is well.
    Ok,
    /// 1: a script has an error, a node misses or refused a script.
    Findings,
    /// 2: a bad argument or URL, `flush` without confirmation.
    Usage,
    /// 3: a server could not be reached.
    Unreachable,
}

impl Outcome {
    pub(crate) fn code(self) -> u8 {
        match self {
            Outcome::Ok => 0,
            Outcome::Findings => 1,
            Outcome::Usage => 2,
            Outcome::Unreachable => 3,
        }
    }
}

/// A command that stopped early: why, and its exit code.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) outcome: Outcome,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Failure {
            outcome: Outcome::Usage,
            message: message.into(),
        }
    }
}

/// Runs one command.
fn run(command: Command, format: Format) -> Result<Outcome, Failure> {
    match command {
        Command::Check {
            dir,
            deny_warnings,
            servers,
        } => Ok(check(&dir, format, deny_warnings, servers)),
        Command::List { dir } => list(&dir, format),
        Command::Manifest { dir, output } => manifest(&dir, output.as_deref(), format),
        Command::Preload {
            dir,
            target,
            replace,
        } => with_checked(&dir, format, |c| {
            remote::preload(&c.scripts, &c.libraries, replace, &target, format)
        }),
        Command::Verify { dir, target } => with_checked(&dir, format, |c| {
            remote::verify(&c.scripts, &c.libraries, &target, format)
        }),
        Command::Flush { target, yes } => remote::flush(&target, yes, format),
        Command::Prune {
            dir,
            target,
            keep,
            yes,
        } => {
            let kept = keep
                .iter()
                .map(|path| kept_libraries(path))
                .collect::<Result<Vec<Vec<String>>, Failure>>()?;
            with_checked(&dir, format, |c| {
                remote::prune(c, &kept.concat(), &target, yes, format)
            })
        }
    }
}

fn main() -> ExitCode {
    // rustls needs one crypto provider for the process: ring, as redis-rs.
    #[cfg(feature = "tls")]
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let format = cli.format;
    let result = match &cli.command {
        Command::Check { .. } => Ok(Outcome::Ok),
        _ if matches!(format, Format::Sarif | Format::Github) => Err(Failure::usage(
            "`--format sarif` and `--format github` are for `check`; use `text` or `json`",
        )),
        _ => Ok(Outcome::Ok),
    };
    let result = result.and_then(|_| run(cli.command, format));
    let outcome = match result {
        Ok(outcome) => outcome,
        Err(Failure { outcome, message }) => {
            eprintln!("error: {message}");
            if format == Format::Json {
                let doc = serde_json::json!({
                    "ok": false,
                    "exit_code": outcome.code(),
                    "error": message,
                });
                out(&(pretty(&doc) + "\n"));
            }
            outcome
        }
    };
    ExitCode::from(outcome.code())
}

/// `1 script`, `2 scripts`.
pub(crate) fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// Prints the problems of a folder to stderr.
fn print_errors(errors: &[script_cache_check::Diagnostic]) {
    for e in errors {
        eprintln!("error: {e}\n");
    }
    eprintln!("{} in the script folder", plural(errors.len(), "error"));
}

/// Checks the folder; runs `f` on its scripts and libraries when it has no
/// error, else reports the errors.
fn with_checked(
    dir: &str,
    format: Format,
    f: impl FnOnce(&scripts::Checked) -> Result<Outcome, Failure>,
) -> Result<Outcome, Failure> {
    let checked = scripts::check_folder(dir, None);
    if !checked.errors.is_empty() {
        print_errors(&checked.errors);
        if format == Format::Json {
            let errors: Vec<serde_json::Value> =
                checked.errors.iter().map(report::diagnostic_json).collect();
            let doc = serde_json::json!({
                "ok": false,
                "exit_code": Outcome::Findings.code(),
                "dir": dir,
                "errors": errors,
            });
            out(&(pretty(&doc) + "\n"));
        }
        return Ok(Outcome::Findings);
    }
    f(&checked)
}

/// `--servers redis-8.2,valkey-9.1`.
fn parse_servers(list: &str) -> Result<Servers, String> {
    Servers::parse(list.split(',').map(str::trim).filter(|s| !s.is_empty()))
}

fn check(dir: &str, format: Format, deny_warnings: bool, servers: Option<Servers>) -> Outcome {
    let checked = scripts::check_folder(dir, servers);
    let ok = checked.errors.is_empty() && (!deny_warnings || checked.warnings.is_empty());
    let n = checked.warnings.len();
    let warned = if n == 0 {
        String::new()
    } else {
        format!(", {}", plural(n, "warning"))
    };
    let libraries = match checked.libraries.len() {
        0 => String::new(),
        1 => ", 1 function library".to_owned(),
        n => format!(", {n} function libraries"),
    };
    match format {
        Format::Text => {
            for w in &checked.warnings {
                eprintln!("warning: {w}\n");
            }
            if checked.errors.is_empty() {
                out(&format!(
                    "{dir}: {}{libraries}, no errors{warned}\n",
                    plural(checked.scripts.len(), "script")
                ));
            } else {
                print_errors(&checked.errors);
            }
        }
        Format::Json => {
            let errors: Vec<serde_json::Value> =
                checked.errors.iter().map(report::diagnostic_json).collect();
            let warnings: Vec<serde_json::Value> = checked
                .warnings
                .iter()
                .map(report::diagnostic_json)
                .collect();
            let scripts: Vec<&str> = checked.scripts.iter().map(|s| s.name.as_str()).collect();
            let libraries: Vec<&str> = checked.libraries.iter().map(|l| l.name.as_str()).collect();
            let doc = serde_json::json!({
                "dir": dir,
                "ok": ok,
                "exit_code": if ok { Outcome::Ok } else { Outcome::Findings }.code(),
                "scripts": scripts,
                "libraries": libraries,
                "errors": errors,
                "warnings": warnings,
            });
            out(&(pretty(&doc) + "\n"));
        }
        Format::Sarif => {
            let doc = report::sarif(&checked.errors, &checked.warnings);
            out(&(pretty(&doc) + "\n"));
        }
        Format::Github => {
            let mut text = String::new();
            for d in checked.errors.iter().chain(&checked.warnings) {
                text.push_str(&report::github(d));
                text.push('\n');
            }
            out(&text);
            eprintln!(
                "{dir}: {}{libraries}, {}{warned}",
                plural(checked.scripts.len(), "script"),
                plural(checked.errors.len(), "error")
            );
        }
    }
    if ok { Outcome::Ok } else { Outcome::Findings }
}

pub(crate) fn pretty(doc: &serde_json::Value) -> String {
    // Serializing a `Value` cannot fail (its keys are strings).
    serde_json::to_string_pretty(doc).unwrap_or_default()
}

/// One script as JSON, for `list` and `manifest`.
fn script_json(s: &scripts::Script) -> serde_json::Value {
    let arity = |a: script_cache_check::usage::Arity| serde_json::json!({ "min": a.min(), "variadic": a.is_variadic() });
    serde_json::json!({
        "file": s.file,
        "sha1": s.sha1,
        "legacy_sha1": s.legacy.as_ref().map(|(_, sha)| sha),
        "keys": arity(s.keys),
        "args": arity(s.args),
        "flags": s.flags,
        "read_only": s.read_only(),
    })
}

/// The names on the server of the libraries a manifest lists (its
/// `libraries` array), for `prune --keep`; a file that is no manifest
/// with libraries is a usage error, so that nothing it should keep is
/// deleted.
fn kept_libraries(path: &std::path::Path) -> Result<Vec<String>, Failure> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::usage(format!("--keep {shown}: cannot read it: {e}")))?;
    let doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        Failure::usage(format!(
            "--keep {shown}: not a manifest of `script-cache manifest` (not JSON: {e})"
        ))
    })?;
    let libraries = doc
        .get("libraries")
        .and_then(|l| l.as_array())
        .ok_or_else(|| {
            Failure::usage(format!(
                "--keep {shown}: the manifest lists no libraries (no `libraries` array); write \
                 it with `script-cache manifest` from the folder of the version to keep"
            ))
        })?;
    libraries
        .iter()
        .map(|l| {
            l.get("server_name")
                .and_then(|n| n.as_str())
                .map(str::to_owned)
                .ok_or_else(|| {
                    Failure::usage(format!(
                        "--keep {shown}: a library without `server_name`; write the manifest \
                         with this version of `script-cache manifest`"
                    ))
                })
        })
        .collect()
}

/// One library as JSON, for `list` and `manifest`.
fn library_json(l: &scripts::Library) -> serde_json::Value {
    let arity = |a: script_cache_check::usage::Arity| serde_json::json!({ "min": a.min(), "variadic": a.is_variadic() });
    let functions: Vec<serde_json::Value> = l
        .functions
        .iter()
        .map(|f| {
            serde_json::json!({
                "name": f.name,
                "server_name": f.server_name,
                "keys": arity(f.keys),
                "args": arity(f.args),
                "flags": f.flags,
                "read_only": f.flags.iter().any(|x| x == "no-writes"),
            })
        })
        .collect();
    serde_json::json!({
        "name": l.name,
        "server_name": l.server_name,
        "file": l.file,
        "sha1": l.sha1,
        "functions": functions,
    })
}

/// The table of the libraries' functions, for `list`; with the names on
/// the server when they differ (versioned mode).
fn library_rows(libraries: &[scripts::Library]) -> Vec<Vec<String>> {
    let versioned = libraries.iter().any(|l| l.server_name != l.name);
    let mut header = vec!["LIBRARY", "FUNCTION"];
    if versioned {
        header.extend(["LIBRARY ON SERVER", "FUNCTION ON SERVER"]);
    }
    header.extend(["SHA-1", "KEYS", "ARGS", "FLAGS", "READ-ONLY"]);
    let mut rows = vec![row(&header)];
    for l in libraries {
        for f in &l.functions {
            let mut cells = vec![l.name.clone(), f.name.clone()];
            if versioned {
                cells.extend([l.server_name.clone(), f.server_name.clone()]);
            }
            rows.push(
                [
                    cells,
                    vec![
                        l.sha1.clone(),
                        scripts::arity(f.keys),
                        scripts::arity(f.args),
                        if f.flags.is_empty() {
                            "-".to_owned()
                        } else {
                            f.flags.join(",")
                        },
                        if f.flags.iter().any(|x| x == "no-writes") {
                            "yes"
                        } else {
                            "no"
                        }
                        .to_owned(),
                    ],
                ]
                .concat(),
            );
        }
    }
    rows
}

fn list(dir: &str, format: Format) -> Result<Outcome, Failure> {
    with_checked(dir, format, |checked| {
        let (scripts, libraries) = (&checked.scripts, &checked.libraries);
        if format == Format::Json {
            let list: Vec<serde_json::Value> = scripts
                .iter()
                .map(|s| {
                    let mut doc = script_json(s);
                    if let Some(map) = doc.as_object_mut() {
                        map.insert("name".to_owned(), s.name.clone().into());
                    }
                    doc
                })
                .collect();
            let libraries: Vec<serde_json::Value> = libraries.iter().map(library_json).collect();
            let doc = serde_json::json!({
                "ok": true,
                "exit_code": Outcome::Ok.code(),
                "dir": dir,
                "scripts": list,
                "libraries": libraries,
            });
            out(&(pretty(&doc) + "\n"));
            return Ok(Outcome::Ok);
        }
        let mut rows = vec![row(&[
            "NAME",
            "SHA-1",
            "KEYS",
            "ARGS",
            "FLAGS",
            "READ-ONLY",
        ])];
        for s in scripts.iter() {
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
        if !libraries.is_empty() {
            crate::out(&format!("\n{}", table(&library_rows(libraries))));
        }
        Ok(Outcome::Ok)
    })
}

/// The manifest is JSON in both formats; `--format json` makes a folder's
/// errors a JSON document too.
fn manifest(
    dir: &str,
    output: Option<&std::path::Path>,
    format: Format,
) -> Result<Outcome, Failure> {
    with_checked(dir, format, |checked| {
        let mut map = serde_json::Map::new();
        for s in &checked.scripts {
            map.insert(s.name.clone(), script_json(s));
        }
        // The libraries next to the scripts, under a key no script can
        // take then (a folder without libraries keeps the scripts-only
        // document).
        if !checked.libraries.is_empty() {
            if map.contains_key("libraries") {
                return Err(Failure {
                    outcome: Outcome::Findings,
                    message: "the folder has a script `libraries.lua` and function \
                              libraries: the manifest lists the libraries under the key \
                              `libraries`; rename the script"
                        .to_owned(),
                });
            }
            let libraries: Vec<serde_json::Value> =
                checked.libraries.iter().map(library_json).collect();
            map.insert("libraries".to_owned(), libraries.into());
        }
        let text = pretty(&serde_json::Value::Object(map));
        match output {
            Some(path) => std::fs::write(path, text + "\n").map_err(|e| Failure {
                outcome: Outcome::Findings,
                message: format!("cannot write {}: {e}", path.display()),
            })?,
            None => out(&(text + "\n")),
        }
        Ok(Outcome::Ok)
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
    fn tables() {
        let t = table(&[row(&["A", "BB"]), row(&["ccc", "d"])]);
        assert_eq!(t, "A    BB\nccc  d\n");
    }

    #[test]
    fn timeouts_hints_and_plurals() {
        assert_eq!(parse_timeout("5"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_timeout("2.5s"), Ok(Duration::from_millis(2500)));
        assert_eq!(parse_timeout("500ms"), Ok(Duration::from_millis(500)));
        assert!(parse_timeout("0").is_err());
        assert!(parse_timeout("soon").is_err());
        assert!(url_hint("localhost:6379").contains("`redis://localhost:6379/`"));
        assert_eq!(url_hint("redis://localhost:6379/"), "");
        assert_eq!(
            redact("redis://app:secret@h:1/"),
            "redis://app:***@h:1/".to_owned()
        );
        assert_eq!(redact("redis://h:1/"), "redis://h:1/".to_owned());
        assert_eq!(plural(1, "script"), "1 script");
        assert_eq!(plural(0, "script"), "0 scripts");
        assert_eq!(plural(2, "problem"), "2 problems");
    }

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
