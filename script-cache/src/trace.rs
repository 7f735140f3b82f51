//! The events of the `tracing` feature, one function per event, each
//! called from the one place of the shared state machine
//! ([`policy`](crate::policy), [`call`](crate::call), the cluster
//! topology) that every path (sync, async, pipelines, transactions,
//! clusters) goes through, so an event is emitted once whatever the path.
//!
//! Without the feature every function is empty and inlined: nothing is
//! computed for an event that does not exist. With it, none of them is on
//! the steady path (an `EVALSHA` the server answered emits nothing).
//!
//! Fields hold the script's name, a 12-character SHA-1 prefix, the node
//! and counters: never a key or an argument of a call.
//!
//! | message | level | fields |
//! |---|---|---|
//! | `script loaded` | DEBUG | `script`, `sha`, `node`, `epoch` |
//! | `script lost, reloading` | INFO | `script`, `sha`, `node`, `epoch` |
//! | `script retried with EVAL` | INFO | `script`, `sha`, `node`, `command` |
//! | `script load refused` | WARN | `script`, `sha`, `node` |
//! | `node switched to EVALSHA first` | WARN | `script`, `node` |
//! | `node accepts SCRIPT LOAD again` | INFO | `script`, `node` |
//! | `script SHA-1 mismatch` | ERROR | `script`, `sha`, `server_sha`, `node` |
//! | `slot map refreshed` | INFO | `shards`, `primaries`, `generation` |
//!
//! Beside the events, `span.rs`: one client span per script call, pipeline
//! and transaction (the `tracing` feature) in OpenTelemetry's database
//! client conventions, and its `db.client.operation.duration` measurement
//! (the `opentelemetry` feature, `metrics.rs`). The events
//! above are emitted inside the span of the operation that caused them.

use crate::handle::ScriptHandle as Handle;
use crate::node::{Epoch, NodeKey};

/// The first 12 hex digits of a SHA-1: enough to tell scripts apart in a
/// log, short enough to read.
#[cfg(feature = "tracing")]
fn prefix(sha1: &str) -> &str {
    sha1.get(..12).unwrap_or(sha1)
}

#[cfg(feature = "tracing")]
fn epoch_value(epoch: Option<Epoch>) -> Option<u64> {
    epoch.map(Epoch::get)
}

/// `SCRIPT LOAD` answered the expected SHA-1 (`epoch`: the confirmation,
/// `None` when a `flush_cache` in flight voided it).
#[inline(always)]
pub(crate) fn loaded(handle: &Handle, sha1: &str, node: &NodeKey, epoch: Option<Epoch>) {
    #[cfg(feature = "tracing")]
    tracing::debug!(
        target: "script_cache",
        script = handle.name(),
        sha = prefix(sha1),
        node = %node,
        epoch = epoch_value(epoch),
        "script loaded"
    );
    #[cfg(not(feature = "tracing"))]
    let _ = (handle, sha1, node, epoch);
}

/// A first call of a function found its library on `node` with other
/// code (SHA-1 `server_sha1`) than this build's: `replaced` with this
/// build's (counted in [`Stats::libraries_replaced`](crate::Stats::libraries_replaced)),
/// or refused ([`Error::OtherLibrary`](crate::Error::OtherLibrary)).
#[inline(always)]
pub(crate) fn other_library(handle: &Handle, node: &NodeKey, server_sha1: &str, replaced: bool) {
    #[cfg(feature = "tracing")]
    tracing::warn!(
        target: "script_cache",
        function = handle.name(),
        sha = prefix(handle.id().sha1.as_ref()),
        server_sha = prefix(server_sha1),
        node = %node,
        replaced,
        "library with other code on the server"
    );
    #[cfg(not(feature = "tracing"))]
    let _ = (handle, node, server_sha1, replaced);
}

/// `node` answered a function's load and call as unknown commands (Redis
/// 6.2): later function calls there fail at once, nothing sent.
#[inline(always)]
pub(crate) fn no_functions(handle: &Handle, node: &NodeKey) {
    #[cfg(feature = "tracing")]
    tracing::warn!(
        target: "script_cache",
        function = handle.name(),
        node = %node,
        "the server has no functions (Redis 7.0 or newer needed)"
    );
    #[cfg(not(feature = "tracing"))]
    let _ = (handle, node);
}

/// A `no-writes` function's call sent to a cluster shard's replicas met
/// "Function not found" there (replication lag, a replica flushed apart, a
/// new replica): it goes to the primary `node` (counted in
/// [`Stats::replica_fallbacks`](crate::Stats::replica_fallbacks)).
#[cfg(feature = "cluster")]
#[inline(always)]
pub(crate) fn replica_fallback(handle: &Handle, node: &NodeKey) {
    #[cfg(feature = "tracing")]
    tracing::info!(
        target: "script_cache",
        function = handle.name(),
        node = %node,
        "replica without the library, calling the primary"
    );
    #[cfg(not(feature = "tracing"))]
    let _ = (handle, node);
}

/// A call relying on confirmation `epoch` met `NOSCRIPT` and cleared the
/// mark: the server lost the script (flush, restart, failover); it is
/// reloaded (counted in [`Stats::reloads`](crate::Stats::reloads)).
#[inline(always)]
pub(crate) fn lost(handle: &Handle, sha1: &str, node: &NodeKey, epoch: Option<Epoch>) {
    #[cfg(feature = "tracing")]
    tracing::info!(
        target: "script_cache",
        script = handle.name(),
        sha = prefix(sha1),
        node = %node,
        epoch = epoch_value(epoch),
        "script lost, reloading"
    );
    #[cfg(not(feature = "tracing"))]
    let _ = (handle, sha1, node, epoch);
}

/// A call that met `NOSCRIPT` is retried as one `EVAL` (`EVAL_RO`) with
/// the source (counted in [`Stats::atomic_retries`](crate::Stats::atomic_retries)).
#[inline(always)]
pub(crate) fn eval_retry(handle: &Handle, sha1: &str, node: &NodeKey, command: &'static str) {
    #[cfg(feature = "tracing")]
    tracing::info!(
        target: "script_cache",
        script = handle.name(),
        sha = prefix(sha1),
        node = %node,
        command,
        "script retried with EVAL"
    );
    #[cfg(not(feature = "tracing"))]
    let _ = (handle, sha1, node, command);
}

/// The server refused a `SCRIPT LOAD` for lack of permission (`NOPERM`);
/// counted in [`Stats::refused_loads`](crate::Stats::refused_loads).
#[inline(always)]
pub(crate) fn load_refused(handle: &Handle, sha1: &str, node: &NodeKey) {
    #[cfg(feature = "tracing")]
    tracing::warn!(
        target: "script_cache",
        script = handle.name(),
        sha = prefix(sha1),
        node = %node,
        "script load refused"
    );
    #[cfg(not(feature = "tracing"))]
    let _ = (handle, sha1, node);
}

/// A node is now called `EVALSHA` first (`first`), after a refused load,
/// or no longer (`!first`), after a load it accepted.
#[inline(always)]
pub(crate) fn evalsha_first(handle: &Handle, node: &NodeKey, first: bool) {
    #[cfg(feature = "tracing")]
    if first {
        tracing::warn!(
            target: "script_cache",
            script = handle.name(),
            node = %node,
            "node switched to EVALSHA first"
        );
    } else {
        tracing::info!(
            target: "script_cache",
            script = handle.name(),
            node = %node,
            "node accepts SCRIPT LOAD again"
        );
    }
    #[cfg(not(feature = "tracing"))]
    let _ = (handle, node, first);
}

/// A survey (`SCRIPT EXISTS` of every script of a family, with a state's
/// first call there) answered: `present` scripts the node has, `absent`
/// it lacks (counted in [`Stats::surveys`](crate::Stats::surveys)).
#[inline(always)]
pub(crate) fn surveyed(handle: &Handle, node: &NodeKey, present: usize, absent: usize) {
    #[cfg(feature = "tracing")]
    tracing::debug!(
        target: "script_cache",
        script = handle.name(),
        node = %node,
        present,
        absent,
        "scripts surveyed"
    );
    #[cfg(not(feature = "tracing"))]
    let _ = (handle, node, present, absent);
}

/// `SCRIPT LOAD` answered another SHA-1 than the one computed at build
/// time (counted in [`Stats::sha_mismatches`](crate::Stats::sha_mismatches)).
#[inline(always)]
pub(crate) fn sha_mismatch(handle: &Handle, sha1: &str, server_sha1: &str, node: &NodeKey) {
    #[cfg(feature = "tracing")]
    tracing::error!(
        target: "script_cache",
        script = handle.name(),
        sha = prefix(sha1),
        server_sha = prefix(server_sha1),
        node = %node,
        "script SHA-1 mismatch"
    );
    #[cfg(not(feature = "tracing"))]
    let _ = (handle, sha1, server_sha1, node);
}

/// A `CLUSTER SLOTS` reply replaced the slot map (`generation`: how many
/// maps this state has stored, this one included).
#[cfg(feature = "cluster")]
#[inline(always)]
pub(crate) fn slot_map(shards: usize, primaries: usize, generation: u64) {
    #[cfg(feature = "tracing")]
    tracing::info!(
        target: "script_cache",
        shards,
        primaries,
        generation,
        "slot map refreshed"
    );
    #[cfg(not(feature = "tracing"))]
    let _ = (shards, primaries, generation);
}
