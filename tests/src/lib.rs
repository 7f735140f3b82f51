//! Test support for script-cache: real `redis-server` / `valkey-server`
//! processes on free loopback ports, one per test, killed on drop.
//!
//! The suite is a compatibility matrix: [`matrix!`] turns one test body into
//! one `#[test]` per server [`Flavor`], named after it, so the output of
//! `cargo test` shows which server each result is for.

/// The README's example, compiled as a doctest (`tests/lua` links to the
/// workspace's `lua/`, so `include_scripts!("lua/")` finds the scripts).
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

pub mod cluster;
pub mod differential;
pub mod faults;
pub mod lint_tables;
pub mod recording;
pub mod sentinel;
pub mod server;
pub mod tls;

pub use faults::{
    AclUser, BusyScript, FlushStorm, MemoryFull, StormEnd, fill_memory, start_replica,
};

pub use recording::{Recording, RoundTrip, RoundTripLog, command_names};

pub use sentinel::SentinelSetup;
pub use server::{
    Binary, CommandStat, CommandStats, Flavor, HarnessError, MissingServer, PROCESS_MARKER,
    ServerBuilder, TestServer, free_port, in_ci, process_marker, workspace_root,
};
pub use tls::{TlsFiles, TlsServer, supports_tls};

/// Starts a default server of `flavor` for a test, or returns `None` when
/// the flavor is not installed outside CI (the test then passes as a
/// reported skip). In CI (`CI=true`) a missing flavor panics with how to
/// install it: the matrix is required there.
pub fn server_for(flavor: Flavor) -> Option<TestServer> {
    match flavor.binary() {
        Ok(_) => Some(TestServer::start(flavor)),
        Err(missing) if in_ci() => panic!("{missing}"),
        Err(missing) => {
            eprintln!("SKIPPED on {flavor}: {missing}");
            None
        }
    }
}

/// A two-worker tokio runtime for async test bodies.
pub fn runtime() -> tokio::runtime::Runtime {
    match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => panic!("cannot build a tokio runtime: {e}"),
    }
}

/// Declares one test per server flavor from one body.
///
/// ```ignore
/// script_cache_tests::matrix! {
///     fn ping(server) {
///         let mut con = server.connection();
///         let pong: String = redis::cmd("PING").query(&mut con).unwrap();
///         assert_eq!(pong, "PONG");
///     }
///     async fn ping_async(server) {
///         let mut con = server.client().get_multiplexed_async_connection().await.unwrap();
///         let pong: String = redis::cmd("PING").query_async(&mut con).await.unwrap();
///         assert_eq!(pong, "PONG");
///     }
/// }
/// ```
///
/// expands to modules `ping` and `ping_async`, each with the tests
/// `redis_7_0`, `redis_6_2` and `valkey_9_1`. `server` is a `&mut TestServer`.
#[macro_export]
macro_rules! matrix {
    () => {};
    ($(#[$meta:meta])* fn $name:ident($server:ident) $body:block $($rest:tt)*) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            fn body($server: &mut $crate::TestServer) $body
            #[test]
            fn redis_7_0() { $crate::__run(&$crate::Flavor::Redis7, body) }
            #[test]
            fn redis_6_2() { $crate::__run(&$crate::Flavor::Redis62, body) }
            #[test]
            fn valkey_9_1() { $crate::__run(&$crate::Flavor::Valkey9, body) }
        }
        $crate::matrix! { $($rest)* }
    };
    ($(#[$meta:meta])* async fn $name:ident($server:ident) $body:block $($rest:tt)*) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn body($server: &mut $crate::TestServer) $body
            fn sync_body(server: &mut $crate::TestServer) {
                $crate::runtime().block_on(body(server))
            }
            #[test]
            fn redis_7_0() { $crate::__run(&$crate::Flavor::Redis7, sync_body) }
            #[test]
            fn redis_6_2() { $crate::__run(&$crate::Flavor::Redis62, sync_body) }
            #[test]
            fn valkey_9_1() { $crate::__run(&$crate::Flavor::Valkey9, sync_body) }
        }
        $crate::matrix! { $($rest)* }
    };
}

/// Runs one matrix cell. Not for direct use.
#[doc(hidden)]
pub fn __run(flavor: &Flavor, body: fn(&mut TestServer)) {
    if let Some(mut server) = server_for(*flavor) {
        eprintln!("running on {flavor} ({})", server.version());
        body(&mut server);
    }
}
