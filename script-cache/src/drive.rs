//! The drivers: one call loop per I/O mode (sync, async) that runs a
//! [`Call`] over a transport, whatever the transport is.
//!
//! A transport only moves bytes: [`Link`] (sync) and [`AsyncLink`] (async)
//! send the packed `EVALSHA` of a call, one command, or a pipeline, and
//! hand back what came. Two implementations of each exist: one server
//! ([`Single`], [`SingleAsync`]: the connection itself, with a buffer it
//! reuses) and a routed cluster target (in [`cluster`](crate::cluster) and
//! `cluster_async`: every command routed to the call's node). The decisions
//! are the [`Call`]'s, which asks [`policy`](crate::policy); the steady
//! attempt a connection's [`Hints`] allow is the driver's first step, not a
//! bypass of the state machine: a reply other than a value is handed to
//! the call as if it had sent the request ([`Call::resumed`]).

use redis::{Cmd, Pipeline, RedisResult, Value};

use crate::args::CallArgs;
use crate::call::{Call, Request, Steady};
use crate::error::Result;
use crate::handle::ScriptHandle;
use crate::policy::{Preload, Reply, Scope};
use crate::span::Op;
use crate::state::{Caps, Hints, LoadReport};

/// Where the commands of a [`Batch`] are written: packed bytes (a sync
/// connection to one server: no command is copied) or a `redis::Pipeline`
/// (what redis-rs's async and cluster APIs take).
pub(crate) trait Sink {
    /// Appends a command.
    fn command(&mut self, cmd: &Cmd);
    /// Appends `<command> <sha1> <numkeys> keys... args...` with `args`.
    fn eval(&mut self, args: &CallArgs, command: &str, sha1: &str);
}

/// Packed bytes; script calls are packed straight from their arguments.
impl Sink for Vec<u8> {
    fn command(&mut self, cmd: &Cmd) {
        cmd.write_packed_command(self);
    }

    fn eval(&mut self, args: &CallArgs, command: &str, sha1: &str) {
        args.write_packed_eval(self, command, sha1);
    }
}

impl Sink for Pipeline {
    fn command(&mut self, cmd: &Cmd) {
        self.add_command(cmd.clone());
    }

    fn eval(&mut self, args: &CallArgs, command: &str, sha1: &str) {
        self.add_command(args.eval_cmd(command, sha1));
    }
}

/// Commands a transport writes into its own [`Sink`] and sends in one
/// request: a planned pipeline or transaction.
pub(crate) trait Batch {
    /// How many commands [`write`](Batch::write) writes.
    fn len(&self) -> usize;
    /// About how many bytes they take packed (to allocate once).
    fn size_hint(&self) -> usize;
    /// Writes the commands.
    fn write(&self, sink: &mut impl Sink);
}

/// A sync transport that can send one command: what the capability probe
/// needs (a cluster sends it to any primary).
pub(crate) trait SendOne {
    /// Sends one command.
    fn one(&mut self, cmd: &Cmd) -> RedisResult<Value>;
}

/// A sync transport: moves one call's requests and their replies.
pub(crate) trait Link: SendOne {
    /// Sends `<command> <sha1> <numkeys> keys... args...` with `args`.
    fn eval(&mut self, args: &CallArgs, command: &'static str, sha1: &str) -> RedisResult<Value>;
    /// Sends commands that belong together (a load and its call); one
    /// reply per command, in order.
    fn many(&mut self, pipe: &Pipeline) -> RedisResult<Vec<Value>>;
    /// Sends a [`Batch`] in one request; one reply per command, in order.
    fn batch(&mut self, batch: &impl Batch) -> RedisResult<Vec<Value>>;
    /// Whether [`many`](Link::many) delivers a `MULTI` ... `EXEC` to one
    /// node as one transaction (not so on a sync cluster connection, which
    /// sends and redirects each command apart).
    fn transactions(&self) -> bool {
        true
    }
}

/// Where a node's capabilities are kept: the probe's answer is read from
/// there, and written there once the probe was sent.
pub(crate) trait CapsFact {
    /// What is known (`Caps::Unknown`: not asked yet).
    fn known(&self) -> Caps;
    /// Reads the probe's reply (through the policy) and records it.
    fn probed(&self, reply: Reply) -> Result<Caps>;
}

/// The one node behind a non-cluster connection.
impl CapsFact for Scope<'_> {
    fn known(&self) -> Caps {
        self.state.loaded.caps(self.node)
    }

    fn probed(&self, reply: Reply) -> Result<Caps> {
        let caps = crate::policy::caps_from_probe(reply, None)?;
        self.state.loaded.set_caps(self.node, caps);
        Ok(caps)
    }
}

/// The probe (sync): what the node supports when `needed`, from `fact`
/// or, when not known yet, by asking over `link`.
pub(crate) fn caps(fact: &impl CapsFact, needed: bool, link: &mut impl SendOne) -> Result<Caps> {
    if !needed {
        return Ok(Caps::Unknown);
    }
    match fact.known() {
        Caps::Unknown => fact.probed(Reply::from_result(link.one(&crate::policy::probe_cmd()))),
        caps => Ok(caps),
    }
}

/// A sync connection to one server, and the buffer its calls are packed
/// into (reused: no `Cmd` per call).
pub(crate) struct Single<'a, C> {
    pub(crate) conn: &'a mut C,
    pub(crate) buf: &'a mut Vec<u8>,
}

impl<C: redis::ConnectionLike> SendOne for Single<'_, C> {
    fn one(&mut self, cmd: &Cmd) -> RedisResult<Value> {
        self.conn.req_command(cmd)
    }
}

impl<C: redis::ConnectionLike> Link for Single<'_, C> {
    #[inline]
    fn eval(&mut self, args: &CallArgs, command: &'static str, sha1: &str) -> RedisResult<Value> {
        self.buf.clear();
        args.write_packed_eval(self.buf, command, sha1);
        self.conn.req_packed_command(self.buf)
    }

    fn many(&mut self, pipe: &Pipeline) -> RedisResult<Vec<Value>> {
        self.conn
            .req_packed_commands(&pipe.get_packed_pipeline(), 0, pipe.len())
    }

    /// Packed into the connection's buffer.
    fn batch(&mut self, batch: &impl Batch) -> RedisResult<Vec<Value>> {
        self.buf.clear();
        self.buf.reserve(batch.size_hint());
        batch.write(self.buf);
        self.conn.req_packed_commands(self.buf, 0, batch.len())
    }
}

/// Runs one script call over a sync transport. `hints` are the
/// connection's remembered decisions for `scope`'s node, if it keeps them;
/// `op` records the script commands sent.
#[inline]
pub(crate) fn call(
    handle: &ScriptHandle,
    args: &CallArgs,
    scope: Scope<'_>,
    hints: Option<&mut Hints>,
    link: &mut impl Link,
    op: &mut Op<'_>,
) -> Result<Value> {
    // The first attempt the connection's hints allow, if any: `EVALSHA`
    // only, without the state's lock.
    let steady = hints
        .as_deref()
        .and_then(|hints| Steady::hinted(handle, scope, hints));
    let call = match steady {
        Some(steady) => {
            op.sent(steady.command);
            let reply = link.eval(args, steady.command, steady.sent_as);
            match steady.finish(scope, reply) {
                Ok(value) => return Ok(value),
                // Callers sharing the state wait for one load instead of
                // each sending the source.
                Err(reply) => Call::resumed(steady, handle, args, scope, hints, reply),
            }
        }
        None => Call::new(handle, args, scope, hints),
    };
    finish(call, args, link, op)
}

/// The call loop (sync): sends what the call asks for until it is done.
pub(crate) fn finish(
    mut call: Call<'_>,
    args: &CallArgs,
    link: &mut impl Link,
    op: &mut Op<'_>,
) -> Result<Value> {
    if !link.transactions() {
        call.without_transactions();
    }
    loop {
        match call.next() {
            Request::Done(result) => return result,
            Request::Eval { command, sha1 } => {
                op.sent(command);
                let reply = link.eval(args, command, sha1);
                call.feed_one(Reply::from_result(reply));
            }
            Request::One(cmd) => {
                if let Some(command) = call.command() {
                    op.sent(command);
                }
                call.feed_one(Reply::from_result(link.one(&cmd)));
            }
            Request::Pipeline(pipe) => {
                if let Some(command) = call.command() {
                    op.sent(command);
                }
                call.feed_many(link.many(&pipe));
            }
            Request::Wait(waiter) => waiter.wait_blocking(),
        }
    }
}

/// `load_all` on one node (sync): sends the loads of every script of
/// `handles` the state has not confirmed there, in one request, and adds
/// what the node said to `report`. An error: the request failed as a
/// whole.
pub(crate) fn preload(
    scope: Scope<'_>,
    handles: &[ScriptHandle],
    caps: Caps,
    link: &mut impl Link,
    report: &mut LoadReport,
) -> Result<()> {
    let (plan, pipe) = Preload::plan(scope, handles, caps);
    if plan.is_empty() {
        plan.skip(report);
        return Ok(());
    }
    plan.read(scope, link.many(&pipe), report)
}

/// An async transport that can send one command ([`SendOne`], async).
#[cfg(feature = "tokio-comp")]
pub(crate) trait AsyncSendOne: Send {
    /// Sends one command.
    fn one(&mut self, cmd: Cmd) -> impl Future<Output = RedisResult<Value>> + Send;
}

/// An async transport: moves one call's requests and their replies.
#[cfg(feature = "tokio-comp")]
pub(crate) trait AsyncLink: AsyncSendOne {
    /// Sends `<command> <sha1> <numkeys> keys... args...` with `args`.
    fn eval(
        &mut self,
        args: &CallArgs,
        command: &'static str,
        sha1: &str,
    ) -> impl Future<Output = RedisResult<Value>> + Send;
    /// Sends commands that belong together; one reply per command.
    fn many(&mut self, pipe: Pipeline) -> impl Future<Output = RedisResult<Vec<Value>>> + Send;
    /// Sends a [`Batch`] in one request, written into a `redis::Pipeline`.
    fn batch(
        &mut self,
        batch: &impl Batch,
    ) -> impl Future<Output = RedisResult<Vec<Value>>> + Send {
        let mut pipe = Pipeline::with_capacity(batch.len());
        batch.write(&mut pipe);
        self.many(pipe)
    }
}

/// Async [`caps`].
#[cfg(feature = "tokio-comp")]
pub(crate) async fn caps_async(
    fact: &impl CapsFact,
    needed: bool,
    link: &mut impl AsyncSendOne,
) -> Result<Caps> {
    if !needed {
        return Ok(Caps::Unknown);
    }
    match fact.known() {
        Caps::Unknown => {
            let reply = link.one(crate::policy::probe_cmd()).await;
            fact.probed(Reply::from_result(reply))
        }
        caps => Ok(caps),
    }
}

/// An async connection to one server, and the `Cmd` its calls are written
/// into (refilled: no allocation for it per call; if a future is dropped
/// while a request is in flight, the next call clears it).
#[cfg(feature = "tokio-comp")]
pub(crate) struct SingleAsync<'a, C> {
    pub(crate) conn: &'a mut C,
    pub(crate) cmd: &'a mut Cmd,
}

#[cfg(feature = "tokio-comp")]
impl<C: redis::aio::ConnectionLike + Send> AsyncSendOne for SingleAsync<'_, C> {
    async fn one(&mut self, cmd: Cmd) -> RedisResult<Value> {
        self.conn.req_packed_command(&cmd).await
    }
}

#[cfg(feature = "tokio-comp")]
impl<C: redis::aio::ConnectionLike + Send> AsyncLink for SingleAsync<'_, C> {
    #[inline]
    fn eval(
        &mut self,
        args: &CallArgs,
        command: &'static str,
        sha1: &str,
    ) -> impl Future<Output = RedisResult<Value>> + Send {
        args.write_eval(self.cmd, command, sha1);
        self.conn.req_packed_command(self.cmd)
    }

    async fn many(&mut self, pipe: Pipeline) -> RedisResult<Vec<Value>> {
        self.conn.req_packed_commands(&pipe, 0, pipe.len()).await
    }
}

/// Async [`call`].
#[cfg(feature = "tokio-comp")]
#[inline]
pub(crate) async fn call_async(
    handle: &ScriptHandle,
    args: &CallArgs,
    scope: Scope<'_>,
    hints: Option<&mut Hints>,
    link: &mut impl AsyncLink,
    op: &mut Op<'_>,
) -> Result<Value> {
    // The first attempt the connection's hints allow, if any: `EVALSHA`
    // only, without the state's lock.
    let steady = hints
        .as_deref()
        .and_then(|hints| Steady::hinted(handle, scope, hints));
    let call = match steady {
        Some(steady) => {
            op.sent(steady.command);
            let reply = link.eval(args, steady.command, steady.sent_as).await;
            match steady.finish(scope, reply) {
                Ok(value) => return Ok(value),
                Err(reply) => Call::resumed(steady, handle, args, scope, hints, reply),
            }
        }
        None => Call::new(handle, args, scope, hints),
    };
    finish_async(call, args, link, op).await
}

/// Async [`preload`].
#[cfg(feature = "tokio-comp")]
pub(crate) async fn preload_async(
    scope: Scope<'_>,
    handles: &[ScriptHandle],
    caps: Caps,
    link: &mut impl AsyncLink,
    report: &mut LoadReport,
) -> Result<()> {
    let (plan, pipe) = Preload::plan(scope, handles, caps);
    if plan.is_empty() {
        plan.skip(report);
        return Ok(());
    }
    plan.read(scope, link.many(pipe).await, report)
}

/// The call loop (async).
#[cfg(feature = "tokio-comp")]
pub(crate) async fn finish_async(
    mut call: Call<'_>,
    args: &CallArgs,
    link: &mut impl AsyncLink,
    op: &mut Op<'_>,
) -> Result<Value> {
    loop {
        match call.next() {
            Request::Done(result) => return result,
            Request::Eval { command, sha1 } => {
                op.sent(command);
                let reply = link.eval(args, command, sha1).await;
                call.feed_one(Reply::from_result(reply));
            }
            Request::One(cmd) => {
                if let Some(command) = call.command() {
                    op.sent(command);
                }
                let reply = link.one(cmd).await;
                call.feed_one(Reply::from_result(reply));
            }
            Request::Pipeline(pipe) => {
                if let Some(command) = call.command() {
                    op.sent(command);
                }
                let replies = link.many(pipe).await;
                call.feed_many(replies);
            }
            // Returns when the loading task finishes, succeeds or not, or
            // is cancelled (its guard is dropped).
            Request::Wait(waiter) => waiter.wait().await,
        }
    }
}
