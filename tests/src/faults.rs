//! Faults for the guarantee tests: things a real deployment does to a
//! client's script cache, produced against real test servers.
//!
//! * [`FlushStorm`]: `SCRIPT FLUSH` every 1–2 ms from its own connection;
//! * [`AclUser`]: a user that may not `SCRIPT LOAD`, with [`preload`] for
//!   the admin side;
//! * [`start_replica`]: a second server replicating a first one;
//! * [`BusyScript`]: a script that keeps the server busy until killed;
//! * [`fill_memory`]: `maxmemory` reached under `noeviction`;
//! * [`ServerBuilder::start_on_port`](crate::ServerBuilder::start_on_port):
//!   a server of another flavor on the port of one just killed.
//!
//! Everything here is bounded in time and count, and every thread it starts
//! is stopped and joined on drop.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::{HarnessError, TestServer};

/// A client for `url` that skips `CLIENT SETINFO` like
/// [`TestServer::client`], so `INFO commandstats` shows only what a test
/// sends.
pub fn client_for_url(url: &str) -> redis::Client {
    use redis::IntoConnectionInfo;
    let info = match url.into_connection_info() {
        Ok(info) => info,
        Err(e) => panic!("bad url {url}: {e}"),
    };
    let settings = info.redis_settings().clone().set_skip_set_lib_name();
    match redis::Client::open(info.set_redis_settings(settings)) {
        Ok(c) => c,
        Err(e) => panic!("bad url {url}: {e}"),
    }
}

// ---------------------------------------------------------------------------
// Flush storm

/// A thread with its own connection that sends `SCRIPT FLUSH` (or
/// `FUNCTION FLUSH`: [`FlushStorm::functions`]) every 1–2 ms until it is
/// stopped, dropped, or its time bound passes.
///
/// The storm survives connection errors (a server restarted under it): it
/// reconnects, a bounded number of times.
#[derive(Debug)]
pub struct FlushStorm {
    stop: Arc<AtomicBool>,
    flushes: Arc<AtomicU64>,
    handle: Option<JoinHandle<StormEnd>>,
}

/// How a [`FlushStorm`] ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StormEnd {
    /// `SCRIPT FLUSH` (`FUNCTION FLUSH`) commands the server answered `OK`
    /// to.
    pub flushes: u64,
    /// Flushes that failed (connection errors while a server restarts).
    pub errors: u64,
    /// Whether the storm stopped because its time bound passed rather than
    /// being stopped.
    pub timed_out: bool,
}

impl FlushStorm {
    /// Starts flushing `server`'s script cache, for at most `bound`.
    pub fn start(server: &TestServer, bound: Duration) -> FlushStorm {
        Self::of("SCRIPT", server, bound)
    }

    /// Starts flushing `server`'s function libraries (`FUNCTION FLUSH`),
    /// for at most `bound`.
    pub fn functions(server: &TestServer, bound: Duration) -> FlushStorm {
        Self::of("FUNCTION", server, bound)
    }

    fn of(what: &'static str, server: &TestServer, bound: Duration) -> FlushStorm {
        let client = server.client();
        let stop = Arc::new(AtomicBool::new(false));
        let flushes = Arc::new(AtomicU64::new(0));
        let handle = {
            let stop = Arc::clone(&stop);
            let flushes = Arc::clone(&flushes);
            std::thread::Builder::new()
                .name("flush-storm".into())
                .spawn(move || storm(what, &client, &stop, &flushes, bound))
                .unwrap_or_else(|e| panic!("cannot start the flush storm thread: {e}"))
        };
        FlushStorm {
            stop,
            flushes,
            handle: Some(handle),
        }
    }

    /// Flushes the server answered so far.
    pub fn flushes(&self) -> u64 {
        self.flushes.load(Ordering::Relaxed)
    }

    /// Blocks until at least `n` flushes were answered, or `within` passed;
    /// returns whether they were.
    pub fn wait_for(&self, n: u64, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while self.flushes() < n {
            if Instant::now() >= deadline || self.handle.as_ref().is_none_or(|h| h.is_finished()) {
                return self.flushes() >= n;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }

    /// Stops the storm and returns how it went.
    pub fn stop(mut self) -> StormEnd {
        self.finish()
    }

    fn finish(&mut self) -> StormEnd {
        self.stop.store(true, Ordering::Relaxed);
        match self.handle.take() {
            Some(handle) => match handle.join() {
                Ok(end) => end,
                Err(_) => panic!("the flush storm thread panicked"),
            },
            None => StormEnd::default(),
        }
    }
}

impl Drop for FlushStorm {
    fn drop(&mut self) {
        if self.handle.is_some() {
            let _ = self.finish();
        }
    }
}

fn storm(
    what: &str,
    client: &redis::Client,
    stop: &AtomicBool,
    flushes: &AtomicU64,
    bound: Duration,
) -> StormEnd {
    let deadline = Instant::now() + bound;
    let mut end = StormEnd::default();
    let mut con = None;
    // A small LCG picks 1000–2000 µs between flushes (pacing, not a
    // synchronization barrier).
    let mut seed: u32 = 0x2545_f491;
    loop {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        if Instant::now() >= deadline {
            end.timed_out = true;
            break;
        }
        if con.is_none() {
            con = client
                .get_connection_with_timeout(Duration::from_millis(500))
                .ok();
        }
        match con.as_mut() {
            Some(c) => match redis::cmd(what).arg("FLUSH").query::<()>(c) {
                Ok(()) => {
                    end.flushes += 1;
                    flushes.store(end.flushes, Ordering::Relaxed);
                }
                Err(_) => {
                    end.errors += 1;
                    con = None;
                }
            },
            None => end.errors += 1,
        }
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let micros = 1000 + u64::from(seed >> 22) % 1001;
        std::thread::sleep(Duration::from_micros(micros));
    }
    end
}

// ---------------------------------------------------------------------------
// ACL user without SCRIPT LOAD

/// A user of a test server that may run everything but `SCRIPT LOAD`
/// (`+@all -script|load`; on Redis 6.2, which has no subcommand rules for
/// removing, `-script`).
#[derive(Clone, Debug)]
pub struct AclUser {
    /// The user name.
    pub name: String,
    /// Its password.
    pub password: String,
    port: u16,
}

impl AclUser {
    /// Creates `name` on `server` with a password, allowed everything but
    /// loading scripts. Panics when the server refuses (for tests).
    pub fn without_script_load(server: &TestServer, name: &str) -> AclUser {
        let deny: &[&str] = match server.flavor() {
            crate::Flavor::Redis62 => &["-script"],
            _ => &["-script|load"],
        };
        Self::denied(server, name, deny)
    }

    /// A user allowed everything but `FUNCTION LOAD` (`-function|load`;
    /// Redis 7.0+ and Valkey).
    pub fn without_function_load(server: &TestServer, name: &str) -> AclUser {
        Self::denied(server, name, &["-function|load"])
    }

    /// A user who may only call scripts an admin preloaded: no
    /// `SCRIPT LOAD` and no `EVAL`/`EVAL_RO` (Redis 6.2 has no `EVAL_RO`
    /// and no subcommand rules: `-script -eval`).
    pub fn preloaded_scripts_only(server: &TestServer, name: &str) -> AclUser {
        let deny: &[&str] = match server.flavor() {
            crate::Flavor::Redis62 => &["-script", "-eval"],
            _ => &["-script|load", "-eval", "-eval_ro"],
        };
        Self::denied(server, name, deny)
    }

    fn denied(server: &TestServer, name: &str, deny: &[&str]) -> AclUser {
        let password = format!("{name}-secret");
        let mut admin = server.connection();
        let set: redis::RedisResult<()> = redis::cmd("ACL")
            .arg("SETUSER")
            .arg(name)
            .arg("reset")
            .arg("on")
            .arg(format!(">{password}"))
            .arg("~*")
            .arg("&*")
            .arg("+@all")
            .arg(deny)
            .query(&mut admin);
        if let Err(e) = set {
            panic!("ACL SETUSER {name} on {}: {e}", server.flavor());
        }
        AclUser {
            name: name.to_owned(),
            password,
            port: server.port(),
        }
    }

    /// `redis://name:password@127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!(
            "redis://{}:{}@127.0.0.1:{}/",
            self.name, self.password, self.port
        )
    }

    /// A client that authenticates as this user.
    pub fn client(&self) -> redis::Client {
        client_for_url(&self.url())
    }

    /// A new synchronous connection as this user.
    pub fn connection(&self) -> redis::Connection {
        match self.client().get_connection() {
            Ok(c) => c,
            Err(e) => panic!("cannot connect as {}: {e}", self.name),
        }
    }
}

/// Loads `sources` with `SCRIPT LOAD` as the default (admin) user, the way
/// a deploy step preloads scripts; returns their SHA-1s.
pub fn preload(server: &TestServer, sources: &[&str]) -> Vec<String> {
    let mut admin = server.connection();
    sources
        .iter()
        .map(|source| {
            redis::cmd("SCRIPT")
                .arg("LOAD")
                .arg(*source)
                .query::<String>(&mut admin)
                .unwrap_or_else(|e| panic!("SCRIPT LOAD as admin: {e}"))
        })
        .collect()
}

/// `SCRIPT EXISTS` for `shas`, as the default user.
pub fn scripts_exist(server: &TestServer, shas: &[&str]) -> Vec<bool> {
    let mut admin = server.connection();
    let mut cmd = redis::cmd("SCRIPT");
    cmd.arg("EXISTS");
    for sha in shas {
        cmd.arg(*sha);
    }
    cmd.query(&mut admin)
        .unwrap_or_else(|e| panic!("SCRIPT EXISTS: {e}"))
}

// ---------------------------------------------------------------------------
// Replica

/// Starts a server of the same flavor as `primary`, makes it a replica of
/// it (`REPLICAOF 127.0.0.1 <port>`), and waits until
/// `master_link_status:up` (bounded: 15 s).
pub fn start_replica(primary: &TestServer) -> Result<TestServer, HarnessError> {
    let replica = TestServer::builder(primary.flavor()).start()?;
    let mut con = replica.connection();
    redis::cmd("REPLICAOF")
        .arg("127.0.0.1")
        .arg(primary.port())
        .query::<()>(&mut con)?;
    wait_link_up(&mut con, Duration::from_secs(15))?;
    Ok(replica)
}

fn wait_link_up(con: &mut redis::Connection, within: Duration) -> Result<(), HarnessError> {
    let deadline = Instant::now() + within;
    loop {
        let info: String = redis::cmd("INFO").arg("replication").query(con)?;
        if info.lines().any(|l| l.trim() == "master_link_status:up") {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(HarnessError::new(format!(
                "replica link not up within {within:?}:\n{info}"
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Blocks until `replica` reports `master_link_status:down` (its primary
/// was killed), bounded by `within`; returns whether it did.
pub fn wait_link_down(replica: &TestServer, within: Duration) -> bool {
    let mut con = replica.connection();
    let deadline = Instant::now() + within;
    loop {
        let info: String = match redis::cmd("INFO").arg("replication").query(&mut con) {
            Ok(info) => info,
            Err(_) => return false,
        };
        if info.lines().any(|l| l.trim() == "master_link_status:down") {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Blocks until `replica` has processed everything `primary` wrote so far
/// (`WAIT 1` on the primary, bounded to 5 s); returns whether it has.
pub fn wait_replicated(primary: &TestServer) -> bool {
    let mut con = primary.connection();
    redis::cmd("WAIT")
        .arg(1)
        .arg(5000)
        .query::<i64>(&mut con)
        .is_ok_and(|n| n >= 1)
}

// ---------------------------------------------------------------------------
// BUSY

/// A Lua script that spins on `TIME` for `ARGV[1]` milliseconds and writes
/// nothing (so `SCRIPT KILL` can stop it).
pub const SPIN_SCRIPT: &str = "local t = redis.call('TIME')\n\
local start = t[1] * 1000000 + t[2]\n\
local limit = tonumber(ARGV[1]) * 1000\n\
while true do\n\
  local n = redis.call('TIME')\n\
  if n[1] * 1000000 + n[2] - start > limit then break end\n\
end\n\
return 1\n";

/// [`SPIN_SCRIPT`] as a function library (`busy_spin`, Redis 7.0+ and
/// Valkey), stopped by `FUNCTION KILL`.
pub const SPIN_LIBRARY: &str = "#!lua name=busy_spin\n\
redis.register_function('busy_spin', function(keys, args)\n\
  local t = redis.call('TIME')\n\
  local start = t[1] * 1000000 + t[2]\n\
  local limit = tonumber(args[1]) * 1000\n\
  while true do\n\
    local n = redis.call('TIME')\n\
    if n[1] * 1000000 + n[2] - start > limit then break end\n\
  end\n\
  return 1\n\
end)\n";

/// A script keeping a server busy, run from its own thread and connection.
/// The server answers `BUSY` to other clients once the script has run for
/// longer than `lua-time-limit` (set to 100 ms by [`BusyScript::start`]).
#[derive(Debug)]
pub struct BusyScript {
    client: redis::Client,
    /// `SCRIPT` or `FUNCTION`: what `KILL` stops it.
    kind: &'static str,
    handle: Option<JoinHandle<redis::RedisResult<i64>>>,
}

impl BusyScript {
    /// Sets `lua-time-limit` to 100 ms (the name every flavor accepts; Redis
    /// 7 and Valkey also call it `busy-reply-threshold`), starts a script
    /// spinning for at most `spin`, and returns once the server answers
    /// `BUSY` to a `PING` from another connection (bounded: 5 s).
    pub fn start(server: &TestServer, spin: Duration) -> BusyScript {
        Self::spin(server, spin, false)
    }

    /// [`BusyScript::start`] with a function (`FCALL busy_spin`, the
    /// library [`SPIN_LIBRARY`] loaded first), stopped by `FUNCTION KILL`.
    pub fn function(server: &TestServer, spin: Duration) -> BusyScript {
        Self::spin(server, spin, true)
    }

    fn spin(server: &TestServer, spin: Duration, function: bool) -> BusyScript {
        let client = server.client();
        let mut admin = server.connection();
        if function {
            redis::cmd("FUNCTION")
                .arg("LOAD")
                .arg("REPLACE")
                .arg(SPIN_LIBRARY)
                .query::<String>(&mut admin)
                .unwrap_or_else(|e| panic!("FUNCTION LOAD of the spinning library: {e}"));
        }
        redis::cmd("CONFIG")
            .arg("SET")
            .arg("lua-time-limit")
            .arg(100)
            .query::<()>(&mut admin)
            .unwrap_or_else(|e| panic!("CONFIG SET lua-time-limit: {e}"));
        let handle = {
            let client = client.clone();
            let millis = u64::try_from(spin.as_millis()).unwrap_or(u64::MAX);
            std::thread::Builder::new()
                .name("busy-script".into())
                .spawn(move || {
                    let mut con = client.get_connection()?;
                    let mut spin = if function {
                        redis::cmd("FCALL")
                    } else {
                        redis::cmd("EVAL")
                    };
                    spin.arg(if function { "busy_spin" } else { SPIN_SCRIPT })
                        .arg(0)
                        .arg(millis)
                        .query::<i64>(&mut con)
                })
                .unwrap_or_else(|e| panic!("cannot start the busy script thread: {e}"))
        };
        let busy = BusyScript {
            client,
            kind: if function { "FUNCTION" } else { "SCRIPT" },
            handle: Some(handle),
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match redis::cmd("PING").query::<String>(&mut admin) {
                Err(e) if e.code() == Some("BUSY") => break,
                Err(e) => panic!("PING while waiting for BUSY: {e}"),
                Ok(_) if Instant::now() >= deadline => {
                    panic!("the server never answered BUSY within 5 s")
                }
                Ok(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        busy
    }

    /// Sends `SCRIPT KILL` (`FUNCTION KILL`; retrying while the server answers `NOTBUSY`
    /// before the script is seen running, bounded) and returns the spinning
    /// call's result once its thread ended.
    pub fn kill(mut self) -> redis::RedisResult<i64> {
        self.kill_inner()
    }

    fn kill_inner(&mut self) -> redis::RedisResult<i64> {
        let Some(handle) = self.handle.take() else {
            return Ok(0);
        };
        if let Ok(mut con) = self.client.get_connection() {
            let deadline = Instant::now() + Duration::from_secs(5);
            while !handle.is_finished() && Instant::now() < deadline {
                match redis::cmd(self.kind).arg("KILL").query::<()>(&mut con) {
                    Ok(()) => break,
                    Err(e) if e.code() == Some("NOTBUSY") => {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(_) => break,
                }
            }
        }
        match handle.join() {
            Ok(result) => result,
            Err(_) => panic!("the busy script thread panicked"),
        }
    }
}

impl Drop for BusyScript {
    fn drop(&mut self) {
        let _ = self.kill_inner();
    }
}

// ---------------------------------------------------------------------------
// maxmemory

/// `maxmemory` reached under `noeviction`: sets `maxmemory-policy
/// noeviction` and `maxmemory 1mb`, writes 64 KiB values until the server
/// answers `OOM` (bounded: 200 writes), then lowers `maxmemory` to 256 KiB
/// under what is used, so that memory freed by a closing client cannot
/// bring the server back under it (a refused 64 KiB write is counted while
/// its request is in the buffer; a one-byte write may still pass right at
/// the limit). Dropping it (or [`MemoryFull::release`]) sets `maxmemory`
/// back to 0.
#[derive(Debug)]
pub struct MemoryFull {
    client: redis::Client,
    released: bool,
    /// The filler writes that succeeded before `OOM`.
    pub filler_keys: usize,
    /// `used_memory` when the limit was lowered.
    pub used_memory: u64,
}

fn used_memory(con: &mut redis::Connection) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query(con)
        .unwrap_or_else(|e| panic!("INFO memory: {e}"));
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no used_memory in INFO memory"))
}

fn config_set(con: &mut redis::Connection, name: &str, value: &str) {
    redis::cmd("CONFIG")
        .arg("SET")
        .arg(name)
        .arg(value)
        .query::<()>(con)
        .unwrap_or_else(|e| panic!("CONFIG SET {name} {value}: {e}"));
}

/// Fills `server`'s memory up to `maxmemory` (see [`MemoryFull`]).
pub fn fill_memory(server: &TestServer) -> MemoryFull {
    let mut admin = server.connection();
    config_set(&mut admin, "maxmemory-policy", "noeviction");
    config_set(&mut admin, "maxmemory", "1mb");
    let value = "x".repeat(64 * 1024);
    let mut filler_keys = 0;
    for i in 0..200 {
        match redis::cmd("SET")
            .arg(format!("filler:{i}"))
            .arg(&value)
            .query::<()>(&mut admin)
        {
            Ok(()) => filler_keys += 1,
            Err(e) if e.code() == Some("OOM") => {
                let used = used_memory(&mut admin);
                let limit = used.saturating_sub(256 * 1024).max(1);
                config_set(&mut admin, "maxmemory", &limit.to_string());
                match redis::cmd("SET")
                    .arg("probe")
                    .arg(1)
                    .query::<()>(&mut admin)
                {
                    Err(e) if e.code() == Some("OOM") => {}
                    other => panic!("a one-byte write under a full memory gave {other:?}"),
                }
                return MemoryFull {
                    client: server.client(),
                    released: false,
                    filler_keys,
                    used_memory: used,
                };
            }
            Err(e) => panic!("filling memory: {e}"),
        }
    }
    panic!("no OOM after 200 writes of 64 KiB under maxmemory 1mb")
}

impl MemoryFull {
    /// Sets `maxmemory` back to 0 (no limit).
    pub fn release(mut self) {
        self.reset();
    }

    fn reset(&mut self) {
        if self.released {
            return;
        }
        self.released = true;
        if let Ok(mut con) = self.client.get_connection() {
            let _ = redis::cmd("CONFIG")
                .arg("SET")
                .arg("maxmemory")
                .arg(0)
                .query::<()>(&mut con);
        }
    }
}

impl Drop for MemoryFull {
    fn drop(&mut self) {
        self.reset();
    }
}

// ---------------------------------------------------------------------------
// Bounded waits

/// Runs `f` on its own thread and waits at most `limit` for it: `Some`
/// result, or `None` when it did not finish in time (the thread is then
/// left behind, blocked; the test fails instead of hanging).
pub fn within<T: Send + 'static>(
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("bounded".into())
        .spawn(move || {
            let _ = tx.send(f());
        });
    if let Err(e) = spawned {
        panic!("cannot start a thread: {e}");
    }
    rx.recv_timeout(limit).ok()
}

/// Reads an integer key (missing: 0) as the default user.
pub fn counter(server: &TestServer, key: &str) -> i64 {
    let mut con = server.connection();
    redis::cmd("GET")
        .arg(key)
        .query::<Option<i64>>(&mut con)
        .unwrap_or_else(|e| panic!("GET {key}: {e}"))
        .unwrap_or(0)
}
