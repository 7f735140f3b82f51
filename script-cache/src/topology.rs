//! What a state knows about the Redis Cluster behind its connections: the
//! hash slot of a key, the slot map `CLUSTER SLOTS` reported, and where
//! one call goes ([`Target`]). Facts only: the drivers in
//! [`cluster`](crate::cluster) ask for the map and route by it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use redis::Value;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};

use crate::node::{Caps, NodeKey};

/// Number of hash slots of a Redis Cluster.
pub const SLOT_COUNT: u16 = 16384;

/// The hash slot of `key`: CRC16 (XMODEM) of the key, or of its hash tag
/// (the part between the first `{` and the next `}`, when not empty),
/// modulo 16384, as the cluster specification defines it.
pub fn key_slot(key: &[u8]) -> u16 {
    crc16(hashtag(key).unwrap_or(key)) % SLOT_COUNT
}

fn hashtag(key: &[u8]) -> Option<&[u8]> {
    let open = key.iter().position(|b| *b == b'{')?;
    let close = key[open + 1..].iter().position(|b| *b == b'}')?;
    let tag = &key[open + 1..open + 1 + close];
    (!tag.is_empty()).then_some(tag)
}

/// CRC16-CCITT (XMODEM): polynomial 0x1021, initial value 0; one table
/// lookup per byte.
fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in bytes {
        crc = (crc << 8) ^ CRC16_TABLE[usize::from((crc >> 8) as u8 ^ b)];
    }
    crc
}

const CRC16_TABLE: [u16; 256] = {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// One range of slots and the nodes serving it.
#[derive(Clone, Debug)]
pub(crate) struct Shard {
    start: u16,
    end: u16,
    primary: Arc<str>,
    /// Marks of the primary.
    pub(crate) primary_key: NodeKey,
    /// Marks of read-only calls, which may run on its replicas.
    replicas_key: NodeKey,
}

/// The slot map as `CLUSTER SLOTS` reported it.
#[derive(Clone, Debug, Default)]
pub(crate) struct SlotTable {
    /// Sorted by `start`.
    shards: Vec<Shard>,
}

impl SlotTable {
    /// Parses a `CLUSTER SLOTS` reply, leniently (extra fields, such as
    /// node ids, host names and availability zones, are skipped).
    pub(crate) fn parse(value: &Value) -> Option<SlotTable> {
        let Value::Array(ranges) = value else {
            return None;
        };
        let mut shards = Vec::with_capacity(ranges.len());
        for range in ranges {
            let Value::Array(fields) = range else {
                continue;
            };
            let (Some(start), Some(end)) =
                (fields.first().and_then(int), fields.get(1).and_then(int))
            else {
                continue;
            };
            let Some(primary) = fields.get(2).and_then(node_addr) else {
                continue;
            };
            shards.push(Shard {
                start: u16::try_from(start).ok()?,
                end: u16::try_from(end).ok()?,
                primary_key: NodeKey::node(primary.clone()),
                replicas_key: NodeKey::node(format!("{primary}/replicas").into()),
                primary,
            });
        }
        shards.sort_by_key(|s| s.start);
        Some(SlotTable { shards })
    }

    pub(crate) fn shard(&self, slot: u16) -> Option<&Shard> {
        let at = self.shards.partition_point(|s| s.start <= slot);
        let shard = self.shards.get(at.checked_sub(1)?)?;
        (slot <= shard.end).then_some(shard)
    }

    /// The primary of each shard, with the first slot of one of its ranges.
    pub(crate) fn primaries(&self) -> Vec<(Arc<str>, u16)> {
        let mut out: Vec<(Arc<str>, u16)> = Vec::new();
        for shard in &self.shards {
            if !out.iter().any(|(p, _)| *p == shard.primary) {
                out.push((shard.primary.clone(), shard.start));
            }
        }
        out
    }
}

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        Value::BulkString(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        _ => None,
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        Value::VerbatimString { text, .. } => Some(text.clone()),
        _ => None,
    }
}

/// `[host, port, id, ...]` -> `host:port`.
fn node_addr(v: &Value) -> Option<Arc<str>> {
    let Value::Array(fields) = v else {
        return None;
    };
    let host = text(fields.first()?)?;
    let port = int(fields.get(1)?)?;
    Some(format!("{host}:{port}").into())
}

/// What a state knows about the cluster behind its connections: the slot
/// map and what the servers support. Shared by every clone of the state.
#[derive(Debug, Default)]
pub(crate) struct Topology {
    table: Mutex<Option<Arc<SlotTable>>>,
    caps: Mutex<Caps>,
    /// A `CLUSTER SLOTS` is in flight (single flight: others keep using
    /// the table they have).
    refreshing: AtomicBool,
    pub(crate) refreshes: AtomicU64,
    /// Wakes the tasks waiting for the first slot map.
    #[cfg(feature = "tokio-comp")]
    pub(crate) refreshed: tokio::sync::Notify,
}

/// A claimed slot-map refresh; see [`Topology::begin_refresh`].
pub(crate) struct RefreshGuard<'a>(&'a Topology);

impl Drop for RefreshGuard<'_> {
    fn drop(&mut self) {
        self.0.refreshing.store(false, Ordering::Release);
        #[cfg(feature = "tokio-comp")]
        self.0.refreshed.notify_waiters();
    }
}

impl Topology {
    pub(crate) fn table(&self) -> Option<Arc<SlotTable>> {
        self.table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Claims the refresh; `None` when another caller is refreshing. The
    /// claim ends when the guard is dropped (also when the task holding it
    /// is cancelled).
    pub(crate) fn begin_refresh(&self) -> Option<RefreshGuard<'_>> {
        // `then`, not `then_some`: a guard built for a caller that lost the
        // race would be dropped at once, and its drop would end the
        // winner's claim and wake the tasks waiting for the first map.
        (!self.refreshing.swap(true, Ordering::AcqRel)).then(|| RefreshGuard(self))
    }

    /// Stores the slot map of a `CLUSTER SLOTS` reply (a failed or empty
    /// one keeps the map there was).
    pub(crate) fn store(&self, reply: redis::RedisResult<Value>) {
        if let Ok(value) = reply
            && let Some(table) = SlotTable::parse(&value)
            && !table.shards.is_empty()
        {
            let (shards, primaries) = (table.shards.len(), table.primaries().len());
            *self.table.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(table));
            // After the table: a connection that sees the new count reads
            // the new table ([`ClusterLocal::steady`]).
            let generation = self.refreshes.fetch_add(1, Ordering::Release) + 1;
            crate::trace::slot_map(shards, primaries, generation);
        }
    }

    /// How many slot maps were stored ([`Stats::slot_map_refreshes`]).
    ///
    /// [`Stats::slot_map_refreshes`]: crate::Stats::slot_map_refreshes
    pub(crate) fn refreshes(&self) -> u64 {
        self.refreshes.load(Ordering::Relaxed)
    }

    pub(crate) fn has_table(&self) -> bool {
        self.table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// The target of a call to `slot`, looked up under the lock (no clone
    /// of the table); `None` before the first slot map.
    pub(crate) fn target(&self, slot: u16, read_only: bool) -> Option<Target> {
        let table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        table.as_deref().map(|t| target(Some(t), slot, read_only))
    }

    pub(crate) fn caps(&self) -> Caps {
        *self.caps.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn set_caps(&self, caps: Caps) {
        *self.caps.lock().unwrap_or_else(PoisonError::into_inner) = caps;
    }
}

/// `CLUSTER SLOTS`.
pub(crate) fn slots_cmd() -> redis::Cmd {
    let mut cmd = redis::cmd("CLUSTER");
    cmd.arg("SLOTS");
    cmd
}

/// Where one call goes.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    pub(crate) slot: u16,
    pub(crate) addr: SlotAddr,
    pub(crate) node: NodeKey,
}

impl Target {
    pub(crate) fn route(&self) -> SingleNodeRoutingInfo {
        SingleNodeRoutingInfo::SpecificNode(Route::new(self.slot, self.addr))
    }

    pub(crate) fn routing(&self) -> RoutingInfo {
        RoutingInfo::SingleNode(self.route())
    }
}

/// The target of a call to `slot` of a script sent as `command`, given the
/// slot map (`None`: not known yet; the node key is then a placeholder
/// per slot, and the call still goes to the right node).
pub(crate) fn target(table: Option<&SlotTable>, slot: u16, read_only: bool) -> Target {
    let (addr, node) = match (table.and_then(|t| t.shard(slot)), read_only) {
        (Some(shard), false) => (SlotAddr::Master, shard.primary_key.clone()),
        (Some(shard), true) => (SlotAddr::ReplicaOptional, shard.replicas_key.clone()),
        (None, false) => (
            SlotAddr::Master,
            NodeKey::node(format!("slot:{slot}").into()),
        ),
        (None, true) => (
            SlotAddr::ReplicaOptional,
            NodeKey::node(format!("slot:{slot}/replicas").into()),
        ),
    };
    Target { slot, addr, node }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refresh_is_claimed_once_until_its_guard_is_dropped() {
        let topology = Topology::default();
        let claim = topology.begin_refresh().expect("the first claim");
        // Callers that lose the race get nothing and leave the claim alone.
        assert!(topology.begin_refresh().is_none());
        assert!(topology.begin_refresh().is_none());
        assert!(topology.refreshing.load(Ordering::Acquire));
        drop(claim);
        assert!(topology.begin_refresh().is_some());
    }

    #[test]
    fn slots_follow_the_cluster_specification() {
        // Values from the specification and `CLUSTER KEYSLOT`.
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"bar"), 5061);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(key_slot(b"foo{}{bar}"), key_slot(b"foo{}{bar}"));
        assert_ne!(key_slot(b"foo{}{bar}"), key_slot(b"bar"));
        assert_eq!(key_slot(b"foo{{bar}}zap"), key_slot(b"{bar"));
        assert_eq!(key_slot(b"foo{bar}{zap}"), key_slot(b"bar"));
        for i in 0..2000u32 {
            let key = format!("k{i}");
            assert_eq!(
                Route::with_key(&key, SlotAddr::Master),
                Route::new(key_slot(key.as_bytes()), SlotAddr::Master),
                "{key}"
            );
        }
    }

    #[test]
    fn a_slot_table_is_parsed_leniently_and_looked_up() {
        let reply = redis::parse_redis_value(
            b"*2\r\n\
              *4\r\n:0\r\n:8191\r\n*3\r\n$9\r\n127.0.0.1\r\n:7000\r\n$2\r\nid\r\n*4\r\n$9\r\n127.0.0.1\r\n:7003\r\n$2\r\nid\r\n%1\r\n$2\r\naz\r\n$1\r\na\r\n\
              *3\r\n:8192\r\n:16383\r\n*2\r\n$9\r\n127.0.0.1\r\n:7001\r\n",
        )
        .unwrap();
        let table = SlotTable::parse(&reply).unwrap();
        assert_eq!(&*table.shard(0).unwrap().primary, "127.0.0.1:7000");
        assert_eq!(&*table.shard(8191).unwrap().primary, "127.0.0.1:7000");
        assert_eq!(&*table.shard(16383).unwrap().primary, "127.0.0.1:7001");
        assert_eq!(table.primaries().len(), 2);
    }
}
