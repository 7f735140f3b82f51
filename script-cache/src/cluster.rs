//! Redis Cluster: routing script calls to the node that owns their keys,
//! with load marks per node.
//!
//! # How a [`ScriptCache`](crate::ScriptCache) knows it wraps a cluster
//!
//! By trait, at compile time: [`SyncConnection::as_cluster`] and
//! [`AsyncConnection::as_cluster_async`] hand out the connection as
//! `redis::cluster::ClusterConnection` /
//! `redis::cluster_async::ClusterConnection` when it is one (the cluster
//! connections themselves, and wrappers of them). Then the calls
//! (`invoke`, `invoke_async`, [`Pipeline`](crate::Pipeline) queries,
//! `load_all`) go through the cluster drivers of this module; any other
//! connection takes the single-server path. See
//! [`connection`](crate::connection).
//!
//! [`SyncConnection::as_cluster`]: crate::SyncConnection::as_cluster
//! [`AsyncConnection::as_cluster_async`]: crate::AsyncConnection::as_cluster_async
//!
//! # What happens on a cluster
//!
//! * The state keeps a slot map (`CLUSTER SLOTS`, asked on first use and
//!   again after a `NOSCRIPT` or a redirect that escaped redis-rs, at most
//!   one request in flight), and load marks per shard primary (its
//!   address). A read-only script sent as `EVALSHA_RO` has marks of its
//!   own per shard (`<primary>/replicas`), as redis-rs may send it to a
//!   replica when a read strategy is configured. A `no-writes` function
//!   (`FCALL_RO`) is sent there too, but only once the state knows the
//!   shard's primary holds its library (a replica cannot load one); a
//!   replica's "Function not found" sends the call to the primary, which
//!   loads the library again ([`Stats::replica_fallbacks`]).
//! * The slot of a call is that of its keys; keys in different slots are
//!   [`Error::CrossSlot`] before anything is sent. A call without keys goes
//!   to the slot given with [`Invocation::route_key`] /
//!   [`Invocation::route_slot`], else to a slot derived from the script's
//!   SHA-1 (so each script has one home shard), and always to a primary
//!   unless the script is read-only.
//! * Async: the first call of a script on a shard is `SCRIPT LOAD` +
//!   `EVALSHA` in one pipeline routed to the slot (`route_pipeline`): one
//!   round trip, and the load runs on exactly the node that runs the call,
//!   also when redis-rs follows a `MOVED` (it re-sends the whole pipeline).
//!   A `NOSCRIPT` is retried as `MULTI` / `SCRIPT LOAD` / `EVALSHA` /
//!   `EXEC` routed the same way.
//! * Sync: redis-rs cannot route a pipeline on a sync cluster connection,
//!   so the first call of a script on a shard is two round trips
//!   (`SCRIPT LOAD`, then `EVALSHA`, both routed to the slot), and the
//!   retry after `NOSCRIPT` is a routed load and call again, not a
//!   transaction: a flush landing between the two is met as `NOSCRIPT`
//!   and retried (bounded). The same for a function: where one server (or
//!   an async cluster connection) would load and call it inside one
//!   `MULTI` after "Function not found" twice, a sync cluster connection
//!   cannot (redis-rs sends, and redirects, each command of it apart), so
//!   the call ends as [`Error::NoScript`] (it did not run) and is sent
//!   again after the slot map is asked again, a bounded number of times:
//!   a slot migrating to a node without the library gets it once the
//!   migration ends and the slot map names that node.
//! * Pipelines and transactions ([`Pipeline`](crate::Pipeline)) must stay
//!   in one slot: the keys of their script calls and routes, and the keys
//!   of common commands (`GET`, `SET`, `INCR`, `DEL`, `MGET`, hash, list,
//!   set and sorted-set commands, ...), are checked before sending
//!   ([`Error::CrossSlot`]); other commands' keys are the caller's
//!   business. Note that redis-rs re-sends a whole cluster pipeline when
//!   one of its replies is a redirect; a transaction is safe from that
//!   (its commands are queued, and a redirect at queue time aborts it).
//! * A redirect redis-rs gave up on (a slot in live migration, where the
//!   `ASKING` redis-rs sends covers only the first command of a pipeline),
//!   `TRYAGAIN`, `CLUSTERDOWN` and the like, met by a call that provably
//!   did not run, refresh the slot map and retry the call a bounded number
//!   of times with a short back-off; then the error is returned, typed
//!   ([`Error::Unavailable`], [`Error::ran`] is [`Ran::No`](crate::Ran)).
//! * What is not cluster-aware: [`ScriptCache::is_loaded`] and
//!   [`ScriptCache::loaded_count`] report the single-server marks only
//!   (use [`ScriptCache::stats`]). The cluster path is taken for the two
//!   redis-rs types, `&mut` and `Box` of them, and any wrapper whose
//!   connection trait hands one out (`as_cluster`); another wrapper takes
//!   the single-server path and gets redis-rs's own routing.
//! * A refused connection reported by redis-rs's cluster connections does
//!   not prove a request was never sent (they retry a request whose
//!   connection dropped, perhaps after the node ran it): it is a dropped
//!   connection here ([`Ran::Unknown`](crate::Ran)), and is not retried.
//!
//! [`ScriptCache::is_loaded`]: crate::ScriptCache::is_loaded
//! [`ScriptCache::loaded_count`]: crate::ScriptCache::loaded_count
//! [`ScriptCache::stats`]: crate::ScriptCache::stats
//! [`Stats::replica_fallbacks`]: crate::Stats::replica_fallbacks

use std::time::Duration;

use redis::Value;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo, SlotAddr};

use crate::error::{Condition, Error, Result};
use crate::handle::ScriptHandle;
use crate::invocation::{Invocation, TypedInvocation};
use crate::policy::{self, Reply};
use crate::state::{Caps, LoadReport, NodeKey, StateInner};
pub use crate::topology::{SLOT_COUNT, key_slot};
pub(crate) use crate::topology::{Target, slots_cmd, target};

/// How many times a call that provably did not run is retried after a
/// cluster condition (redirect given up, `TRYAGAIN`, `CLUSTERDOWN`, a
/// refused connection), with the slot map refreshed in between.
pub(crate) const MAX_ATTEMPTS: u32 = 6;

impl Invocation {
    /// Routes a call on a Redis Cluster connection to the slot of `key`
    /// (for a script without keys: which shard runs it). With keys, `key`
    /// must hash to their slot ([`Error::CrossSlot`] otherwise). Ignored on
    /// other connections.
    pub fn route_key(self, key: impl AsRef<[u8]>) -> Self {
        self.route_slot(key_slot(key.as_ref()))
    }

    /// Routes a call on a Redis Cluster connection to hash slot `slot`
    /// (taken modulo 16384). See [`route_key`](Invocation::route_key).
    pub fn route_slot(mut self, slot: u16) -> Self {
        self.route = Some(slot % SLOT_COUNT);
        self
    }

    /// The hash slot this call goes to on a Redis Cluster: that of its
    /// keys, or of its route, or, for a script without keys and route, a
    /// slot derived from its SHA-1. Keys in different slots (or a route
    /// that differs from the keys' slot) are [`Error::CrossSlot`].
    pub fn cluster_slot(&self) -> Result<u16> {
        // The common case, short: one key, no route.
        if self.route.is_none()
            && let Some(key) = self.args.only_key()
        {
            return Ok(key_slot(key));
        }
        let mut keys = self.args.keys().map(key_slot);
        let first = keys.next().or(self.route);
        let Some(first) = first else {
            return Ok(key_slot(self.handle.sha1().as_bytes()));
        };
        let agree = keys.all(|s| s == first) && self.route.is_none_or(|r| r == first);
        if agree {
            return Ok(first);
        }
        // Slow path, for the error only.
        let mut slots: Vec<u16> = Vec::new();
        for slot in self.args.keys().map(key_slot).chain(self.route) {
            if !slots.contains(&slot) {
                slots.push(slot);
            }
        }
        Err(Error::CrossSlot {
            script: Some(self.handle.id()),
            slots,
        })
    }
}

impl<R> TypedInvocation<R> {
    /// [`Invocation::route_key`] for a typed call.
    pub fn route_key(self, key: impl AsRef<[u8]>) -> Self {
        TypedInvocation::__new(self.into_invocation().route_key(key))
    }

    /// [`Invocation::route_slot`] for a typed call.
    pub fn route_slot(self, slot: u16) -> Self {
        TypedInvocation::__new(self.into_invocation().route_slot(slot))
    }
}

/// Whether a call of `handle` goes out as a read-only command.
pub(crate) fn read_only(handle: &ScriptHandle, caps: Caps) -> bool {
    policy::command_for(handle, caps) == "EVALSHA_RO"
}

/// A first attempt on `slot`'s replicas, when the policy sends a call
/// there ([`policy::reads_replicas`]: a `no-writes` function whose primary
/// the state knows holds its library): where it goes, and what its reply
/// is read with.
pub(crate) struct ReplicaFirst {
    /// Where the command goes: the shard's replicas.
    pub(crate) replicas: Target,
    /// The command sent (`FCALL_RO`).
    pub(crate) command: &'static str,
    /// The shard's primary: a replica's reply is read in its scope.
    primary: NodeKey,
    /// The primary's mark the attempt relies on.
    epoch: crate::state::Epoch,
}

impl ReplicaFirst {
    /// The replica attempt of `inv` on `slot`, if the policy makes one,
    /// with the call to route to its replicas.
    pub(crate) fn plan(
        state: &StateInner,
        inv: &Invocation,
        slot: u16,
    ) -> Option<(ReplicaFirst, redis::Cmd)> {
        let handle = &inv.handle;
        if handle.function().is_none() || !handle.read_only() {
            return None;
        }
        let primary = state.cluster.target(slot, false)?.node;
        let epoch = state.loaded.confirmation(&primary, handle.sha1());
        if !policy::reads_replicas(handle, epoch.is_some()) {
            return None;
        }
        let command = policy::command_for(handle, Caps::Modern);
        let first = ReplicaFirst {
            replicas: state.cluster.target(slot, true)?,
            command,
            primary,
            epoch: epoch?,
        };
        Some((
            first,
            inv.args.eval_cmd(command, handle.called_as(handle.sha1())),
        ))
    }

    /// Reads what the replicas answered: the call's result, or `None` when
    /// the call did not run there and goes to the primary.
    pub(crate) fn read(
        &self,
        state: &StateInner,
        handle: &ScriptHandle,
        reply: redis::RedisResult<Value>,
    ) -> Option<Result<Value>> {
        let scope = policy::Scope {
            state,
            node: &self.primary,
        };
        match scope.read_replica(
            Reply::from_result(maybe_sent(reply)),
            handle,
            self.command,
            self.epoch,
        ) {
            policy::ReplicaRead::Value(v) => Some(Ok(v)),
            policy::ReplicaRead::Failed(e) => Some(Err(e)),
            policy::ReplicaRead::Primary => None,
        }
    }
}

/// Copies the cluster-wide capabilities to `node` if it has none yet.
pub(crate) fn seed_caps(state: &StateInner, node: &NodeKey) {
    let caps = state.cluster.caps();
    if caps != Caps::Unknown && state.loaded.caps(node) == Caps::Unknown {
        state.loaded.set_caps(node, caps);
    }
}

/// Records what a call learned about the servers.
pub(crate) fn learn_caps(state: &StateInner, node: &NodeKey) {
    let caps = state.loaded.caps(node);
    if caps != Caps::Unknown {
        state.cluster.set_caps(caps);
    }
}

/// What the driver saw while running one call.
#[derive(Default)]
pub(crate) struct Seen {
    /// A `NOSCRIPT` came back: the slot map may be stale.
    pub(crate) noscript: bool,
    /// A pipeline failed with a redirect or cluster condition redis-rs
    /// gave up on; nothing of it ran.
    pub(crate) escaped: Option<redis::RedisError>,
    /// That pipeline was a load + call (the load may have reached the
    /// migration target).
    pub(crate) escaped_load: bool,
}

impl Seen {
    pub(crate) fn reply(&mut self, reply: &redis::RedisResult<Value>) {
        // redis-rs hands an error reply back as a value or as an error,
        // depending on the connection and the path.
        let noscript = match reply {
            Err(e) => e.code() == Some("NOSCRIPT"),
            Ok(Value::ServerError(e)) => e.code() == "NOSCRIPT",
            Ok(_) => false,
        };
        if noscript {
            self.noscript = true;
        }
    }

    pub(crate) fn replies(&mut self, replies: &redis::RedisResult<Vec<Value>>) {
        fn noscript(v: &Value) -> bool {
            match v {
                Value::ServerError(e) => e.code() == "NOSCRIPT",
                Value::Array(items) => items.iter().any(noscript),
                _ => false,
            }
        }
        if let Ok(values) = replies
            && values.iter().any(noscript)
        {
            self.noscript = true;
        }
    }

    /// A pipeline of a single call (load + call, or the atomic retry)
    /// failed as a whole: if with a cluster redirect or condition, its
    /// `EVALSHA` met that condition on every attempt redis-rs made, so the
    /// script did not run. `load + call` alone: the pipeline was a
    /// `SCRIPT LOAD` and the call, nothing before them (a capability probe
    /// or a survey).
    #[cfg(feature = "cluster-async")]
    pub(crate) fn pipeline_failed(&mut self, e: &redis::RedisError, load_and_call: bool) {
        if is_cluster_condition(e) {
            self.escaped = Some(e.clone());
            self.escaped_load = load_and_call;
        }
    }
}

#[cfg(feature = "cluster-async")]
fn is_cluster_condition(e: &redis::RedisError) -> bool {
    use redis::{ErrorKind, ServerErrorKind};
    e.is_cluster_error()
        || matches!(
            e.kind(),
            ErrorKind::Server(ServerErrorKind::ExecAbort)
                | ErrorKind::Server(ServerErrorKind::MasterDown)
                | ErrorKind::Server(ServerErrorKind::BusyLoading)
                | ErrorKind::Server(ServerErrorKind::ReadOnly)
        )
}

/// What to do after a call finished.
pub(crate) enum After {
    Return(Result<Value>),
    Retry,
}

/// Applies the policy's retry rule ([`policy::cluster_retry`]) to a
/// finished call: returns it, or has it sent again (after noting the load
/// an escaped pipeline ran, [`policy::Scope::escaped_load_ran`]).
pub(crate) fn after(
    state: &StateInner,
    inv: &Invocation,
    target: &Target,
    result: Result<Value>,
    seen: &mut Seen,
    attempt: u32,
) -> After {
    if !policy::cluster_retry(&result, seen.escaped.is_some()) {
        return After::Return(result);
    }
    if attempt + 1 >= MAX_ATTEMPTS {
        return After::Return(match (result, seen.escaped.take()) {
            // Say it did not run, with the condition redis-rs gave up on.
            (Err(_), Some(e)) => Err(unavailable(inv, &e)),
            (r, _) => r,
        });
    }
    if seen.escaped.is_some() && seen.escaped_load {
        let scope = policy::Scope {
            state,
            node: &target.node,
        };
        scope.escaped_load_ran(&inv.handle);
    }
    After::Retry
}

/// The back-off before retry `attempt` (1-based).
pub(crate) fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((20u64 << attempt.min(4)).min(400))
}

fn unavailable(inv: &Invocation, e: &redis::RedisError) -> Error {
    let code = e.code().unwrap_or("CLUSTERDOWN");
    Error::Unavailable {
        script: Some(inv.handle.id()),
        condition: Condition::from_code(code).unwrap_or(Condition::ClusterDown),
        message: e.to_string(),
    }
}

/// A server error carried by `e`, as the value a pipeline would hold.
pub(crate) fn error_value(e: &redis::RedisError) -> Option<Value> {
    let reply = crate::error::ServerReply::from_redis_error(e)?;
    let line = format!("-{} {}\r\n", reply.code, reply.message)
        .replace(['\r', '\n'], " ")
        .trim_end()
        .to_owned()
        + "\r\n";
    redis::parse_redis_value(line.as_bytes()).ok()
}

/// A reply from a redis-rs cluster connection, with a refused connection
/// read as what it proves. Those connections retry a request whose
/// connection dropped (the node may have run it before it went down), and
/// a node killed meanwhile then refuses the retry: the refusal they report
/// does not prove that nothing was sent. It becomes a dropped connection
/// ([`Ran::Unknown`](crate::Ran::Unknown), not retried by the drivers).
pub(crate) fn maybe_sent<T>(reply: redis::RedisResult<T>) -> redis::RedisResult<T> {
    match reply {
        Err(e) if e.is_connection_refusal() => Err(redis::RedisError::from(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            format!(
                "{e} (reported by the cluster connection after its own retries: \
                 the request may have been sent before)"
            ),
        ))),
        reply => reply,
    }
}

/// A reply as a pipeline value: the value, a server error as
/// `Value::ServerError`, or the client error.
pub(crate) fn as_value(reply: redis::RedisResult<Value>) -> redis::RedisResult<Value> {
    match reply {
        Ok(v) => Ok(v),
        Err(e) => match error_value(&e) {
            Some(v) => Ok(v),
            None => Err(e),
        },
    }
}

/// The cluster's capabilities, probed at any primary before a call knows
/// its node (a read-only script's node depends on them) and seeded into
/// each node's facts ([`seed_caps`]).
impl crate::drive::CapsFact for crate::topology::Topology {
    fn known(&self) -> Caps {
        self.caps()
    }

    fn probed(&self, reply: Reply) -> Result<Caps> {
        let caps = policy::caps_from_probe(reply, None)?;
        self.set_caps(caps);
        Ok(caps)
    }
}

/// The route of the commands a cluster sends to any primary (the probe,
/// `CLUSTER SLOTS`).
pub(crate) fn any_primary() -> RoutingInfo {
    RoutingInfo::SingleNode(SingleNodeRoutingInfo::RandomPrimary)
}

// ----- sync driver -----

pub(crate) mod sync {
    use super::*;
    use crate::drive::{self, Link, SendOne};
    use crate::policy::Scope;
    use redis::cluster::ClusterConnection;

    fn refresh(conn: &mut ClusterConnection, state: &StateInner) {
        if let Some(_claim) = state.cluster.begin_refresh() {
            fetch(conn, state);
        }
    }

    /// Asks `CLUSTER SLOTS` whatever else is in flight (the first map:
    /// without it, loads could not be keyed by node).
    pub(crate) fn fetch(conn: &mut ClusterConnection, state: &StateInner) {
        let reply = conn.route_command(&slots_cmd(), any_primary());
        state.cluster.store(reply);
    }

    /// The cluster's capabilities: [`drive::caps`] at any primary.
    pub(crate) fn caps(
        conn: &mut ClusterConnection,
        state: &StateInner,
        needed: bool,
    ) -> Result<Caps> {
        drive::caps(&state.cluster, needed, &mut AnyPrimary { conn })
    }

    /// Commands for any primary (sync).
    struct AnyPrimary<'a> {
        conn: &'a mut ClusterConnection,
    }

    impl SendOne for AnyPrimary<'_> {
        fn one(&mut self, cmd: &redis::Cmd) -> redis::RedisResult<Value> {
            self.conn.route_command(cmd, any_primary())
        }
    }

    /// One script call on a sync cluster connection.
    pub(crate) fn call(
        conn: &mut ClusterConnection,
        state: &StateInner,
        inv: &Invocation,
        op: &mut crate::span::Op<'_>,
    ) -> Result<Value> {
        let slot = inv.cluster_slot()?;
        let needs = policy::needs_caps(&inv.handle);
        if let Some((first, cmd)) = ReplicaFirst::plan(state, inv, slot) {
            // A `no-writes` function whose primary has its library: a
            // replica first; what did not run there goes to the primary.
            op.sent(first.command);
            op.node(&first.replicas.node);
            let reply = conn.route_command(&cmd, first.replicas.routing());
            if let Some(result) = first.read(state, &inv.handle, reply) {
                return result;
            }
        }
        let mut attempt = 0;
        loop {
            let caps = caps(conn, state, needs)?;
            let ro = needs && read_only(&inv.handle, caps);
            let target = match state.cluster.target(slot, ro) {
                Some(target) => target,
                None => {
                    fetch(conn, state);
                    state
                        .cluster
                        .target(slot, ro)
                        .unwrap_or_else(|| target(None, slot, ro))
                }
            };
            if needs {
                seed_caps(state, &target.node);
            }
            let mut seen = Seen::default();
            let scope = Scope {
                state,
                node: &target.node,
            };
            let mut link = Routed {
                conn: &mut *conn,
                target: &target,
                seen: &mut seen,
            };
            op.node(&target.node);
            let result = drive::call(&inv.handle, &inv.args, scope, None, &mut link, op);
            if needs {
                learn_caps(state, &target.node);
            }
            if seen.noscript || seen.escaped.is_some() || result.is_err() {
                refresh(conn, state);
            }
            match after(state, inv, &target, result, &mut seen, attempt) {
                After::Return(result) => return result,
                After::Retry => {
                    attempt += 1;
                    std::thread::sleep(backoff(attempt));
                }
            }
        }
    }

    /// A routed cluster target (sync): every command of a call goes to
    /// its node, and what came back is noted for the retry rules.
    pub(crate) struct Routed<'a> {
        pub(crate) conn: &'a mut ClusterConnection,
        pub(crate) target: &'a Target,
        pub(crate) seen: &'a mut Seen,
    }

    impl SendOne for Routed<'_> {
        fn one(&mut self, cmd: &redis::Cmd) -> redis::RedisResult<Value> {
            let reply = maybe_sent(self.conn.route_command(cmd, self.target.routing()));
            self.seen.reply(&reply);
            reply
        }
    }

    impl Link for Routed<'_> {
        fn eval(
            &mut self,
            args: &crate::args::CallArgs,
            command: &'static str,
            sha1: &str,
        ) -> redis::RedisResult<Value> {
            self.one(&args.eval_cmd(command, sha1))
        }

        /// A pipeline as routed single commands, in order, each reply in
        /// its place; the first that fails as a whole ends it (never
        /// replayed, as on one server). A transaction cannot be sent that
        /// way: the cluster pipeline refuses it before planning.
        fn batch(&mut self, batch: &impl drive::Batch) -> redis::RedisResult<Vec<Value>> {
            let mut pipe = redis::Pipeline::with_capacity(batch.len());
            batch.write(&mut pipe);
            self.many(&pipe)
        }

        /// A load + call (or the atomic retry) as routed single commands:
        /// a sync cluster connection cannot route a pipeline. One routed
        /// command after the other (a probe, a load, a call, as the state
        /// machine asked), each reply in its place.
        fn many(&mut self, pipe: &redis::Pipeline) -> redis::RedisResult<Vec<Value>> {
            let replies = pipe
                .cmd_iter()
                .map(|cmd| {
                    as_value(maybe_sent(
                        self.conn.route_command(cmd, self.target.routing()),
                    ))
                })
                .collect();
            self.seen.replies(&replies);
            replies
        }

        /// Each command is routed, and redirected, on its own: a `MULTI`
        /// sent here would be no transaction.
        fn transactions(&self) -> bool {
            false
        }
    }

    /// `load_all` on a sync cluster: every script of `handles` not
    /// confirmed on a primary is loaded there (one routed `SCRIPT LOAD`
    /// each).
    pub(crate) fn load_all(
        conn: &mut ClusterConnection,
        state: &StateInner,
        handles: &[ScriptHandle],
    ) -> Result<LoadReport> {
        let needs = handles.iter().any(policy::needs_caps);
        fetch(conn, state);
        let caps = caps(conn, state, needs)?;
        let Some(table) = state.cluster.table() else {
            return Err(no_slot_map());
        };
        let mut report = LoadReport::default();
        let mut failed = None;
        for (primary, slot) in table.primaries() {
            let node = NodeKey::node(primary);
            state.loaded.set_caps(&node, caps);
            let target = Target {
                slot,
                addr: SlotAddr::Master,
                node,
            };
            let mut seen = Seen::default();
            let mut link = Routed {
                conn: &mut *conn,
                target: &target,
                seen: &mut seen,
            };
            let scope = Scope {
                state,
                node: &target.node,
            };
            if let Err(e) = drive::preload(scope, handles, caps, &mut link, &mut report) {
                // A node that could not be asked: the others still are.
                failed.get_or_insert(e);
            }
        }
        failed.map_or(Ok(report), Err)
    }
}

pub(crate) fn no_slot_map() -> Error {
    Error::client(
        None,
        crate::Ran::No,
        "script-cache: CLUSTER SLOTS gave no slot map; nothing was loaded",
    )
}
