//! Connection kinds: which connections a [`ScriptCache`](crate::ScriptCache)
//! drives, and how it tells a Redis Cluster from a single server.
//!
//! The kind is a trait implemented per connection type, decided at compile
//! time: no runtime type checks, and so no `'static` bound on the call
//! methods. A borrowed `&mut redis::Connection` is wrapped like an owned
//! one.
//!
//! | trait | implemented for |
//! |-------|-----------------|
//! | [`SyncConnection`] | `redis::Connection`, `redis::cluster::ClusterConnection` (`cluster`), `r2d2::PooledConnection<M>` (`r2d2`), `&mut C`, `Box<C>`, `ScriptCache<C>` |
//! | `AsyncConnection` (`tokio-comp`) | `MultiplexedConnection`, `ConnectionManager`, `redis::cluster_async::ClusterConnection` (`cluster-async`), `deadpool_redis::Connection` (`deadpool`), `Bb8Connection` (`bb8`), `ScriptCache<C>` |
//!
//! A connection type of your own (a wrapper that records or meters
//! commands, say) opts in with one line, keeping the default methods:
//!
//! ```
//! # struct MyConnection(redis::Connection);
//! # impl redis::ConnectionLike for MyConnection {
//! #     fn req_packed_command(&mut self, cmd: &[u8]) -> redis::RedisResult<redis::Value> { self.0.req_packed_command(cmd) }
//! #     fn req_packed_commands(&mut self, cmd: &[u8], offset: usize, count: usize) -> redis::RedisResult<Vec<redis::Value>> { self.0.req_packed_commands(cmd, offset, count) }
//! #     fn get_db(&self) -> i64 { self.0.get_db() }
//! #     fn check_connection(&mut self) -> bool { self.0.check_connection() }
//! #     fn is_open(&self) -> bool { self.0.is_open() }
//! # }
//! impl script_cache::SyncConnection for MyConnection {}
//! ```
//!
//! The defaults say "one server"; only the cluster connections (and
//! wrappers that hand one out) override them, and they can only hand out
//! a real cluster connection, so an implementation cannot mislead the
//! runtime about where a command goes.

/// A sync connection a [`ScriptCache`](crate::ScriptCache) can drive. See
/// the [module docs](self) for the types it is implemented for.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a sync connection script-cache can drive",
    label = "not a sync connection",
    note = "an async connection (`MultiplexedConnection`, `ConnectionManager`, an async pool's checkout) is called with `invoke_async` / `query_async`",
    note = "a `redis::ConnectionLike` type of your own opts in with `impl script_cache::SyncConnection for MyConnection {{}}`"
)]
pub trait SyncConnection: redis::ConnectionLike {
    /// The connection as a Redis Cluster connection, if it is one: calls
    /// are then routed to each key's shard and loads are tracked per node.
    /// Keep the default (`None`) for a connection to one server.
    #[cfg(feature = "cluster")]
    fn as_cluster(&mut self) -> Option<&mut redis::cluster::ClusterConnection> {
        None
    }
}

impl SyncConnection for redis::Connection {}

#[cfg(feature = "cluster")]
impl SyncConnection for redis::cluster::ClusterConnection {
    fn as_cluster(&mut self) -> Option<&mut redis::cluster::ClusterConnection> {
        Some(self)
    }
}

impl<C: SyncConnection> SyncConnection for &mut C {
    #[cfg(feature = "cluster")]
    fn as_cluster(&mut self) -> Option<&mut redis::cluster::ClusterConnection> {
        (**self).as_cluster()
    }
}

impl<C: SyncConnection> SyncConnection for Box<C> {
    #[cfg(feature = "cluster")]
    fn as_cluster(&mut self) -> Option<&mut redis::cluster::ClusterConnection> {
        (**self).as_cluster()
    }
}

#[cfg(feature = "r2d2")]
impl<M> SyncConnection for r2d2::PooledConnection<M>
where
    M: r2d2::ManageConnection,
    M::Connection: SyncConnection,
{
    #[cfg(feature = "cluster")]
    fn as_cluster(&mut self) -> Option<&mut redis::cluster::ClusterConnection> {
        (**self).as_cluster()
    }
}

/// An async connection a [`ScriptCache`](crate::ScriptCache) can drive.
/// See the [module docs](self) for the types it is implemented for.
#[cfg(feature = "tokio-comp")]
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an async connection script-cache can drive",
    label = "not an async connection",
    note = "a sync connection (`redis::Connection`, an r2d2 checkout) is called with `invoke` / `query`",
    note = "a `redis::aio::ConnectionLike` type of your own opts in with `impl script_cache::AsyncConnection for MyConnection {{}}`"
)]
pub trait AsyncConnection: redis::aio::ConnectionLike + Send {
    /// The connection as an async Redis Cluster connection, if it is one.
    /// Keep the default (`None`) for a connection to one server.
    #[cfg(feature = "cluster-async")]
    fn as_cluster_async(&mut self) -> Option<&mut redis::cluster_async::ClusterConnection> {
        None
    }
}

#[cfg(feature = "tokio-comp")]
impl AsyncConnection for redis::aio::MultiplexedConnection {}

#[cfg(feature = "tokio-comp")]
impl AsyncConnection for redis::aio::ConnectionManager {}

#[cfg(feature = "cluster-async")]
impl AsyncConnection for redis::cluster_async::ClusterConnection {
    fn as_cluster_async(&mut self) -> Option<&mut redis::cluster_async::ClusterConnection> {
        Some(self)
    }
}

#[cfg(feature = "deadpool")]
impl AsyncConnection for deadpool_redis::Connection {}
