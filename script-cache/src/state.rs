//! [`ScriptState`]: what the client knows about servers' script caches,
//! shared by every connection that talks to them.
//!
//! A server's script cache is server-wide: a script one connection loaded,
//! every connection to that server can call by SHA-1. So the load marks,
//! what each server supports, the counters and the runtime registry live in
//! one cheap-`Clone` handle that any number of [`ScriptCache`]s share
//! ([`ScriptCache::with_state`]): a pooled checkout or a new connection does
//! not resend a source the server already confirmed.
//!
//! A load mark is a hint, never a proof. The server can lose its scripts at
//! any moment (`SCRIPT FLUSH`, a restart, a failover, a reconnect to another
//! server), and every path of the load policy stays correct when a mark is
//! stale: see [`policy`](crate::policy).
//!
//! The state is keyed by node so that a cluster connection can keep one
//! entry per node; a plain connection uses [`NodeKey::SINGLE`].
//!
//! [`ScriptCache`]: crate::ScriptCache
//! [`ScriptCache::with_state`]: crate::ScriptCache::with_state

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::error::Result;
use crate::registry::Registry;

/// The keys are SHA-1 hex digests and node addresses chosen by the
/// application, not by an attacker, so SipHash's flooding resistance buys
/// nothing here and costs more than the rest of the lookup on every call.
type FastMap<K, V> = HashMap<K, V, rustc_hash::FxBuildHasher>;

/// Which server node a piece of state belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct NodeKey(Option<Arc<str>>);

impl NodeKey {
    /// The one node behind a non-cluster connection.
    pub(crate) const SINGLE: NodeKey = NodeKey(None);

    /// A cluster node (or a role of one), by address.
    #[cfg(feature = "cluster")]
    pub(crate) fn node(addr: Arc<str>) -> NodeKey {
        NodeKey(Some(addr))
    }
}

/// What the server supports, detected once per node when first needed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum Caps {
    /// Not asked yet (or asked again after a sign the server changed).
    #[default]
    Unknown,
    /// Redis 7+ / Valkey: `#!lua` shebangs and `EVALSHA_RO`.
    Modern,
    /// Redis 6.2 and older: neither.
    Legacy,
}

/// How a state decides whether to send `SCRIPT LOAD` with a call.
///
/// Whatever the mode, a call that meets `NOSCRIPT` is retried once as
/// `MULTI` / `SCRIPT LOAD` / `EVALSHA` / `EXEC`, which cannot meet
/// `NOSCRIPT` again.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoadMode {
    /// The first call of a script on a server sends `SCRIPT LOAD` and
    /// `EVALSHA` in one round trip; later calls send `EVALSHA` only.
    #[default]
    Lazy,
    /// Every call sends `EVALSHA` first, and a script is loaded only after
    /// the server answered `NOSCRIPT`. For deployments that preload their
    /// scripts (the `script-cache` CLI, an admin): no source is ever sent
    /// while the server has the scripts. A server that refuses
    /// `SCRIPT LOAD` (an ACL without it, some proxies) switches a `Lazy`
    /// state to this behaviour for that server by itself.
    EvalshaFirst,
}

/// Which confirmation of a load a caller relied on. A `NOSCRIPT` answer
/// to a call sent before a newer confirmation says nothing about the newer
/// one, so it must not clear it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Epoch(u64);

/// The flush generation a load was sent under. A load confirmed after a
/// `flush_cache` started may have run before the flush on the server, so it
/// does not mark the script loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ticket(u64);

/// Load state of one script on one node.
#[derive(Debug)]
enum LoadState {
    /// The server confirmed the script (a `SCRIPT LOAD` answered the
    /// expected SHA-1, or an `EVALSHA` of it ran).
    Loaded(Epoch),
    /// A task is loading it; wait for the sender to drop.
    #[cfg(feature = "tokio-comp")]
    Loading(tokio::sync::watch::Receiver<()>),
}

#[derive(Debug, Default)]
struct NodeState {
    scripts: FastMap<Arc<str>, LoadState>,
    caps: Caps,
    /// The node refused a `SCRIPT LOAD` with `NOPERM`: call `EVALSHA`
    /// first there.
    load_refused: bool,
}

/// Which scripts each node has confirmed.
#[derive(Debug, Default)]
pub(crate) struct LoadedSet {
    nodes: Mutex<FastMap<NodeKey, NodeState>>,
    epochs: AtomicU64,
    /// Bumped when a `flush_cache` is sent and when it is answered; read
    /// and compared under the `nodes` lock.
    generation: AtomicU64,
}

/// What a caller should do about a script before calling it.
#[derive(Debug)]
pub(crate) enum LoadDecision {
    /// Confirmed loaded: send `EVALSHA` only.
    Loaded(Epoch),
    /// Not confirmed, and this node is called `EVALSHA` first (mode, or a
    /// refused load): send `EVALSHA` only, load after `NOSCRIPT`.
    CallFirst,
    /// Not loaded: send `SCRIPT LOAD` with the call. With the `tokio-comp`
    /// feature, the guard tells concurrent callers when the load is done.
    Load(LoadGuard),
    /// Another task is loading it right now: wait, then ask again.
    #[cfg(feature = "tokio-comp")]
    Wait(tokio::sync::watch::Receiver<()>),
}

/// Held by the task loading a script; dropping it releases the tasks that
/// wait for the load (also when the loading task is cancelled).
#[derive(Debug, Default)]
pub(crate) struct LoadGuard {
    #[cfg(feature = "tokio-comp")]
    _done: Option<tokio::sync::watch::Sender<()>>,
}

/// How a decision is asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ask {
    /// A first attempt: follow the marks and the mode.
    First,
    /// After `NOSCRIPT`: wait for another task's load if one is under way
    /// (a herd meeting one flush reloads once), else load.
    AfterNoScript,
    /// After `NOSCRIPT` and a wait for another task's load: call if that
    /// load was confirmed, else load (no second wait).
    AfterWait,
    /// Load, whatever the marks say (the atomic retry), coordinating with
    /// waiting tasks.
    MustLoad,
}

impl LoadedSet {
    fn lock(&self) -> MutexGuard<'_, FastMap<NodeKey, NodeState>> {
        self.nodes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn ticket(&self) -> Ticket {
        Ticket(self.generation.load(Ordering::Acquire))
    }

    /// The confirmation each of `shas` is loaded under on `node` (`None`
    /// for those not confirmed), under one lock, and the ticket loads sent
    /// now are confirmed under.
    pub(crate) fn loaded_epochs<'s>(
        &self,
        node: &NodeKey,
        shas: impl Iterator<Item = &'s str>,
    ) -> (Vec<Option<Epoch>>, Ticket) {
        let nodes = self.lock();
        let state = nodes.get(node);
        let epochs = shas
            .map(|sha1| match state.and_then(|n| n.scripts.get(sha1)) {
                Some(LoadState::Loaded(epoch)) => Some(*epoch),
                _ => None,
            })
            .collect();
        (epochs, self.ticket())
    }

    /// Whether `sha1` is confirmed on `node`.
    pub(crate) fn is_loaded(&self, node: &NodeKey, sha1: &str) -> bool {
        self.loaded_epochs(node, std::iter::once(sha1)).0[..] != [None]
    }

    /// Whether `node` refused a `SCRIPT LOAD` (and so is called
    /// `EVALSHA` first).
    pub(crate) fn load_refused(&self, node: &NodeKey) -> bool {
        self.lock().get(node).is_some_and(|n| n.load_refused)
    }

    /// Records whether `node` refuses `SCRIPT LOAD`. Returns whether it
    /// changed.
    pub(crate) fn set_load_refused(&self, node: &NodeKey, refused: bool) -> bool {
        let mut nodes = self.lock();
        let state = nodes.entry(node.clone()).or_default();
        let changed = state.load_refused != refused;
        state.load_refused = refused;
        changed
    }

    /// [`caps`](Self::caps) and the load decision under one lock:
    /// `None` when the script needs the capabilities and they are unknown
    /// (probe first); else the capabilities, the body `body(caps)` picked,
    /// the decision for that body and the ticket to confirm a load with.
    pub(crate) fn decide_with<'b>(
        &self,
        node: &NodeKey,
        needs_caps: bool,
        body: impl FnOnce(Caps) -> crate::handle::Body<'b>,
        ask: Ask,
        mode: LoadMode,
        coordinate: bool,
    ) -> Option<(Caps, crate::handle::Body<'b>, LoadDecision, Ticket)> {
        let mut nodes = self.lock();
        let state = nodes.entry(node.clone()).or_default();
        if needs_caps && state.caps == Caps::Unknown {
            return None;
        }
        let caps = state.caps;
        let body = body(caps);
        let call_first = mode == LoadMode::EvalshaFirst || state.load_refused;
        let decision = Self::decide_in(state, body.sha1, ask, call_first, coordinate);
        Some((caps, body, decision, self.ticket()))
    }

    /// Decides how to call a script. `coordinate` makes concurrent callers
    /// wait for one loader (async, shared connections); without it every
    /// caller that finds the script unloaded loads it.
    fn decide_in(
        state: &mut NodeState,
        sha1: &str,
        ask: Ask,
        call_first: bool,
        coordinate: bool,
    ) -> LoadDecision {
        match (state.scripts.get(sha1), ask) {
            (Some(LoadState::Loaded(epoch)), Ask::First | Ask::AfterNoScript | Ask::AfterWait) => {
                return LoadDecision::Loaded(*epoch);
            }
            #[cfg(feature = "tokio-comp")]
            (Some(LoadState::Loading(rx)), Ask::First | Ask::AfterNoScript)
                if coordinate && rx.has_changed().is_ok() =>
            {
                return LoadDecision::Wait(rx.clone());
            }
            (_, Ask::First) if call_first => return LoadDecision::CallFirst,
            _ => {}
        }
        #[cfg(feature = "tokio-comp")]
        if coordinate {
            let (tx, rx) = tokio::sync::watch::channel(());
            state.scripts.insert(sha1.into(), LoadState::Loading(rx));
            return LoadDecision::Load(LoadGuard { _done: Some(tx) });
        }
        let _ = coordinate;
        LoadDecision::Load(LoadGuard::default())
    }

    /// Records that the server has `sha1` (a confirmed load, or a call of
    /// it that ran), unless a `flush_cache` started since `ticket` was
    /// taken. Returns the confirmation, or `None` when not recorded.
    pub(crate) fn mark_loaded(&self, node: &NodeKey, sha1: &str, ticket: Ticket) -> Option<Epoch> {
        let mut nodes = self.lock();
        if self.ticket() != ticket {
            return None;
        }
        let epoch = Epoch(self.epochs.fetch_add(1, Ordering::Relaxed));
        nodes
            .entry(node.clone())
            .or_default()
            .scripts
            .insert(sha1.into(), LoadState::Loaded(epoch));
        Some(epoch)
    }

    /// Forgets the confirmation `epoch` of a script on a node, after a call
    /// that relied on it met `NOSCRIPT`. A newer confirmation, or a load
    /// another task started meanwhile, is left alone: many tasks meeting
    /// `NOSCRIPT` at once (after a flush or restart) still reload once.
    /// Returns whether it was cleared.
    pub(crate) fn mark_unloaded(&self, node: &NodeKey, sha1: &str, epoch: Epoch) -> bool {
        if let Some(n) = self.lock().get_mut(node)
            && matches!(n.scripts.get(sha1), Some(LoadState::Loaded(e)) if *e == epoch)
        {
            n.scripts.remove(sha1);
            return true;
        }
        false
    }

    /// Forgets that a load is under way, unless it completed.
    pub(crate) fn abandon_loading(&self, node: &NodeKey, sha1: &str) {
        #[cfg(feature = "tokio-comp")]
        if let Some(n) = self.lock().get_mut(node)
            && matches!(n.scripts.get(sha1), Some(LoadState::Loading(_)))
        {
            n.scripts.remove(sha1);
        }
        #[cfg(not(feature = "tokio-comp"))]
        let _ = (node, sha1);
    }

    /// Forgets every script on every node. Also called when a `SCRIPT FLUSH`
    /// is about to be sent: loads confirmed from then on until
    /// [`flush_done`](Self::flush_done) may have run before the flush, and
    /// are not recorded.
    pub(crate) fn clear(&self) {
        let mut nodes = self.lock();
        self.generation.fetch_add(1, Ordering::AcqRel);
        for node in nodes.values_mut() {
            node.scripts.clear();
        }
    }

    /// The `SCRIPT FLUSH` was answered: forget again what was confirmed
    /// while it was in flight.
    pub(crate) fn flush_done(&self) {
        self.clear();
    }

    /// How many scripts are confirmed on `node`.
    pub(crate) fn loaded_count(&self, node: &NodeKey) -> usize {
        self.lock().get(node).map_or(0, |n| {
            n.scripts
                .values()
                .filter(|s| matches!(s, LoadState::Loaded(_)))
                .count()
        })
    }

    pub(crate) fn caps(&self, node: &NodeKey) -> Caps {
        self.lock().get(node).map_or(Caps::Unknown, |n| n.caps)
    }

    pub(crate) fn set_caps(&self, node: &NodeKey, caps: Caps) {
        self.lock().entry(node.clone()).or_default().caps = caps;
    }

    /// Forgets the capabilities of `node` if they are `was`, so they are
    /// asked again (a sign the server behind a connection changed).
    pub(crate) fn reset_caps_if(&self, node: &NodeKey, was: Caps) {
        if let Some(n) = self.lock().get_mut(node)
            && n.caps == was
        {
            n.caps = Caps::Unknown;
        }
    }
}

/// Counters of one state (shared by every connection using it).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    loads: AtomicU64,
    reloads: AtomicU64,
    calls: AtomicU64,
    refused_loads: AtomicU64,
    atomic_retries: AtomicU64,
}

impl Counters {
    pub(crate) fn loaded(&self, n: u64) {
        self.loads.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn reloaded(&self) {
        self.reloads.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn called(&self, n: u64) {
        self.calls.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn load_refused(&self) {
        self.refused_loads.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn atomic_retry(&self) {
        self.atomic_retries.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn snapshot(&self) -> Stats {
        Stats {
            loads: self.loads.load(Ordering::Relaxed),
            reloads: self.reloads.load(Ordering::Relaxed),
            calls: self.calls.load(Ordering::Relaxed),
            refused_loads: self.refused_loads.load(Ordering::Relaxed),
            atomic_retries: self.atomic_retries.load(Ordering::Relaxed),
        }
    }
}

/// What the connections sharing a [`ScriptState`] have done so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// `SCRIPT LOAD`s the server confirmed.
    pub loads: u64,
    /// Scripts the server had confirmed and then answered `NOSCRIPT` for
    /// (flush, restart, failover): each is one reload. Many tasks meeting
    /// the same `NOSCRIPT` count once, as they share one reload.
    pub reloads: u64,
    /// Script calls sent (`EVALSHA` / `EVALSHA_RO`), retries included.
    pub calls: u64,
    /// `SCRIPT LOAD`s the server refused for lack of permission (`NOPERM`);
    /// after the first, that server is called `EVALSHA` first.
    pub refused_loads: u64,
    /// Calls retried as `MULTI` / `SCRIPT LOAD` / `EVALSHA` / `EXEC` after
    /// `NOSCRIPT`.
    pub atomic_retries: u64,
}

/// What every connection to one server (or cluster) may share: which
/// scripts the server confirmed, what it supports, counters, and the
/// scripts registered at run time.
///
/// Cheap to clone (an `Arc` inside); clones share everything. Give one to
/// each connection with [`ScriptCache::with_state`](crate::ScriptCache::with_state):
///
/// ```no_run
/// use script_cache::prelude::*;
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let client = redis::Client::open("redis://127.0.0.1/")?;
/// let state = ScriptState::new();
/// let mut a = ScriptCache::with_state(client.get_connection()?, state.clone());
/// let mut b = ScriptCache::with_state(client.get_connection()?, state.clone());
/// // A script `a` loaded is called by `b` with EVALSHA only.
/// # Ok(()) }
/// ```
///
/// Sharing a state between connections to *different* servers is safe
/// (marks are hints; a wrong one costs one `NOSCRIPT` and an atomic retry)
/// but wasteful: use one state per server or cluster.
#[derive(Clone, Debug, Default)]
pub struct ScriptState {
    pub(crate) inner: Arc<StateInner>,
}

#[derive(Debug, Default)]
pub(crate) struct StateInner {
    pub(crate) loaded: LoadedSet,
    pub(crate) counters: Counters,
    pub(crate) registry: Registry,
    pub(crate) mode: LoadMode,
    /// The slot map of the cluster behind the connections, if any.
    #[cfg(feature = "cluster")]
    pub(crate) cluster: crate::cluster::Topology,
}

impl ScriptState {
    /// A new state in [`LoadMode::Lazy`].
    pub fn new() -> Self {
        Self::default()
    }

    /// A new state in the given mode.
    pub fn with_mode(mode: LoadMode) -> Self {
        ScriptState {
            inner: Arc::new(StateInner {
                mode,
                ..StateInner::default()
            }),
        }
    }

    /// The load mode.
    pub fn mode(&self) -> LoadMode {
        self.inner.mode
    }

    /// What the connections sharing this state did so far.
    pub fn stats(&self) -> Stats {
        self.inner.counters.snapshot()
    }

    /// Forgets which scripts are loaded, without telling any server: each
    /// script is loaded again on its next call.
    pub fn forget_loaded(&self) {
        self.inner.loaded.clear();
    }

    /// Whether two handles are the same state.
    pub fn ptr_eq(&self, other: &ScriptState) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    // ----- runtime registration (Perl Redis::ScriptCache's verbs) -----

    /// Registers a script under `name` and returns its SHA-1.
    ///
    /// The source is checked as Lua 5.1 first, with the same checker as
    /// the build-time macros: a syntax error is [`Error::Syntax`] and the
    /// script is not registered (nothing invalid reaches a server).
    /// Registering the same source under the same name again is a no-op;
    /// another source under a taken name is [`Error::NameTaken`] (use
    /// [`replace_script`](Self::replace_script)). Nothing is sent: the
    /// script is loaded on its first call, like an embedded one.
    ///
    /// [`Error::Syntax`]: crate::Error::Syntax
    /// [`Error::NameTaken`]: crate::Error::NameTaken
    pub fn register_script(&self, name: &str, source: &str) -> Result<String> {
        self.inner.registry.register(name, source, false)
    }

    /// Registers a script under `name`, replacing any script of that name.
    pub fn replace_script(&self, name: &str, source: &str) -> Result<String> {
        self.inner.registry.register(name, source, true)
    }

    /// Sets the script folder: relative paths of
    /// [`register_file`](Self::register_file) and
    /// [`register_all_scripts`](Self::register_all_scripts) resolve against
    /// it, and files outside it are refused.
    pub fn set_script_dir(&self, dir: impl AsRef<Path>) {
        self.inner.registry.set_dir(dir.as_ref().to_path_buf());
    }

    /// Registers one file under its stem (`lua/rate_limit.lua` ->
    /// `rate_limit`) and returns the name.
    ///
    /// Only a regular file is read, of at most
    /// [`MAX_SCRIPT_FILE_BYTES`](crate::MAX_SCRIPT_FILE_BYTES); when a
    /// script folder is set, the file must be inside it (`..`, absolute
    /// paths and symlinks leading out of it are refused). A FIFO or device
    /// is refused at once, never read.
    pub fn register_file(&self, path: impl AsRef<Path>) -> Result<String> {
        self.inner.registry.register_file(path.as_ref())
    }

    /// Registers every top-level `*.lua` file of `dir` (dotfiles and
    /// subfolders skipped) in sorted order and returns their names. Either
    /// all are registered or, on an error, none.
    pub fn register_all_scripts(&self, dir: impl AsRef<Path>) -> Result<Vec<String>> {
        self.inner.registry.register_dir(dir.as_ref())
    }

    /// The names of the scripts registered at run time, sorted.
    pub fn scripts(&self) -> Vec<String> {
        self.inner.registry.names()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handle::Body;

    fn body(sha1: &'static str) -> impl FnOnce(Caps) -> Body<'static> {
        move |_| Body { source: "", sha1 }
    }

    #[test]
    fn a_flush_in_flight_voids_loads_confirmed_meanwhile() {
        let set = LoadedSet::default();
        let node = NodeKey::SINGLE;
        let (_, ticket) = set.loaded_epochs(&node, std::iter::empty());
        // A flush starts while a load is in flight...
        set.clear();
        assert_eq!(set.mark_loaded(&node, "a", ticket), None);
        assert!(!set.is_loaded(&node, "a"));
        // ...a load sent during the flush may land before it: voided when
        // the flush is answered.
        let (_, during) = set.loaded_epochs(&node, std::iter::empty());
        assert!(set.mark_loaded(&node, "b", during).is_some());
        set.flush_done();
        assert!(!set.is_loaded(&node, "b"));
        let (_, after) = set.loaded_epochs(&node, std::iter::empty());
        assert!(set.mark_loaded(&node, "c", after).is_some());
        assert!(set.is_loaded(&node, "c"));
    }

    #[test]
    fn decisions_follow_marks_mode_and_refusals() {
        let set = LoadedSet::default();
        let node = NodeKey::SINGLE;
        let decide = |ask, mode| {
            set.decide_with(&node, false, body("s"), ask, mode, false)
                .map(|(_, _, d, _)| d)
        };
        assert!(matches!(
            decide(Ask::First, LoadMode::Lazy),
            Some(LoadDecision::Load(_))
        ));
        assert!(matches!(
            decide(Ask::First, LoadMode::EvalshaFirst),
            Some(LoadDecision::CallFirst)
        ));
        assert!(matches!(
            decide(Ask::AfterNoScript, LoadMode::EvalshaFirst),
            Some(LoadDecision::Load(_))
        ));
        set.set_load_refused(&node, true);
        assert!(matches!(
            decide(Ask::First, LoadMode::Lazy),
            Some(LoadDecision::CallFirst)
        ));
        let (_, t) = set.loaded_epochs(&node, std::iter::empty());
        let epoch = set.mark_loaded(&node, "s", t).unwrap();
        assert!(
            matches!(decide(Ask::First, LoadMode::Lazy), Some(LoadDecision::Loaded(e)) if e == epoch)
        );
        assert!(matches!(
            decide(Ask::MustLoad, LoadMode::Lazy),
            Some(LoadDecision::Load(_))
        ));
        // Capabilities needed and unknown: probe first.
        assert!(
            set.decide_with(&node, true, body("s"), Ask::First, LoadMode::Lazy, false)
                .is_none()
        );
    }
}
