//! The commands that talk to servers: `preload`, `verify`, `flush`,
//! `prune`. Each
//! node is handled on its own; a node that cannot be reached (exit code 3)
//! or that refuses a script (exit code 1) is named in the result, without
//! stopping the other nodes.

use std::io::{BufRead, IsTerminal, Write};

use indicatif::{ProgressBar, ProgressStyle};
use script_cache::{ScriptCache, ScriptState};
use serde_json::json;

use crate::nodes::{self, Node, NodeError};
use crate::scripts::{Checked, Library, Script};
use crate::{Failure, Format, Outcome, plural, row, table};

/// A progress bar on stderr (drawn only on a terminal, never with JSON).
fn progress(len: usize, what: &str, format: Format) -> ProgressBar {
    if format == Format::Json {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(u64::try_from(len).unwrap_or(u64::MAX));
    if let Ok(style) = ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} ({elapsed})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_owned());
    bar
}

/// The problems of a command, each named, and the exit code they make.
#[derive(Default)]
struct Problems {
    lines: Vec<String>,
    outcome: Option<Outcome>,
}

impl Problems {
    fn push(&mut self, outcome: Outcome, line: String) {
        self.lines.push(line);
        self.outcome = self.outcome.max(Some(outcome));
    }

    fn outcome(&self) -> Outcome {
        self.outcome.unwrap_or(Outcome::Ok)
    }

    /// Names every problem on stderr, with a count.
    fn report(&self, what: &str) {
        for f in &self.lines {
            eprintln!("error: {f}");
        }
        if !self.lines.is_empty() {
            eprintln!(
                "{what} failed on some nodes ({})",
                plural(self.lines.len(), "problem")
            );
        }
    }
}

/// The document of a server command: `ok`, `exit_code`, `nodes`,
/// `problems`.
fn document(nodes: Vec<serde_json::Value>, problems: &Problems) -> String {
    let outcome = problems.outcome();
    let doc = json!({
        "ok": outcome == Outcome::Ok,
        "exit_code": outcome.code(),
        "nodes": nodes,
        "problems": problems.lines,
    });
    crate::pretty(&doc) + "\n"
}

/// SCRIPT LOAD of every script on every node; a per-node table, then every
/// failure.
pub(crate) fn preload(
    scripts: &[Script],
    libraries: &[Library],
    replace: bool,
    target: &crate::Target,
    format: Format,
) -> Result<Outcome, Failure> {
    let nodes = nodes::discover(target.connection_info()?, target.cluster, target.timeout)?;
    let mut libs = Libraries::default();
    if !libraries.is_empty() {
        for node in nodes.iter().filter(|n| n.role != "replica") {
            libs.node(
                node,
                libraries
                    .iter()
                    .map(|l| (l, load_library(node, l, replace))),
            );
        }
    }
    let state = script_state(scripts)?;
    let bar = progress(nodes.len() * scripts.len(), "preload", format);
    let mut rows = vec![row(&["NODE", "ROLE", "LOADED", "FAILED", "RESULT"])];
    let mut docs = Vec::new();
    let mut problems = Problems::default();
    for node in &nodes {
        let mut refused = Vec::new();
        let (loaded, failed, result, error) = match preload_node(node, &state, &bar) {
            Ok(errors) if errors.is_empty() => (scripts.len(), 0, "ok", None),
            Ok(errors) => {
                let n = errors.len();
                let mut result = "failed";
                for (script, e) in errors {
                    if e.unreachable {
                        result = "unreachable";
                    }
                    problems.push(
                        e.outcome(),
                        format!("{}: {script}: {}", node.addr, e.message),
                    );
                    refused.push(json!({ "script": script, "error": e.message }));
                }
                (scripts.len() - n, n, result, None)
            }
            Err(e) => {
                problems.push(e.outcome(), format!("{}: {}", node.addr, e.message));
                bar.inc(u64::try_from(scripts.len()).unwrap_or(0));
                let result = e.result();
                (0, scripts.len(), result, Some(e.message))
            }
        };
        rows.push(vec![
            node.addr.clone(),
            node.role.to_owned(),
            loaded.to_string(),
            failed.to_string(),
            if result == "ok" {
                result.to_owned()
            } else {
                result.to_uppercase()
            },
        ]);
        docs.push(json!({
            "addr": node.addr,
            "role": node.role,
            "result": result,
            "loaded": loaded,
            "failed": failed,
            "refused": refused,
            "error": error,
        }));
    }
    bar.finish_and_clear();
    libs.finish(&mut problems);
    match format {
        Format::Text | Format::Sarif | Format::Github => {
            crate::out(&table(&rows));
            libs.print();
        }
        Format::Json => crate::out(&document_with(docs, &problems, libs.docs)),
    }
    problems.report("preload");
    Ok(problems.outcome())
}

/// What the library commands found, node by node: a table, the JSON rows
/// and the problems.
#[derive(Default)]
struct Libraries {
    rows: Vec<Vec<String>>,
    docs: Vec<serde_json::Value>,
    problems: Vec<(Outcome, String)>,
}

impl Libraries {
    /// Records the results of one node: per library, a result word, or a
    /// problem.
    fn node<'l>(
        &mut self,
        node: &Node,
        results: impl Iterator<Item = (&'l Library, Result<&'static str, NodeError>)>,
    ) {
        for (library, result) in results {
            let (word, error) = match result {
                Ok(word) => (word, None),
                Err(e) => {
                    let word = if e.unreachable {
                        "unreachable"
                    } else {
                        "failed"
                    };
                    self.problems.push((
                        e.outcome(),
                        format!(
                            "{}: library `{}`: {}",
                            node.addr, library.server_name, e.message
                        ),
                    ));
                    (word, Some(e.message))
                }
            };
            if matches!(word, "missing" | "drift") {
                self.problems.push((
                    Outcome::Findings,
                    format!(
                        "{}: library `{}` ({}) {}",
                        node.addr,
                        library.server_name,
                        library.file,
                        if word == "missing" {
                            "is missing".to_owned()
                        } else {
                            format!("has other code than the folder's (SHA-1 {})", library.sha1)
                        }
                    ),
                ));
            }
            if self.rows.is_empty() {
                self.rows.push(row(&["NODE", "ROLE", "LIBRARY", "RESULT"]));
            }
            self.rows.push(vec![
                node.addr.clone(),
                node.role.to_owned(),
                library.server_name.clone(),
                if matches!(word, "ok" | "loaded" | "present") {
                    word.to_owned()
                } else {
                    word.to_uppercase()
                },
            ]);
            self.docs.push(json!({
                "addr": node.addr,
                "role": node.role,
                "library": library.name,
                "server_name": library.server_name,
                "file": library.file,
                "sha1": library.sha1,
                "result": word,
                "error": error,
            }));
        }
    }

    fn finish(&mut self, problems: &mut Problems) {
        for (outcome, line) in self.problems.drain(..) {
            problems.push(outcome, line);
        }
    }

    fn print(&self) {
        if !self.rows.is_empty() {
            crate::out(&format!("\n{}", table(&self.rows)));
        }
    }
}

/// `FUNCTION LOAD [REPLACE]` of one library on one node: `loaded`, or
/// the refusal (another copy of the same name without `--replace`).
fn load_library(node: &Node, library: &Library, replace: bool) -> Result<&'static str, NodeError> {
    let mut con = node.connect()?;
    let mut cmd = redis::cmd("FUNCTION");
    cmd.arg("LOAD");
    if replace {
        cmd.arg("REPLACE");
    }
    cmd.arg(&library.code);
    match cmd.query::<String>(&mut con) {
        Ok(_) => Ok("loaded"),
        Err(e) if !replace && e.to_string().contains("already exists") => {
            match library_on(node, library)? {
                Held::Same => Ok("ok"),
                _ => Err(NodeError {
                    unreachable: false,
                    message: "the server holds a library of that name with other code; \
                              `--replace` replaces it with the folder's"
                        .to_owned(),
                }),
            }
        }
        Err(e) => Err(NodeError::from_redis("FUNCTION LOAD: ", &e)),
    }
}

/// What a node holds under a library's name on the server.
enum Held {
    Missing,
    Same,
    Other,
}

/// `FUNCTION LIST LIBRARYNAME <name> WITHCODE` on one node.
fn library_on(node: &Node, library: &Library) -> Result<Held, NodeError> {
    let mut con = node.connect()?;
    let reply: redis::Value = redis::cmd("FUNCTION")
        .arg("LIST")
        .arg("LIBRARYNAME")
        .arg(&library.server_name)
        .arg("WITHCODE")
        .query(&mut con)
        .map_err(|e| NodeError::from_redis("FUNCTION LIST: ", &e))?;
    let text = |v: &redis::Value| redis::from_redis_value_ref::<String>(v).ok();
    let redis::Value::Array(libraries) = reply else {
        return Ok(Held::Missing);
    };
    for entry in &libraries {
        let pairs: Vec<(&redis::Value, &redis::Value)> = match entry {
            redis::Value::Array(flat) => flat
                .chunks(2)
                .filter_map(|p| Some((p.first()?, p.get(1)?)))
                .collect(),
            redis::Value::Map(map) => map.iter().map(|(k, v)| (k, v)).collect(),
            _ => continue,
        };
        let field = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| text(k).as_deref() == Some(name))
                .and_then(|(_, v)| text(v))
        };
        if field("library_name").as_deref() != Some(library.server_name.as_str()) {
            continue;
        }
        return Ok(match field("library_code") {
            Some(code) if code == library.code => Held::Same,
            _ => Held::Other,
        });
    }
    Ok(Held::Missing)
}

/// [`document`] with the library rows.
fn document_with(
    nodes: Vec<serde_json::Value>,
    problems: &Problems,
    libraries: Vec<serde_json::Value>,
) -> String {
    let outcome = problems.outcome();
    let doc = json!({
        "ok": outcome == Outcome::Ok,
        "exit_code": outcome.code(),
        "nodes": nodes,
        "libraries": libraries,
        "problems": problems.lines,
    });
    crate::pretty(&doc) + "\n"
}

/// The scripts of the folder registered in a runtime state: loaded and
/// verified by the runtime's own loader and capability probe (the body a
/// node runs, the legacy one on Redis 6.2, is the runtime's choice).
fn script_state(scripts: &[Script]) -> Result<ScriptState, Failure> {
    let state = ScriptState::new();
    for s in scripts {
        state
            .register_script(&s.name, &s.source)
            .map_err(|e| Failure {
                outcome: Outcome::Findings,
                message: format!("{}: {e}", s.file),
            })?;
    }
    Ok(state)
}

/// Loads every script on one node, in one round trip; the scripts it
/// refused, with why.
fn preload_node(
    node: &Node,
    state: &ScriptState,
    bar: &ProgressBar,
) -> Result<Vec<(String, NodeError)>, NodeError> {
    // A state's marks are per server: what another node confirmed says
    // nothing of this one.
    state.forget_loaded();
    let mut con = ScriptCache::with_state(node.connect()?, state.clone());
    let report = con
        .load_registered()
        .map_err(|e| NodeError::from_runtime(&e))?;
    bar.inc(u64::try_from(report.loaded + report.failed.len()).unwrap_or(0));
    Ok(report
        .failed
        .into_iter()
        .map(|(name, e)| (name, NodeError::from_runtime(&e)))
        .collect())
}

/// SCRIPT EXISTS of every script on every node; a table of what is missing
/// where.
pub(crate) fn verify(
    scripts: &[Script],
    libraries: &[Library],
    target: &crate::Target,
    format: Format,
) -> Result<Outcome, Failure> {
    let nodes = nodes::discover(target.connection_info()?, target.cluster, target.timeout)?;
    let mut libs = Libraries::default();
    for node in &nodes {
        libs.node(
            node,
            libraries.iter().map(|l| {
                let held = library_on(node, l).map(|held| match held {
                    Held::Missing => "missing",
                    Held::Same => "present",
                    Held::Other => "drift",
                });
                (l, held)
            }),
        );
    }
    let state = script_state(scripts)?;
    let bar = progress(nodes.len(), "verify", format);
    let mut rows = vec![row(&["NODE", "ROLE", "PRESENT", "MISSING"])];
    let mut docs = Vec::new();
    let mut problems = Problems::default();
    for node in &nodes {
        match missing_on(node, &state) {
            Ok(missing) => {
                rows.push(vec![
                    node.addr.clone(),
                    node.role.to_owned(),
                    format!("{}/{}", scripts.len() - missing.len(), scripts.len()),
                    if missing.is_empty() {
                        "-".to_owned()
                    } else {
                        missing.join(", ")
                    },
                ]);
                if !missing.is_empty() {
                    problems.push(
                        Outcome::Findings,
                        format!(
                            "{}: {} missing: {}",
                            node.addr,
                            missing.len(),
                            missing.join(", ")
                        ),
                    );
                }
                docs.push(json!({
                    "addr": node.addr,
                    "role": node.role,
                    "result": if missing.is_empty() { "ok" } else { "missing" },
                    "present": scripts.len() - missing.len(),
                    "total": scripts.len(),
                    "missing": missing,
                    "error": null,
                }));
            }
            Err(e) => {
                let result = e.result();
                rows.push(vec![
                    node.addr.clone(),
                    node.role.to_owned(),
                    "?".to_owned(),
                    result.to_uppercase(),
                ]);
                problems.push(e.outcome(), format!("{}: {}", node.addr, e.message));
                docs.push(json!({
                    "addr": node.addr,
                    "role": node.role,
                    "result": result,
                    "present": null,
                    "total": scripts.len(),
                    "missing": null,
                    "error": e.message,
                }));
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    libs.finish(&mut problems);
    match format {
        Format::Text | Format::Sarif | Format::Github => {
            crate::out(&table(&rows));
            libs.print();
        }
        Format::Json => crate::out(&document_with(docs, &problems, libs.docs)),
    }
    problems.report("verify");
    Ok(problems.outcome())
}

/// The names of the scripts `node` does not have (`SCRIPT EXISTS` of
/// the body each runs there).
fn missing_on(node: &Node, state: &ScriptState) -> Result<Vec<String>, NodeError> {
    let mut con = ScriptCache::with_state(node.connect()?, state.clone());
    con.missing_registered()
        .map_err(|e| NodeError::from_runtime(&e))
}

/// SCRIPT FLUSH on every node, once confirmed: `--yes`, or a `y` typed on
/// a terminal. Without a terminal and without `--yes`, nothing is
/// flushed (a usage error).
pub(crate) fn flush(target: &crate::Target, yes: bool, format: Format) -> Result<Outcome, Failure> {
    let info = target.connection_info()?;
    let terminal = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if !yes && !terminal {
        return Err(Failure::usage(format!(
            "flush deletes every cached script on {}{}; pass --yes to confirm \
             (there is no terminal to ask on); nothing was flushed",
            info.addr(),
            if target.cluster {
                " and every node of its cluster"
            } else {
                ""
            }
        )));
    }
    let nodes = nodes::discover(info, target.cluster, target.timeout)?;
    if !yes && !confirm(&nodes) {
        return Err(Failure::usage("not confirmed; nothing was flushed"));
    }
    let mut rows = vec![row(&["NODE", "ROLE", "RESULT"])];
    let mut docs = Vec::new();
    let mut problems = Problems::default();
    for node in &nodes {
        let result = node.connect().and_then(|mut con| {
            redis::cmd("SCRIPT")
                .arg("FLUSH")
                .query::<()>(&mut con)
                .map_err(|e| NodeError::from_redis("SCRIPT FLUSH: ", &e))
        });
        let (shown, error) = match result {
            Ok(()) => ("flushed", None),
            Err(e) => {
                problems.push(e.outcome(), format!("{}: {}", node.addr, e.message));
                let shown = e.result();
                (shown, Some(e.message))
            }
        };
        rows.push(vec![
            node.addr.clone(),
            node.role.to_owned(),
            if shown == "flushed" {
                shown.to_owned()
            } else {
                shown.to_uppercase()
            },
        ]);
        docs.push(json!({
            "addr": node.addr,
            "role": node.role,
            "result": shown,
            "error": error,
        }));
    }
    match format {
        Format::Text | Format::Sarif | Format::Github => crate::out(&table(&rows)),
        Format::Json => crate::out(&document(docs, &problems)),
    }
    problems.report("flush");
    Ok(problems.outcome())
}

/// Asks on the terminal whether to flush `nodes`; true for `y` or `yes`.
fn confirm(nodes: &[Node]) -> bool {
    let names: Vec<&str> = nodes.iter().map(|n| n.addr.as_str()).collect();
    eprint!(
        "SCRIPT FLUSH deletes every cached script on {} ({}). Continue? [y/N] ",
        plural(nodes.len(), "node"),
        names.join(", ")
    );
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// The names of the libraries `node` holds (`FUNCTION LIST`).
fn libraries_held(node: &Node) -> Result<Vec<String>, NodeError> {
    let mut con = node.connect()?;
    let reply: redis::Value = redis::cmd("FUNCTION")
        .arg("LIST")
        .query(&mut con)
        .map_err(|e| NodeError::from_redis("FUNCTION LIST: ", &e))?;
    let text = |v: &redis::Value| redis::from_redis_value_ref::<String>(v).ok();
    let redis::Value::Array(libraries) = reply else {
        return Ok(Vec::new());
    };
    let mut names = Vec::new();
    for entry in &libraries {
        let pairs: Vec<(&redis::Value, &redis::Value)> = match entry {
            redis::Value::Array(flat) => flat
                .chunks(2)
                .filter_map(|p| Some((p.first()?, p.get(1)?)))
                .collect(),
            redis::Value::Map(map) => map.iter().map(|(k, v)| (k, v)).collect(),
            _ => continue,
        };
        if let Some(name) = pairs
            .iter()
            .find(|(k, _)| text(k).as_deref() == Some("library_name"))
            .and_then(|(_, v)| text(v))
        {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// What `prune` does with one library on a node.
fn prune_verdict(name: &str, folder: &Checked, kept: &[String]) -> Option<&'static str> {
    let known = folder
        .library_names
        .iter()
        .any(|l| script_cache_check::version::version_in(name, l).is_some());
    if !known {
        // Not a version of this folder's libraries: never touched.
        return None;
    }
    Some(if folder.libraries.iter().any(|l| l.server_name == name) {
        "kept (this folder)"
    } else if kept.iter().any(|k| k == name) {
        "kept (--keep)"
    } else {
        "delete"
    })
}

/// `FUNCTION DELETE` of the versions of the folder's libraries
/// (`<library>_v<version>`) on every primary that neither the folder nor
/// a `--keep` manifest names; without `yes`, only what would be deleted.
pub(crate) fn prune(
    folder: &Checked,
    kept: &[String],
    target: &crate::Target,
    yes: bool,
    format: Format,
) -> Result<Outcome, Failure> {
    let nodes = nodes::discover(target.connection_info()?, target.cluster, target.timeout)?;
    let mut rows = vec![row(&["NODE", "ROLE", "LIBRARY", "RESULT"])];
    let mut docs = Vec::new();
    let mut problems = Problems::default();
    let mut deleted = 0;
    let mut to_delete = 0;
    // Replicas follow their primary (and refuse FUNCTION DELETE).
    for node in nodes.iter().filter(|n| n.role != "replica") {
        let held = match libraries_held(node) {
            Ok(held) => held,
            Err(e) => {
                problems.push(e.outcome(), format!("{}: {}", node.addr, e.message));
                let result = e.result();
                rows.push(vec![
                    node.addr.clone(),
                    node.role.to_owned(),
                    "?".to_owned(),
                    result.to_uppercase(),
                ]);
                docs.push(json!({
                    "addr": node.addr,
                    "role": node.role,
                    "library": null,
                    "result": result,
                    "error": e.message,
                }));
                continue;
            }
        };
        for name in held {
            let Some(verdict) = prune_verdict(&name, folder, kept) else {
                continue;
            };
            let (result, error) = match verdict {
                "delete" if yes => {
                    to_delete += 1;
                    let done = node.connect().and_then(|mut con| {
                        redis::cmd("FUNCTION")
                            .arg("DELETE")
                            .arg(&name)
                            .query::<()>(&mut con)
                            .map_err(|e| NodeError::from_redis("FUNCTION DELETE: ", &e))
                    });
                    match done {
                        Ok(()) => {
                            deleted += 1;
                            ("deleted", None)
                        }
                        Err(e) => {
                            problems.push(
                                e.outcome(),
                                format!("{}: library `{name}`: {}", node.addr, e.message),
                            );
                            (
                                if e.unreachable {
                                    "unreachable"
                                } else {
                                    "failed"
                                },
                                Some(e.message),
                            )
                        }
                    }
                }
                "delete" => {
                    to_delete += 1;
                    ("would delete", None)
                }
                kept => (kept, None),
            };
            rows.push(vec![
                node.addr.clone(),
                node.role.to_owned(),
                name.clone(),
                if matches!(result, "unreachable" | "failed") {
                    result.to_uppercase()
                } else {
                    result.to_owned()
                },
            ]);
            docs.push(json!({
                "addr": node.addr,
                "role": node.role,
                "library": name,
                "result": result,
                "error": error,
            }));
        }
    }
    match format {
        Format::Text | Format::Sarif | Format::Github => {
            crate::out(&table(&rows));
            if !yes && to_delete > 0 {
                eprintln!(
                    "{} to delete; nothing was deleted: pass --yes to delete",
                    plural(to_delete, "library version")
                );
            } else if yes {
                eprintln!("deleted {}", plural(deleted, "library version"));
            }
        }
        Format::Json => {
            let outcome = problems.outcome();
            let doc = json!({
                "ok": outcome == Outcome::Ok,
                "exit_code": outcome.code(),
                "deleted": yes,
                "libraries": docs,
                "problems": problems.lines,
            });
            crate::out(&(crate::pretty(&doc) + "\n"));
        }
    }
    problems.report("prune");
    Ok(problems.outcome())
}
