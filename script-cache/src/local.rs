//! What one connection keeps for itself, beside the state it shares: the
//! buffers its calls are packed into and the decisions it last took
//! ([`Hints`]), per node on an async cluster connection. A clone of a
//! connection starts afresh.

use redis::Cmd;

use crate::state::Hints;
#[cfg(feature = "cluster-async")]
use crate::{node::NodeKey, topology::SlotTable, topology::Topology};
#[cfg(feature = "cluster-async")]
use std::sync::Arc;
#[cfg(feature = "cluster-async")]
use std::sync::atomic::Ordering;

/// What one connection keeps for itself (a clone starts afresh): buffers
/// reused by every call, and the decisions it last took.
#[derive(Default)]
pub(crate) struct Local {
    /// A sync call's packed `EVALSHA`.
    pub(crate) buf: Vec<u8>,
    /// An async call's `EVALSHA` (the async API takes a `Cmd`).
    pub(crate) cmd: Cmd,
    pub(crate) hints: Hints,
    /// The server's address as the user gave it, for the spans and
    /// metrics (kept by a clone).
    pub(crate) server: Option<crate::span::Server>,
    /// On an async cluster connection: the slot map last read and the
    /// hints per node.
    #[cfg(feature = "cluster-async")]
    pub(crate) cluster: ClusterLocal,
}

/// Buffers that grew past this for one large call are given back.
const KEEP_BUFFER: usize = 64 * 1024;

impl Local {
    /// Gives back what a call with `packed` bytes of arguments made the
    /// buffers grow to, when that is more than is worth keeping.
    pub(crate) fn trim(&mut self, packed: usize) {
        if packed > KEEP_BUFFER {
            self.buf = Vec::new();
            self.cmd = Cmd::new();
        }
    }
}

/// How many nodes an async cluster connection keeps [`Hints`] for.
#[cfg(feature = "cluster-async")]
const HINTED_NODES: usize = 16;

/// What one async cluster connection keeps for itself (a clone starts
/// afresh), so that a steady call reads neither the slot map nor the load
/// marks under the state's locks: the slot map it last read, and its
/// remembered decisions per (node, script) ([`Hints`] per shard primary).
/// Both are checked against the state on every use (the count of stored
/// slot maps, the marks' version), so they say what the locked look-ups
/// would say.
#[cfg(feature = "cluster-async")]
#[derive(Default)]
pub(crate) struct ClusterLocal {
    /// The slot map, and the [`Topology::refreshes`] count it was read at.
    table: Option<(u64, Arc<SlotTable>)>,
    /// Per shard primary, the decisions taken for it.
    hints: Vec<(NodeKey, Hints)>,
}

#[cfg(feature = "cluster-async")]
impl ClusterLocal {
    /// The primary that owns `slot` in the state's current slot map, and
    /// this connection's hints for it (`None` before the first slot map,
    /// or when nothing is remembered for that node yet).
    #[inline]
    pub(crate) fn steady(&mut self, topology: &Topology, slot: u16) -> Option<(&NodeKey, &Hints)> {
        let generation = topology.refreshes.load(Ordering::Acquire);
        if !matches!(&self.table, Some((g, _)) if *g == generation) {
            self.table = Some((generation, topology.table()?));
        }
        let (_, table) = self.table.as_ref()?;
        let node = &table.shard(slot)?.primary_key;
        let hints = self.hints.iter().find(|(n, _)| n == node).map(|(_, h)| h)?;
        Some((node, hints))
    }

    /// This connection's hints for `node`, made if missing (the oldest
    /// node's are dropped past [`HINTED_NODES`]).
    pub(crate) fn hints_mut(&mut self, node: &NodeKey) -> &mut Hints {
        let at = match self.hints.iter().position(|(n, _)| n == node) {
            Some(at) => at,
            None => {
                if self.hints.len() >= HINTED_NODES {
                    self.hints.remove(0);
                }
                self.hints.push((node.clone(), Hints::default()));
                self.hints.len() - 1
            }
        };
        &mut self.hints[at].1
    }
}

#[cfg(all(test, feature = "cluster-async"))]
mod tests {
    use super::*;

    #[test]
    fn a_connection_rereads_the_slot_map_after_a_refresh_and_keeps_hints_per_node() {
        let map = |port: u16| {
            Ok(redis::parse_redis_value(
                format!("*1\r\n*3\r\n:0\r\n:16383\r\n*2\r\n$9\r\n127.0.0.1\r\n:{port}\r\n")
                    .as_bytes(),
            )
            .unwrap())
        };
        let topology = Topology::default();
        let mut local = ClusterLocal::default();
        // No slot map yet: no steady call.
        assert!(local.steady(&topology, 5).is_none());
        topology.store(map(7000));
        // A slot map, but no hints for its node yet.
        assert!(local.steady(&topology, 5).is_none());
        let a = NodeKey::node("127.0.0.1:7000".into());
        local.hints_mut(&a);
        assert_eq!(
            local.steady(&topology, 5).map(|(n, _)| n.clone()),
            Some(a.clone())
        );
        // Another map stored: read again, and the new owner has no hints.
        topology.store(map(7001));
        assert!(local.steady(&topology, 5).is_none());
        let b = NodeKey::node("127.0.0.1:7001".into());
        local.hints_mut(&b);
        assert_eq!(local.steady(&topology, 5).map(|(n, _)| n.clone()), Some(b));
        // Bounded: the oldest node's hints go first.
        for port in 0..HINTED_NODES {
            local.hints_mut(&NodeKey::node(format!("10.0.0.1:{port}").into()));
        }
        assert_eq!(local.hints.len(), HINTED_NODES);
        assert!(!local.hints.iter().any(|(n, _)| *n == a));
    }
}
