//! Test support for script-cache: real `redis-server` / `valkey-server`
//! processes on free loopback ports, one per test, killed on drop.
//!
//! The suite is a compatibility matrix: [`matrix!`] turns one test body into
//! one `#[test]` per server [`Flavor`], named after it, so the output of
//! `cargo test` shows which server each result is for.

// The README's and docs/'s examples are compiled as doctests of the
// script-cache crate (script-cache/src/lib.rs).

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
    Binary, CommandStat, CommandStats, Flavor, HarnessError, INFO_STATS_REQUEST, MissingServer,
    PROCESS_MARKER, ServerBuilder, TestServer, free_port, in_ci, net_input_bytes, process_marker,
    workspace_root,
};
pub use tls::{TlsFiles, TlsServer, supports_tls};

/// Starts a default server of `flavor`, or returns `None` when the flavor
/// is not installed outside CI. For tests that loop over every flavor and
/// check what is installed (the missing one is reported `SKIPPED` on
/// stderr); a test of one flavor is declared with [`flavor_test!`] (or
/// [`matrix!`]) instead, so a missing flavor shows as ignored. In CI
/// (`CI=true`) a missing flavor panics with how to install it: the matrix
/// is required there.
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
/// `redis_7_0`, `redis_6_2`, `valkey_9_1`, `redis_8_2` and `valkey_8_1`. `server` is a `&mut TestServer`.
/// Each test is declared with [`flavor_test!`]: ignored (not passed) when
/// its flavor's binary was missing at build time, outside CI.
#[macro_export]
macro_rules! matrix {
    ($($tests:tt)*) => {
        $crate::__matrix! {
            [Redis7 redis_7_0, Redis62 redis_6_2, Valkey9 valkey_9_1, Redis82 redis_8_2, Valkey81 valkey_8_1]
            $($tests)*
        }
    };
}

/// The expansion of [`matrix!`] and [`functions_matrix!`] over a list of
/// flavors (`Flavor` variant and test name). Not for direct use.
#[doc(hidden)]
#[macro_export]
macro_rules! __matrix {
    ([$($flavor:ident $test:ident),*]) => {};
    ([$($flavor:ident $test:ident),*] $(#[$meta:meta])* fn $name:ident($server:ident) $body:block $($rest:tt)*) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            fn body($server: &mut $crate::TestServer) $body
            $(
                $crate::flavor_test! { $flavor, fn $test() { $crate::__run(&$crate::Flavor::$flavor, body) } }
            )*
        }
        $crate::__matrix! { [$($flavor $test),*] $($rest)* }
    };
    ([$($flavor:ident $test:ident),*] $(#[$meta:meta])* async fn $name:ident($server:ident) $body:block $($rest:tt)*) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            async fn body($server: &mut $crate::TestServer) $body
            fn sync_body(server: &mut $crate::TestServer) {
                $crate::runtime().block_on(body(server))
            }
            $(
                $crate::flavor_test! { $flavor, fn $test() { $crate::__run(&$crate::Flavor::$flavor, sync_body) } }
            )*
        }
        $crate::__matrix! { [$($flavor $test),*] $($rest)* }
    };
}

/// [`matrix!`] over the flavors that have Redis Functions (Redis 7.0,
/// 8.2, Valkey 8.1, 9.1): modules with the tests `redis_7_0`,
/// `valkey_9_1`, `redis_8_2` and `valkey_8_1`. Redis 6.2, which has none,
/// is tested apart.
#[macro_export]
macro_rules! functions_matrix {
    ($($tests:tt)*) => {
        $crate::__matrix! {
            [Redis7 redis_7_0, Valkey9 valkey_9_1, Redis82 redis_8_2, Valkey81 valkey_8_1]
            $($tests)*
        }
    };
}

/// One test per server flavor of a body that takes the [`Flavor`] and
/// starts what it needs itself (a cluster, a Sentinel group, a subscriber
/// before the server): `per_flavor!(name, body)` declares a module `name`
/// with the tests `redis_7_0`, `redis_6_2`, `valkey_9_1`, `redis_8_2` and
/// `valkey_8_1`, each calling `body(Flavor::..)`, declared with
/// [`flavor_test!`] like the cells of [`matrix!`].
#[macro_export]
macro_rules! per_flavor {
    ($name:ident, $body:path) => {
        $crate::__per_flavor! {
            [Redis7 redis_7_0, Redis62 redis_6_2, Valkey9 valkey_9_1, Redis82 redis_8_2, Valkey81 valkey_8_1]
            $name, $body
        }
    };
}

/// [`per_flavor!`] over the flavors that have Redis Functions (Redis 7.0,
/// 8.2, Valkey 8.1, 9.1).
#[macro_export]
macro_rules! functions_per_flavor {
    ($name:ident, $body:path) => {
        $crate::__per_flavor! {
            [Redis7 redis_7_0, Valkey9 valkey_9_1, Redis82 redis_8_2, Valkey81 valkey_8_1]
            $name, $body
        }
    };
}

/// The expansion of [`per_flavor!`] and [`functions_per_flavor!`]. Not for
/// direct use.
#[doc(hidden)]
#[macro_export]
macro_rules! __per_flavor {
    ([$($flavor:ident $test:ident),*] $name:ident, $body:path) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $(
                $crate::flavor_test! { $flavor, fn $test() { $body($crate::Flavor::$flavor) } }
            )*
        }
    };
}

/// Runs one matrix cell. Not for direct use.
///
/// A cell of a flavor whose binary was missing at build time is
/// `#[ignore]`d (see [`flavor_test!`]); run anyway (`--ignored`), or with
/// the binary gone since the build, it fails: a missing server is never a
/// pass.
#[doc(hidden)]
pub fn __run(flavor: &Flavor, body: fn(&mut TestServer)) {
    let mut server = match flavor.binary() {
        Ok(_) => TestServer::start(*flavor),
        Err(missing) => panic!("{missing}"),
    };
    eprintln!("running on {flavor} ({})", server.version());
    body(&mut server);
}

/// Declares a `#[test]` that needs one server flavor: `Redis7`, `Redis62`,
/// `Valkey9`, `Redis82` or `Valkey81`. When `tests/build.rs` found no binary of that flavor
/// (outside CI), the test is `#[ignore]`d with how to install it, so
/// `cargo test` counts it as ignored, never as passed. With `CI=true` it
/// always runs (and fails loudly when the binary is missing).
///
/// ```ignore
/// script_cache_tests::flavor_test! { Redis7,
///     fn tls_redis_7_0() { /* ... */ }
/// }
/// ```
///
/// The decision is taken when this crate (`script-cache-tests`) is built,
/// so it holds in every crate that uses the macro.
#[macro_export]
macro_rules! flavor_test {
    (Redis7, $($item:tt)*) => { $crate::__test_redis_7_0! { $($item)* } };
    (Redis62, $($item:tt)*) => { $crate::__test_redis_6_2! { $($item)* } };
    (Valkey9, $($item:tt)*) => { $crate::__test_valkey_9_1! { $($item)* } };
    (Redis82, $($item:tt)*) => { $crate::__test_redis_8_2! { $($item)* } };
    (Valkey81, $($item:tt)*) => { $crate::__test_valkey_8_1! { $($item)* } };
}

#[cfg(has_redis_7_0)]
#[doc(hidden)]
#[macro_export]
macro_rules! __test_redis_7_0 { ($($item:tt)*) => { #[test] $($item)* }; }
#[cfg(not(has_redis_7_0))]
#[doc(hidden)]
#[macro_export]
macro_rules! __test_redis_7_0 {
    ($($item:tt)*) => {
        #[test]
        #[ignore = "Redis 7.0 binary missing: run scripts/install-servers.sh"]
        $($item)*
    };
}
#[cfg(has_redis_6_2)]
#[doc(hidden)]
#[macro_export]
macro_rules! __test_redis_6_2 { ($($item:tt)*) => { #[test] $($item)* }; }
#[cfg(not(has_redis_6_2))]
#[doc(hidden)]
#[macro_export]
macro_rules! __test_redis_6_2 {
    ($($item:tt)*) => {
        #[test]
        #[ignore = "Redis 6.2 binary missing: run scripts/install-servers.sh"]
        $($item)*
    };
}
#[cfg(has_valkey_9_1)]
#[doc(hidden)]
#[macro_export]
macro_rules! __test_valkey_9_1 { ($($item:tt)*) => { #[test] $($item)* }; }
#[cfg(not(has_valkey_9_1))]
#[doc(hidden)]
#[macro_export]
macro_rules! __test_valkey_9_1 {
    ($($item:tt)*) => {
        #[test]
        #[ignore = "Valkey 9.1 binary missing: run scripts/install-servers.sh"]
        $($item)*
    };
}
#[cfg(has_redis_8_2)]
#[doc(hidden)]
#[macro_export]
macro_rules! __test_redis_8_2 { ($($item:tt)*) => { #[test] $($item)* }; }
#[cfg(not(has_redis_8_2))]
#[doc(hidden)]
#[macro_export]
macro_rules! __test_redis_8_2 {
    ($($item:tt)*) => {
        #[test]
        #[ignore = "Redis 8.2 binary missing: run scripts/install-servers.sh"]
        $($item)*
    };
}
#[cfg(has_valkey_8_1)]
#[doc(hidden)]
#[macro_export]
macro_rules! __test_valkey_8_1 { ($($item:tt)*) => { #[test] $($item)* }; }
#[cfg(not(has_valkey_8_1))]
#[doc(hidden)]
#[macro_export]
macro_rules! __test_valkey_8_1 {
    ($($item:tt)*) => {
        #[test]
        #[ignore = "Valkey 8.1 binary missing: run scripts/install-servers.sh"]
        $($item)*
    };
}
