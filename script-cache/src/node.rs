//! Facts about one server node that every layer speaks of: which node
//! ([`NodeKey`]), what it supports ([`Caps`]) and which confirmation of a
//! load a caller relied on ([`Epoch`]). Plain values, no locks: the
//! [`state`](crate::state) keeps them, the [`policy`](crate::policy)
//! decides with them, [`trace`](crate::trace) reports them.

use std::sync::Arc;

/// Which server node a piece of state belongs to.
#[derive(Clone, Debug, Eq)]
pub(crate) struct NodeKey(Option<Arc<str>>);

/// By address (as [`Hash`]); the same `Arc` (a key cloned from the same
/// slot map, the steady case) is equal without reading the address.
impl PartialEq for NodeKey {
    #[inline]
    fn eq(&self, other: &NodeKey) -> bool {
        match (&self.0, &other.0) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b) || a == b,
            (None, None) => true,
            _ => false,
        }
    }
}

/// The address only, consistent with [`PartialEq`].
impl std::hash::Hash for NodeKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.as_deref().hash(state);
    }
}

impl NodeKey {
    /// The one node behind a non-cluster connection.
    pub(crate) const SINGLE: NodeKey = NodeKey(None);

    /// Whether this is the one node behind a non-cluster connection.
    pub(crate) fn is_single(&self) -> bool {
        self.0.is_none()
    }

    /// The address of a cluster node (`None`: the one node behind a
    /// non-cluster connection).
    #[cfg(all(
        feature = "cluster",
        any(feature = "tracing", feature = "opentelemetry")
    ))]
    pub(crate) fn address(&self) -> Option<&str> {
        self.0.as_deref()
    }

    /// A cluster node (or a role of one), by address.
    #[cfg(any(feature = "cluster", test))]
    pub(crate) fn node(addr: Arc<str>) -> NodeKey {
        NodeKey(Some(addr))
    }
}

/// The node field of the `tracing` events: the address (or the
/// `CLUSTER SLOTS` role, `host:port/replicas`, `slot:N` before the first
/// slot map) of a cluster node, `single` for a non-cluster connection.
impl std::fmt::Display for NodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.as_deref().unwrap_or("single"))
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

/// Which confirmation of a load a caller relied on. A `NOSCRIPT` answer
/// to a call sent before a newer confirmation says nothing about the newer
/// one, so it must not clear it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Epoch(u64);

impl Epoch {
    /// The confirmation numbered `n`.
    pub(crate) fn new(n: u64) -> Epoch {
        Epoch(n)
    }

    /// The confirmation's number (a field of the `tracing` events).
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    pub(crate) fn get(self) -> u64 {
        self.0
    }
}
