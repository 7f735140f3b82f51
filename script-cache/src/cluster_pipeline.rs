//! Pipelines and transactions on Redis Cluster connections: every command
//! must hash to one slot (checked before sending), and the whole pipeline
//! goes to that slot's node, with its loads.

use super::{Entry, Pipeline, Replies};
use crate::cluster::{self, SLOT_COUNT, key_slot};
use crate::error::{Error, Result};
use crate::policy::Scope;
use crate::state::{Caps, ScriptState, StateInner};

/// Commands whose first argument is their only key.
const FIRST_ARG_KEY: &[&str] = &[
    "APPEND",
    "DECR",
    "DECRBY",
    "EXPIRE",
    "EXPIREAT",
    "GET",
    "GETDEL",
    "GETEX",
    "GETSET",
    "HDEL",
    "HEXISTS",
    "HGET",
    "HGETALL",
    "HINCRBY",
    "HINCRBYFLOAT",
    "HKEYS",
    "HLEN",
    "HMGET",
    "HMSET",
    "HSET",
    "HSETNX",
    "HVALS",
    "INCR",
    "INCRBY",
    "INCRBYFLOAT",
    "LINDEX",
    "LLEN",
    "LPOP",
    "LPUSH",
    "LRANGE",
    "LREM",
    "LSET",
    "LTRIM",
    "PERSIST",
    "PEXPIRE",
    "PEXPIREAT",
    "PSETEX",
    "PTTL",
    "RPOP",
    "RPUSH",
    "SADD",
    "SCARD",
    "SET",
    "SETEX",
    "SETNX",
    "SISMEMBER",
    "SMEMBERS",
    "SPOP",
    "SREM",
    "STRLEN",
    "TTL",
    "TYPE",
    "XADD",
    "XLEN",
    "XRANGE",
    "ZADD",
    "ZCARD",
    "ZINCRBY",
    "ZRANGE",
    "ZRANK",
    "ZREM",
    "ZSCORE",
];

/// Commands whose every argument is a key.
const ALL_ARGS_KEYS: &[&str] = &["DEL", "EXISTS", "MGET", "TOUCH", "UNLINK", "WATCH"];

/// The keys of a plain command, for the commands listed above; other
/// commands are not checked (their keys are the caller's business).
fn cmd_keys(cmd: &redis::Cmd) -> Vec<&[u8]> {
    let mut args = cmd.args_iter().filter_map(|a| match a {
        redis::Arg::Simple(b) => Some(b),
        _ => None,
    });
    let Some(name) = args.next() else {
        return Vec::new();
    };
    let name = String::from_utf8_lossy(name).to_ascii_uppercase();
    if FIRST_ARG_KEY.contains(&name.as_str()) {
        args.take(1).collect()
    } else if ALL_ARGS_KEYS.contains(&name.as_str()) {
        args.collect()
    } else if name == "MSET" || name == "MSETNX" {
        args.step_by(2).collect()
    } else {
        Vec::new()
    }
}

impl Pipeline {
    /// The one slot of every key of the pipeline (script keys and routes,
    /// and the keys of common commands).
    fn cluster_slot(&self) -> Result<u16> {
        let mut slots: Vec<u16> = Vec::new();
        let mut push = |slot: u16| {
            if !slots.contains(&slot) {
                slots.push(slot);
            }
        };
        let mut home = None;
        for entry in &self.entries {
            match entry {
                Entry::Script(inv) => {
                    for key in inv.args.keys() {
                        push(key_slot(key));
                    }
                    if let Some(route) = inv.route {
                        push(route % SLOT_COUNT);
                    }
                    home.get_or_insert_with(|| key_slot(inv.handle.sha1().as_bytes()));
                }
                Entry::Cmd(cmd) => {
                    for key in cmd_keys(cmd) {
                        push(key_slot(key));
                    }
                }
            }
        }
        match slots[..] {
            [] => Ok(home.unwrap_or(0)),
            [slot] => Ok(slot),
            _ => Err(Error::CrossSlot {
                script: None,
                slots,
            }),
        }
    }

    /// Whether every entry is a script going out read-only.
    fn read_only_on(&self, caps: Caps) -> bool {
        self.entries.iter().all(|e| match e {
            Entry::Script(inv) => cluster::read_only(&inv.handle, caps),
            Entry::Cmd(_) => false,
        })
    }

    /// The node a cluster pipeline goes to (its slot's primary, or a
    /// replica when every entry is a read-only script and the connection
    /// reads from replicas), with the cluster's capabilities seeded there.
    fn cluster_target(&self, inner: &StateInner, slot: u16, caps: Caps) -> cluster::Target {
        let table = inner.cluster.table();
        let target = cluster::target(table.as_deref(), slot, self.read_only_on(caps));
        drop(table);
        cluster::seed_caps(inner, &target.node);
        target
    }

    /// A pipeline on an async cluster connection: one routed pipeline to
    /// the slot's node (`route_pipeline`), loads included, run by the
    /// async pipeline loop.
    #[cfg(feature = "cluster-async")]
    pub(super) async fn send_cluster_async(
        &self,
        conn: &mut redis::cluster_async::ClusterConnection,
        state: &ScriptState,
        op: &mut crate::span::Op<'_>,
    ) -> Result<Option<Replies>> {
        let inner = &state.inner;
        let slot = self.cluster_slot()?;
        let caps = crate::cluster_async::caps(conn, inner, self.needs_caps()).await?;
        if !inner.cluster.has_table() {
            crate::cluster_async::first_map(conn, inner).await;
        }
        let target = self.cluster_target(inner, slot, caps);
        op.node(&target.node);
        let scope = Scope {
            state: inner,
            node: &target.node,
        };
        let mut seen = cluster::Seen::default();
        let mut link = crate::cluster_async::Routed {
            conn: &mut *conn,
            slot: target.slot,
            addr: target.addr,
            seen: &mut seen,
        };
        let result = self.run_async(scope, &mut link).await;
        cluster::learn_caps(inner, &target.node);
        if seen.noscript || seen.escaped.is_some() || result.is_err() {
            crate::cluster_async::refresh(conn, inner).await;
        }
        result
    }

    /// A pipeline on a sync cluster connection, run by the sync pipeline
    /// loop. redis-rs routes no pipeline there, so the commands go one by
    /// one, each routed to the pipeline's slot (never replayed, as on one
    /// server). A transaction cannot be sent that way: [`Error::Client`]
    /// before anything is sent.
    pub(super) fn send_cluster(
        &self,
        conn: &mut redis::cluster::ClusterConnection,
        state: &ScriptState,
        op: &mut crate::span::Op<'_>,
    ) -> Result<Option<Replies>> {
        if self.atomic {
            return Err(Error::client(
                None,
                crate::Ran::No,
                "script-cache: transactions need the async cluster connection \
                 (a sync cluster connection cannot route MULTI/EXEC); nothing was sent",
            ));
        }
        let inner = &state.inner;
        let slot = self.cluster_slot()?;
        let caps = cluster::sync::caps(conn, inner, self.needs_caps())?;
        if !inner.cluster.has_table() {
            cluster::sync::fetch(conn, inner);
        }
        let target = self.cluster_target(inner, slot, caps);
        op.node(&target.node);
        let scope = Scope {
            state: inner,
            node: &target.node,
        };
        let mut seen = cluster::Seen::default();
        let mut link = cluster::sync::Routed {
            conn: &mut *conn,
            target: &target,
            seen: &mut seen,
        };
        let result = self.run(scope, &mut link);
        cluster::learn_caps(inner, &target.node);
        if seen.noscript || seen.escaped.is_some() || result.is_err() {
            refresh_sync(conn, inner);
        }
        result
    }
}

fn refresh_sync(conn: &mut redis::cluster::ClusterConnection, state: &StateInner) {
    if let Some(_claim) = state.cluster.begin_refresh() {
        cluster::sync::fetch(conn, state);
    }
}
