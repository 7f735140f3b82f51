//! [`ScriptCache`]: a connection that remembers which scripts it loaded.

use std::path::Path;
use std::sync::Arc;

use redis::{Cmd, FromRedisValue, Pipeline, ToRedisArgs, Value};

use crate::call::{Call, Reply, Request, caps_from_probe, confirm_load, load_cmd, probe_cmd};
use crate::error::{Error, Result};
use crate::handle::ScriptHandle;
use crate::invocation::Invocation;
use crate::registry::Registry;
use crate::script::EmbeddedScript;
use crate::state::{Caps, Counters, LoadedSet, NodeKey, Stats};

/// What clones of one cache share.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub(crate) loaded: LoadedSet,
    pub(crate) counters: Counters,
    pub(crate) registry: Registry,
}

/// A redis-rs connection plus what it knows about the server's script
/// cache.
///
/// * The first call of a script sends `SCRIPT LOAD` and `EVALSHA` together
///   (one round trip); later calls send `EVALSHA` only.
/// * A `NOSCRIPT` answer (after `SCRIPT FLUSH`, a restart or a failover)
///   reloads the script and calls it again, once.
/// * Read-only scripts (`#!lua flags=no-writes`) go out as `EVALSHA_RO`
///   where the server has it.
///
/// It wraps a sync connection (anything [`redis::ConnectionLike`]) or, with
/// the `tokio-comp` feature, an async one (`redis::aio::MultiplexedConnection`,
/// `redis::aio::ConnectionManager`); it is itself a connection of the same
/// kind, so other commands go through it unchanged. Clones of an async cache
/// share what was loaded, so a multiplexed connection loads each script once
/// however many tasks use it.
#[derive(Debug)]
pub struct ScriptCache<C> {
    pub(crate) conn: C,
    pub(crate) shared: Arc<Shared>,
}

impl<C: Clone> Clone for ScriptCache<C> {
    /// A clone of the connection that shares the load state, counters and
    /// registered scripts.
    fn clone(&self) -> Self {
        ScriptCache {
            conn: self.conn.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<C> ScriptCache<C> {
    /// Wraps a connection. Nothing is sent until a script is called.
    pub fn new(conn: C) -> Self {
        ScriptCache {
            conn,
            shared: Arc::default(),
        }
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

    /// What this cache (and its clones) did so far.
    pub fn stats(&self) -> Stats {
        self.shared.counters.snapshot()
    }

    /// Whether the server confirmed loading `script` on this connection.
    pub fn is_loaded<S: EmbeddedScript>(&self, script: S) -> bool {
        let meta = script.meta();
        let node = NodeKey::SINGLE;
        self.shared.loaded.is_loaded(&node, meta.sha1())
            || meta
                .legacy()
                .is_some_and(|l| self.shared.loaded.is_loaded(&node, l.sha1))
    }

    /// How many scripts the server confirmed on this connection.
    pub fn loaded_count(&self) -> usize {
        self.shared.loaded.loaded_count(&NodeKey::SINGLE)
    }

    /// Forgets which scripts are loaded, without telling the server: each
    /// script is loaded again on its next call.
    pub fn forget_loaded(&self) {
        self.shared.loaded.clear();
    }

    // ----- runtime registration (Perl Redis::ScriptCache's verbs) -----

    /// Registers a script under `name` and returns its SHA-1. Registering
    /// the same source under the same name again is a no-op; another source
    /// under a taken name is [`Error::NameTaken`] (use
    /// [`replace_script`](Self::replace_script)). Nothing is sent: the
    /// script is loaded on its first call, like an embedded one.
    pub fn register_script(&self, name: &str, source: &str) -> Result<String> {
        self.shared.registry.register(name, source, false)
    }

    /// Registers a script under `name`, replacing any script of that name.
    pub fn replace_script(&self, name: &str, source: &str) -> Result<String> {
        self.shared.registry.register(name, source, true)
    }

    /// Sets the folder that relative paths of
    /// [`register_file`](Self::register_file) and
    /// [`register_all_scripts`](Self::register_all_scripts) resolve against.
    pub fn set_script_dir(&self, dir: impl AsRef<Path>) {
        self.shared.registry.set_dir(dir.as_ref().to_path_buf());
    }

    /// Registers one file under its stem (`lua/rate_limit.lua` ->
    /// `rate_limit`) and returns the name. Relative paths resolve against
    /// the script folder, if one was set.
    pub fn register_file(&self, path: impl AsRef<Path>) -> Result<String> {
        self.shared.registry.register_file(path.as_ref())
    }

    /// Registers every top-level `*.lua` file of `dir` (dotfiles and
    /// subfolders skipped) in sorted order and returns their names. Either
    /// all are registered or, on an error, none.
    pub fn register_all_scripts(&self, dir: impl AsRef<Path>) -> Result<Vec<String>> {
        self.shared.registry.register_dir(dir.as_ref())
    }

    /// The names of the scripts registered at run time, sorted.
    pub fn scripts(&self) -> Vec<String> {
        self.shared.registry.names()
    }

    /// An invocation of a registered script, to add keys and arguments to.
    /// An unknown name is [`Error::UnknownScript`] with similar names.
    pub fn prepare(&self, name: &str) -> Result<Invocation> {
        let script = self.shared.registry.get(name)?;
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

    /// The pipeline that loads every script of `S` this connection has not
    /// confirmed yet, and the SHA-1s it should answer.
    fn preload_pipeline<S: EmbeddedScript>(&self, caps: Caps) -> (Pipeline, Vec<ScriptHandle>) {
        let node = NodeKey::SINGLE;
        let mut pipe = redis::pipe();
        let mut expected = Vec::new();
        for script in S::ALL {
            let handle = ScriptHandle::Static(script.meta());
            let body = handle.body(caps == Caps::Legacy);
            if !self.shared.loaded.is_loaded(&node, body.sha1) {
                pipe.add_command(load_cmd(body.source));
                expected.push(handle);
            }
        }
        (pipe, expected)
    }

    fn preload_finish(
        &self,
        caps: Caps,
        expected: &[ScriptHandle],
        replies: redis::RedisResult<Vec<Value>>,
    ) -> Result<usize> {
        let node = NodeKey::SINGLE;
        let replies = replies?;
        let mut first_error = None;
        let mut loaded = 0;
        for (handle, value) in expected.iter().zip(replies) {
            let body = handle.body(caps == Caps::Legacy);
            let script = handle.id_for(body.sha1);
            match confirm_load(Reply::from_value(value), &script) {
                Ok(()) => {
                    let _ = self.shared.loaded.mark_loaded(&node, body.sha1);
                    loaded += 1;
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        self.shared.counters.loaded(loaded as u64);
        match first_error {
            Some(e) => Err(e),
            None => Ok(loaded),
        }
    }

    /// Whether any script of `S` needs to know what the server supports.
    fn needs_caps<S: EmbeddedScript>() -> bool {
        S::ALL
            .iter()
            .any(|s| s.read_only() || s.meta().legacy().is_some())
    }

    /// What the server supports, if `needed` and not asked yet: `None`
    /// means "send the probe and pass its reply to [`Self::caps_probed`]".
    fn known_caps(&self, needed: bool) -> Option<Caps> {
        let caps = self.shared.loaded.caps(&NodeKey::SINGLE);
        (!needed || caps != Caps::Unknown).then_some(caps)
    }

    /// Records the reply of the capability probe.
    fn caps_probed(&self, reply: Reply) -> Result<Caps> {
        let caps = caps_from_probe(reply)?;
        self.shared.loaded.set_caps(&NodeKey::SINGLE, caps);
        Ok(caps)
    }
}

impl<C> ScriptCache<C> {
    /// Reads the reply of `SCRIPT FLUSH`: forget the marks once it is done.
    fn flushed(&self, reply: Reply) -> Result<()> {
        match reply {
            Reply::Value(_) => {
                self.shared.loaded.clear();
                Ok(())
            }
            Reply::Server(e) => Err(Error::from(redis::RedisError::from((
                redis::ErrorKind::Client,
                "SCRIPT FLUSH refused",
                format!("{} {}", e.code, e.message),
            )))),
            Reply::Client(e) => Err(e.into()),
        }
    }
}

fn flush_cmd() -> Cmd {
    let mut cmd = redis::cmd("SCRIPT");
    cmd.arg("FLUSH");
    cmd
}

// ----- sync -----

impl<C: redis::ConnectionLike> ScriptCache<C> {
    /// What the server supports, asked once per connection when `needed`.
    pub(crate) fn caps(&mut self, needed: bool) -> Result<Caps> {
        match self.known_caps(needed) {
            Some(caps) => Ok(caps),
            None => {
                let reply = Reply::from_result(self.conn.req_command(&probe_cmd()));
                self.caps_probed(reply)
            }
        }
    }

    pub(crate) fn call_value(&mut self, invocation: &Invocation) -> Result<Value> {
        let shared = &*self.shared;
        let mut call = Call::new(
            &invocation.handle,
            &invocation.args,
            &shared.loaded,
            &shared.counters,
            false,
        );
        loop {
            match call.next() {
                Request::Done(result) => return result,
                Request::One(cmd) => call.feed_one(Reply::from_result(self.conn.req_command(&cmd))),
                Request::Pipeline(pipe) => {
                    let replies =
                        self.conn
                            .req_packed_commands(&pipe.get_packed_pipeline(), 0, pipe.len());
                    call.feed_many(replies);
                }
                #[cfg(feature = "tokio-comp")]
                Request::Wait(_) => {
                    // Only async callers coordinate; a sync call never waits.
                }
            }
        }
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
    /// time a script needs it). Returns how many were loaded.
    pub fn load_all<S: EmbeddedScript>(&mut self) -> Result<usize> {
        let caps = self.caps(Self::needs_caps::<S>())?;
        let (pipe, expected) = self.preload_pipeline::<S>(caps);
        if expected.is_empty() {
            return Ok(0);
        }
        let replies = self
            .conn
            .req_packed_commands(&pipe.get_packed_pipeline(), 0, pipe.len());
        self.preload_finish(caps, &expected, replies)
    }

    /// Sends `SCRIPT FLUSH` and forgets which scripts were loaded. Scripts
    /// registered at run time stay registered (unlike Perl's
    /// `flush_all_scripts`, which also empties its registry so that every
    /// later `run_script` fails): they are loaded again on their next call.
    pub fn flush_cache(&mut self) -> Result<()> {
        let reply = Reply::from_result(self.conn.req_command(&flush_cmd()));
        self.flushed(reply)
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
impl<C: redis::aio::ConnectionLike + Send> ScriptCache<C> {
    /// Async [`caps`](Self::caps).
    pub(crate) async fn caps_async(&mut self, needed: bool) -> Result<Caps> {
        match self.known_caps(needed) {
            Some(caps) => Ok(caps),
            None => {
                let reply = self.conn.req_packed_command(&probe_cmd()).await;
                self.caps_probed(Reply::from_result(reply))
            }
        }
    }

    pub(crate) async fn call_value_async(&mut self, invocation: &Invocation) -> Result<Value> {
        // Borrowed, not cloned: no shared reference-count traffic per call.
        let (conn, shared) = (&mut self.conn, &*self.shared);
        let mut call = Call::new(
            &invocation.handle,
            &invocation.args,
            &shared.loaded,
            &shared.counters,
            true,
        );
        loop {
            match call.next() {
                Request::Done(result) => return result,
                Request::One(cmd) => {
                    let reply = conn.req_packed_command(&cmd).await;
                    call.feed_one(Reply::from_result(reply));
                }
                Request::Pipeline(pipe) => {
                    let replies = conn.req_packed_commands(&pipe, 0, pipe.len()).await;
                    call.feed_many(replies);
                }
                Request::Wait(mut rx) => {
                    // Returns when the loading task finishes, succeeds or
                    // not, or is cancelled (its sender is dropped).
                    let _ = rx.changed().await;
                }
            }
        }
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
        let caps = self.caps_async(Self::needs_caps::<S>()).await?;
        let (pipe, expected) = self.preload_pipeline::<S>(caps);
        if expected.is_empty() {
            return Ok(0);
        }
        let replies = self.conn.req_packed_commands(&pipe, 0, pipe.len()).await;
        self.preload_finish(caps, &expected, replies)
    }

    /// Async [`flush_cache`](Self::flush_cache).
    pub async fn flush_cache_async(&mut self) -> Result<()> {
        let reply = Reply::from_result(self.conn.req_packed_command(&flush_cmd()).await);
        self.flushed(reply)
    }
}

#[cfg(feature = "tokio-comp")]
impl<C: redis::aio::ConnectionLike + Send> redis::aio::ConnectionLike for ScriptCache<C> {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> redis::RedisFuture<'a, Value> {
        self.conn.req_packed_command(cmd)
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<Value>> {
        self.conn.req_packed_commands(cmd, offset, count)
    }

    fn get_db(&self) -> i64 {
        self.conn.get_db()
    }
}
