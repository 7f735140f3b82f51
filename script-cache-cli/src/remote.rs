//! The commands that talk to servers: `preload`, `verify`, `flush`. Each
//! node is handled on its own; a node that cannot be reached, or that
//! refuses a script, is named in the result and makes the exit code 1,
//! without stopping the other nodes.

use indicatif::{ProgressBar, ProgressStyle};
use script_cache::{ScriptCache, ScriptState};

use crate::nodes::{self, Node};
use crate::scripts::Script;
use crate::{row, table};

/// A progress bar on stderr (drawn only on a terminal).
fn progress(len: usize, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(u64::try_from(len).unwrap_or(u64::MAX));
    if let Ok(style) = ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} ({elapsed})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_owned());
    bar
}

/// SCRIPT LOAD of every script on every node; a per-node table, then every
/// failure. `Ok(false)` when anything failed.
pub(crate) fn preload(scripts: &[Script], target: &crate::Target) -> Result<bool, String> {
    let nodes = nodes::discover(target.connection_info()?, target.cluster)?;
    let state = script_state(scripts)?;
    let bar = progress(nodes.len() * scripts.len(), "preload");
    let mut rows = vec![row(&["NODE", "ROLE", "LOADED", "FAILED", "RESULT"])];
    let mut failures = Vec::new();
    for node in &nodes {
        let (loaded, failed, result) = match preload_node(node, &state, &bar) {
            Ok(errors) if errors.is_empty() => (scripts.len(), 0, "ok".to_owned()),
            Ok(errors) => {
                let n = errors.len();
                for (script, e) in errors {
                    failures.push(format!("{}: {script}: {e}", node.addr));
                }
                (scripts.len() - n, n, "FAILED".to_owned())
            }
            Err(e) => {
                failures.push(format!("{}: {e}", node.addr));
                bar.inc(u64::try_from(scripts.len()).unwrap_or(0));
                (0, scripts.len(), "UNREACHABLE".to_owned())
            }
        };
        rows.push(vec![
            node.addr.clone(),
            node.role.to_owned(),
            loaded.to_string(),
            failed.to_string(),
            result,
        ]);
    }
    bar.finish_and_clear();
    crate::out(&table(&rows));
    report(&failures, "preload");
    Ok(failures.is_empty())
}

/// The scripts of the folder registered in a runtime state: loaded and
/// verified by the runtime's own loader and capability probe (the body a
/// node runs, the legacy one on Redis 6.2, is the runtime's choice).
fn script_state(scripts: &[Script]) -> Result<ScriptState, String> {
    let state = ScriptState::new();
    for s in scripts {
        state
            .register_script(&s.name, &s.source)
            .map_err(|e| format!("{}: {e}", s.file))?;
    }
    Ok(state)
}

/// Loads every script on one node, in one round trip; the scripts it
/// refused, with why.
fn preload_node(
    node: &Node,
    state: &ScriptState,
    bar: &ProgressBar,
) -> Result<Vec<(String, String)>, String> {
    // A state's marks are per server: what another node confirmed says
    // nothing of this one.
    state.forget_loaded();
    let mut con = ScriptCache::with_state(node.connect()?, state.clone());
    let report = con.load_registered().map_err(|e| e.to_string())?;
    bar.inc(u64::try_from(report.loaded + report.failed.len()).unwrap_or(0));
    Ok(report
        .failed
        .into_iter()
        .map(|(name, e)| (name, e.to_string()))
        .collect())
}

/// SCRIPT EXISTS of every script on every node; a table of what is missing
/// where. `Ok(false)` when anything is missing or a node is unreachable.
pub(crate) fn verify(scripts: &[Script], target: &crate::Target) -> Result<bool, String> {
    let nodes = nodes::discover(target.connection_info()?, target.cluster)?;
    let state = script_state(scripts)?;
    let bar = progress(nodes.len(), "verify");
    let mut rows = vec![row(&["NODE", "ROLE", "PRESENT", "MISSING"])];
    let mut failures = Vec::new();
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
                    failures.push(format!(
                        "{}: {} missing: {}",
                        node.addr,
                        missing.len(),
                        missing.join(", ")
                    ));
                }
            }
            Err(e) => {
                rows.push(vec![
                    node.addr.clone(),
                    node.role.to_owned(),
                    "?".to_owned(),
                    "UNREACHABLE".to_owned(),
                ]);
                failures.push(format!("{}: {e}", node.addr));
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    crate::out(&table(&rows));
    report(&failures, "verify");
    Ok(failures.is_empty())
}

/// The names of the scripts `node` does not have (`SCRIPT EXISTS` of
/// the body each runs there).
fn missing_on(node: &Node, state: &ScriptState) -> Result<Vec<String>, String> {
    let mut con = ScriptCache::with_state(node.connect()?, state.clone());
    con.missing_registered().map_err(|e| e.to_string())
}

/// SCRIPT FLUSH on every node.
pub(crate) fn flush(target: &crate::Target) -> Result<bool, String> {
    let nodes = nodes::discover(target.connection_info()?, target.cluster)?;
    let mut rows = vec![row(&["NODE", "ROLE", "RESULT"])];
    let mut failures = Vec::new();
    for node in &nodes {
        let result = node.connect().and_then(|mut con| {
            redis::cmd("SCRIPT")
                .arg("FLUSH")
                .query::<()>(&mut con)
                .map_err(|e| e.to_string())
        });
        let shown = match result {
            Ok(()) => "flushed".to_owned(),
            Err(e) => {
                failures.push(format!("{}: {e}", node.addr));
                "FAILED".to_owned()
            }
        };
        rows.push(vec![node.addr.clone(), node.role.to_owned(), shown]);
    }
    crate::out(&table(&rows));
    report(&failures, "flush");
    Ok(failures.is_empty())
}

/// Names every failure on stderr.
fn report(failures: &[String], what: &str) {
    for f in failures {
        eprintln!("error: {f}");
    }
    if !failures.is_empty() {
        eprintln!("{what} failed on some nodes ({} problems)", failures.len());
    }
}
