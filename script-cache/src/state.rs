//! What a [`ScriptCache`](crate::ScriptCache) remembers: which scripts each
//! server node has confirmed, what each node supports, and counters.
//!
//! The state is keyed by node so that a cluster connection can keep one
//! entry per node (a script loaded on one node is not loaded on another);
//! a plain connection uses the single node [`NodeKey::SINGLE`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

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
}

/// What the server supports, detected once per node when first needed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum Caps {
    /// Not asked yet.
    #[default]
    Unknown,
    /// Redis 7+ / Valkey: `#!lua` shebangs and `EVALSHA_RO`.
    Modern,
    /// Redis 6.2 and older: neither.
    Legacy,
}

/// Which confirmation of a load a caller relied on. A `NOSCRIPT` answer
/// to a call sent before a newer confirmation says nothing about the newer
/// one, so it must not clear it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Epoch(u64);

/// Load state of one script on one node.
#[derive(Debug)]
enum LoadState {
    /// The server confirmed `SCRIPT LOAD` with the expected SHA-1.
    Loaded(Epoch),
    /// A task is loading it; wait for the sender to drop.
    #[cfg(feature = "tokio-comp")]
    Loading(tokio::sync::watch::Receiver<()>),
}

#[derive(Debug, Default)]
struct NodeState {
    scripts: FastMap<Arc<str>, LoadState>,
    caps: Caps,
}

/// Which scripts each node has confirmed. Shared by clones of a cache.
#[derive(Debug, Default)]
pub(crate) struct LoadedSet {
    nodes: Mutex<FastMap<NodeKey, NodeState>>,
    epochs: AtomicU64,
}

/// What a caller should do about a script before calling it.
#[derive(Debug)]
pub(crate) enum LoadDecision {
    /// Confirmed loaded: send `EVALSHA` only.
    Loaded(Epoch),
    /// Not loaded: send `SCRIPT LOAD` with the call. With the `tokio-comp`
    /// feature, the guard tells concurrent callers when the load is done.
    Load(LoadGuard),
    /// Another task is loading it right now: wait, then ask again.
    #[cfg(feature = "tokio-comp")]
    Wait(tokio::sync::watch::Receiver<()>),
}

/// Held by the task loading a script; dropping it releases the tasks that
/// wait for the load (also when the loading task is cancelled).
#[derive(Debug)]
pub(crate) struct LoadGuard {
    #[cfg(feature = "tokio-comp")]
    _done: Option<tokio::sync::watch::Sender<()>>,
}

impl LoadedSet {
    fn lock(&self) -> MutexGuard<'_, FastMap<NodeKey, NodeState>> {
        self.nodes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The confirmation each of `shas` is loaded under on `node` (`None`
    /// for those not confirmed), under one lock.
    pub(crate) fn loaded_epochs<'s>(
        &self,
        node: &NodeKey,
        shas: impl Iterator<Item = &'s str>,
    ) -> Vec<Option<Epoch>> {
        let nodes = self.lock();
        let state = nodes.get(node);
        shas.map(|sha1| match state.and_then(|n| n.scripts.get(sha1)) {
            Some(LoadState::Loaded(epoch)) => Some(*epoch),
            _ => None,
        })
        .collect()
    }

    /// Whether `sha1` is confirmed on `node`.
    pub(crate) fn is_loaded(&self, node: &NodeKey, sha1: &str) -> bool {
        self.loaded_epochs(node, std::iter::once(sha1))[..] != [None]
    }

    /// [`caps`](Self::caps) and the load decision under one lock:
    /// `None` when the script needs the capabilities and they are unknown
    /// (probe first); else the capabilities, the body `body(caps)` picked,
    /// and the decision for that body.
    pub(crate) fn decide_with<'b>(
        &self,
        node: &NodeKey,
        needs_caps: bool,
        body: impl FnOnce(Caps) -> crate::handle::Body<'b>,
        coordinate: bool,
    ) -> Option<(Caps, crate::handle::Body<'b>, LoadDecision)> {
        let mut nodes = self.lock();
        let state = nodes.entry(node.clone()).or_default();
        if needs_caps && state.caps == Caps::Unknown {
            return None;
        }
        let caps = state.caps;
        let body = body(caps);
        let decision = Self::decide_in(state, body.sha1, coordinate);
        Some((caps, body, decision))
    }

    /// Decides how to call a script. `coordinate` makes concurrent callers
    /// wait for one loader (async, shared connections); without it every
    /// caller that finds the script unloaded loads it.
    fn decide_in(state: &mut NodeState, sha1: &str, coordinate: bool) -> LoadDecision {
        match state.scripts.get(sha1) {
            Some(LoadState::Loaded(epoch)) => LoadDecision::Loaded(*epoch),
            #[cfg(feature = "tokio-comp")]
            Some(LoadState::Loading(rx)) if coordinate && rx.has_changed().is_ok() => {
                LoadDecision::Wait(rx.clone())
            }
            _ => {
                #[cfg(feature = "tokio-comp")]
                if coordinate {
                    let (tx, rx) = tokio::sync::watch::channel(());
                    state.scripts.insert(sha1.into(), LoadState::Loading(rx));
                    return LoadDecision::Load(LoadGuard { _done: Some(tx) });
                }
                let _ = coordinate;
                LoadDecision::Load(LoadGuard {
                    #[cfg(feature = "tokio-comp")]
                    _done: None,
                })
            }
        }
    }

    /// Records a confirmed load.
    pub(crate) fn mark_loaded(&self, node: &NodeKey, sha1: &str) -> Epoch {
        let epoch = Epoch(self.epochs.fetch_add(1, Ordering::Relaxed));
        self.lock()
            .entry(node.clone())
            .or_default()
            .scripts
            .insert(sha1.into(), LoadState::Loaded(epoch));
        epoch
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

    /// Forgets every script on every node (after `SCRIPT FLUSH`).
    pub(crate) fn clear(&self) {
        for node in self.lock().values_mut() {
            node.scripts.clear();
        }
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
}

/// Counters of one cache (shared by its clones).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    loads: AtomicU64,
    reloads: AtomicU64,
    calls: AtomicU64,
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
    pub(crate) fn snapshot(&self) -> Stats {
        Stats {
            loads: self.loads.load(Ordering::Relaxed),
            reloads: self.reloads.load(Ordering::Relaxed),
            calls: self.calls.load(Ordering::Relaxed),
        }
    }
}

/// What a cache has done so far (see [`ScriptCache::stats`](crate::ScriptCache::stats)).
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
}
