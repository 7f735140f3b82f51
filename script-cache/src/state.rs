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
//! stale: see [`policy`](crate::policy). A node's marks do not outlive a
//! change of what it supports (another server version behind the same
//! address): that change voids them.
//!
//! The state is keyed by node so that a cluster connection can keep one
//! entry per node; a plain connection uses [`NodeKey::SINGLE`].
//!
//! [`ScriptCache`]: crate::ScriptCache
//! [`ScriptCache::with_state`]: crate::ScriptCache::with_state

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use crate::error::Result;
pub(crate) use crate::node::{Caps, Epoch, NodeKey};
use crate::registry::Registry;

/// The keys are SHA-1 hex digests and node addresses chosen by the
/// application, not by an attacker, so SipHash's flooding resistance buys
/// nothing here and costs more than the rest of the lookup on every call.
type FastMap<K, V> = HashMap<K, V, rustc_hash::FxBuildHasher>;

/// The largest script source (bytes) that [`LoadMode::Lazy`] sends with
/// the first call of a script the state knows nothing of: such a call is
/// one round trip (`SCRIPT LOAD` + `EVALSHA`) also when the server lacks
/// the script. A larger source is sent only when the server is known to
/// lack it: the first call is `EVALSHA`, and after `NOSCRIPT` the script is
/// loaded with the call (two round trips, one failed command). A fleet of
/// fresh processes against a server that already holds a large script
/// then sends its SHA-1, not its source (docs/connections.md, "Cold
/// fleets"). A state's first call of an embedded script on a node also
/// asks which scripts of its enum the node has (one `SCRIPT EXISTS` in the
/// same request): those are called `EVALSHA` alone, small or large.
pub const LAZY_LOAD_MAX: usize = 2048;

/// How a state decides whether to send `SCRIPT LOAD` with a call.
///
/// Whatever the mode, a call that meets `NOSCRIPT` is retried as one
/// `EVAL` with the source, which cannot meet `NOSCRIPT` again.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoadMode {
    /// The first call of a script on a server sends `SCRIPT LOAD` and
    /// `EVALSHA` in one round trip when its source is at most
    /// [`LAZY_LOAD_MAX`] bytes; a larger one is called `EVALSHA` first and
    /// loaded after `NOSCRIPT`. Later calls send `EVALSHA` only.
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
    /// An `EVAL` of it ran: the server has it, but as `EVAL`'s copy, which
    /// Redis 7.4+ and Valkey 8+ evict (least recently used) when many
    /// other scripts are `EVAL`ed. Callers that waited for that `EVAL` call
    /// it; the next first attempt loads it for good with `SCRIPT LOAD`.
    Evalled(Epoch),
    /// A caller is loading it; others wait for it to finish.
    Loading(Waiter),
}

/// A latch and the waiter that waits for it to open (when the guard is
/// dropped).
fn latch() -> (LoadGuard, Waiter) {
    let latch = Arc::new(Latch::default());
    #[cfg(feature = "tokio-comp")]
    let (tx, rx) = tokio::sync::watch::channel(());
    let waiter = Waiter {
        latch: latch.clone(),
        #[cfg(feature = "tokio-comp")]
        rx,
    };
    let guard = LoadGuard {
        latch: Some(latch),
        #[cfg(feature = "tokio-comp")]
        _done: Some(tx),
    };
    (guard, waiter)
}

/// Set once when a load finishes (confirmed, failed or abandoned).
#[derive(Debug, Default)]
struct Latch {
    done: Mutex<bool>,
    cv: Condvar,
}

impl Latch {
    fn is_done(&self) -> bool {
        *self.done.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn open(&self) {
        *self.done.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.cv.notify_all();
    }
}

/// How a caller waits for another caller's load: a sync thread blocks on
/// the latch, an async task awaits the channel (its sender is dropped with
/// the loader's guard, also when the loading task is cancelled).
#[derive(Clone, Debug)]
pub(crate) struct Waiter {
    latch: Arc<Latch>,
    #[cfg(feature = "tokio-comp")]
    rx: tokio::sync::watch::Receiver<()>,
}

impl Waiter {
    fn pending(&self) -> bool {
        !self.latch.is_done()
    }

    /// Blocks until the load is over. Bounded: a loader whose reply takes
    /// longer than this is waited for again after a fresh decision.
    pub(crate) fn wait_blocking(&self) {
        let done = self
            .latch
            .done
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let _ = self
            .latch
            .cv
            .wait_timeout_while(done, std::time::Duration::from_secs(1), |done| !*done);
    }

    /// Waits until the load is over.
    #[cfg(feature = "tokio-comp")]
    pub(crate) async fn wait(mut self) {
        if self.pending() {
            // Returns when the loader's guard is dropped.
            let _ = self.rx.changed().await;
        }
    }
}

#[derive(Debug, Default)]
struct NodeState {
    scripts: FastMap<Arc<str>, LoadState>,
    caps: Caps,
    /// The last known value of `caps` (kept while `caps` is unknown again,
    /// until the next answer says whether the server changed).
    known: Caps,
    /// The node refused a `SCRIPT LOAD` with `NOPERM`: call `EVALSHA`
    /// first there.
    load_refused: bool,
    /// The families of scripts ([`Family::id`]) surveyed on this node (or
    /// being surveyed): each is asked about once.
    ///
    /// [`Family::id`]: crate::handle::Family::id
    surveyed: Vec<usize>,
    /// The survey under way on this node, which first calls of the
    /// scripts it asks about wait for.
    survey: Option<(usize, Waiter)>,
    /// The node answered a function's load and call as unknown commands
    /// (Redis 6.2): later function calls fail at once, nothing sent,
    /// until a sign that another server may answer there.
    no_functions: bool,
}

/// Which scripts each node has confirmed.
#[derive(Debug, Default)]
pub(crate) struct LoadedSet {
    nodes: Mutex<FastMap<NodeKey, NodeState>>,
    epochs: AtomicU64,
    /// Bumped when a `flush_cache` is sent and when it is answered; read
    /// and compared under the `nodes` lock.
    generation: AtomicU64,
    /// Bumped (under the `nodes` lock) by every change of a mark, of what
    /// a node supports or of whether it refuses loads: a [`Hints`] entry
    /// taken at the current version is what a decision would say now.
    version: AtomicU64,
}

/// A decision taken under the lock, and what it depended on.
#[derive(Debug)]
pub(crate) struct Decided<'b> {
    pub(crate) caps: Caps,
    /// What the state knew of the node when deciding.
    pub(crate) facts: Facts,
    pub(crate) body: crate::handle::Body<'b>,
    pub(crate) decision: LoadDecision,
    pub(crate) ticket: Ticket,
    /// The [`LoadedSet`] version the decision was taken at.
    pub(crate) version: u64,
}

/// How many scripts a connection remembers the last decision of.
const HINTS: usize = 4;

/// One remembered decision: the script with canonical SHA-1 `sha1` goes
/// out as `command` with its legacy body or not, confirmed under `epoch`,
/// when the state was at `version`.
#[derive(Clone, Copy, Debug)]
struct Hint {
    sha1: [u8; 40],
    hinted: Hinted,
    version: u64,
}

/// What a hint says: call `EVALSHA` only, relying on `epoch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Hinted {
    pub(crate) epoch: Epoch,
    pub(crate) command: &'static str,
    /// Whether the body is the legacy one (shebang commented out).
    pub(crate) legacy: bool,
}

/// The last "confirmed, call `EVALSHA` only" decisions of one connection
/// (for [`NodeKey::SINGLE`]), so that a steady call decides without the
/// state's lock. An entry is used only while the state's version is the
/// one it was taken at: nothing changed since, so the decision under the
/// lock would be the same. Like every mark it is a hint: a stale one costs
/// the `NOSCRIPT` and atomic retry that any stale mark costs.
#[derive(Clone, Debug, Default)]
pub(crate) struct Hints {
    entries: [Option<Hint>; HINTS],
    next: usize,
}

impl Hints {
    /// The decision remembered for the script with canonical SHA-1
    /// `sha1`, if the state has not changed since.
    #[inline]
    pub(crate) fn get(&self, loaded: &LoadedSet, sha1: &str) -> Option<Hinted> {
        let version = loaded.version.load(Ordering::Acquire);
        self.entries
            .iter()
            .flatten()
            .find(|h| h.version == version && h.sha1[..] == *sha1.as_bytes())
            .map(|h| h.hinted)
    }

    /// Remembers a "confirmed" decision taken at `version`.
    pub(crate) fn put(&mut self, sha1: &str, hinted: Hinted, version: u64) {
        let Ok(key) = <[u8; 40]>::try_from(sha1.as_bytes()) else {
            return;
        };
        let hint = Hint {
            sha1: key,
            hinted,
            version,
        };
        // Replace this script's entry, else a stale one, else in turn.
        let slot = self
            .entries
            .iter()
            .position(|h| h.is_some_and(|h| h.sha1 == key))
            .or_else(|| {
                self.entries
                    .iter()
                    .position(|h| h.is_none_or(|h| h.version != version))
            });
        let slot = slot.unwrap_or_else(|| {
            let slot = self.next % HINTS;
            self.next = self.next.wrapping_add(1);
            slot
        });
        if let Some(entry) = self.entries.get_mut(slot) {
            *entry = Some(hint);
        }
    }
}

/// What a caller should do about a script before calling it.
#[derive(Debug)]
pub(crate) enum LoadDecision {
    /// Confirmed loaded: send `EVALSHA` only.
    Loaded(Epoch),
    /// Not confirmed, and this node is called `EVALSHA` first (mode, or a
    /// refused load): send `EVALSHA` only, load after `NOSCRIPT`.
    CallFirst,
    /// Not confirmed, a large script: send `EVALSHA` only, the guard
    /// holding the other callers until its reply (as for a load).
    CallFirstLeading(LoadGuard),
    /// Not loaded: send `SCRIPT LOAD` with the call. The guard tells
    /// concurrent callers when the load is done.
    Load(LoadGuard),
    /// The first call of a script of a family not yet surveyed on this
    /// node: ask the server about every script of the family
    /// (`SCRIPT EXISTS`) with the call. `script` holds the callers of
    /// this script, `survey` the first calls of the family's others.
    Survey {
        script: LoadGuard,
        survey: LoadGuard,
        load: bool,
    },
    /// Another caller is loading it right now: wait, then ask again.
    Wait(Waiter),
}

/// Held by the caller loading a script; dropping it releases the callers
/// that wait for the load (also when an async loading task is cancelled).
#[derive(Debug, Default)]
pub(crate) struct LoadGuard {
    latch: Option<Arc<Latch>>,
    #[cfg(feature = "tokio-comp")]
    _done: Option<tokio::sync::watch::Sender<()>>,
}

impl Drop for LoadGuard {
    fn drop(&mut self) {
        if let Some(latch) = &self.latch {
            latch.open();
        }
    }
}

/// What the state knows of one node when a decision is asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Facts {
    /// What the node supports.
    pub(crate) caps: Caps,
    /// The node refused a `SCRIPT LOAD` for lack of permission.
    pub(crate) load_refused: bool,
    /// Whether the script's family was asked about on the node.
    pub(crate) survey: Survey,
    /// The node has no functions (it answered a function's load and call
    /// as unknown commands).
    pub(crate) no_functions: bool,
}

/// Where the survey of a script's family on a node stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Survey {
    /// Not asked yet.
    Due,
    /// Being asked right now by another caller.
    Pending,
    /// Asked already (whatever the answer), or the script has no family
    /// (registered at run time).
    Done,
}

/// What the state knows of one script body on one node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mark {
    /// Not confirmed.
    Unknown,
    /// Confirmed (a hint).
    Loaded(Epoch),
    /// Ran by `EVAL` (a hint, and an evictable copy on newer servers).
    Evalled(Epoch),
    /// Another caller is loading it right now.
    Loading,
}

/// A decision the [`policy`](crate::policy) took, for the state to carry
/// out under the lock it was taken under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Ask what the node supports first.
    Probe,
    /// Call, relying on the confirmation.
    Call(Epoch),
    /// Call without a confirmation (`EVALSHA` first).
    CallFirst,
    /// Call without a confirmation (`EVALSHA` first), the other callers
    /// waiting for this call as for a load.
    CallFirstLeading,
    /// Wait for the caller loading it.
    Wait,
    /// Load; `coordinate` makes the others wait for this load.
    Load { coordinate: bool },
    /// Ask about every script of the family with this call (`load`: the
    /// call goes with its `SCRIPT LOAD`, else `EVALSHA` first).
    Survey { load: bool, coordinate: bool },
    /// Wait for the survey under way.
    WaitSurvey,
}

impl LoadedSet {
    fn lock(&self) -> MutexGuard<'_, FastMap<NodeKey, NodeState>> {
        self.nodes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn ticket(&self) -> Ticket {
        Ticket(self.generation.load(Ordering::Acquire))
    }

    /// Records a change that may alter a decision (called under the lock).
    fn changed(&self) {
        self.version.fetch_add(1, Ordering::Release);
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

    /// The confirmation of `sha1` on `node`, if any.
    #[cfg(feature = "cluster")]
    pub(crate) fn confirmation(&self, node: &NodeKey, sha1: &str) -> Option<Epoch> {
        match self.lock().get(node)?.scripts.get(sha1)? {
            LoadState::Loaded(epoch) => Some(*epoch),
            _ => None,
        }
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
        if changed {
            self.changed();
        }
        changed
    }

    /// Records whether `node` has no functions (it answered a function's
    /// load and call as unknown commands). Returns whether it changed.
    pub(crate) fn set_no_functions(&self, node: &NodeKey, none: bool) -> bool {
        let mut nodes = self.lock();
        if !none && nodes.get(node).is_none_or(|n| !n.no_functions) {
            return false;
        }
        let state = nodes.entry(node.clone()).or_default();
        let changed = state.no_functions != none;
        state.no_functions = none;
        if changed {
            self.changed();
        }
        changed
    }

    /// Whether `node` is known to have no functions.
    pub(crate) fn no_functions(&self, node: &NodeKey) -> bool {
        self.lock().get(node).is_some_and(|n| n.no_functions)
    }

    /// Asks for a decision about one script on `node` and carries it out,
    /// under one lock. `body` picks the body for the node's capabilities;
    /// `family` names the script's family ([`Family::id`]), if it has one;
    /// `judge` (the [`policy`](crate::policy)) decides from what the
    /// state knows of the node and of that body ([`Facts`], [`Mark`]).
    /// The state only carries the verdict out: it hands out the loader's
    /// guard or another loader's waiter. `None` when the verdict is to ask
    /// the capabilities first.
    pub(crate) fn decide_with<'b>(
        &self,
        node: &NodeKey,
        body: impl FnOnce(Caps) -> crate::handle::Body<'b>,
        family: Option<usize>,
        judge: impl FnOnce(Facts, Mark) -> Verdict,
    ) -> Option<Decided<'b>> {
        let mut nodes = self.lock();
        let state = nodes.entry(node.clone()).or_default();
        let caps = state.caps;
        let body = body(caps);
        let survey = match family {
            Some(id) if !state.surveyed.contains(&id) => Survey::Due,
            Some(id)
                if state
                    .survey
                    .as_ref()
                    .is_some_and(|(at, w)| *at == id && w.pending()) =>
            {
                Survey::Pending
            }
            _ => Survey::Done,
        };
        let facts = Facts {
            caps,
            load_refused: state.load_refused,
            survey,
            no_functions: state.no_functions,
        };
        let mark = match state.scripts.get(body.sha1) {
            Some(LoadState::Loaded(epoch)) => Mark::Loaded(*epoch),
            Some(LoadState::Evalled(epoch)) => Mark::Evalled(*epoch),
            Some(LoadState::Loading(waiter)) if waiter.pending() => Mark::Loading,
            // A loader that finished without a confirmation.
            Some(LoadState::Loading(_)) | None => Mark::Unknown,
        };
        let decision = match judge(facts, mark) {
            Verdict::Probe => return None,
            Verdict::Call(epoch) => LoadDecision::Loaded(epoch),
            Verdict::CallFirst => LoadDecision::CallFirst,
            Verdict::CallFirstLeading => {
                let guard = Self::start_loading(state, body.sha1);
                self.changed();
                LoadDecision::CallFirstLeading(guard)
            }
            Verdict::Wait => match state.scripts.get(body.sha1) {
                Some(LoadState::Loading(waiter)) => LoadDecision::Wait(waiter.clone()),
                // Not a verdict the marks allow: load.
                _ => LoadDecision::Load(LoadGuard::default()),
            },
            Verdict::Load { coordinate: false } => LoadDecision::Load(LoadGuard::default()),
            Verdict::Load { coordinate: true } => {
                let guard = Self::start_loading(state, body.sha1);
                // A "loading" entry went in (possibly over a mark).
                self.changed();
                LoadDecision::Load(guard)
            }
            Verdict::Survey { load, coordinate } => match family {
                Some(id) => {
                    let (survey, waiter) = latch();
                    state.surveyed.push(id);
                    state.survey = Some((id, waiter));
                    let script = if coordinate {
                        Self::start_loading(state, body.sha1)
                    } else {
                        LoadGuard::default()
                    };
                    self.changed();
                    LoadDecision::Survey {
                        script,
                        survey,
                        load,
                    }
                }
                // Not a verdict the facts allow: load.
                None => LoadDecision::Load(LoadGuard::default()),
            },
            Verdict::WaitSurvey => match &state.survey {
                Some((_, waiter)) => LoadDecision::Wait(waiter.clone()),
                None => LoadDecision::Load(LoadGuard::default()),
            },
        };
        Some(Decided {
            caps,
            facts,
            body,
            decision,
            ticket: self.ticket(),
            version: self.version.load(Ordering::Relaxed),
        })
    }

    /// What the state knows of `node`, for a decision outside
    /// [`decide_with`](Self::decide_with) (a pipeline's plan).
    pub(crate) fn facts(&self, node: &NodeKey) -> Facts {
        let nodes = self.lock();
        let state = nodes.get(node);
        Facts {
            caps: state.map_or(Caps::Unknown, |n| n.caps),
            load_refused: state.is_some_and(|n| n.load_refused),
            survey: Survey::Done,
            no_functions: state.is_some_and(|n| n.no_functions),
        }
    }

    /// Records that a caller is loading `sha1`: the others wait for it
    /// until the guard is dropped.
    fn start_loading(state: &mut NodeState, sha1: &str) -> LoadGuard {
        let (guard, waiter) = latch();
        state
            .scripts
            .insert(sha1.into(), LoadState::Loading(waiter));
        guard
    }

    /// Records what a survey of `node` answered, unless a `flush_cache`
    /// started since `ticket` was taken: each script of `answers` the
    /// server has (`true`) and the state knows nothing of is marked
    /// loaded (a hint, like any mark); a mark, or a load under way, is
    /// left alone. A script the server lacked stays unmarked: by the time
    /// it is called another process may have loaded it, so its first call
    /// follows the rules of an unknown script (a large source is sent
    /// only after `NOSCRIPT`). Returns how many the server had and
    /// lacked.
    pub(crate) fn record_survey(
        &self,
        node: &NodeKey,
        answers: impl Iterator<Item = (&'static str, bool)>,
        ticket: Ticket,
    ) -> (usize, usize) {
        let mut nodes = self.lock();
        if self.ticket() != ticket {
            return (0, 0);
        }
        let state = nodes.entry(node.clone()).or_default();
        let (mut present, mut absent) = (0, 0);
        for (sha1, has) in answers {
            if !has {
                absent += 1;
                continue;
            }
            present += 1;
            match state.scripts.get(sha1) {
                Some(LoadState::Loaded(_) | LoadState::Evalled(_)) => continue,
                Some(LoadState::Loading(waiter)) if waiter.pending() => continue,
                _ => {}
            }
            let epoch = Epoch::new(self.epochs.fetch_add(1, Ordering::Relaxed));
            state.scripts.insert(sha1.into(), LoadState::Loaded(epoch));
        }
        self.changed();
        (present, absent)
    }

    /// Records that the server has `sha1` (a confirmed load, or a call of
    /// it that ran), unless a `flush_cache` started since `ticket` was
    /// taken. Returns the confirmation, or `None` when not recorded.
    pub(crate) fn mark_loaded(&self, node: &NodeKey, sha1: &str, ticket: Ticket) -> Option<Epoch> {
        self.mark(node, sha1, ticket, LoadState::Loaded)
    }

    /// Records that an `EVAL` of `sha1` ran on `node` (see
    /// [`LoadState::Evalled`]), as [`mark_loaded`](Self::mark_loaded) does.
    pub(crate) fn mark_evalled(&self, node: &NodeKey, sha1: &str, ticket: Ticket) -> Option<Epoch> {
        self.mark(node, sha1, ticket, LoadState::Evalled)
    }

    fn mark(
        &self,
        node: &NodeKey,
        sha1: &str,
        ticket: Ticket,
        how: fn(Epoch) -> LoadState,
    ) -> Option<Epoch> {
        let mut nodes = self.lock();
        if self.ticket() != ticket {
            return None;
        }
        let epoch = Epoch::new(self.epochs.fetch_add(1, Ordering::Relaxed));
        nodes
            .entry(node.clone())
            .or_default()
            .scripts
            .insert(sha1.into(), how(epoch));
        self.changed();
        Some(epoch)
    }

    /// Forgets the confirmation `epoch` of a script on a node, after a call
    /// that relied on it met `NOSCRIPT`. A newer confirmation, or a load
    /// another task started meanwhile, is left alone: many tasks meeting
    /// `NOSCRIPT` at once (after a flush or restart) still reload once.
    /// Returns whether it was cleared.
    pub(crate) fn mark_unloaded(&self, node: &NodeKey, sha1: &str, epoch: Epoch) -> bool {
        if let Some(n) = self.lock().get_mut(node)
            && matches!(
                n.scripts.get(sha1),
                Some(LoadState::Loaded(e) | LoadState::Evalled(e)) if *e == epoch
            )
        {
            n.scripts.remove(sha1);
            self.changed();
            return true;
        }
        false
    }

    /// Forgets that a load is under way, unless it completed.
    pub(crate) fn abandon_loading(&self, node: &NodeKey, sha1: &str) {
        if let Some(n) = self.lock().get_mut(node)
            && matches!(n.scripts.get(sha1), Some(LoadState::Loading(_)))
        {
            n.scripts.remove(sha1);
            self.changed();
        }
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
            // What the server has is to be asked again.
            node.surveyed.clear();
        }
        self.changed();
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

    /// Records what `node` supports. A known value other than the last
    /// known one (directly, or after the capabilities were unknown again
    /// on a sign the server changed) means another server answers behind
    /// the same node: the marks of the one before are void. Loads under
    /// way are kept: they went to the server that answers now, or meet
    /// `NOSCRIPT` like any stale mark. Unknown capabilities void nothing by
    /// themselves (the next answer decides). Returns how many marks were
    /// voided.
    pub(crate) fn set_caps(&self, node: &NodeKey, caps: Caps) -> usize {
        let mut nodes = self.lock();
        let state = nodes.entry(node.clone()).or_default();
        if state.caps == caps {
            return 0;
        }
        let mut voided = 0;
        if caps != Caps::Unknown {
            if state.known != Caps::Unknown && state.known != caps {
                let before = state.scripts.len();
                state
                    .scripts
                    .retain(|_, s| matches!(s, LoadState::Loading(_)));
                voided = before - state.scripts.len();
                state.surveyed.clear();
            }
            state.known = caps;
            if caps == Caps::Modern {
                // A server with `EVALSHA_RO` has functions too.
                state.no_functions = false;
            }
        }
        state.caps = caps;
        self.changed();
        voided
    }
}

/// Counters of one state (shared by every connection using it).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    loads: AtomicU64,
    surveys: AtomicU64,
    reloads: AtomicU64,
    calls: AtomicU64,
    refused_loads: AtomicU64,
    atomic_retries: AtomicU64,
    sha_mismatches: AtomicU64,
    failed_ran: AtomicU64,
    failed_not_run: AtomicU64,
    failed_unknown: AtomicU64,
    libraries_replaced: AtomicU64,
    replica_fallbacks: AtomicU64,
}

impl Counters {
    #[cfg(feature = "cluster")]
    pub(crate) fn replica_fallback(&self) {
        self.replica_fallbacks.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn library_replaced(&self) {
        self.libraries_replaced.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn loaded(&self, n: u64) {
        self.loads.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn surveyed(&self) {
        self.surveys.fetch_add(1, Ordering::Relaxed);
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
    pub(crate) fn sha_mismatch(&self) {
        self.sha_mismatches.fetch_add(1, Ordering::Relaxed);
    }
    /// A single call returned an error; `ran` is what the error says.
    #[cold]
    pub(crate) fn failed(&self, ran: crate::Ran) {
        let counter = match ran {
            crate::Ran::Yes => &self.failed_ran,
            crate::Ran::No => &self.failed_not_run,
            crate::Ran::Unknown => &self.failed_unknown,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn snapshot(&self) -> Stats {
        Stats {
            loads: self.loads.load(Ordering::Relaxed),
            surveys: self.surveys.load(Ordering::Relaxed),
            reloads: self.reloads.load(Ordering::Relaxed),
            calls: self.calls.load(Ordering::Relaxed),
            refused_loads: self.refused_loads.load(Ordering::Relaxed),
            atomic_retries: self.atomic_retries.load(Ordering::Relaxed),
            sha_mismatches: self.sha_mismatches.load(Ordering::Relaxed),
            failed_ran: self.failed_ran.load(Ordering::Relaxed),
            failed_not_run: self.failed_not_run.load(Ordering::Relaxed),
            failed_unknown: self.failed_unknown.load(Ordering::Relaxed),
            libraries_replaced: self.libraries_replaced.load(Ordering::Relaxed),
            replica_fallbacks: self.replica_fallbacks.load(Ordering::Relaxed),
            slot_map_refreshes: 0,
        }
    }
}

/// What a preload did, script by script: [`ScriptCache::load_registered`]
/// (and the `script-cache preload` command).
///
/// [`ScriptCache::load_registered`]: crate::ScriptCache::load_registered
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct LoadReport {
    /// Scripts the server confirmed with this preload.
    pub loaded: usize,
    /// Scripts the state already knew the server had: nothing was sent
    /// for them.
    pub known: usize,
    /// Scripts the server refused, by name, with why
    /// ([`Error::LoadRejected`](crate::Error::LoadRejected),
    /// [`Error::PermissionDenied`](crate::Error::PermissionDenied),
    /// [`Error::ShaMismatch`](crate::Error::ShaMismatch), ...).
    pub failed: Vec<(String, crate::Error)>,
}

impl LoadReport {
    /// The number loaded, or the first refusal.
    pub(crate) fn into_count(self) -> Result<usize> {
        match self.failed.into_iter().next() {
            Some((_, e)) => Err(e),
            None => Ok(self.loaded),
        }
    }
}

/// What the connections sharing a [`ScriptState`] have done so far.
///
/// Every field only grows. What an operator usually alerts on:
/// `reloads` and `atomic_retries` rising (the server keeps losing its
/// scripts: flushes, restarts, failovers), `refused_loads` (an ACL without
/// `SCRIPT LOAD`), `sha_mismatches` (never expected), `failed_unknown`
/// (calls that may or may not have applied) and `slot_map_refreshes`
/// (cluster topology changes). With the `tracing` feature, each of these
/// increments comes with an event (see the crate docs, "Observability").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// `SCRIPT LOAD`s the server confirmed.
    pub loads: u64,
    /// Surveys answered: a state's first call of an embedded script on a
    /// node also asks, in the same round trip, which scripts of its enum
    /// the node has (one `SCRIPT EXISTS`), so that a fresh process sends
    /// no source the server holds (docs/connections.md, "Cold fleets").
    pub surveys: u64,
    /// Scripts the server had confirmed and then answered `NOSCRIPT` for
    /// (flush, restart, failover): each is one reload. Many tasks meeting
    /// the same `NOSCRIPT` count once, as they share one reload.
    pub reloads: u64,
    /// Script calls sent (`EVALSHA` / `EVALSHA_RO`), retries included.
    pub calls: u64,
    /// `SCRIPT LOAD`s the server refused for lack of permission (`NOPERM`);
    /// after the first, that server is called `EVALSHA` first.
    pub refused_loads: u64,
    /// Calls retried after `NOSCRIPT` as one `EVAL` (`EVAL_RO`) with the
    /// source, which loads and runs atomically.
    pub atomic_retries: u64,
    /// `SCRIPT LOAD`s that answered another SHA-1 than the one computed at
    /// build time ([`Error::ShaMismatch`](crate::Error::ShaMismatch)): a
    /// proxy or server that changes scripts. Should stay 0.
    pub sha_mismatches: u64,
    /// Single calls (`invoke`, `invoke_async`, `run_script` and the typed
    /// calls; not pipelines) that returned an error although the script
    /// ran ([`Ran::Yes`](crate::Ran::Yes)): a Lua error, or a reply that
    /// did not convert to the requested type.
    pub failed_ran: u64,
    /// Single calls that returned an error and provably did not run
    /// ([`Ran::No`](crate::Ran::No)): a server condition (`BUSY`, `OOM`,
    /// `READONLY`, ...), a refusal, a refused connection. Safe to retry.
    pub failed_not_run: u64,
    /// Single calls that returned an error after the request was sent and
    /// no answer came ([`Ran::Unknown`](crate::Ran::Unknown)): the script
    /// may have run.
    pub failed_unknown: u64,
    /// Slot maps (`CLUSTER SLOTS` replies) stored by the cluster paths: the
    /// first one, then one per refresh after a `NOSCRIPT`, a redirect or
    /// an error. Always 0 without a cluster connection.
    pub slot_map_refreshes: u64,
    /// Function libraries a first call (or a reload) found on the server
    /// with other code than this build's under the same name (an older
    /// deploy, a hand edit) and replaced with this build's, so that the
    /// binary's own code runs. Each comes with a `tracing` event.
    pub libraries_replaced: u64,
    /// `FCALL_RO` calls a cluster replica answered "Function not found"
    /// (replication lag, a replica flushed apart, a new replica), which
    /// were then sent to the shard's primary: they did not run on the
    /// replica, so nothing ran twice. Each comes with a `tracing` event.
    /// Always 0 without a cluster connection that reads from replicas.
    pub replica_fallbacks: u64,
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
    /// Whether a library of the same name with other code on a server is
    /// refused ([`Error::OtherLibrary`](crate::Error::OtherLibrary))
    /// rather than replaced.
    pub(crate) refuse_other_libraries: std::sync::atomic::AtomicBool,
    /// The slot map of the cluster behind the connections, if any.
    #[cfg(feature = "cluster")]
    pub(crate) cluster: crate::topology::Topology,
    /// The OpenTelemetry instruments, once enabled.
    #[cfg(feature = "opentelemetry")]
    pub(crate) metrics: std::sync::OnceLock<crate::metrics::Metrics>,
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

    /// What a first call of a library's function does when the server
    /// holds a library of the same name with other code (an older deploy
    /// sharing the server, a hand edit): by default (`false`) it replaces
    /// it with this build's code (`FUNCTION LOAD REPLACE`), counted in
    /// [`Stats::libraries_replaced`] with a `tracing` event, so the
    /// binary's own code runs; with `true` it refuses instead:
    /// [`Error::OtherLibrary`](crate::Error::OtherLibrary), nothing loaded,
    /// the function not run. Refusing costs one round trip more on each
    /// first call of a function on a node (`FUNCTION LIST` before the load).
    pub fn refuse_other_libraries(&self, refuse: bool) {
        self.inner
            .refuse_other_libraries
            .store(refuse, Ordering::Relaxed);
    }

    /// The load mode.
    pub fn mode(&self) -> LoadMode {
        self.inner.mode
    }

    /// What the connections sharing this state did so far.
    pub fn stats(&self) -> Stats {
        #[allow(unused_mut)]
        let mut stats = self.inner.counters.snapshot();
        #[cfg(feature = "cluster")]
        {
            stats.slot_map_refreshes = self.inner.cluster.refreshes();
        }
        stats
    }

    /// Reports this state's operations as OpenTelemetry metrics made with
    /// `meter` (the `opentelemetry` feature): the `db.client.operation.duration`
    /// histogram, one measurement per script call, pipeline and
    /// transaction on any connection given this state, and the
    /// [`Stats`] counters as observable counters (`script_cache.loads`,
    /// `script_cache.reloads`, ...; see docs/observability.md). Nothing is
    /// measured before: a state without metrics reads no clock.
    ///
    /// Returns `false`, and changes nothing, when metrics were enabled on
    /// this state already.
    ///
    /// ```
    /// let meter = opentelemetry::global::meter("my-service");
    /// let state = script_cache::ScriptState::new();
    /// assert!(state.enable_metrics(&meter));
    /// assert!(!state.enable_metrics(&meter));
    /// ```
    #[cfg(feature = "opentelemetry")]
    pub fn enable_metrics(&self, meter: &opentelemetry::metrics::Meter) -> bool {
        let mut created = false;
        self.inner.metrics.get_or_init(|| {
            created = true;
            let state = Arc::downgrade(&self.inner);
            crate::metrics::Metrics::new(
                meter,
                Arc::new(move || state.upgrade().map(|inner| ScriptState { inner }.stats())),
            )
        });
        created
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
    /// With the `checker` feature (default), the source is checked as Lua
    /// 5.1 first, with the same checker as the build-time macros: a syntax
    /// error is [`Error::Syntax`] and the script is not registered (nothing
    /// invalid reaches a server). The `#!lua` line is checked as `SCRIPT
    /// LOAD` would ([`Error::Shebang`](crate::Error::Shebang)), and the lint
    /// runs for the servers of the `script-cache.toml` of the last folder
    /// registered from (every known server before that).
    /// Registering the same source under the same name again is a no-op;
    /// another source under a taken name is [`Error::NameTaken`] (use
    /// [`replace_script`](Self::replace_script)). Nothing is sent: the
    /// script is loaded on its first call, like an embedded one.
    ///
    /// # Without the `checker` feature
    ///
    /// The name, the `#!lua` line ([`Error::Shebang`](crate::Error::Shebang))
    /// and the SHA-1 are still done here, but neither Lua 5.1 nor the lint
    /// is: the server is the checker. A script with a syntax error is
    /// registered, and its first call (or [`load_registered`]) fails with
    /// [`Error::LoadRejected`], which names the script and says it did not
    /// run ([`Error::ran`] is [`Ran::No`](crate::Ran::No)), on every call
    /// until it is replaced; what the lint would refuse fails only when the
    /// line runs ([`Error::Script`](crate::Error::Script)). The syntax
    /// errors whose server message could quote bytes that are not UTF-8
    /// are still refused here as [`Error::Syntax`], found with Lua's lexer
    /// rules: code that is not ASCII outside strings and comments (`local
    /// café`), an unfinished quoted string, a decimal escape above 255. One
    /// corner stays (the crate docs, "The `checker` feature").
    ///
    /// [`Error::Syntax`]: crate::Error::Syntax
    /// [`Error::NameTaken`]: crate::Error::NameTaken
    /// [`Error::LoadRejected`]: crate::Error::LoadRejected
    /// [`Error::ran`]: crate::Error::ran
    /// [`load_registered`]: crate::ScriptCache::load_registered
    pub fn register_script(&self, name: &str, source: &str) -> Result<String> {
        self.inner.registry.add(name, source)
    }

    /// Registers a script under `name`, replacing any script of that name.
    /// Checked as by [`register_script`](Self::register_script): as Lua 5.1
    /// and by the lint with the `checker` feature, by the server at its
    /// first call without it.
    pub fn replace_script(&self, name: &str, source: &str) -> Result<String> {
        self.inner.registry.replace(name, source)
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
    /// paths and symlinks leading out of it are refused:
    /// [`Error::OutsideScriptDir`](crate::Error::OutsideScriptDir)). A FIFO
    /// or device is refused at once, never read. The `script-cache.toml` of
    /// the file's folder, if any, names the servers it is linted for. The
    /// source is checked as by [`register_script`](Self::register_script):
    /// as Lua 5.1 and by the lint with the `checker` feature, by the server
    /// at its first call without it.
    pub fn register_file(&self, path: impl AsRef<Path>) -> Result<String> {
        self.inner.registry.register_file(path.as_ref())
    }

    /// Registers every top-level `*.lua` file of `dir` (dotfiles and
    /// subfolders skipped) in sorted order and returns their names, linted
    /// for the servers of `dir/script-cache.toml` (all known servers
    /// without one). Either all are registered or, on an error, none. Each
    /// source is checked as by [`register_script`](Self::register_script):
    /// as Lua 5.1 and by the lint with the `checker` feature, by the server
    /// at its first call without it (then a syntax error does not stop the
    /// others from being registered).
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
    fn hints_hold_only_while_nothing_changed() {
        let set = LoadedSet::default();
        let node = NodeKey::SINGLE;
        let sha = |i: u8| format!("{i:040}");
        let decide = |sha1: &str| {
            let sha1: &'static str = Box::leak(sha1.to_owned().into_boxed_str());
            // The verdict a first attempt gets (the policy's, for a script
            // that does not need the capabilities).
            set.decide_with(&node, body(sha1), None, |_, mark| match mark {
                Mark::Loaded(epoch) => Verdict::Call(epoch),
                _ => Verdict::Load { coordinate: false },
            })
            .unwrap()
        };
        let hint = |epoch, caps| Hinted {
            epoch,
            command: if caps == Caps::Modern {
                "EVALSHA_RO"
            } else {
                "EVALSHA"
            },
            legacy: caps == Caps::Legacy,
        };
        let mut hints = Hints::default();
        let (_, t) = set.loaded_epochs(&node, std::iter::empty());
        let e1 = set.mark_loaded(&node, &sha(1), t).unwrap();
        let d = decide(&sha(1));
        assert!(matches!(d.decision, LoadDecision::Loaded(e) if e == e1));
        hints.put(&sha(1), hint(e1, d.caps), d.version);
        assert_eq!(hints.get(&set, &sha(1)), Some(hint(e1, Caps::Unknown)));
        assert_eq!(hints.get(&set, &sha(2)), None);
        // Not a SHA-1: never remembered.
        hints.put("short", hint(e1, Caps::Modern), d.version);
        assert_eq!(hints.get(&set, "short"), None);

        // Any change voids every hint: a mark...
        let e2 = set.mark_loaded(&node, &sha(2), t).unwrap();
        assert_eq!(hints.get(&set, &sha(1)), None);
        let d = decide(&sha(1));
        hints.put(&sha(1), hint(e1, d.caps), d.version);
        assert_eq!(hints.get(&set, &sha(1)), Some(hint(e1, Caps::Unknown)));
        // ...what the node supports (only when it changes)...
        set.set_caps(&node, Caps::Unknown);
        assert_eq!(hints.get(&set, &sha(1)), Some(hint(e1, Caps::Unknown)));
        set.set_caps(&node, Caps::Modern);
        assert_eq!(hints.get(&set, &sha(1)), None);
        let d = decide(&sha(1));
        hints.put(&sha(1), hint(e1, d.caps), d.version);
        assert_eq!(hints.get(&set, &sha(1)), Some(hint(e1, Caps::Modern)));
        // ...a NOSCRIPT that clears a mark (a stale one clears nothing)...
        assert!(!set.mark_unloaded(&node, &sha(1), e2));
        assert_eq!(hints.get(&set, &sha(1)), Some(hint(e1, Caps::Modern)));
        assert!(set.mark_unloaded(&node, &sha(1), e1));
        assert_eq!(hints.get(&set, &sha(1)), None);
        // ...a refusal, a flush.
        let d = decide(&sha(2));
        hints.put(&sha(2), hint(e2, d.caps), d.version);
        set.set_load_refused(&node, true);
        assert_eq!(hints.get(&set, &sha(2)), None);
        let d = decide(&sha(2));
        hints.put(&sha(2), hint(e2, d.caps), d.version);
        assert_eq!(hints.get(&set, &sha(2)), Some(hint(e2, Caps::Modern)));
        set.clear();
        assert_eq!(hints.get(&set, &sha(2)), None);

        // More scripts than entries: the oldest make room.
        let (_, t) = set.loaded_epochs(&node, std::iter::empty());
        let epochs: Vec<Epoch> = (10..16)
            .map(|i| set.mark_loaded(&node, &sha(i), t).unwrap())
            .collect();
        for (i, e) in (10..16).zip(&epochs) {
            let d = decide(&sha(i));
            hints.put(&sha(i), hint(*e, d.caps), d.version);
        }
        let held = (10..16)
            .filter(|&i| hints.get(&set, &sha(i)).is_some())
            .count();
        assert_eq!(held, HINTS);
        assert_eq!(
            hints.get(&set, &sha(15)),
            Some(hint(epochs[5], Caps::Modern))
        );
    }

    #[test]
    fn a_change_of_what_a_node_supports_voids_its_marks() {
        let set = LoadedSet::default();
        let node = NodeKey::SINGLE;
        // The verdicts of a first attempt that coordinates with others.
        let first_coordinated = |_, mark| match mark {
            Mark::Loaded(epoch) => Verdict::Call(epoch),
            Mark::Loading => Verdict::Wait,
            Mark::Unknown | Mark::Evalled(_) => Verdict::Load { coordinate: true },
        };
        let other = NodeKey::node("other:1".into());
        let (_, t) = set.loaded_epochs(&node, std::iter::empty());
        // Marks taken before the capabilities were first asked stay.
        assert!(set.mark_loaded(&node, "a", t).is_some());
        assert_eq!(set.set_caps(&node, Caps::Modern), 0);
        assert!(set.is_loaded(&node, "a"));
        assert!(set.mark_loaded(&other, "a", t).is_some());
        // Asked again with the same answer: nothing changes.
        assert_eq!(set.set_caps(&node, Caps::Modern), 0);
        // Another version behind the node: its marks are void, the other
        // node's stay, a load under way stays.
        let loading = set
            .decide_with(&node, body("b"), None, first_coordinated)
            .map(|d| d.decision);
        assert!(matches!(loading, Some(LoadDecision::Load(_))));
        assert_eq!(set.set_caps(&node, Caps::Legacy), 1);
        assert!(!set.is_loaded(&node, "a"));
        assert!(set.is_loaded(&other, "a"));
        assert!(matches!(
            set.decide_with(&node, body("b"), None, first_coordinated)
                .map(|d| d.decision),
            Some(LoadDecision::Wait(_))
        ));
        drop(loading);
        // Unknown again (a sign the server changed, or a caller that did
        // not need them): the next answer decides. The same as before:
        // the marks stay...
        assert!(set.mark_loaded(&node, "c", t).is_some());
        assert_eq!(set.set_caps(&node, Caps::Unknown), 0);
        assert_eq!(set.set_caps(&node, Caps::Legacy), 0);
        assert!(set.is_loaded(&node, "c"));
        // ...another: they are void.
        assert_eq!(set.set_caps(&node, Caps::Unknown), 0);
        assert!(set.mark_loaded(&node, "d", t).is_some());
        assert_eq!(set.set_caps(&node, Caps::Modern), 2);
        assert!(!set.is_loaded(&node, "c") && !set.is_loaded(&node, "d"));
    }
}
