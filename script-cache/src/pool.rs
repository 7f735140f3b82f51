//! Connection pools: one [`ScriptState`] for the whole pool, every checkout
//! wrapped in a [`ScriptCache`] that shares it.
//!
//! A pool hands out connections to one server, whose script cache is
//! server-wide: a script one checkout loaded, every other checkout can call
//! with `EVALSHA` only. [`ScriptPool`] keeps a pool and a state together and
//! wraps each checkout, so no checkout resends a source the server already
//! confirmed, and 2,000 checkouts calling a cold script send one
//! `SCRIPT LOAD` between them, async and sync pools alike: callers sharing
//! a state wait for the one load under way (a sync caller blocks on it, an
//! async task awaits it).
//!
//! | feature    | pool                          | checkout type |
//! |------------|-------------------------------|---------------|
//! | `deadpool` | `deadpool_redis::Pool`        | `ScriptCache<deadpool_redis::Connection>` |
//! | `bb8`      | `bb8::Pool<M>` (e.g. `M = redis::Client`) | `ScriptCache<Bb8Connection<M>>` |
//! | `r2d2`     | `r2d2::Pool<M>` (e.g. `M = redis::Client`) | `ScriptCache<r2d2::PooledConnection<M>>` |
//!
//! Any other pool works the same way by hand:
//! `ScriptCache::with_state(pool.get()?, state.clone())`.
//!
//! A pool whose connections may reach *different* servers (DNS round robin
//! behind one name, a proxy) still works: the marks are hints, and a wrong
//! one costs one `NOSCRIPT` and an atomic retry, never a failed call.

use crate::cache::ScriptCache;
use crate::state::ScriptState;

/// A connection pool and the [`ScriptState`] its checkouts share.
///
/// ```no_run
/// # #[cfg(feature = "r2d2")]
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use script_cache::prelude::*;
/// use script_cache::ScriptPool;
/// # script_cache::include_scripts!("../lua");
/// let client = redis::Client::open("redis://127.0.0.1/")?;
/// let pool = ScriptPool::new(r2d2::Pool::builder().max_size(8).build(client)?);
/// let mut con = pool.get()?; // a ScriptCache sharing the pool's state
/// let _: i64 = Scripts::lock_acquire("l", "me", 1_000).invoke(&mut con)?;
/// # Ok(()) }
/// # #[cfg(not(feature = "r2d2"))]
/// # fn main() {}
/// ```
#[derive(Clone, Debug)]
pub struct ScriptPool<P> {
    pool: P,
    state: ScriptState,
}

impl<P> ScriptPool<P> {
    /// A pool with a fresh state.
    pub fn new(pool: P) -> Self {
        Self::with_state(pool, ScriptState::new())
    }

    /// A pool with a given state (shared with other pools or connections to
    /// the same server).
    pub fn with_state(pool: P, state: ScriptState) -> Self {
        ScriptPool { pool, state }
    }

    /// The state every checkout shares.
    pub fn state(&self) -> &ScriptState {
        &self.state
    }

    /// The pool.
    pub fn pool(&self) -> &P {
        &self.pool
    }

    /// Wraps a connection checked out some other way with this pool's state.
    pub fn wrap<C>(&self, conn: C) -> ScriptCache<C> {
        ScriptCache::with_state(conn, self.state.clone())
    }

    /// The pool and the state.
    pub fn into_parts(self) -> (P, ScriptState) {
        (self.pool, self.state)
    }
}

#[cfg(feature = "r2d2")]
impl<M> ScriptPool<r2d2::Pool<M>>
where
    M: r2d2::ManageConnection,
    M::Connection: redis::ConnectionLike,
{
    /// Checks out a connection, wrapped with the pool's state.
    ///
    /// Sync calls do not wait for each other: threads that find a script
    /// unloaded at the same moment may each send its `SCRIPT LOAD` once
    /// (a few loads at start-up, never a failed call).
    pub fn get(&self) -> Result<ScriptCache<r2d2::PooledConnection<M>>, r2d2::Error> {
        Ok(self.wrap(self.pool.get()?))
    }
}

#[cfg(feature = "deadpool")]
impl ScriptPool<deadpool_redis::Pool> {
    /// Checks out a connection, wrapped with the pool's state.
    pub async fn get(
        &self,
    ) -> Result<ScriptCache<deadpool_redis::Connection>, deadpool_redis::PoolError> {
        Ok(self.wrap(self.pool.get().await?))
    }
}

#[cfg(feature = "bb8")]
pub use bb8_support::Bb8Connection;

#[cfg(feature = "bb8")]
mod bb8_support {
    use super::ScriptPool;
    use crate::cache::ScriptCache;

    /// A connection checked out of a bb8 pool, as a redis-rs async
    /// connection (bb8's `PooledConnection` is not one itself). Returned
    /// to the pool when dropped.
    pub struct Bb8Connection<M: bb8::ManageConnection>(bb8::PooledConnection<'static, M>);

    impl<M: bb8::ManageConnection> std::fmt::Debug for Bb8Connection<M> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("Bb8Connection")
        }
    }

    impl<M: bb8::ManageConnection> Bb8Connection<M> {
        /// The pooled connection.
        pub fn get_mut(&mut self) -> &mut M::Connection {
            &mut self.0
        }
    }

    impl<M> redis::aio::ConnectionLike for Bb8Connection<M>
    where
        M: bb8::ManageConnection,
        M::Connection: redis::aio::ConnectionLike + Send,
    {
        fn req_packed_command<'a>(
            &'a mut self,
            cmd: &'a redis::Cmd,
        ) -> redis::RedisFuture<'a, redis::Value> {
            (*self.0).req_packed_command(cmd)
        }

        fn req_packed_commands<'a>(
            &'a mut self,
            cmd: &'a redis::Pipeline,
            offset: usize,
            count: usize,
        ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
            (*self.0).req_packed_commands(cmd, offset, count)
        }

        fn get_db(&self) -> i64 {
            (*self.0).get_db()
        }
    }

    impl<M> crate::connection::AsyncConnection for Bb8Connection<M>
    where
        M: bb8::ManageConnection,
        M::Connection: crate::connection::AsyncConnection,
    {
        #[cfg(feature = "cluster-async")]
        fn as_cluster_async(&mut self) -> Option<&mut redis::cluster_async::ClusterConnection> {
            (*self.0).as_cluster_async()
        }
    }

    impl<M> ScriptPool<bb8::Pool<M>>
    where
        M: bb8::ManageConnection,
        M::Connection: redis::aio::ConnectionLike + Send,
    {
        /// Checks out a connection, wrapped with the pool's state.
        pub async fn get(&self) -> Result<ScriptCache<Bb8Connection<M>>, bb8::RunError<M::Error>> {
            Ok(self.wrap(Bb8Connection(self.pool().get_owned().await?)))
        }
    }
}
