//! The async Redis Cluster driver (`redis::cluster_async::ClusterConnection`):
//! see [`cluster`](crate::cluster) for the routing rules.

use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{Cmd, Value};

use crate::args::CallArgs;
use crate::call::{Call, Steady};
use crate::cluster::{
    After, ReplicaFirst, Seen, Target, after, any_primary, backoff, learn_caps, maybe_sent,
    no_slot_map, read_only, seed_caps, slots_cmd, target,
};
use crate::drive::{self, AsyncLink, AsyncSendOne};
use crate::error::{Error, Result};
use crate::handle::ScriptHandle;
use crate::invocation::Invocation;
use crate::local::Local;
use crate::policy::{self, Scope};
use crate::state::{Caps, LoadReport, NodeKey, StateInner};

/// Asks `CLUSTER SLOTS` unless another task is asking right now.
pub(crate) async fn refresh(conn: &mut ClusterConnection, state: &StateInner) {
    if let Some(_claim) = state.cluster.begin_refresh() {
        fetch(conn, state).await;
    }
}

async fn fetch(conn: &mut ClusterConnection, state: &StateInner) {
    let reply = conn.route_command(slots_cmd(), any_primary()).await;
    state.cluster.store(reply);
}

/// The first slot map: fetched by one task while the others wait for it
/// (so that concurrent first calls key their loads by node, not by a
/// placeholder). Bounded: a fetch that gives no map is tried three times.
pub(crate) async fn first_map(conn: &mut ClusterConnection, state: &StateInner) {
    for _ in 0..3 {
        let notified = state.cluster.refreshed.notified();
        let mut notified = std::pin::pin!(notified);
        notified.as_mut().enable();
        if state.cluster.has_table() {
            return;
        }
        match state.cluster.begin_refresh() {
            Some(_claim) => fetch(conn, state).await,
            None => notified.await,
        }
    }
}

/// The cluster's capabilities: [`drive::caps_async`] at any primary.
pub(crate) async fn caps(
    conn: &mut ClusterConnection,
    state: &StateInner,
    needed: bool,
) -> Result<Caps> {
    drive::caps_async(&state.cluster, needed, &mut AnyPrimary { conn }).await
}

/// Commands for any primary (async).
struct AnyPrimary<'a> {
    conn: &'a mut ClusterConnection,
}

impl AsyncSendOne for AnyPrimary<'_> {
    async fn one(&mut self, cmd: Cmd) -> redis::RedisResult<Value> {
        self.conn.route_command(cmd, any_primary()).await
    }
}

/// One script call on an async cluster connection.
///
/// The steady case first: a script whose command does not depend on the
/// server version, whose slot's primary this connection's hints say has it
/// confirmed (nothing changed in the state since), is sent as `EVALSHA`
/// routed to the slot, with no lock taken; anything but a value goes on
/// as the general path would after that `EVALSHA` (NOSCRIPT recovery,
/// slot-map refresh, retries).
pub(crate) async fn call(
    conn: &mut ClusterConnection,
    state: &StateInner,
    local: &mut Local,
    inv: &Invocation,
    op: &mut crate::span::Op<'_>,
) -> Result<Value> {
    let slot = inv.cluster_slot()?;
    let needs = policy::needs_caps(&inv.handle);
    let mut first = None;
    if let Some((replica, cmd)) = ReplicaFirst::plan(state, inv, slot) {
        // A `no-writes` function whose primary has its library: a replica
        // first; what did not run there goes to the primary.
        op.sent(replica.command);
        op.node(&replica.replicas.node);
        let reply = conn.route_command(cmd, replica.replicas.routing()).await;
        if let Some(result) = replica.read(state, &inv.handle, reply) {
            return result;
        }
    } else if !needs && let Some((node, hints)) = local.cluster.steady(&state.cluster, slot) {
        let scope = Scope { state, node };
        if let Some(steady) = Steady::hinted(&inv.handle, scope, hints) {
            // The steady send, this transport's own: `EVALSHA` routed to
            // the slot's primary, awaited here (no `Routed` future around
            // it on the hot path); what came back is read by the policy.
            op.sent(steady.command);
            op.node(node);
            let cmd = inv.args.eval_cmd(steady.command, steady.sent_as);
            let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(Route::new(
                slot,
                SlotAddr::Master,
            )));
            let reply = match conn.route_command(cmd, routing).await {
                Ok(value) if !matches!(value, Value::ServerError(_)) => {
                    return Ok(steady.done(scope, value));
                }
                reply => maybe_sent(reply),
            };
            let mut seen = Seen::default();
            seen.reply(&reply);
            match steady.finish(scope, reply) {
                Ok(value) => return Ok(value),
                Err(reply) => {
                    let target = Target {
                        slot,
                        addr: SlotAddr::Master,
                        node: node.clone(),
                    };
                    first = Some((target, steady, seen, reply));
                }
            }
        }
    }
    let mut attempt = 0;
    loop {
        let (target, call_state) = match first.take() {
            Some((target, steady, seen, reply)) => (target, Some((steady, seen, reply))),
            None => {
                let caps = caps(conn, state, needs).await?;
                let ro = needs && read_only(&inv.handle, caps);
                let target = match state.cluster.target(slot, ro) {
                    Some(target) => target,
                    None => {
                        first_map(conn, state).await;
                        state
                            .cluster
                            .target(slot, ro)
                            .unwrap_or_else(|| target(None, slot, ro))
                    }
                };
                (target, None)
            }
        };
        if needs {
            seed_caps(state, &target.node);
        }
        let scope = Scope {
            state,
            node: &target.node,
        };
        // Decisions for a shard primary are remembered for the steady case.
        let hints =
            (!needs && state.cluster.has_table()).then(|| local.cluster.hints_mut(&target.node));
        let (call, mut seen) = match call_state {
            Some((steady, seen, reply)) => (
                Call::resumed(steady, &inv.handle, &inv.args, scope, hints, reply),
                seen,
            ),
            None => (
                Call::new(&inv.handle, &inv.args, scope, hints),
                Seen::default(),
            ),
        };
        let mut link = Routed {
            conn: &mut *conn,
            slot: target.slot,
            addr: target.addr,
            seen: &mut seen,
        };
        op.node(&target.node);
        let result = drive::finish_async(call, &inv.args, &mut link, op).await;
        if needs {
            learn_caps(state, &target.node);
        }
        if seen.noscript || seen.escaped.is_some() || result.is_err() {
            refresh(conn, state).await;
        }
        match after(state, inv, &target, result, &mut seen, attempt) {
            After::Return(result) => return result,
            After::Retry => {
                attempt += 1;
                tokio::time::sleep(backoff(attempt)).await;
            }
        }
    }
}

/// A routed cluster target (async): every command of a call goes to
/// `slot` on the `addr` node, and what came back is noted for the retry
/// rules.
pub(crate) struct Routed<'a> {
    pub(crate) conn: &'a mut ClusterConnection,
    pub(crate) slot: u16,
    pub(crate) addr: SlotAddr,
    pub(crate) seen: &'a mut Seen,
}

impl Routed<'_> {
    fn route(&self) -> SingleNodeRoutingInfo {
        SingleNodeRoutingInfo::SpecificNode(Route::new(self.slot, self.addr))
    }
}

impl AsyncSendOne for Routed<'_> {
    async fn one(&mut self, cmd: Cmd) -> redis::RedisResult<Value> {
        let routing = RoutingInfo::SingleNode(self.route());
        let reply = maybe_sent(self.conn.route_command(cmd, routing).await);
        self.seen.reply(&reply);
        reply
    }
}

impl AsyncLink for Routed<'_> {
    fn eval(
        &mut self,
        args: &CallArgs,
        command: &'static str,
        sha1: &str,
    ) -> impl Future<Output = redis::RedisResult<Value>> + Send {
        self.one(args.eval_cmd(command, sha1))
    }

    async fn many(&mut self, pipe: redis::Pipeline) -> redis::RedisResult<Vec<Value>> {
        let len = pipe.len();
        let load_and_call = len == 2 && pipe.cmd_iter().next().is_some_and(is_script_load);
        let route = self.route();
        let replies = maybe_sent(self.conn.route_pipeline(pipe, 0, len, route).await);
        match &replies {
            Err(e) => self.seen.pipeline_failed(e, load_and_call),
            Ok(_) => self.seen.replies(&replies),
        }
        replies
    }
}

/// Whether `cmd` is a `SCRIPT LOAD`.
fn is_script_load(cmd: &Cmd) -> bool {
    let mut args = cmd.args_iter();
    matches!(
        (args.next(), args.next()),
        (Some(redis::Arg::Simple(a)), Some(redis::Arg::Simple(b)))
            if a.eq_ignore_ascii_case(b"SCRIPT") && b.eq_ignore_ascii_case(b"LOAD")
    )
}

/// `load_all` on an async cluster: the scripts not confirmed on each
/// primary are loaded there, one routed pipeline per primary.
pub(crate) async fn load_all(
    conn: &mut ClusterConnection,
    state: &StateInner,
    handles: &[ScriptHandle],
) -> Result<LoadReport> {
    let needs = handles.iter().any(policy::needs_caps);
    refresh(conn, state).await;
    first_map(conn, state).await;
    let caps = caps(conn, state, needs).await?;
    let Some(table) = state.cluster.table() else {
        return Err(no_slot_map());
    };
    let mut report = LoadReport::default();
    let mut failed: Option<Error> = None;
    for (primary, slot) in table.primaries() {
        let node = NodeKey::node(primary);
        state.loaded.set_caps(&node, caps);
        let mut seen = Seen::default();
        let mut link = Routed {
            conn: &mut *conn,
            slot,
            addr: SlotAddr::Master,
            seen: &mut seen,
        };
        let scope = Scope { state, node: &node };
        if let Err(e) = drive::preload_async(scope, handles, caps, &mut link, &mut report).await {
            // A node that could not be asked: the others still are.
            failed.get_or_insert(e);
        }
    }
    failed.map_or(Ok(report), Err)
}
