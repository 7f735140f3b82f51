//! The fault suite: every fault of RELIABILITY.md in one short, bounded
//! run per server flavor, with one report row per scenario.
//!
//! Every call runs the `ledger` script with a unique id (`HINCRBY ledger id
//! 1`), so after the run the server's hash says which calls ran and how
//! often. The function rows (`functions: ...`, on the flavors with
//! functions) run the same faults against the same code as a function,
//! `ledger_fn` of the library `ledger_lib` (`FCALL`), with `FUNCTION FLUSH`
//! storms, `FUNCTION KILL`, and an ACL user refused `FUNCTION LOAD`. Each
//! scenario asserts:
//!
//! * **0 ran twice**: no field above 1;
//! * **every failure typed and honest**: a connection error, a server
//!   condition (`Error::Unavailable`), `NoScript` in a pipeline,
//!   `PermissionDenied` naming the function an ACL refused, and its
//!   [`Error::ran`] agrees with the ledger (`Ran::No`: the id is absent;
//!   `Ran::Yes`: present; `Ran::Unknown`: either);
//! * **0 lost**: every call that succeeded is in the ledger once (where the
//!   data survived the fault: not across a `kill -9`, which empties it);
//! * **0 failures after the fault is over**: once a call started after the
//!   fault's end has succeeded, no later call fails.
//!
//! and prints a Markdown row: scenario, flavor, calls, failed, bad errors
//! (untyped or dishonest), ran twice, lost, loads, reloads, and the time to
//! recover (ms from the fault's end — the storm stopped, the restarted
//! server ready, `CLIENT KILL` answered, `SCRIPT KILL` done, memory
//! released, the replica promoted, the server of another version ready,
//! the sentinels naming the promoted replica, the cluster ready again — to
//! the first success of a call started after it). On a cluster each task
//! has its own ledger key (`ledger:<scenario>:{<tag>}`, spread over the
//! slots) and the ledger is summed over the primaries. Run it with:
//!
//! ```sh
//! cargo test -p script-cache-tests --test fault_suite -- --nocapture --test-threads=1
//! ```
//!
//! and collect the lines starting with `|`. Each storm lasts
//! `SCRIPT_CACHE_SUITE_SECS` seconds (default 2, at most 60); the longer
//! storms of `storms.rs` (`SCRIPT_CACHE_STORM_SECS`) stay where they are.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use script_cache::prelude::*;
use script_cache::{Condition, Error, Ran, ScriptCache, ScriptState, pipe};
use script_cache_tests::faults::{client_for_url, preload, wait_replicated};
use script_cache_tests::{
    AclUser, BusyScript, Flavor, FlushStorm, TestServer, TlsServer, fill_memory, functions_matrix,
    matrix, runtime, start_replica,
};

script_cache::include_scripts!("fixtures/fault_suite");

/// What a scenario's calls run: the `ledger` script (`EVALSHA`) or the
/// same code as the function `ledger_fn` of the library `ledger_lib`
/// (`FCALL`; Redis 7.0+ and Valkey).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Code {
    Script,
    Function,
}

impl Code {
    /// One call counting `id` in the hash `key`.
    fn ledger(self, key: &str, id: u64) -> script_cache::TypedInvocation<i64> {
        match self {
            Code::Script => Scripts::ledger(key, id),
            Code::Function => Functions::ledger_fn(key, id),
        }
    }

    /// The scenario's name in the report: function rows say so.
    fn scenario(self, name: &str) -> String {
        match self {
            Code::Script => name.to_owned(),
            Code::Function => format!("functions: {name}"),
        }
    }

    /// `SCRIPT FLUSH` or `FUNCTION FLUSH` storm on `server`.
    fn storm(self, server: &TestServer, bound: Duration) -> FlushStorm {
        match self {
            Code::Script => FlushStorm::start(server, bound),
            Code::Function => FlushStorm::functions(server, bound),
        }
    }
}

/// The hash every call counts itself in.
const LEDGER: &str = "ledger";

/// Calls per worker, at most (the stop flag usually ends a worker first).
const MAX_CALLS_PER_WORKER: usize = 100_000;

/// How long calls go on after a fault is over.
const AFTER: Duration = Duration::from_millis(500);

/// No worker runs longer than this, whatever happens.
const HARD_BOUND: Duration = Duration::from_secs(90);

/// A storm really happened: at least this many `SCRIPT FLUSH`es.
const MIN_FLUSHES: u64 = 50;

/// How long each storm lasts.
fn storm_time() -> Duration {
    let secs = std::env::var("SCRIPT_CACHE_SUITE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2u64);
    Duration::from_secs(secs.clamp(1, 60))
}

/// The suite's response timeout: 5 s instead of redis-rs's 500 ms default,
/// so that a starved shared 2-core machine does not turn a slow reply into
/// a failure that is not the fault's (a timeout is a connection error,
/// `Ran::Unknown`). Sync connections have no response timeout.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);

/// A multiplexed connection from `client` with [`RESPONSE_TIMEOUT`].
fn multiplexed(
    rt: &tokio::runtime::Runtime,
    client: &redis::Client,
) -> redis::aio::MultiplexedConnection {
    let config = redis::AsyncConnectionConfig::new().set_response_timeout(Some(RESPONSE_TIMEOUT));
    rt.block_on(client.get_multiplexed_async_connection_with_config(&config))
        .expect("connect")
}

/// A ConnectionManager for `client` with [`RESPONSE_TIMEOUT`] (and the
/// default reconnection backoff: 100 ms first, doubling, 6 tries).
fn manager(rt: &tokio::runtime::Runtime, client: &redis::Client) -> redis::aio::ConnectionManager {
    let config =
        redis::aio::ConnectionManagerConfig::new().set_response_timeout(Some(RESPONSE_TIMEOUT));
    rt.block_on(client.get_connection_manager_with_config(config))
        .expect("manager")
}

/// A unique call id (unique in the process, so in every ledger).
fn next_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

// ---------------------------------------------------------------------------
// What happened to each call

/// What kind of failure a call met.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// I/O, dropped connection, refused connection, timeout.
    Connection,
    /// `Error::Unavailable` with this condition.
    Condition(Condition),
    /// `Error::NoScript` (a pipeline entry: never replayed).
    NoScript,
    /// `Error::PermissionDenied` naming the call's function or script: an
    /// ACL refused what the call needs (the function scenario without
    /// `FUNCTION LOAD`).
    PermissionDenied,
    /// Anything else: not one of the failures a fault should produce.
    Other,
}

fn kind_of(e: &Error) -> Kind {
    if let Some(c) = e.condition() {
        Kind::Condition(c)
    } else if e.is_connection_error() {
        Kind::Connection
    } else if matches!(e, Error::NoScript { .. }) {
        Kind::NoScript
    } else if matches!(e, Error::PermissionDenied { .. }) && e.script().is_some() {
        Kind::PermissionDenied
    } else {
        Kind::Other
    }
}

#[derive(Debug)]
enum Outcome {
    /// The reply (the ledger field after the call: 1 when it ran once).
    Ok(i64),
    Failed {
        kind: Kind,
        ran: Ran,
        what: String,
    },
    /// Cancelled by a timeout (it may have run).
    Cancelled,
}

impl Outcome {
    fn of(result: &Result<i64, Error>) -> Outcome {
        match result {
            Ok(v) => Outcome::Ok(*v),
            Err(e) => Outcome::Failed {
                kind: kind_of(e),
                ran: e.ran(),
                what: format!("{e:?}"),
            },
        }
    }
}

/// One call (or one transaction: all its ids apply together or not at all).
#[derive(Debug)]
struct Call {
    ids: Vec<u64>,
    /// Which of the worker's keys it used (0 on a single server).
    key: usize,
    started: Instant,
    ended: Instant,
    outcome: Outcome,
}

/// A fault: from when it was caused to when it was over.
#[derive(Clone, Copy, Debug)]
struct Fault {
    start: Instant,
    end: Instant,
}

/// What the ledger says about the calls.
#[derive(Debug, Default)]
struct Verdict {
    calls: usize,
    failed: usize,
    cancelled: usize,
    /// Failures of a kind a fault should not produce, or whose `ran()`
    /// the ledger contradicts.
    bad: usize,
    ran_twice: usize,
    lost: usize,
    /// Failures of calls started after the recovery from a fault.
    late_failures: usize,
    /// The longest recovery, ms; `None` when some fault saw no recovery.
    recover_ms: Option<f64>,
    kinds: Vec<Kind>,
    /// Failures by what `ran()` said: No, Unknown, Yes.
    ran: [usize; 3],
    samples: Vec<String>,
}

impl Verdict {
    fn sample(&mut self, s: String) {
        if self.samples.len() < 5 {
            self.samples.push(s);
        }
    }
}

/// Reads the ledger and judges `calls` against it. Calls started before
/// `wiped_at` (a restart that emptied the data) are not required to be in
/// it.
fn judge(
    server: &TestServer,
    calls: &[Call],
    faults: &[Fault],
    wiped_at: Option<Instant>,
) -> Verdict {
    let mut con = server.connection();
    let ledger: HashMap<u64, i64> = redis::cmd("HGETALL")
        .arg(LEDGER)
        .query(&mut con)
        .unwrap_or_else(|e| panic!("HGETALL {LEDGER}: {e}"));
    let survives = |c: &Call| wiped_at.is_none_or(|w| c.started >= w);
    judge_ledger(&ledger, calls, faults, wiped_at, &survives)
}

/// [`judge`] against a ledger already read (e.g. summed over a cluster's
/// primaries). `survives` says whether a call's effect must be in it (not
/// when a `kill -9` may have taken it before it was replicated).
fn judge_ledger(
    ledger: &HashMap<u64, i64>,
    calls: &[Call],
    faults: &[Fault],
    wiped_at: Option<Instant>,
    survives: &dyn Fn(&Call) -> bool,
) -> Verdict {
    let mut v = Verdict {
        calls: calls.len(),
        ..Verdict::default()
    };
    v.ran_twice = ledger.values().filter(|n| **n > 1).count();
    for call in calls {
        let present: Vec<bool> = call.ids.iter().map(|id| ledger.contains_key(id)).collect();
        let all = present.iter().all(|p| *p);
        let none = present.iter().all(|p| !*p);
        if !all && !none {
            v.bad += 1;
            v.sample(format!("half applied: {call:?}"));
        }
        let survives = survives(call);
        match &call.outcome {
            Outcome::Ok(reply) => {
                if *reply != 1 {
                    v.ran_twice += 1;
                    v.sample(format!("reply {reply}: {call:?}"));
                }
                if survives && !all {
                    v.lost += 1;
                    v.sample(format!("success not in the ledger: {call:?}"));
                }
                // A success that ended before the data was wiped ran on the
                // old server: in the new ledger it ran twice.
                if wiped_at.is_some_and(|w| call.ended < w) && !none {
                    v.ran_twice += 1;
                    v.sample(format!("ran before and after the restart: {call:?}"));
                }
            }
            Outcome::Failed { kind, ran, what } => {
                v.failed += 1;
                v.ran[match ran {
                    Ran::No => 0,
                    Ran::Unknown => 1,
                    Ran::Yes => 2,
                }] += 1;
                if !v.kinds.contains(kind) {
                    v.kinds.push(*kind);
                }
                let honest = match ran {
                    Ran::No => none,
                    Ran::Yes => all || !survives,
                    Ran::Unknown => true,
                };
                if *kind == Kind::Other || !honest {
                    v.bad += 1;
                    v.sample(format!(
                        "{kind:?} ran={ran:?} in ledger={present:?}: {what}"
                    ));
                }
            }
            Outcome::Cancelled => v.cancelled += 1,
        }
    }
    // Recovery: per fault, the first success of a call started after its
    // end; no call started after that (and over before the next fault)
    // fails.
    let mut worst: Option<f64> = Some(0.0);
    for (i, fault) in faults.iter().enumerate() {
        let next = faults.get(i + 1).map(|f| f.start);
        let recovered = calls
            .iter()
            .filter(|c| c.started >= fault.end && matches!(c.outcome, Outcome::Ok(_)))
            .map(|c| c.ended)
            .min();
        match recovered {
            Some(at) => {
                let ms = at.duration_since(fault.end).as_secs_f64() * 1000.0;
                worst = worst.map(|w| w.max(ms));
                for c in calls {
                    // A call still in flight when the next fault began
                    // belongs to that fault.
                    let in_window = c.started >= at && next.is_none_or(|n| c.ended < n);
                    if in_window && matches!(c.outcome, Outcome::Failed { .. }) {
                        v.late_failures += 1;
                        let ms = |t: Instant| {
                            t.saturating_duration_since(fault.start).as_secs_f64() * 1000.0
                        };
                        v.sample(format!(
                            "failed after the recovery (fault {}: ended +{:.2} ms, recovered +{:.2} ms, \
                             call +{:.2}..+{:.2} ms): {:?}",
                            i, ms(fault.end), ms(at), ms(c.started), ms(c.ended), c.outcome
                        ));
                    }
                }
            }
            None => worst = None,
        }
    }
    v.recover_ms = worst;
    v
}

// ---------------------------------------------------------------------------
// The report

/// Prints one Markdown row for a scenario (the header once per process)
/// and asserts what every scenario must hold.
fn report(scenario: &str, flavor: Flavor, state: &ScriptState, v: &Verdict, notes: &str) {
    static HEADER: OnceLock<()> = OnceLock::new();
    HEADER.get_or_init(|| {
        eprintln!(
            "| scenario | flavor | calls | failed | bad errors | ran twice | lost | loads | reloads | recover ms | notes |"
        );
        eprintln!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    });
    let stats = state.stats();
    let recover = v
        .recover_ms
        .map_or_else(|| "never".to_owned(), |ms| format!("{ms:.1}"));
    let kinds: Vec<String> = v.kinds.iter().map(|k| format!("{k:?}")).collect();
    let mut notes = notes.to_owned();
    if !kinds.is_empty() {
        notes.push_str(&format!(
            "; failures: {} (ran: No {}, Unknown {}, Yes {})",
            kinds.join(", "),
            v.ran[0],
            v.ran[1],
            v.ran[2]
        ));
    }
    if v.cancelled > 0 {
        notes.push_str(&format!("; cancelled {}", v.cancelled));
    }
    eprintln!(
        "| {scenario} | {flavor} | {} | {} | {} | {} | {} | {} | {} | {recover} | {notes} |",
        v.calls, v.failed, v.bad, v.ran_twice, v.lost, stats.loads, stats.reloads
    );
    assert!(v.calls > 0, "{scenario}: no call was made");
    assert_eq!(
        v.bad, 0,
        "{scenario}: untyped or dishonest failures, e.g. {:#?}",
        v.samples
    );
    assert_eq!(
        v.ran_twice, 0,
        "{scenario}: calls ran twice, e.g. {:#?}",
        v.samples
    );
    assert_eq!(
        v.lost, 0,
        "{scenario}: successes missing, e.g. {:#?}",
        v.samples
    );
    assert_eq!(
        v.late_failures, 0,
        "{scenario}: failures after the recovery, e.g. {:#?}",
        v.samples
    );
    assert!(
        v.recover_ms.is_some(),
        "{scenario}: no call succeeded after a fault ended"
    );
}

// ---------------------------------------------------------------------------
// Workers

/// Set when the workers are to stop; they also stop at [`HARD_BOUND`].
/// Once it is set, each worker stops at its first success of a call
/// started after that (so that recovery is observed even when a loaded
/// machine starves the workers for the whole of [`AFTER`]).
#[derive(Clone)]
struct Stop {
    flag: Arc<AtomicBool>,
    requested: Arc<OnceLock<Instant>>,
    bound: Instant,
}

impl Stop {
    fn new() -> Stop {
        Stop {
            flag: Arc::new(AtomicBool::new(false)),
            requested: Arc::new(OnceLock::new()),
            bound: Instant::now() + HARD_BOUND,
        }
    }

    fn now(&self) {
        let _ = self.requested.set(Instant::now());
        self.flag.store(true, Ordering::Release);
    }

    fn stopped(&self, calls: &[Call]) -> bool {
        if Instant::now() >= self.bound || calls.len() >= MAX_CALLS_PER_WORKER {
            return true;
        }
        if !self.flag.load(Ordering::Acquire) {
            return false;
        }
        let Some(at) = self.requested.get() else {
            return true;
        };
        calls
            .last()
            .is_some_and(|c| c.started >= *at && matches!(c.outcome, Outcome::Ok(_)))
    }

    /// Lets the workers run on for [`AFTER`] after a fault, then stops them
    /// (the length of the observation, not a synchronization).
    fn after_the_fault(&self) {
        std::thread::sleep(AFTER);
        self.now();
    }
}

/// A thread calling `ledger` on its own connection until stopped.
fn sync_worker<C>(
    mut con: ScriptCache<C>,
    stop: Stop,
    code: Code,
) -> std::thread::JoinHandle<Vec<Call>>
where
    C: script_cache::SyncConnection + Send + 'static,
{
    std::thread::spawn(move || {
        let mut calls = Vec::new();
        while !stop.stopped(&calls) {
            let id = next_id();
            let started = Instant::now();
            let result = code.ledger(LEDGER, id).invoke(&mut con);
            calls.push(Call {
                ids: vec![id],
                key: 0,
                started,
                ended: Instant::now(),
                outcome: Outcome::of(&result),
            });
            if result.is_err() {
                // Pacing while the fault lasts, not a barrier.
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        calls
    })
}

/// `tasks` tasks on `rt`, sharing `con` (clones), calling `ledger` until
/// stopped; with `cancel`, a third of the calls are cancelled after
/// 0–300 µs (some mid-load).
fn async_workers<C>(
    rt: &tokio::runtime::Runtime,
    con: &ScriptCache<C>,
    tasks: usize,
    stop: &Stop,
    cancel: bool,
    code: Code,
) -> Vec<tokio::task::JoinHandle<Vec<Call>>>
where
    C: script_cache::AsyncConnection + Clone + Sync + 'static,
{
    async_workers_on(rt, con, tasks, stop, cancel, &[LEDGER.to_owned()], code)
}

/// [`async_workers`] where task `t` counts itself in `keys[t % keys.len()]`
/// (a ledger per key, e.g. per cluster slot).
fn async_workers_on<C>(
    rt: &tokio::runtime::Runtime,
    con: &ScriptCache<C>,
    tasks: usize,
    stop: &Stop,
    cancel: bool,
    keys: &[String],
    code: Code,
) -> Vec<tokio::task::JoinHandle<Vec<Call>>>
where
    C: script_cache::AsyncConnection + Clone + Sync + 'static,
{
    (0..tasks as u64)
        .map(|task| {
            let mut con = con.clone();
            let stop = stop.clone();
            let key = task as usize % keys.len();
            let ledger = keys[key].clone();
            rt.spawn(async move {
                let mut calls = Vec::new();
                let mut seed = task.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
                while !stop.stopped(&calls) {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let id = next_id();
                    let started = Instant::now();
                    let call = code.ledger(ledger.as_str(), id);
                    // Bounded: a call waiting on an abandoned load fails the
                    // test instead of hanging it.
                    let limit = if cancel && seed % 3 == 0 {
                        Duration::from_micros(seed % 300)
                    } else {
                        Duration::from_secs(10)
                    };
                    let outcome =
                        match tokio::time::timeout(limit, call.invoke_async(&mut con)).await {
                            Ok(result) => Outcome::of(&result),
                            Err(_) if limit < Duration::from_secs(1) => Outcome::Cancelled,
                            Err(_) => panic!("a call took over 10 s"),
                        };
                    let failed = matches!(outcome, Outcome::Failed { .. });
                    calls.push(Call {
                        ids: vec![id],
                        key,
                        started,
                        ended: Instant::now(),
                        outcome,
                    });
                    if failed {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
                calls
            })
        })
        .collect()
}

fn join_threads(handles: Vec<std::thread::JoinHandle<Vec<Call>>>) -> Vec<Call> {
    let mut all = Vec::new();
    for h in handles {
        match h.join() {
            Ok(mut calls) => all.append(&mut calls),
            Err(_) => panic!("a worker thread panicked"),
        }
    }
    all
}

fn join_tasks(
    rt: &tokio::runtime::Runtime,
    handles: Vec<tokio::task::JoinHandle<Vec<Call>>>,
) -> Vec<Call> {
    rt.block_on(async {
        let mut all = Vec::new();
        for h in handles {
            match h.await {
                Ok(mut calls) => all.append(&mut calls),
                Err(e) => panic!("a worker task failed: {e}"),
            }
        }
        all
    })
}

/// Runs a flush storm on `server` for [`storm_time`] while the workers run
/// (`stop` ends them [`AFTER`] the storm); returns the fault and the
/// flushes.
fn flush_storm(server: &TestServer, stop: &Stop, code: Code) -> (Fault, u64) {
    let start = Instant::now();
    let storm = code.storm(server, storm_time() + Duration::from_secs(60));
    assert!(
        storm.wait_for(1, Duration::from_secs(10)),
        "the flush storm did not start"
    );
    std::thread::sleep(storm_time());
    let end = storm.stop();
    let fault = Fault {
        start,
        end: Instant::now(),
    };
    stop.after_the_fault();
    assert!(
        end.flushes >= MIN_FLUSHES,
        "only {} flushes: the storm did not happen",
        end.flushes
    );
    (fault, end.flushes)
}

/// The storm reached the calls: some met NOSCRIPT.
fn assert_storm_reached(scenario: &str, state: &ScriptState) {
    let stats = state.stats();
    assert!(
        stats.reloads + stats.atomic_retries > 0,
        "{scenario}: no call met NOSCRIPT ({stats:?})"
    );
}

/// A storm over async tasks sharing `con`; asserts 0 failures.
fn async_storm<C>(
    rt: &tokio::runtime::Runtime,
    server: &TestServer,
    scenario: &str,
    con: &ScriptCache<C>,
    tasks: usize,
    code: Code,
) where
    C: script_cache::AsyncConnection + Clone + Sync + 'static,
{
    let stop = Stop::new();
    let workers = async_workers(rt, con, tasks, &stop, false, code);
    let (fault, flushes) = flush_storm(server, &stop, code);
    let calls = join_tasks(rt, workers);
    let v = judge(server, &calls, &[fault], None);
    report(
        &code.scenario(scenario),
        server.flavor(),
        con.state(),
        &v,
        &format!("{tasks} tasks, {flushes} flushes"),
    );
    assert_storm_reached(scenario, con.state());
    assert_eq!(v.failed, 0, "a single call never fails: {:#?}", v.samples);
}

// ---------------------------------------------------------------------------
// The scenarios, each for the script (`matrix!`) and, where it applies,
// the function (`functions_matrix!`)

/// SCRIPT FLUSH storm, single sync calls: 4 threads with their own
/// connections sharing one state.
fn flush_storm_sync(server: &TestServer, code: Code) {
    let state = ScriptState::new();
    let stop = Stop::new();
    let workers: Vec<_> = (0..4)
        .map(|_| {
            sync_worker(
                ScriptCache::with_state(server.connection(), state.clone()),
                stop.clone(),
                code,
            )
        })
        .collect();
    let (fault, flushes) = flush_storm(server, &stop, code);
    let calls = join_threads(workers);
    let v = judge(server, &calls, &[fault], None);
    report(
        &code.scenario("flush storm, sync"),
        server.flavor(),
        &state,
        &v,
        &format!("4 threads, {flushes} flushes"),
    );
    assert_storm_reached("sync", &state);
    assert_eq!(v.failed, 0, "a single call never fails: {:#?}", v.samples);
}

/// SCRIPT FLUSH storm, single async calls: 16 tasks on one multiplexed
/// connection.
fn flush_storm_async(server: &TestServer, code: Code) {
    let rt = runtime();
    let con = ScriptCache::new(multiplexed(&rt, &server.client()));
    async_storm(&rt, server, "flush storm, async", &con, 16, code);
}

/// SCRIPT FLUSH storm, non-atomic pipelines: two script entries around
/// a plain HINCRBY. A pipeline is never replayed: a script entry that
/// meets NOSCRIPT is `NoScript` and did not run; the plain entry runs
/// once per pipeline.
fn flush_storm_pipeline(server: &TestServer, code: Code) {
    let state = ScriptState::new();
    let stop = Stop::new();
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let mut con = ScriptCache::with_state(server.connection(), state.clone());
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut calls = Vec::new();
                while !stop.stopped(&calls) {
                    let ids = [next_id(), next_id(), next_id()];
                    let mut p = pipe();
                    p.invoke(code.ledger(LEDGER, ids[0]))
                        .cmd("HINCRBY")
                        .arg(LEDGER)
                        .arg(ids[1])
                        .arg(1)
                        .invoke(code.ledger(LEDGER, ids[2]));
                    let started = Instant::now();
                    let each = p.query_each(&mut con);
                    let ended = Instant::now();
                    match each {
                        Ok(Some(entries)) => {
                            assert_eq!(entries.len(), 3);
                            for (id, entry) in ids.iter().zip(entries) {
                                let result = entry.and_then(|v| {
                                    redis::from_redis_value::<i64>(v).map_err(|e| Error::Command {
                                        index: 0,
                                        source: e.into(),
                                    })
                                });
                                calls.push(Call {
                                    ids: vec![*id],
                                    key: 0,
                                    started,
                                    ended,
                                    outcome: Outcome::of(&result),
                                });
                            }
                        }
                        Ok(None) => panic!("not a transaction"),
                        Err(e) => calls.push(Call {
                            ids: ids.to_vec(),
                            key: 0,
                            started,
                            ended,
                            outcome: Outcome::of(&Err(e)),
                        }),
                    }
                }
                calls
            })
        })
        .collect();
    let (fault, flushes) = flush_storm(server, &stop, code);
    let calls = join_threads(workers);
    let v = judge(server, &calls, &[fault], None);
    report(
        &code.scenario("flush storm, pipeline"),
        server.flavor(),
        &state,
        &v,
        &format!("2 threads, 3 entries each, {flushes} flushes"),
    );
    assert!(
        v.kinds.iter().all(|k| *k == Kind::NoScript),
        "only NoScript entries fail: {:?}",
        v.kinds
    );
}

/// SCRIPT FLUSH storm, transactions: two script calls and a plain
/// HINCRBY in one MULTI/EXEC, from 2 threads. Each transaction applies
/// fully or not at all (the ledger has its three ids or none), and none
/// fails (the default loads inside MULTI).
fn flush_storm_transaction(server: &TestServer, code: Code) {
    let state = ScriptState::new();
    let stop = Stop::new();
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let mut con = ScriptCache::with_state(server.connection(), state.clone());
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut calls = Vec::new();
                while !stop.stopped(&calls) {
                    let ids = [next_id(), next_id(), next_id()];
                    let mut tx = pipe();
                    tx.atomic()
                        .invoke(code.ledger(LEDGER, ids[0]))
                        .invoke(code.ledger(LEDGER, ids[1]))
                        .cmd("HINCRBY")
                        .arg(LEDGER)
                        .arg(ids[2])
                        .arg(1);
                    let started = Instant::now();
                    let result = tx.query::<(i64, i64, i64)>(&mut con).map(|(a, b, c)| {
                        // One reply for the three: 1 when each ran once.
                        if a == 1 && b == 1 && c == 1 {
                            1
                        } else {
                            a.max(b).max(c) + 100
                        }
                    });
                    calls.push(Call {
                        ids: ids.to_vec(),
                        key: 0,
                        started,
                        ended: Instant::now(),
                        outcome: Outcome::of(&result),
                    });
                }
                calls
            })
        })
        .collect();
    let (fault, flushes) = flush_storm(server, &stop, code);
    let calls = join_threads(workers);
    let v = judge(server, &calls, &[fault], None);
    report(
        &code.scenario("flush storm, transaction"),
        server.flavor(),
        &state,
        &v,
        &format!(
            "2 threads, 2 {} + HINCRBY per EXEC, {flushes} flushes",
            match code {
                Code::Script => "scripts",
                Code::Function => "function calls",
            }
        ),
    );
    assert_eq!(v.failed, 0, "no transaction fails: {:#?}", v.samples);
}

/// Async calls cancelled mid-load under a SCRIPT FLUSH storm: 16 tasks,
/// a third of the calls cancelled after 0–300 µs. Finished calls never
/// fail; a cancelled call ran at most once; no call waits on an
/// abandoned load (each is bounded to 10 s).
fn cancellation_mid_load(server: &TestServer, code: Code) {
    let rt = runtime();
    let con = ScriptCache::new(multiplexed(&rt, &server.client()));
    let stop = Stop::new();
    let workers = async_workers(&rt, &con, 16, &stop, true, code);
    let (fault, flushes) = flush_storm(server, &stop, code);
    let calls = join_tasks(&rt, workers);
    // A cancelled call may still run: wait until the connection has
    // delivered every reply (a PING after them all).
    let mut last = con.clone();
    let _: String = rt
        .block_on(redis::cmd("PING").query_async(&mut last))
        .expect("PING");
    let v = judge(server, &calls, &[fault], None);
    report(
        &code.scenario("cancellation mid-load"),
        server.flavor(),
        con.state(),
        &v,
        &format!("16 tasks, {flushes} flushes"),
    );
    assert!(v.cancelled > 0, "no call was cancelled");
    assert_eq!(v.failed, 0, "finished calls never fail: {:#?}", v.samples);
}

/// SCRIPT FLUSH storm over RESP3 (`?protocol=resp3`): 16 tasks on one
/// multiplexed connection.
fn flush_storm_resp3(server: &TestServer, code: Code) {
    let client = client_for_url(&format!("{}?protocol=resp3", server.url()));
    let rt = runtime();
    let con = ScriptCache::new(multiplexed(&rt, &client));
    async_storm(&rt, server, "flush storm, RESP3", &con, 16, code);
}

/// SCRIPT FLUSH storm as an ACL user without SCRIPT LOAD (`-script|load`;
/// 6.2: `-script`), the script preloaded by the admin: after each
/// NOSCRIPT the call is retried as one EVAL, so none fails.
fn acl_without_script_load(server: &TestServer) {
    preload(server, &[Scripts::Ledger.source()]);
    let user = AclUser::without_script_load(server, "app");
    let rt = runtime();
    let con = ScriptCache::new(multiplexed(&rt, &user.client()));
    async_storm(
        &rt,
        server,
        "ACL without SCRIPT LOAD, flush storm",
        &con,
        8,
        Code::Script,
    );
    assert_eq!(
        con.state().stats().loads,
        0,
        "the user never loaded a script"
    );
}

/// The function form of the ACL refusal: a user without `FUNCTION LOAD`
/// (`-function|load`), the library loaded by the admin. 8 tasks call; the
/// admin flushes the libraries (`FUNCTION FLUSH`) and loads them again
/// 300 ms later. In between, calls fail as `PermissionDenied` naming the
/// function, and say that nothing ran (the ledger agrees); once the
/// library is back they succeed. A function has no `EVAL` to fall back on.
fn acl_without_function_load(server: &TestServer) {
    let code = Functions::LedgerFn.library().code();
    let load = |admin: &mut redis::Connection| {
        redis::cmd("FUNCTION")
            .arg("LOAD")
            .arg("REPLACE")
            .arg(code)
            .query::<String>(admin)
            .expect("FUNCTION LOAD as the admin");
    };
    let mut admin = server.connection();
    load(&mut admin);
    let user = AclUser::without_function_load(server, "app");
    let rt = runtime();
    let con = ScriptCache::new(multiplexed(&rt, &user.client()));
    let stop = Stop::new();
    let workers = async_workers(&rt, &con, 8, &stop, false, Code::Function);
    std::thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    redis::cmd("FUNCTION")
        .arg("FLUSH")
        .query::<()>(&mut admin)
        .expect("FUNCTION FLUSH");
    std::thread::sleep(Duration::from_millis(300));
    load(&mut admin);
    let fault = Fault {
        start,
        end: Instant::now(),
    };
    stop.after_the_fault();
    let calls = join_tasks(&rt, workers);
    let v = judge(server, &calls, &[fault], None);
    report(
        &Code::Function.scenario("ACL without FUNCTION LOAD, library flushed for ~300 ms"),
        server.flavor(),
        con.state(),
        &v,
        "8 tasks; the admin loads the library before and after",
    );
    assert!(v.failed > 0, "no call met the flushed library");
    assert_eq!(v.kinds, vec![Kind::PermissionDenied], "{:#?}", v.samples);
    assert_eq!(v.ran, [v.failed, 0, 0], "every refusal says nothing ran");
    for call in &calls {
        if let Outcome::Failed { what, .. } = &call.outcome {
            assert!(
                what.contains("name: \"ledger_fn\""),
                "the refusal names the function: {what}"
            );
        }
    }
    assert_eq!(
        con.state().stats().loads,
        0,
        "the user never loaded the library"
    );
}

/// `kill -9` and a restart on the same port (empty data, empty script
/// cache) behind a ConnectionManager, 8 tasks calling throughout. Calls
/// during the outage fail as connection errors; once the manager has
/// reconnected every call succeeds; no call ran twice.
fn kill_and_restart(server: &mut TestServer, code: Code) {
    let rt = runtime();
    let con = ScriptCache::new(manager(&rt, &server.client()));
    let stop = Stop::new();
    let workers = async_workers(&rt, &con, 8, &stop, false, code);
    std::thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    server.restart().expect("restart on the same port");
    let fault = Fault {
        start,
        end: Instant::now(),
    };
    stop.after_the_fault();
    let calls = join_tasks(&rt, workers);
    let v = judge(server, &calls, &[fault], Some(start));
    report(
        &code.scenario("kill -9 + restart, ConnectionManager"),
        server.flavor(),
        con.state(),
        &v,
        "8 tasks; default manager backoff (100 ms first retry)",
    );
    assert!(
        v.kinds.iter().all(|k| *k == Kind::Connection),
        "{:?}",
        v.kinds
    );
}

/// CLIENT KILL of the library's connection from another connection,
/// during calls: twice `CLIENT KILL TYPE normal`, twice by `ID` (the
/// ConnectionManager's current `CLIENT ID`). Calls in flight fail as
/// connection errors (`Ran::Unknown`, or `Ran::No` when refused), the
/// manager reconnects, later calls succeed, and every success is in the
/// ledger exactly once.
fn client_kill(server: &TestServer, code: Code) {
    let rt = runtime();
    let manager = manager(&rt, &server.client());
    let con = ScriptCache::new(manager.clone());
    let stop = Stop::new();
    let workers = async_workers(&rt, &con, 8, &stop, false, code);
    let mut admin = server.connection();
    let mut faults = Vec::new();
    let mut killed = 0i64;
    for round in 0..4 {
        std::thread::sleep(Duration::from_millis(250));
        let start = Instant::now();
        let mut kill = redis::cmd("CLIENT");
        kill.arg("KILL");
        if round % 2 == 0 {
            kill.arg("TYPE").arg("normal");
        } else {
            // The manager's connection as it is now (bounded retries:
            // it may be reconnecting).
            let mut id = None;
            for _ in 0..50 {
                let mut m = manager.clone();
                match rt.block_on(redis::cmd("CLIENT").arg("ID").query_async::<i64>(&mut m)) {
                    Ok(v) => {
                        id = Some(v);
                        break;
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
            kill.arg("ID").arg(id.expect("the manager's CLIENT ID"));
        }
        let n: i64 = kill.query(&mut admin).expect("CLIENT KILL");
        assert!(n >= 1, "round {round}: CLIENT KILL killed nothing");
        killed += n;
        faults.push(Fault {
            start,
            end: Instant::now(),
        });
    }
    stop.after_the_fault();
    let calls = join_tasks(&rt, workers);
    let v = judge(server, &calls, &faults, None);
    report(
        &code.scenario("CLIENT KILL (TYPE normal, ID)"),
        server.flavor(),
        con.state(),
        &v,
        &format!("8 tasks, 4 kills ({killed} connections); recover = worst of 4"),
    );
    assert!(
        v.kinds.iter().all(|k| *k == Kind::Connection),
        "{:?}",
        v.kinds
    );
}

/// BUSY: a script (for the function scenario: a function, stopped by
/// `FUNCTION KILL`) spins on the server (`lua-time-limit` 100 ms) while
/// 4 tasks call; their calls are `Unavailable(Busy)` and did not run;
/// after SCRIPT KILL they succeed.
fn busy_and_script_kill(server: &TestServer, code: Code) {
    let rt = runtime();
    let con = ScriptCache::new(multiplexed(&rt, &server.client()));
    let stop = Stop::new();
    let workers = async_workers(&rt, &con, 4, &stop, false, code);
    std::thread::sleep(Duration::from_millis(200));
    let start = Instant::now();
    let (busy, scenario) = match code {
        Code::Script => (
            BusyScript::start(server, Duration::from_secs(10)),
            "BUSY + SCRIPT KILL",
        ),
        Code::Function => (
            BusyScript::function(server, Duration::from_secs(10)),
            "BUSY + FUNCTION KILL",
        ),
    };
    std::thread::sleep(Duration::from_millis(300));
    let killed = busy.kill();
    let fault = Fault {
        start,
        end: Instant::now(),
    };
    assert!(killed.is_err(), "the spinning code was killed: {killed:?}");
    stop.after_the_fault();
    let calls = join_tasks(&rt, workers);
    let v = judge(server, &calls, &[fault], None);
    report(
        &code.scenario(scenario),
        server.flavor(),
        con.state(),
        &v,
        "4 tasks, ~300 ms busy",
    );
    assert!(v.failed > 0, "no call met BUSY");
    assert_eq!(v.kinds, vec![Kind::Condition(Condition::Busy)]);
}

/// OOM: `maxmemory` reached under `noeviction` while 4 tasks call;
/// their calls are `Unavailable(OutOfMemory)` and did not run; once
/// memory is released they succeed.
fn out_of_memory(server: &TestServer, code: Code) {
    let rt = runtime();
    let con = ScriptCache::new(multiplexed(&rt, &server.client()));
    let stop = Stop::new();
    let workers = async_workers(&rt, &con, 4, &stop, false, code);
    std::thread::sleep(Duration::from_millis(200));
    let start = Instant::now();
    let full = fill_memory(server);
    std::thread::sleep(Duration::from_millis(300));
    full.release();
    let fault = Fault {
        start,
        end: Instant::now(),
    };
    stop.after_the_fault();
    let calls = join_tasks(&rt, workers);
    let v = judge(server, &calls, &[fault], None);
    report(
        &code.scenario("OOM (maxmemory, noeviction)"),
        server.flavor(),
        con.state(),
        &v,
        "4 tasks, ~300 ms full",
    );
    assert!(v.failed > 0, "no call met OOM");
    assert_eq!(v.kinds, vec![Kind::Condition(Condition::OutOfMemory)]);
}

/// READONLY: 4 tasks call a writing script on a replica; their calls
/// are `Unavailable(ReadOnly)` and did not run; once the replica is
/// promoted (`REPLICAOF NO ONE`) they succeed.
fn readonly_replica(server: &TestServer, code: Code) {
    // No 5 s wait before the first full sync (`repl-diskless-sync-delay`).
    let mut primary = server.connection();
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("repl-diskless-sync-delay")
        .arg(0)
        .query::<()>(&mut primary)
        .expect("CONFIG SET repl-diskless-sync-delay");
    let replica = start_replica(server).expect("replica");
    let rt = runtime();
    let con = ScriptCache::new(multiplexed(&rt, &replica.client()));
    let stop = Stop::new();
    let start = Instant::now();
    let workers = async_workers(&rt, &con, 4, &stop, false, code);
    std::thread::sleep(Duration::from_millis(300));
    assert!(wait_replicated(server), "the replica is in sync");
    let mut admin = replica.connection();
    redis::cmd("REPLICAOF")
        .arg("NO")
        .arg("ONE")
        .query::<()>(&mut admin)
        .expect("promote");
    let fault = Fault {
        start,
        end: Instant::now(),
    };
    stop.after_the_fault();
    let calls = join_tasks(&rt, workers);
    let v = judge(&replica, &calls, &[fault], None);
    report(
        &code.scenario("READONLY replica, then promoted"),
        server.flavor(),
        con.state(),
        &v,
        "4 tasks, ~300 ms as a replica",
    );
    assert!(v.failed > 0, "no call met READONLY");
    assert_eq!(v.kinds, vec![Kind::Condition(Condition::ReadOnly)]);
}

matrix! {
    fn flush_storm_sync(server) { flush_storm_sync(server, Code::Script) }
    fn flush_storm_async(server) { flush_storm_async(server, Code::Script) }
    fn flush_storm_pipeline(server) { flush_storm_pipeline(server, Code::Script) }
    fn flush_storm_transaction(server) { flush_storm_transaction(server, Code::Script) }
    fn cancellation_mid_load(server) { cancellation_mid_load(server, Code::Script) }
    fn flush_storm_resp3(server) { flush_storm_resp3(server, Code::Script) }
    fn acl_without_script_load(server) { acl_without_script_load(server) }
    fn kill_and_restart(server) { kill_and_restart(server, Code::Script) }
    fn client_kill(server) { client_kill(server, Code::Script) }
    fn busy_and_script_kill(server) { busy_and_script_kill(server, Code::Script) }
    fn out_of_memory(server) { out_of_memory(server, Code::Script) }
    fn readonly_replica(server) { readonly_replica(server, Code::Script) }
}

// The function rows: the same faults met by `FCALL` of `ledger_fn`
// (FUNCTION FLUSH storms in place of SCRIPT FLUSH storms), on the flavors
// with functions.
functions_matrix! {
    fn functions_flush_storm_sync(server) { flush_storm_sync(server, Code::Function) }
    fn functions_flush_storm_async(server) { flush_storm_async(server, Code::Function) }
    fn functions_flush_storm_pipeline(server) { flush_storm_pipeline(server, Code::Function) }
    fn functions_flush_storm_transaction(server) { flush_storm_transaction(server, Code::Function) }
    fn functions_cancellation_mid_load(server) { cancellation_mid_load(server, Code::Function) }
    fn functions_flush_storm_resp3(server) { flush_storm_resp3(server, Code::Function) }
    fn functions_kill_and_restart(server) { kill_and_restart(server, Code::Function) }
    fn functions_busy_and_script_kill(server) { busy_and_script_kill(server, Code::Function) }
    fn functions_out_of_memory(server) { out_of_memory(server, Code::Function) }
    fn functions_acl_without_function_load(server) { acl_without_function_load(server) }
}

/// SCRIPT FLUSH (FUNCTION FLUSH) storm over TLS: 16 tasks on one multiplexed TLS
/// connection. Redis 7.0 only: of the matrix's binaries only Debian's Redis
/// 7.0 is built with TLS (`supports_tls`; `transports.rs` checks that the
/// other two refuse a TLS port).
fn flush_storm_tls(flavor: Flavor, code: Code) {
    if let Err(missing) = flavor.binary() {
        panic!("{missing}");
    }
    let tls = TlsServer::start(flavor).expect("TLS server");
    // Its own line: libtest printed `test ... ` without a newline.
    eprintln!("running on {flavor} over TLS ({})", tls.server.version());
    let rt = runtime();
    let con = ScriptCache::new(multiplexed(&rt, &tls.client()));
    async_storm(&rt, &tls.server, "flush storm, TLS", &con, 16, code);
}

script_cache_tests::flavor_test! { Redis7,
    fn flush_storm_tls_redis_7_0() {
        flush_storm_tls(Flavor::Redis7, Code::Script);
    }
}

script_cache_tests::flavor_test! { Redis7,
    fn functions_flush_storm_tls_redis_7_0() {
        flush_storm_tls(Flavor::Redis7, Code::Function);
    }
}

// ---------------------------------------------------------------------------
// Server swapped for another version, Sentinel failover, Cluster faults

/// The flavors a swap goes through, starting from `first`: three of them,
/// each generation change in both directions somewhere (Redis 7.0 -> 6.2
/// -> Valkey 9.1, 6.2 -> Valkey 9.1 -> 7.0, Valkey 9.1 -> 7.0 -> 6.2,
/// Redis 8.2 -> Valkey 8.1 -> 6.2, Valkey 8.1 -> 6.2 -> Redis 8.2).
fn swap_order(first: Flavor) -> [Flavor; 3] {
    match first {
        Flavor::Redis7 => [Flavor::Redis7, Flavor::Redis62, Flavor::Valkey9],
        Flavor::Redis62 => [Flavor::Redis62, Flavor::Valkey9, Flavor::Redis7],
        Flavor::Valkey9 => [Flavor::Valkey9, Flavor::Redis7, Flavor::Redis62],
        Flavor::Redis82 => [Flavor::Redis82, Flavor::Valkey81, Flavor::Redis62],
        Flavor::Valkey81 => [Flavor::Valkey81, Flavor::Redis62, Flavor::Redis82],
    }
}

matrix! {
    /// The server behind a ConnectionManager is killed and replaced by one
    /// of another version on the same port, twice, while 8 tasks call: each
    /// task alternates the writing `ledger` and the read-only shebang
    /// script `ledger_seen`, so every server gets `EVALSHA_RO` only if it
    /// has it and a body it accepts (6.2 refuses both the shebang and
    /// `EVALSHA_RO`: either would be an untyped failure here). Calls during
    /// a swap fail as connection errors; the ledger is the last server's
    /// (each swap empties the data), so "lost" is checked after the last
    /// swap and "ran twice" across it.
    fn server_swapped_for_another_version(server) {
        let order = swap_order(server.flavor());
        let port = server.port();
        let rt = runtime();
        let con = ScriptCache::new(manager(&rt, &server.client()));
        let stop = Stop::new();
        let workers: Vec<_> = (0..8)
            .map(|_| {
                let mut con = con.clone();
                let stop = stop.clone();
                rt.spawn(async move {
                    let mut calls = Vec::new();
                    while !stop.stopped(&calls) {
                        let id = next_id();
                        let started = Instant::now();
                        let result = tokio::time::timeout(
                            Duration::from_secs(10),
                            Scripts::ledger(LEDGER, id).invoke_async(&mut con),
                        )
                        .await
                        .expect("a call took over 10 s");
                        let wrote = result.is_ok();
                        calls.push(Call { ids: vec![id], key: 0, started, ended: Instant::now(), outcome: Outcome::of(&result) });
                        // The read: no id of its own; 0 (data swapped away)
                        // or 1 is right, more is a call that ran twice.
                        let started = Instant::now();
                        let read = tokio::time::timeout(
                            Duration::from_secs(10),
                            Scripts::ledger_seen(LEDGER, id).invoke_async(&mut con),
                        )
                        .await
                        .expect("a read took over 10 s")
                        .map(|n: i64| n.max(1));
                        let failed = !wrote || read.is_err();
                        calls.push(Call { ids: vec![], key: 0, started, ended: Instant::now(), outcome: Outcome::of(&read) });
                        if failed {
                            tokio::time::sleep(Duration::from_millis(1)).await;
                        }
                    }
                    calls
                })
            })
            .collect();
        let mut faults = Vec::new();
        // The server of the matrix is the first; the others replace it.
        let mut current: Option<TestServer> = None;
        for next in &order[1..] {
            std::thread::sleep(Duration::from_millis(400));
            let start = Instant::now();
            match current.as_mut() {
                Some(s) => s.kill(),
                None => server.kill(),
            }
            current = Some(TestServer::builder(*next).start_on_port(port).expect("the next server on the same port"));
            faults.push(Fault { start, end: Instant::now() });
        }
        stop.after_the_fault();
        let calls = join_tasks(&rt, workers);
        let last = current.expect("the last server");
        let stats = last.commandstats();
        let v = judge(&last, &calls, &faults, Some(faults[faults.len() - 1].start));
        let flavor = server.flavor();
        let path: Vec<String> = order.iter().map(|f| f.to_string()).collect();
        report(
            "server swapped for another version, ConnectionManager",
            flavor,
            con.state(),
            &v,
            &format!("8 tasks, writing + read-only shebang script; {}; recover = worst of 2 swaps", path.join(" -> ")),
        );
        assert!(v.kinds.iter().all(|k| *k == Kind::Connection), "{:?}", v.kinds);
        // The last server got the read-only script as it wants it.
        let (ro, plain) = (stats.calls("evalsha_ro"), stats.calls("evalsha"));
        if order[2] == Flavor::Redis62 {
            assert_eq!(ro, 0, "6.2 has no EVALSHA_RO: {stats:?}");
        } else {
            assert!(ro > 0, "{} has EVALSHA_RO: {stats:?}", order[2]);
        }
        assert!(plain > 0, "the writing script goes out as EVALSHA: {stats:?}");
    }

    fn sentinel_failover(server) { sentinel_failover(server, Code::Script) }
}

/// Sentinel: 4 threads call through connections from redis-rs's
/// `SentinelClient` (one state), the primary is killed (SIGKILL) and
/// the sentinels promote the replica; a thread whose call fails asks
/// the sentinel client for a new connection, as docs/connections.md says. The
/// ledger is read on the promoted replica; a success on the old primary
/// that was not yet replicated may be missing from it (not "lost").
fn sentinel_failover(server: &TestServer, code: Code) {
    use redis::sentinel::{SentinelClient, SentinelServerType};
    let mut setup =
        script_cache_tests::SentinelSetup::start(server.flavor()).expect("sentinel setup");
    let urls = setup.sentinel_urls();
    let state = ScriptState::new();
    let stop = Stop::new();
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let urls = urls.clone();
            let state = state.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut sentinel = SentinelClient::build(
                    urls,
                    script_cache_tests::sentinel::SERVICE,
                    None,
                    SentinelServerType::Master,
                )
                .expect("sentinel client");
                let mut con: Option<ScriptCache<redis::Connection>> = None;
                let mut calls = Vec::new();
                while !stop.stopped(&calls) {
                    let Some(c) = con.as_mut() else {
                        match sentinel.get_connection() {
                            Ok(c) => {
                                c.set_read_timeout(Some(RESPONSE_TIMEOUT))
                                    .expect("read timeout");
                                con = Some(ScriptCache::with_state(c, state.clone()));
                            }
                            // Not a call: the sentinels still name the
                            // dead primary.
                            Err(_) => std::thread::sleep(Duration::from_millis(20)),
                        }
                        continue;
                    };
                    let id = next_id();
                    let started = Instant::now();
                    let result = code.ledger(LEDGER, id).invoke(c);
                    if result.as_ref().is_err_and(Error::is_connection_error) {
                        con = None;
                    }
                    calls.push(Call {
                        ids: vec![id],
                        key: 0,
                        started,
                        ended: Instant::now(),
                        outcome: Outcome::of(&result),
                    });
                }
                calls
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let start = Instant::now();
    let took = setup.fail_over().expect("failover");
    let fault = Fault {
        start,
        end: Instant::now(),
    };
    stop.after_the_fault();
    let calls = join_threads(workers);
    let ledger: HashMap<u64, i64> = redis::cmd("HGETALL")
        .arg(LEDGER)
        .query(&mut setup.replica.connection())
        .expect("HGETALL on the new primary");
    let survives = |c: &Call| c.started >= fault.end;
    let v = judge_ledger(&ledger, &calls, &[fault], None, &survives);
    report(
        &code.scenario("Sentinel failover (kill -9 of the primary)"),
        server.flavor(),
        &state,
        &v,
        &format!(
            "4 threads, a new connection from the sentinel client after a connection error; failover took {:.2} s",
            took.as_secs_f64()
        ),
    );
    assert!(v.failed > 0, "no call met the dead primary");
    assert!(
        v.kinds
            .iter()
            .all(|k| matches!(k, Kind::Connection | Kind::Condition(_))),
        "{:?}",
        v.kinds
    );
}

functions_matrix! {
    fn functions_sentinel_failover(server) { sentinel_failover(server, Code::Function) }
}

/// The ledger keys of a cluster scenario, `ledger:<prefix>:{<tag>}`: one
/// per task, spread over the slots (16 tags: all three shards), or with
/// the first `same` of them in one slot (`{<prefix>}`), the one a
/// migration moves.
fn cluster_keys(prefix: &str, tasks: usize, same: usize) -> Vec<String> {
    (0..tasks)
        .map(|t| {
            if t < same {
                format!("ledger:{prefix}:{{{prefix}}}:{t}")
            } else {
                format!("ledger:{prefix}:{{{prefix}{t}}}")
            }
        })
        .collect()
}

/// The ledger of a cluster scenario, summed over the live primaries: each
/// primary's `ledger:<prefix>:*` keys (`SCAN` on that node), read on that
/// node. A key on a primary that does not own its slot any more (a copy
/// left behind) answers MOVED and fails the test.
fn cluster_ledger(
    cluster: &script_cache_tests::cluster::TestCluster,
    prefix: &str,
) -> HashMap<u64, i64> {
    let mut sum: HashMap<u64, i64> = HashMap::new();
    for p in cluster.primaries() {
        let mut con = cluster.nodes()[p].server.connection();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("ledger:{prefix}:*"))
            .query(&mut con)
            .expect("KEYS");
        for key in keys {
            let part: HashMap<u64, i64> = redis::cmd("HGETALL")
                .arg(&key)
                .query(&mut con)
                .unwrap_or_else(|e| panic!("HGETALL {key} on node {p}: {e}"));
            for (id, n) in part {
                *sum.entry(id).or_default() += n;
            }
        }
    }
    sum
}

/// One cluster fault under 16 async tasks on one
/// `cluster_async::ClusterConnection` (fresh state, one ledger key per
/// task); `fault` returns the keys whose data it may have lost (a killed
/// primary's). Prints the row.
fn cluster_fault(
    cluster: &mut script_cache_tests::cluster::TestCluster,
    scenario: &str,
    prefix: &str,
    same_slot: usize,
    notes: &str,
    code: Code,
    fault: impl FnOnce(&mut script_cache_tests::cluster::TestCluster, &[String]) -> Vec<usize>,
) -> Verdict {
    const TASKS: usize = 16;
    let flavor = cluster.flavor();
    let keys = cluster_keys(prefix, TASKS, same_slot);
    let rt = runtime();
    let client = cluster
        .client_builder()
        .response_timeout(RESPONSE_TIMEOUT)
        .build()
        .expect("cluster client");
    let con = ScriptCache::new(
        rt.block_on(client.get_async_connection())
            .expect("async cluster"),
    );
    let stop = Stop::new();
    let workers = async_workers_on(&rt, &con, TASKS, &stop, false, &keys, code);
    std::thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    let lossy = fault(cluster, &keys);
    let fault = Fault {
        start,
        end: Instant::now(),
    };
    stop.after_the_fault();
    let calls = join_tasks(&rt, workers);
    let ledger = cluster_ledger(cluster, prefix);
    let survives = |c: &Call| !(lossy.contains(&c.key) && c.started < fault.end);
    let v = judge_ledger(&ledger, &calls, &[fault], None, &survives);
    let took = fault.end.duration_since(fault.start).as_secs_f64();
    report(
        &code.scenario(scenario),
        flavor,
        con.state(),
        &v,
        &format!("16 tasks, 16 ledger keys; {notes}; fault {took:.2} s until the cluster is ready"),
    );
    v
}

/// `CLUSTER FAILOVER`, `kill -9` of a primary, then a slot migration
/// (SETSLOT + MIGRATE), one row each, on one 3+3 cluster; on the flavors
/// with functions, each followed by its function row (the kill on another
/// shard, the migration to a new primary without the library). The
/// failovers and the migrations fail no call; the kills fail calls only as
/// connection errors or `Unavailable` (CLUSTERDOWN, TRYAGAIN) while the
/// replica is promoted.
fn cluster_faults(flavor: Flavor) {
    if let Err(missing) = flavor.binary() {
        panic!("{missing}");
    }
    let mut cluster = script_cache_tests::cluster::TestCluster::start(flavor, 1);
    eprintln!("running on a 3+3 {flavor} cluster");
    let has_functions = flavor != Flavor::Redis62;
    let v = cluster_fault(
        &mut cluster,
        "Cluster: CLUSTER FAILOVER",
        "fo",
        0,
        "one shard failed over",
        Code::Script,
        |c, keys| {
            let victim = c.key_owner(&keys[0]);
            assert_ne!(c.failover(victim), victim);
            Vec::new()
        },
    );
    assert_eq!(
        v.failed, 0,
        "no call fails during a CLUSTER FAILOVER: {:#?}",
        v.samples
    );
    if has_functions {
        // The promoted replica has the library by replication: no reload.
        let v = cluster_fault(
            &mut cluster,
            "Cluster: CLUSTER FAILOVER",
            "ffo",
            0,
            "one shard failed over",
            Code::Function,
            |c, keys| {
                let victim = c.key_owner(&keys[0]);
                assert_ne!(c.failover(victim), victim);
                Vec::new()
            },
        );
        assert_eq!(
            v.failed, 0,
            "no function call fails during a CLUSTER FAILOVER: {:#?}",
            v.samples
        );
    }
    let v = cluster_fault(
        &mut cluster,
        "Cluster: kill -9 of a primary",
        "kill",
        0,
        "one primary killed, its replica promoted",
        Code::Script,
        |c, keys| {
            let victim = c.key_owner(&keys[0]);
            let lossy: Vec<usize> = (0..keys.len())
                .filter(|k| c.key_owner(&keys[*k]) == victim)
                .collect();
            assert_ne!(c.kill_primary(victim), victim);
            lossy
        },
    );
    assert!(
        v.kinds
            .iter()
            .all(|k| matches!(k, Kind::Connection | Kind::Condition(_))),
        "{:?}",
        v.kinds
    );
    if has_functions {
        // Another shard, one that still has a replica.
        let v = cluster_fault(
            &mut cluster,
            "Cluster: kill -9 of a primary",
            "fkill",
            0,
            "one primary killed, its replica promoted",
            Code::Function,
            |c, keys| {
                let victim = c
                    .primaries()
                    .into_iter()
                    .find(|p| c.replica_of(*p).is_some())
                    .expect("a primary with a replica");
                let lossy: Vec<usize> = (0..keys.len())
                    .filter(|k| c.key_owner(&keys[*k]) == victim)
                    .collect();
                assert!(!lossy.is_empty(), "some keys on the killed primary");
                assert_ne!(c.kill_primary(victim), victim);
                lossy
            },
        );
        assert!(
            v.kinds
                .iter()
                .all(|k| matches!(k, Kind::Connection | Kind::Condition(_))),
            "{:?}",
            v.kinds
        );
    }
    let v = cluster_fault(
        &mut cluster,
        "Cluster: slot migration",
        "mig",
        8,
        "the slot of 8 of the keys moved (MIGRATE 2 keys a batch, 15 ms apart)",
        Code::Script,
        |c, keys| {
            let slot = script_cache::cluster::key_slot(keys[0].as_bytes());
            let from = c.slot_owner(slot);
            let to = *c
                .primaries()
                .iter()
                .find(|p| **p != from)
                .expect("another primary");
            c.move_slot(slot, to, 2, Duration::from_millis(15));
            assert_eq!(c.slot_owner(slot), to);
            Vec::new()
        },
    );
    assert_eq!(
        v.failed, 0,
        "no call fails during a slot migration: {:#?}",
        v.samples
    );
    if has_functions {
        // A brand-new primary (no library) gets the slot: the first call
        // there loads the library with it.
        let new = cluster.add_primary();
        let v = cluster_fault(
            &mut cluster,
            "Cluster: slot migration to a new node",
            "fmig",
            8,
            "the slot of 8 of the keys moved to a new primary without the library (MIGRATE 2 keys a batch, 15 ms apart)",
            Code::Function,
            |c, keys| {
                let slot = script_cache::cluster::key_slot(keys[0].as_bytes());
                c.move_slot(slot, new, 2, Duration::from_millis(15));
                assert_eq!(c.slot_owner(slot), new);
                Vec::new()
            },
        );
        assert_eq!(
            v.failed, 0,
            "no function call fails during a slot migration: {:#?}",
            v.samples
        );
        let mut on_new = cluster.nodes()[new].server.connection();
        let listed: redis::Value = redis::cmd("FUNCTION")
            .arg("LIST")
            .arg("LIBRARYNAME")
            .arg("ledger_lib")
            .query(&mut on_new)
            .expect("FUNCTION LIST on the new primary");
        assert!(
            matches!(&listed, redis::Value::Array(libs) if libs.len() == 1),
            "the new primary holds the library: {listed:?}"
        );
    }
}

script_cache_tests::flavor_test! { Redis7,
    fn cluster_faults_redis_7_0() {
        cluster_faults(Flavor::Redis7);
    }
}
script_cache_tests::flavor_test! { Redis62,
    fn cluster_faults_redis_6_2() {
        cluster_faults(Flavor::Redis62);
    }
}
script_cache_tests::flavor_test! { Valkey9,
    fn cluster_faults_valkey_9_1() {
        cluster_faults(Flavor::Valkey9);
    }
}
script_cache_tests::flavor_test! { Redis82,
    fn cluster_faults_redis_8_2() {
        cluster_faults(Flavor::Redis82);
    }
}
script_cache_tests::flavor_test! { Valkey81,
    fn cluster_faults_valkey_8_1() {
        cluster_faults(Flavor::Valkey81);
    }
}
