//! [`ScriptCache`]: a connection plus the [`ScriptState`] it shares.

use std::fmt;
use std::path::Path;

use redis::{Cmd, FromRedisValue, ToRedisArgs, Value};

#[cfg(feature = "tokio-comp")]
use crate::connection::AsyncConnection;
use crate::connection::SyncConnection;
#[cfg(feature = "tokio-comp")]
use crate::drive::SingleAsync;
use crate::drive::{self, Single};
#[cfg(feature = "cluster")]
use crate::error::Error;
use crate::error::Result;
use crate::handle::ScriptHandle;
use crate::invocation::{Invocation, TypedInvocation};
use crate::local::Local;
use crate::policy::{self, Reply, Scope};
use crate::script::EmbeddedScript;
use crate::span::Op;
use crate::state::{Caps, LoadReport, NodeKey, ScriptState, StateInner, Stats};

/// A redis-rs connection plus a [`ScriptState`]: what is known about the
/// server's script cache, shared with every connection given the same
/// state.
///
/// * The first call of a script on a server sends `SCRIPT LOAD` and
///   `EVALSHA` together (one round trip); later calls, from any connection
///   sharing the state, send `EVALSHA` only.
/// * A call never fails because of `NOSCRIPT` (after `SCRIPT FLUSH`, a
///   restart or a failover): it is retried as one `EVAL` with the source,
///   which cannot meet `NOSCRIPT`.
/// * Read-only scripts (`#!lua flags=no-writes`) go out as `EVALSHA_RO`
///   where the server has it.
///
/// It wraps a sync connection (anything [`redis::ConnectionLike`]) or, with
/// the `tokio-comp` feature, an async one (`redis::aio::MultiplexedConnection`,
/// `redis::aio::ConnectionManager`); it is itself a connection of the same
/// kind, so other commands go through it unchanged. Clones share the state,
/// so a multiplexed connection loads each script once however many tasks
/// use it.
pub struct ScriptCache<C> {
    pub(crate) conn: C,
    pub(crate) state: ScriptState,
    pub(crate) local: Local,
}

impl<C: fmt::Debug> fmt::Debug for ScriptCache<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The buffers hold the last call's keys and arguments: not shown.
        f.debug_struct("ScriptCache")
            .field("conn", &self.conn)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl<C: Clone> Clone for ScriptCache<C> {
    /// A clone of the connection that shares the state.
    fn clone(&self) -> Self {
        let mut clone = ScriptCache::with_state(self.conn.clone(), self.state.clone());
        clone.local.server = self.local.server.clone();
        clone
    }
}

impl<C> ScriptCache<C> {
    /// Wraps a connection with a fresh [`ScriptState`]. Nothing is sent
    /// until a script is called.
    pub fn new(conn: C) -> Self {
        Self::with_state(conn, ScriptState::new())
    }

    /// Wraps a connection with a state shared with other connections to
    /// the same server (a pool's checkouts, say): a script another of them
    /// loaded is called with `EVALSHA` only.
    pub fn with_state(conn: C, state: ScriptState) -> Self {
        ScriptCache {
            conn,
            state,
            local: Local::default(),
        }
    }

    /// Names the server this connection talks to, for the spans (the
    /// `tracing` feature) and metrics (the `opentelemetry` feature):
    /// `server.address` and `server.port`, as the application knows them
    /// (a redis-rs connection does not tell its address). A cluster
    /// connection needs none: its calls name the node that answered.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = redis::Client::open("redis://127.0.0.1:6380/")?;
    /// let con = script_cache::ScriptCache::new(client.get_connection()?)
    ///     .with_server(client.get_connection_info().addr());
    /// # let _ = con; Ok(()) }
    /// ```
    pub fn with_server(mut self, addr: &redis::ConnectionAddr) -> Self {
        self.local.server = Some(crate::span::Server::from_addr(addr));
        self
    }

    /// The state this connection shares.
    pub fn state(&self) -> &ScriptState {
        &self.state
    }

    /// The wrapped connection.
    pub fn get_ref(&self) -> &C {
        &self.conn
    }

    /// The wrapped connection, mutably. Commands sent through it bypass the
    /// cache; a `SCRIPT FLUSH` sent this way is noticed on the next call
    /// (as `NOSCRIPT`) and recovered from.
    pub fn get_mut(&mut self) -> &mut C {
        &mut self.conn
    }

    /// Unwraps the connection.
    pub fn into_inner(self) -> C {
        self.conn
    }

    /// Unwraps the connection and the state.
    pub fn into_parts(self) -> (C, ScriptState) {
        (self.conn, self.state)
    }

    /// What the connections sharing this state did so far.
    pub fn stats(&self) -> Stats {
        self.state.stats()
    }

    /// Whether the server confirmed `script` (as far as the state knows).
    pub fn is_loaded<S: EmbeddedScript>(&self, script: S) -> bool {
        let meta = script.meta();
        let loaded = &self.state.inner.loaded;
        let node = NodeKey::SINGLE;
        loaded.is_loaded(&node, meta.sha1())
            || meta
                .legacy()
                .is_some_and(|l| loaded.is_loaded(&node, l.sha1))
    }

    /// How many scripts the server confirmed (as far as the state knows).
    pub fn loaded_count(&self) -> usize {
        self.state.inner.loaded.loaded_count(&NodeKey::SINGLE)
    }

    /// Forgets which scripts are loaded, without telling the server: each
    /// script is loaded again on its next call.
    pub fn forget_loaded(&self) {
        self.state.forget_loaded();
    }

    // ----- runtime registration (Perl Redis::ScriptCache's verbs) -----

    /// [`ScriptState::register_script`] on this connection's state.
    pub fn register_script(&self, name: &str, source: &str) -> Result<String> {
        self.state.register_script(name, source)
    }

    /// [`ScriptState::replace_script`] on this connection's state.
    pub fn replace_script(&self, name: &str, source: &str) -> Result<String> {
        self.state.replace_script(name, source)
    }

    /// [`ScriptState::set_script_dir`] on this connection's state.
    pub fn set_script_dir(&self, dir: impl AsRef<Path>) {
        self.state.set_script_dir(dir);
    }

    /// [`ScriptState::register_file`] on this connection's state.
    pub fn register_file(&self, path: impl AsRef<Path>) -> Result<String> {
        self.state.register_file(path)
    }

    /// [`ScriptState::register_all_scripts`] on this connection's state.
    pub fn register_all_scripts(&self, dir: impl AsRef<Path>) -> Result<Vec<String>> {
        self.state.register_all_scripts(dir)
    }

    /// The names of the scripts registered at run time, sorted.
    pub fn scripts(&self) -> Vec<String> {
        self.state.scripts()
    }

    /// An invocation of a registered script, to add keys and arguments to.
    /// An unknown name is [`Error::UnknownScript`](crate::Error::UnknownScript) with similar names.
    pub fn prepare(&self, name: &str) -> Result<Invocation> {
        let script = self.state.inner.registry.get(name)?;
        Ok(Invocation::new(ScriptHandle::Dynamic(script)))
    }

    fn prepare_with(
        &self,
        name: &str,
        keys: impl ToRedisArgs,
        args: impl ToRedisArgs,
    ) -> Result<Invocation> {
        Ok(self.prepare(name)?.key(keys).arg(args))
    }

    /// Reads the reply of `SCRIPT FLUSH`: forget the marks again once it
    /// is done (they were forgotten when it was sent).
    fn flushed(&self, reply: Reply) -> Result<()> {
        self.state.inner.loaded.flush_done();
        match reply {
            Reply::Value(_) => Ok(()),
            Reply::Server(e) => Err(e.into_other_error(None, "SCRIPT FLUSH refused")),
            Reply::Client(e) => Err(e.into()),
        }
    }
}

// ----- sync -----

impl<C: SyncConnection> ScriptCache<C> {
    /// What the server supports, asked once per connection when `needed`.
    pub(crate) fn caps(&mut self, needed: bool) -> Result<Caps> {
        let mut link = Single {
            conn: &mut self.conn,
            buf: &mut self.local.buf,
        };
        drive::caps(&Scope::single(&self.state.inner), needed, &mut link)
    }

    /// One script call, in its span (the `tracing` feature) and measured
    /// (the `opentelemetry` feature): the one entry of every sync call,
    /// cluster or not.
    pub(crate) fn call_value(&mut self, invocation: &Invocation) -> Result<Value> {
        let state = &self.state.inner;
        let mut op = Op::call(&invocation.handle, state);
        let _span = op.entered();
        let result = Self::call_in(&mut self.conn, &mut self.local, state, invocation, &mut op);
        op.end(result.as_ref().err());
        result
    }

    fn call_in(
        conn: &mut C,
        local: &mut Local,
        state: &StateInner,
        invocation: &Invocation,
        op: &mut Op<'_>,
    ) -> Result<Value> {
        #[cfg(feature = "cluster")]
        if let Some(conn) = conn.as_cluster() {
            return crate::cluster::sync::call(conn, state, invocation, op);
        }
        let (handle, args) = (&invocation.handle, &invocation.args);
        op.single(local.server.as_ref(), || conn.get_db());
        let mut link = Single {
            conn,
            buf: &mut local.buf,
        };
        let result = drive::call(
            handle,
            args,
            Scope::single(state),
            Some(&mut local.hints),
            &mut link,
            op,
        );
        local.trim(args.packed_size_hint());
        result
    }

    /// Runs a script registered at run time by name.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let client = redis::Client::open("redis://127.0.0.1/")?;
    /// let mut con = script_cache::ScriptCache::new(client.get_connection()?);
    /// con.register_script("get", "return redis.call('GET', KEYS[1])")?;
    /// let v: Option<String> = con.run_script("get", &["some-key"], &[] as &[&str])?;
    /// # Ok(()) }
    /// ```
    pub fn run_script<T: FromRedisValue>(
        &mut self,
        name: &str,
        keys: impl ToRedisArgs,
        args: impl ToRedisArgs,
    ) -> Result<T> {
        self.prepare_with(name, keys, args)?.invoke(self)
    }

    /// Loads every script of `S` that this connection has not confirmed, in
    /// one round trip (plus one to ask what the server supports, the first
    /// time a script needs it). Returns how many were loaded; the first
    /// refusal is the error (the scripts the server took stay confirmed).
    pub fn load_all<S: EmbeddedScript>(&mut self) -> Result<usize> {
        self.preload(&ScriptHandle::all::<S>())?.into_count()
    }

    /// Loads every script registered at run time that the state has not
    /// confirmed on the server (on a cluster: on every primary), as
    /// [`load_all`](Self::load_all) does for embedded ones, and says what
    /// happened to each: how many were loaded, how many were known to be
    /// there already, which were refused and why. An error: a request
    /// failed as a whole (the connection, a server condition).
    pub fn load_registered(&mut self) -> Result<LoadReport> {
        self.preload(&self.state.inner.registry.handles())
    }

    fn preload(&mut self, handles: &[ScriptHandle]) -> Result<LoadReport> {
        #[cfg(feature = "cluster")]
        if let Some(conn) = self.conn.as_cluster() {
            return crate::cluster::sync::load_all(conn, &self.state.inner, handles);
        }
        let caps = self.caps(handles.iter().any(policy::needs_caps))?;
        let mut report = LoadReport::default();
        let mut link = Single {
            conn: &mut self.conn,
            buf: &mut self.local.buf,
        };
        let scope = Scope::single(&self.state.inner);
        drive::preload(scope, handles, caps, &mut link, &mut report)?;
        Ok(report)
    }

    /// The scripts registered at run time that the server lacks (by name,
    /// sorted): one `SCRIPT EXISTS` of the body each would run there (the
    /// legacy body on Redis 6.2; asked with the capability probe when a
    /// script needs it). The state learns nothing from it: a script
    /// present now can be flushed the next moment. Needs a connection to
    /// one server (a cluster's nodes are asked one by one).
    pub fn missing_registered(&mut self) -> Result<Vec<String>> {
        #[cfg(feature = "cluster")]
        if self.conn.as_cluster().is_some() {
            return Err(Error::client(
                None,
                crate::Ran::No,
                "missing_registered asks one server: connect to each node of the cluster",
            ));
        }
        let handles = self.state.inner.registry.handles();
        if handles.is_empty() {
            return Ok(Vec::new());
        }
        let caps = self.caps(handles.iter().any(policy::needs_caps))?;
        let reply = self.conn.req_command(&policy::exists_cmd(&handles, caps));
        policy::missing(&handles, Reply::from_result(reply))
    }

    /// Sends `SCRIPT FLUSH` and forgets which scripts were loaded. Scripts
    /// registered at run time stay registered (unlike Perl's
    /// `flush_all_scripts`, which also empties its registry so that every
    /// later `run_script` fails): they are loaded again on their next call.
    pub fn flush_cache(&mut self) -> Result<()> {
        self.state.inner.loaded.clear();
        let reply = Reply::from_result(self.conn.req_command(&policy::flush_cmd()));
        self.flushed(reply)
    }
}

impl<C: SyncConnection> SyncConnection for ScriptCache<C> {
    #[cfg(feature = "cluster")]
    fn as_cluster(&mut self) -> Option<&mut redis::cluster::ClusterConnection> {
        self.conn.as_cluster()
    }
}

impl<C: redis::ConnectionLike> redis::ConnectionLike for ScriptCache<C> {
    fn req_packed_command(&mut self, cmd: &[u8]) -> redis::RedisResult<Value> {
        self.conn.req_packed_command(cmd)
    }

    fn req_packed_commands(
        &mut self,
        cmd: &[u8],
        offset: usize,
        count: usize,
    ) -> redis::RedisResult<Vec<Value>> {
        self.conn.req_packed_commands(cmd, offset, count)
    }

    fn req_command(&mut self, cmd: &Cmd) -> redis::RedisResult<Value> {
        self.conn.req_command(cmd)
    }

    fn get_db(&self) -> i64 {
        self.conn.get_db()
    }

    fn supports_pipelining(&self) -> bool {
        self.conn.supports_pipelining()
    }

    fn check_connection(&mut self) -> bool {
        self.conn.check_connection()
    }

    fn is_open(&self) -> bool {
        self.conn.is_open()
    }
}

// ----- async -----

#[cfg(feature = "tokio-comp")]
impl<C: AsyncConnection> ScriptCache<C> {
    /// Async [`caps`](Self::caps).
    pub(crate) async fn caps_async(&mut self, needed: bool) -> Result<Caps> {
        let mut link = SingleAsync {
            conn: &mut self.conn,
            cmd: &mut self.local.cmd,
        };
        drive::caps_async(&Scope::single(&self.state.inner), needed, &mut link).await
    }

    /// Async [`call_value`](Self::call_value).
    pub(crate) async fn call_value_async(&mut self, invocation: &Invocation) -> Result<Value> {
        let state = &self.state.inner;
        let mut op = Op::call(&invocation.handle, state);
        let span = op.span();
        let call = Self::call_in_async(&mut self.conn, &mut self.local, state, invocation, &mut op);
        let result = crate::span::instrument(span, call).await;
        op.end(result.as_ref().err());
        result
    }

    async fn call_in_async(
        conn: &mut C,
        local: &mut Local,
        state: &StateInner,
        invocation: &Invocation,
        op: &mut Op<'_>,
    ) -> Result<Value> {
        #[cfg(feature = "cluster-async")]
        if let Some(conn) = conn.as_cluster_async() {
            return crate::cluster_async::call(conn, state, local, invocation, op).await;
        }
        let (handle, args) = (&invocation.handle, &invocation.args);
        op.single(local.server.as_ref(), || conn.get_db());
        // Borrowed, not cloned: no shared reference-count traffic per call.
        let mut link = SingleAsync {
            conn,
            cmd: &mut local.cmd,
        };
        let result = drive::call_async(
            handle,
            args,
            Scope::single(state),
            Some(&mut local.hints),
            &mut link,
            op,
        )
        .await;
        local.trim(args.packed_size_hint());
        result
    }

    /// Async [`run_script`](Self::run_script).
    pub async fn run_script_async<T: FromRedisValue>(
        &mut self,
        name: &str,
        keys: impl ToRedisArgs,
        args: impl ToRedisArgs,
    ) -> Result<T> {
        let invocation = self.prepare_with(name, keys, args)?;
        invocation.invoke_async(self).await
    }

    /// Async [`load_all`](Self::load_all).
    pub async fn load_all_async<S: EmbeddedScript>(&mut self) -> Result<usize> {
        self.preload_async(&ScriptHandle::all::<S>())
            .await?
            .into_count()
    }

    /// Async [`load_registered`](Self::load_registered).
    pub async fn load_registered_async(&mut self) -> Result<LoadReport> {
        let handles = self.state.inner.registry.handles();
        self.preload_async(&handles).await
    }

    async fn preload_async(&mut self, handles: &[ScriptHandle]) -> Result<LoadReport> {
        #[cfg(feature = "cluster-async")]
        if let Some(conn) = self.conn.as_cluster_async() {
            return crate::cluster_async::load_all(conn, &self.state.inner, handles).await;
        }
        let caps = self
            .caps_async(handles.iter().any(policy::needs_caps))
            .await?;
        let mut report = LoadReport::default();
        let mut link = SingleAsync {
            conn: &mut self.conn,
            cmd: &mut self.local.cmd,
        };
        let scope = Scope::single(&self.state.inner);
        drive::preload_async(scope, handles, caps, &mut link, &mut report).await?;
        Ok(report)
    }

    /// Async [`flush_cache`](Self::flush_cache).
    pub async fn flush_cache_async(&mut self) -> Result<()> {
        self.state.inner.loaded.clear();
        let reply = Reply::from_result(self.conn.req_packed_command(&policy::flush_cmd()).await);
        self.flushed(reply)
    }
}

#[cfg(feature = "tokio-comp")]
impl<C: AsyncConnection> AsyncConnection for ScriptCache<C> {
    #[cfg(feature = "cluster-async")]
    fn as_cluster_async(&mut self) -> Option<&mut redis::cluster_async::ClusterConnection> {
        self.conn.as_cluster_async()
    }
}

#[cfg(feature = "tokio-comp")]
impl<C: redis::aio::ConnectionLike + Send> redis::aio::ConnectionLike for ScriptCache<C> {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> redis::RedisFuture<'a, Value> {
        self.conn.req_packed_command(cmd)
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<Value>> {
        self.conn.req_packed_commands(cmd, offset, count)
    }

    fn get_db(&self) -> i64 {
        self.conn.get_db()
    }
}

// ----- running an invocation -----

impl Invocation {
    /// Runs the script on `con` (loading it first if this connection has
    /// not confirmed it) and converts the reply.
    ///
    /// ```no_run
    /// # use script_cache::prelude::*;
    /// # script_cache::include_scripts!("../lua");
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let client = redis::Client::open("redis://127.0.0.1/")?;
    /// let mut con = ScriptCache::new(client.get_connection()?);
    /// let v = Scripts::LockAcquire.key("l").arg("me").arg(1000).invoke::<i64>(&mut con)?;
    /// # Ok(()) }
    /// ```
    pub fn invoke<T: crate::ReplyType>(
        &self,
        con: &mut ScriptCache<impl SyncConnection>,
    ) -> Result<T> {
        self.check_arity()?;
        let result = con.call_value(self).and_then(|value| self.convert(value));
        if let Err(e) = &result {
            con.state.inner.counters.failed(e.ran());
        }
        result
    }

    /// Async [`invoke`](Invocation::invoke).
    #[cfg(feature = "tokio-comp")]
    pub async fn invoke_async<T: crate::ReplyType>(
        &self,
        con: &mut ScriptCache<impl AsyncConnection>,
    ) -> Result<T> {
        self.check_arity()?;
        let result = con
            .call_value_async(self)
            .await
            .and_then(|value| self.convert(value));
        if let Err(e) = &result {
            con.state.inner.counters.failed(e.ran());
        }
        result
    }
}

impl<R> TypedInvocation<R> {
    /// Runs the script and converts the reply to `R`.
    pub fn invoke(&self, con: &mut ScriptCache<impl SyncConnection>) -> Result<R>
    where
        R: FromRedisValue,
    {
        self.invocation().invoke(con)
    }

    /// Runs the script and converts the reply to `T` instead of `R`.
    pub fn invoke_as<T: crate::ReplyType>(
        &self,
        con: &mut ScriptCache<impl SyncConnection>,
    ) -> Result<T> {
        self.invocation().invoke(con)
    }

    /// Async [`invoke`](TypedInvocation::invoke).
    #[cfg(feature = "tokio-comp")]
    pub async fn invoke_async(&self, con: &mut ScriptCache<impl AsyncConnection>) -> Result<R>
    where
        R: FromRedisValue,
    {
        self.invocation().invoke_async(con).await
    }

    /// Async [`invoke_as`](TypedInvocation::invoke_as).
    #[cfg(feature = "tokio-comp")]
    pub async fn invoke_as_async<T: crate::ReplyType>(
        &self,
        con: &mut ScriptCache<impl AsyncConnection>,
    ) -> Result<T> {
        self.invocation().invoke_async(con).await
    }
}
