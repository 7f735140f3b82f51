//! Ship Redis/Valkey Lua scripts inside your binary: checked and hashed at
//! build time, loaded lazily at run time, safe against `NOSCRIPT`.
//!
//! # Build time
//!
//! [`include_scripts!`] reads the top-level `*.lua` files of a folder
//! (relative to your `Cargo.toml`), parses each as Lua 5.1, computes its
//! SHA-1 and generates `pub enum Scripts` with one variant per file
//! (`rate_limit.lua` -> `Scripts::RateLimit`). [`scripts`](macro@scripts)
//! fills an enum of your own (name, visibility, docs), and
//! [`derive(Scripts)`](derive@Scripts) checks an explicit list of variants.
//! A syntax error, two files with one variant name, an unknown shebang flag
//! and the like are compile errors naming the file, line and column.
//!
//! Then a lint, with tables generated from the servers themselves, makes
//! what would fail at run time fail at build time: an undefined or written
//! global, an unknown command (with "did you mean"), a command some
//! targeted servers lack or refuse in scripts, a literal call with the
//! wrong number of arguments, a write in a `#!lua flags=no-writes` script;
//! and warns about key names not passed in `KEYS`. Each message names its
//! rule and the comment that silences it (`-- script-cache:
//! allow(global-write)`, `allow-file(...)`, `servers(redis-7.0,
//! valkey-9.1)`). See `script_cache_check::lint`.
//!
//! The metadata is on the [`EmbeddedScript`] trait (in the [`prelude`]):
//! `name()`, `file()`, `source()`, `sha1()`, `read_only()`, `keys()`,
//! `args()`, `ALL` and `from_name()`; the enums also implement `FromStr`
//! and `Display` by name.
//!
//! **Add a one-line `build.rs`** so that a *new* file in the folder rebuilds
//! your crate (changes and deletions are tracked without it):
//!
//! ```ignore
//! fn main() {
//!     println!("cargo::rerun-if-changed=lua");
//! }
//! ```
//!
//! # Run time
//!
//! [`ScriptCache`] wraps a redis-rs connection (sync, or async with the
//! `tokio-comp` feature) together with a [`ScriptState`]: what is known
//! about the server's script cache (which scripts it confirmed, what it
//! supports), counters and the scripts registered at run time. A server's
//! script cache is server-wide, so one state can be shared by every
//! connection to it ([`ScriptCache::with_state`]): a pooled checkout or a
//! new connection calls a script another one loaded with `EVALSHA` only.
//!
//! The guarantees, each tested against Redis 6.2, 7.0 and 8.2 and Valkey
//! 8.1 and 9.1 under the fault that would break it:
//!
//! 1. **First call: one round trip, no failed command**: `SCRIPT LOAD` and
//!    `EVALSHA` as one pipeline, unless the state knows the server has it,
//!    for a script of at most [`LAZY_LOAD_MAX`] bytes. A larger one the
//!    state has no mark for is called `EVALSHA` first, so that a fleet of
//!    fresh processes sends no source to a server that has it: one round
//!    trip then, two (and one `NOSCRIPT`) when the server lacks it. A
//!    state's first call of an embedded script on a node also asks, in the
//!    same request, which scripts of its enum the node has (one
//!    `SCRIPT EXISTS`), and calls those `EVALSHA` alone from then on
//!    ([`Stats::surveys`]).
//!    A script is marked loaded only when the server answered the SHA-1
//!    computed at build time ([`Error::ShaMismatch`] otherwise).
//! 2. **A single call never fails because of `NOSCRIPT`** (after
//!    `SCRIPT FLUSH`, a restart, a failover): the script is loaded again
//!    with the call (`SCRIPT LOAD` + `EVALSHA` in one request, so the
//!    server holds it as `SCRIPT LOAD`'s, which no server evicts), and if
//!    that meets `NOSCRIPT` too (a flush between the two), the call is sent
//!    as one `EVAL` (`EVAL_RO`) with the source, which loads and runs in one
//!    step, so it cannot meet `NOSCRIPT` again. No `MULTI`: a `WATCH` or
//!    `MULTI` the caller has open on the connection is left alone. A script
//!    that got `NOSCRIPT` never ran, so nothing runs twice. Many tasks
//!    meeting one flush wait for one reload.
//! 3. **A transaction never half-applies**: every script it calls is loaded
//!    inside its `MULTI` ([`Pipeline`]); an `EXECABORT` caused by what the
//!    state assumed about the server is planned again and sent once more.
//! 4. **A reply the server sent is never dropped**: if `SCRIPT LOAD` is
//!    refused (an ACL without it) but the `EVALSHA` next to it ran, the call
//!    returns its result, and the server is called `EVALSHA` first from then
//!    on ([`LoadMode`]).
//! 5. **Every error says whether the script ran** ([`Error::ran`]), and
//!    server conditions (`BUSY`, `READONLY`, `LOADING`, `OOM`, ...) are
//!    [`Error::Unavailable`], not errors of the script.
//! 6. **Nothing invalid reaches the server from the registry**: scripts
//!    registered at run time are checked as Lua 5.1 and linted by the same
//!    checker as the macros ([`Error::Syntax`], [`Error::Lint`]). This holds
//!    with the `checker` feature (default); without it the server is the
//!    checker (see [Scripts known only at run time](#scripts-known-only-at-run-time)).
//! 7. **Pipelines are never replayed**: a `NOSCRIPT` inside one is
//!    [`Error::NoScript`] for that entry, which did not run; an error for
//!    the whole pipeline ([`Error::Pipeline`]) never says "did not run"
//!    when other entries ran, and names which did. A node's load marks do
//!    not outlive a change of server behind it (another version after a
//!    reconnect).
//!
//! Scripts with `#!lua flags=no-writes` go out as `EVALSHA_RO` on Redis 7+
//! and Valkey, as `EVALSHA` with the shebang commented out on Redis 6.2
//! (asked once per server with `COMMAND INFO`, and again after a sign that
//! the server behind the connection changed).
//!
//! ```no_run
//! use script_cache::prelude::*;
//! # script_cache::include_scripts!("../lua");
//! // include_scripts!("lua/");   // in your crate
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let client = redis::Client::open("redis://127.0.0.1/")?;
//! let mut con = ScriptCache::new(client.get_connection()?);
//! // lua/lock_acquire.lua: `-- @key lock`, `-- @arg owner`, `-- @arg ttl_ms`,
//! // `-- @return integer`: a typed call, checked at compile time.
//! let acquired: i64 = Scripts::lock_acquire("lock:report", "worker-7", 30_000).invoke(&mut con)?;
//! // The untyped builder does the same.
//! let again: i64 = Scripts::LockAcquire
//!     .key("lock:report")
//!     .arg("worker-7")
//!     .arg(30_000)
//!     .invoke(&mut con)?;
//! // Still a normal connection.
//! let holder: Option<String> = redis::cmd("GET").arg("lock:report").query(&mut con)?;
//! # Ok(()) }
//! ```
//!
//! # Typed calls and includes
//!
//! Every script gets an associated function on the enum, named after the
//! file (`rate_limit.lua` -> `Scripts::rate_limit`, `loop.lua` ->
//! `Scripts::r#loop`), whose parameters are the script's keys and then its
//! args, so a wrong number of arguments is a compile error. Names, order
//! and the reply type come from the script's header:
//!
//! ```lua
//! --- Token-bucket rate limit.
//! -- @key bucket          hash holding the bucket state
//! -- @arg capacity        maximum number of tokens
//! -- @arg refill_per_sec
//! -- @arg now_ms
//! -- @arg cost
//! -- @return integer      tokens left, or -1 when refused
//! ```
//!
//! With `@return`, the function returns a [`TypedInvocation<R>`] whose
//! `invoke` gives `R` (`integer` -> `i64`, `string` -> `String`,
//! `nil-or-string` -> `Option<String>`, `array<integer>` -> `Vec<i64>`, ...;
//! [`TypedInvocation::invoke_as`] converts to any other type). Without, it
//! returns an [`Invocation`] and `invoke::<T>` picks the type. Without
//! `@key`/`@arg` lines, the parameters are `key1.., arg1..` from the literal
//! `KEYS[n]`/`ARGV[n]` the body reads. A script that indexes `KEYS`
//! dynamically takes a slice (`-- @key counters...`,
//! `Scripts::sum_counters(&["a", "b"])`). A header that disagrees with the
//! body is a compile error. The metadata stays on [`EmbeddedScript`], so
//! `name.lua` still gets `Scripts::name(..)`.
//!
//! A line `-- @include "lib/util.lua"` (relative to the including file,
//! inside the script folder) is replaced by that snippet at build time,
//! each file once per script; the SHA-1 covers the expanded source, and a
//! missing file or an include cycle is a compile error showing the chain.
//! A Lua runtime error is reported at the original file and line
//! ([`Error::Script`]'s `location`, e.g. `failed at lib/util.lua:6`).
//! The full rules are in the docs of the `script-cache-macros` crate.
//!
//! # Sharing a state
//!
//! ```no_run
//! use script_cache::prelude::*;
//! # script_cache::include_scripts!("../lua");
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let client = redis::Client::open("redis://127.0.0.1/")?;
//! let state = ScriptState::new();
//! let mut a = ScriptCache::with_state(client.get_connection()?, state.clone());
//! let mut b = ScriptCache::with_state(client.get_connection()?, state.clone());
//! let _: i64 = Scripts::lock_acquire("l", "a", 1_000).invoke(&mut a)?; // SCRIPT LOAD + EVALSHA
//! let _: i64 = Scripts::lock_acquire("l", "b", 1_000).invoke(&mut b)?; // EVALSHA only
//! assert_eq!(state.stats().loads, 1);
//! # Ok(()) }
//! ```
//!
//! # Pipelines and transactions
//!
//! [`pipe()`] mixes script calls with other commands. Scripts the state has
//! not confirmed are loaded in the same round trip and their replies
//! stripped. A pipeline is never replayed: a `NOSCRIPT` inside one becomes
//! [`Error::NoScript`] for that entry ([`Pipeline::query_each`]), and
//! [`Pipeline::query`] returns [`Error::Pipeline`], which says which
//! entries ran. A transaction loads every script it
//! calls inside the `MULTI`, ahead of the calls, so `EXEC` cannot meet
//! `NOSCRIPT` and half-apply (see [`Pipeline`] for the opt-outs and their
//! price).
//!
//! ```no_run
//! # use script_cache::prelude::*;
//! # script_cache::include_scripts!("../lua");
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let client = redis::Client::open("redis://127.0.0.1/")?;
//! # let mut con = ScriptCache::new(client.get_connection()?);
//! let mut tx = script_cache::pipe();
//! tx.atomic()
//!     .invoke(Scripts::compare_and_set("config", "v1", "v2"))
//!     .cmd("INCR").arg("config:version");
//! let (swapped, version): (i64, i64) = tx.query(&mut con)?;
//! # Ok(()) }
//! ```
//!
//! # Scripts known only at run time
//!
//! The verbs of Perl's Redis::ScriptCache: [`ScriptCache::register_script`],
//! [`register_file`](ScriptCache::register_file),
//! [`register_all_scripts`](ScriptCache::register_all_scripts),
//! [`run_script`](ScriptCache::run_script), [`scripts`](ScriptCache::scripts)
//! and [`flush_cache`](ScriptCache::flush_cache) (Perl's
//! `flush_all_scripts`; unlike it, the registry is kept, so later calls
//! reload instead of failing).
//!
//! ## The `checker` feature
//!
//! With the `checker` feature (default), a registered source is checked
//! before anything is sent, by the checker of the macros: as Lua 5.1 (a
//! vendored Lua 5.1.5, through `mlua`, built with a C compiler;
//! [`Error::Syntax`]) and by the lint ([`Error::Lint`]). Guarantee 6 holds.
//!
//! An application that registers only trusted or pre-checked scripts (say,
//! checked by `script-cache check` in CI) can turn it off
//! (`default-features = false`, then the features it wants): neither `mlua`
//! nor `full_moon` is then among the crates the runtime links. The
//! `macros` feature still runs the checker at build time, inside the
//! proc-macro, on the build machine; it is not linked into the application
//! (with Cargo's feature resolver 2, the default from edition 2021 on).
//! Without the feature, guarantee 6 does **not** hold, and registration
//! says so in its docs ([`ScriptState::register_script`]):
//!
//! * still done at registration: the name, the `#!lua` line
//!   ([`Error::Shebang`]), the SHA-1, and, with Lua's lexer rules (no Lua
//!   needed), the syntax errors the server would report by quoting bytes
//!   that may not be UTF-8, which redis-rs cannot read ([`Error::Syntax`]):
//!   code that is not ASCII outside strings and comments (`local café`), an
//!   unfinished quoted string, a decimal escape above 255;
//! * not done: Lua 5.1 and the lint. A script with a syntax error is
//!   registered; its first call (or load) sends `SCRIPT LOAD`, which the
//!   server refuses: [`Error::LoadRejected`], naming the script, with the
//!   server's message and line, and [`Ran::No`]: the script did not run.
//!   Every later call fails the same way until the script is replaced. What
//!   the lint would have refused fails when its line runs
//!   ([`Error::Script`], [`Ran::Yes`]).
//! * One corner stays: a syntax error that the server blames on a whole
//!   string literal whose escapes make bytes that are not UTF-8 (`local
//!   "\195"`) gets a reply redis-rs cannot read ([`Error::Redis`],
//!   [`Ran::Unknown`]), and that connection is unusable afterwards (see
//!   `docs/guarantees-and-errors.md`).
//!
//! # Redis Cluster
//!
//! With the `cluster` / `cluster-async` features, wrap a
//! `redis::cluster::ClusterConnection` or a
//! `redis::cluster_async::ClusterConnection` like any connection: the same
//! typed calls, builder, registered scripts, pipelines and `load_all`.
//!
//! * Each call goes to the node owning its keys' slot, and the state keeps
//!   its load marks per shard primary (address from `CLUSTER SLOTS`,
//!   refreshed after `NOSCRIPT` or an escaped redirect, one request at a
//!   time): each primary gets one `SCRIPT LOAD` per script it runs, none
//!   go to shards that never run it.
//! * Async: the first call of a script on a shard is one round trip
//!   (`SCRIPT LOAD` + `EVALSHA` routed together with `route_pipeline`), and
//!   the `NOSCRIPT` retry is the same `MULTI` / `SCRIPT LOAD` / `EVALSHA` /
//!   `EXEC`, routed to the same slot. **Sync: two round trips** for a first
//!   call (redis-rs cannot route a pipeline on a sync cluster connection),
//!   and the retry is a routed load then call (a flush between the two is
//!   met as `NOSCRIPT` and retried, bounded).
//! * Keys of one call in different slots: [`Error::CrossSlot`] before
//!   anything is sent. A script without keys runs on a primary (a slot
//!   derived from its SHA-1), or where `Invocation::route_key` sends it;
//!   a read-only script (`EVALSHA_RO`) may run on a replica when the
//!   client has a read strategy, with marks of its own.
//! * After a failover, a reshard, a new node or a flush of one node, calls
//!   recover as on one server; a call that provably did not run and met a
//!   cluster condition (`MOVED`/`ASK` redis-rs gave up on during a live
//!   migration, `TRYAGAIN`, `CLUSTERDOWN`) is retried a bounded number of
//!   times, else returned as [`Error::Unavailable`] with [`Ran::No`].
//! * Pipelines and transactions: one slot (checked before sending; plain
//!   commands are checked for the common ones). Async: one routed round
//!   trip, loads inside `MULTI`. Sync: routed commands one by one; sync
//!   transactions are refused before sending.
//!
//! The cluster path is chosen by type: the connection must *be* one of the
//! two redis-rs cluster types (see the `cluster` module for why and how).
//!
//! ```no_run
//! # #[cfg(feature = "cluster-async")]
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use script_cache::prelude::*;
//! # script_cache::include_scripts!("../lua");
//! let client = redis::cluster::ClusterClient::new(vec!["redis://127.0.0.1:7000/"])?;
//! let mut con = ScriptCache::new(client.get_async_connection().await?);
//! // Both keys under the hash tag {user:42}: one slot.
//! let total: i64 = Scripts::sum_counters(&["{user:42}:a", "{user:42}:b"])
//!     .invoke_async(&mut con)
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! # Observability
//!
//! [`ScriptState::stats`] ([`Stats`]) counts what an operator alerts on:
//! loads, surveys of cold nodes, reloads after `NOSCRIPT`, `EVAL` retries, refused loads, SHA-1
//! mismatches, failed single calls by whether the script ran
//! ([`Error::ran`]), and cluster slot-map refreshes.
//!
//! With the `tracing` feature (off by default) the same moments are
//! [`tracing`](https://docs.rs/tracing) events with target `script_cache`
//! and these stable messages:
//!
//! | message | level | when | fields |
//! |---|---|---|---|
//! | `script loaded` | DEBUG | `SCRIPT LOAD` answered the expected SHA-1 | `script`, `sha`, `node`, `epoch` |
//! | `script lost, reloading` | INFO | a confirmed script met `NOSCRIPT` (flush, restart, failover): [`Stats::reloads`] | `script`, `sha`, `node`, `epoch` |
//! | `script retried with EVAL` | INFO | the call is retried as one `EVAL`: [`Stats::atomic_retries`] | `script`, `sha`, `node`, `command` |
//! | `script load refused` | WARN | `NOPERM` on `SCRIPT LOAD`: [`Stats::refused_loads`] | `script`, `sha`, `node` |
//! | `node switched to EVALSHA first` | WARN | the first refusal on a node ([`LoadMode`]) | `script`, `node` |
//! | `node accepts SCRIPT LOAD again` | INFO | a load confirmed on a node that refused one | `script`, `node` |
//! | `scripts surveyed` | DEBUG | a state's first call of a script family on a node asked about all of them (`SCRIPT EXISTS`): [`Stats::surveys`] | `script`, `node`, `present`, `absent` |
//! | `script SHA-1 mismatch` | ERROR | [`Error::ShaMismatch`]: [`Stats::sha_mismatches`] | `script`, `sha`, `server_sha`, `node` |
//! | `slot map refreshed` | INFO | a `CLUSTER SLOTS` reply was stored: [`Stats::slot_map_refreshes`] | `shards`, `primaries`, `generation` |
//! | `library with other code on the server` | WARN | a function's first call found its library with other code: replaced ([`Stats::libraries_replaced`]) or refused ([`Error::OtherLibrary`]) | `function`, `sha`, `server_sha`, `node`, `replaced` |
//! | `the server has no functions (Redis 7.0 or newer needed)` | WARN | a function's load and call were refused as unknown commands (Redis 6.2): later function calls on that node fail at once, nothing sent | `function`, `node` |
//! | `replica without the library, calling the primary` | INFO | a `FCALL_RO` sent to a cluster shard's replicas met "Function not found": [`Stats::replica_fallbacks`] | `function`, `node` |
//!
//! `script` is the script's name, `sha` the first 12 hex digits of the
//! SHA-1 sent (the legacy body's on Redis 6.2 for a shebang script),
//! `node` the address of a cluster node as `CLUSTER SLOTS` names it
//! (`host:port`, `host:port/replicas` for read-only calls on replicas) or
//! `single` on a non-cluster connection, `epoch` the number of the load
//! confirmation, `command` `EVAL` or `EVAL_RO`, `generation` the number of
//! slot maps stored so far. No field holds a key or an argument of a call.
//!
//! Each event comes from the one place of the shared state machine that
//! every path goes through, so sync, async, pipeline, transaction and
//! cluster calls emit it once. A steady call (`EVALSHA` answered) emits
//! nothing; without the feature no event code is compiled in. A pipeline
//! entry that meets `NOSCRIPT` is returned as [`Error::NoScript`] and is
//! neither reloaded nor retried, so it emits no event.
//!
//! The same feature wraps every script call, pipeline and transaction in
//! one client span (target `script_cache`, INFO) named and attributed by
//! OpenTelemetry's database client conventions (`db.system.name`,
//! `db.operation.name`, `db.stored_procedure.name`, `server.address`, ...,
//! and `error.type`, `db.response.status_code` on failure), ready for
//! `tracing-opentelemetry`; the events above are emitted inside it. The
//! `opentelemetry` feature adds `ScriptState::enable_metrics`: the
//! `db.client.operation.duration` histogram and the [`Stats`] counters
//! through the `opentelemetry` metrics API. The attribute table and what to
//! alert on: `docs/observability.md`.
//!
//! # Errors
//!
//! One [`Error`] type; each variant about a script names it ([`ScriptId`]:
//! name and SHA-1): a Lua error with the blamed line, an ACL refusal of
//! `SCRIPT LOAD` or `EVALSHA`, a server condition ([`Condition`]), a SHA-1
//! mismatch, a shebang, syntax or lint error at registration, a file
//! outside the script folder, an untyped call with the wrong number of
//! keys or arguments (refused before sending), an unknown name (with
//! similar names), a connection error. [`Error::ran`] says whether the script ran
//! ([`Ran::No`]: provably not, so a retry cannot apply it twice;
//! [`Ran::Unknown`]: sent, no answer; [`Ran::Yes`]).
//!
//! # Connection kinds
//!
//! [`ScriptCache`] drives any connection whose type implements
//! [`SyncConnection`] or `AsyncConnection` (`tokio-comp`): redis-rs's connections,
//! cluster connections, the pools' checkouts, a borrowed `&mut C`. A type
//! of your own opts in with one line; see [`connection`].
//!
//! # How a call travels (module map)
//!
//! For contributors: a call's trip, top to bottom. Each module uses only
//! the ones below it (a test, `tests/module_layers.rs`, checks this), so the
//! crate reads bottom-up as well.
//!
//! | layer | modules | what it does |
//! |---|---|---|
//! | wrapper | `pool`, `pipeline` (+ `cluster_pipeline`), `cache` | the API: [`ScriptCache`] (a connection and a [`ScriptState`]), [`Pipeline`], [`ScriptPool`]; picks the transport by the connection's kind |
//! | transports | `cluster_async`, `cluster`, `local` | a routed cluster target (slot map, redirects, the retry rules of a cluster); what one connection keeps (buffers, hints) |
//! | drivers | `drive` | one call loop, one capability probe and one `load_all` per I/O mode (sync, async) over a transport (`Link` / `AsyncLink`: send a call, a command, a load and its call, a planned batch written into the transport's own form; `SendOne` / `AsyncSendOne`: one command, all the probe needs, so a cluster can probe any primary); the single-server transports. The pipeline loop (one per I/O mode, in `pipeline`: plan, send the batch, read, plan once more after an abort the state caused) runs over the same transports |
//! | engine | `invocation`, `call`, `span` | what to call; one call's state machine (no I/O): it asks the policy, says what to send, reads what came back; the client span and duration measurement around each call, pipeline and transaction |
//! | policy | `policy` | every decision: the body and command for the node (`EVALSHA` / `EVALSHA_RO`, legacy body on Redis 6.2), probe or not, load first or not, wait for another caller's load, the `EVAL` retry, each pipeline or transaction entry; how each reply is read |
//! | facts | `state`, `topology`, `registry`, `trace`, `metrics`, `handle`, `error`, `node`, `connection`, `args`, `script` | what is known and recorded (load marks, capabilities, latches, counters, the slot map, the runtime registry), with no decision in it; events; the error type; the kinds of connection |
//!
//! A sync `invoke`: [`Invocation::invoke`] → `ScriptCache::call_value`
//! (cluster or not, by `SyncConnection::as_cluster`) → `drive::call`
//! with the single-server transport → the steady `EVALSHA` the
//! connection's hints allow, else `call::Call::next` → `policy::Scope::decide`
//! (over `state`'s facts) → the transport sends → `Call::feed_one` /
//! `feed_many` read the replies with `policy`'s readers → done, or the next
//! request (a load, the `EVAL` retry).
//!
//! A pipeline: [`Pipeline::query`] → `Pipeline::send` (cluster or not) →
//! the pipeline loop `Pipeline::run` over the same transport → the probe
//! (`drive::caps`) → the plan (`policy::decide_entry` per entry) → the
//! transport writes and sends the batch (packed bytes on one server, a
//! routed `redis::Pipeline` on a cluster) → the replies read by `policy`.

#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod args;
mod cache;
mod call;
#[cfg(feature = "cluster")]
pub mod cluster;
#[cfg(feature = "cluster-async")]
mod cluster_async;
pub mod connection;
mod drive;
mod error;
mod function;
mod handle;
mod invocation;
mod local;
#[cfg(feature = "opentelemetry")]
mod metrics;
mod node;
mod pipeline;
mod policy;
mod pool;
mod registry;
mod script;
mod span;
mod state;
#[cfg(feature = "cluster")]
mod topology;
mod trace;

pub use cache::ScriptCache;
#[cfg(feature = "tokio-comp")]
pub use connection::AsyncConnection;
pub use connection::SyncConnection;
pub use error::{Condition, EntryOutcome, Error, Ran, Result, ScriptId};
pub use function::{EmbeddedFunction, FunctionMeta, LibraryMeta};
pub use invocation::{Invocation, ReplyType, TypedInvocation};
pub use pipeline::{Pipeline, pipe};
#[cfg(feature = "bb8")]
pub use pool::Bb8Connection;
pub use pool::ScriptPool;
pub use registry::MAX_SCRIPT_FILE_BYTES;
pub use script::{
    Arity, EmbeddedScript, LegacySource, LineSpan, ScriptMeta, SourceLocation, UnknownScriptName,
};
pub use state::{LAZY_LOAD_MAX, LoadMode, LoadReport, ScriptState, Stats};

#[cfg(feature = "macros")]
pub use script_cache_macros::{Scripts, include_scripts, scripts};

/// The [`redis`](https://docs.rs/redis/1.8) crate this one is built on:
/// redis-rs **1.8** (`redis = "1.8"`), the only version supported.
///
/// An application may use `script_cache::redis` instead of a `redis`
/// dependency of its own (`use script_cache::redis;`): the clients,
/// connections, commands and value types are the same ones the
/// [`ScriptCache`] wraps, so the versions cannot drift apart. An
/// application that needs redis-rs features script-cache does not turn on
/// may depend on `redis = "1.8"` itself; Cargo unifies the two into one
/// crate. The code the macros generate does not name `redis` at all.
pub use redis;

// Every ```rust block of the README and of the reference pages under
// docs/ is compiled as a doctest (`cargo test -p script-cache --doc
// --all-features`). Their `include_scripts!("lua/")` resolves against this
// crate's folder, where `script-cache/lua` is a link to the workspace's
// `lua/` scripts.
#[cfg(all(doctest, feature = "tokio-comp"))]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

/// The blocks of docs/*.md, compiled with every feature on.
#[cfg(all(
    doctest,
    feature = "tokio-comp",
    feature = "cluster-async",
    feature = "deadpool",
    feature = "bb8",
    feature = "r2d2",
    feature = "sentinel",
    feature = "tls-rustls",
    feature = "tracing",
    feature = "opentelemetry"
))]
mod docs_doctests {
    #[doc = include_str!("../../docs/script-folder.md")]
    pub struct ScriptFolder;
    #[doc = include_str!("../../docs/lint.md")]
    pub struct Lint;
    #[doc = include_str!("../../docs/guarantees-and-errors.md")]
    pub struct GuaranteesAndErrors;
    #[doc = include_str!("../../docs/connections.md")]
    pub struct Connections;
    #[doc = include_str!("../../docs/operations.md")]
    pub struct Operations;
    #[doc = include_str!("../../docs/observability.md")]
    pub struct Observability;
    #[doc = include_str!("../../docs/functions.md")]
    pub struct Functions;
}

/// The names most programs need: `use script_cache::prelude::*;`.
pub mod prelude {
    pub use crate::cache::ScriptCache;
    pub use crate::function::EmbeddedFunction;
    pub use crate::script::{Arity, EmbeddedScript};
    pub use crate::state::ScriptState;
    #[cfg(feature = "macros")]
    pub use script_cache_macros::{Scripts, include_scripts, scripts};
}

/// Paths used by generated code. Not public API: may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use crate::function::{EmbeddedFunction, FunctionMeta, LibraryMeta};
    pub use crate::invocation::{Invocation, TypedInvocation};
    pub use crate::script::{
        Arity, EmbeddedScript, LegacySource, LineSpan, ScriptMeta, UnknownScriptName,
    };
    pub use core;
    pub use redis::{ToRedisArgs, ToSingleRedisArg, Value};
    pub use std::string::String;
    pub use std::vec::Vec;
}
