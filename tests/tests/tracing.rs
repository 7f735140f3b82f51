//! The `tracing` feature against real servers: which events a fault
//! produces, in which order, with which fields, and which `Stats` move.
//!
//! * a first call: one `script loaded` (DEBUG) naming the script, its
//!   SHA-1 prefix and the node;
//! * `SCRIPT FLUSH` from another connection, then a call: `script lost,
//!   reloading` (INFO) then `script loaded` (DEBUG: loaded again with the
//!   call), once each; on a cluster node `script retried with EVAL`;
//! * a steady call: nothing;
//! * a restart: the call on the dead connection fails (counted by whether
//!   it ran), a new connection sharing the state recovers as after a flush;
//! * an ACL user without `SCRIPT LOAD`: one `script load refused` (WARN),
//!   one `node switched to EVALSHA first` (WARN), then the `EVAL` retry;
//! * a Redis Cluster: `slot map refreshed` (INFO) with the first map and
//!   after a `NOSCRIPT`, the node field is the owner's address; then a
//!   `CLUSTER FAILOVER`.
//!
//! No event field may hold a key or an argument value of a call.
//!
//! Events are collected by a subscriber set as the thread's default, so
//! each test sees its own (async bodies run on the `block_on` thread and
//! spawn nothing). `--nocapture` prints what each scenario observed, the
//! figures of RELIABILITY.md's "What an operator sees".

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use script_cache::prelude::*;
use script_cache::{ScriptCache, ScriptState, Stats, pipe};
use script_cache_tests::cluster::TestCluster;
use script_cache_tests::{AclUser, Flavor, TestServer, matrix, runtime};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

script_cache::include_scripts!("fixtures/guarantees");

/// A key and an argument no event may show.
const KEY: &str = "trace:key-7f3a9c";
const ARG: i64 = 987_654_321;

/// One event with target `script_cache`.
#[derive(Clone, Debug)]
struct Event {
    level: tracing::Level,
    message: String,
    fields: BTreeMap<String, String>,
}

impl Event {
    fn field(&self, name: &str) -> &str {
        self.fields.get(name).map_or("<missing>", String::as_str)
    }
}

#[derive(Default)]
struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

/// Collects the `script_cache` events into a shared list.
#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Vec<Event>>>);

impl<S: tracing::Subscriber> Layer<S> for Collector {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        if meta.target() != "script_cache" {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let mut fields = fields.0;
        let message = fields.remove("message").unwrap_or_default();
        self.0.lock().unwrap().push(Event {
            level: *meta.level(),
            message,
            fields,
        });
    }
}

impl Collector {
    /// The events since the last call.
    fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// Starts collecting this thread's events (until the guard is dropped).
fn capture() -> (Collector, tracing::subscriber::DefaultGuard) {
    let collector = Collector::default();
    let subscriber = tracing_subscriber::registry().with(collector.clone());
    (collector, tracing::subscriber::set_default(subscriber))
}

fn messages(events: &[Event]) -> Vec<&str> {
    events.iter().map(|e| e.message.as_str()).collect()
}

fn prefix(sha1: &str) -> &str {
    &sha1[..12]
}

/// No field of any event holds the key or the argument.
fn assert_no_values(events: &[Event]) {
    let arg = ARG.to_string();
    for e in events {
        for (name, value) in &e.fields {
            assert!(
                !value.contains(KEY) && !value.contains(&arg) && !value.contains("trace:"),
                "field {name} of {e:?} holds a call's value"
            );
        }
        assert!(!e.message.contains(KEY) && !e.message.contains(&arg));
    }
}

/// Asserts that `e` is `message` at `level` about `script` on `node`.
fn assert_event(e: &Event, level: tracing::Level, message: &str, script: &str, node: &str) {
    assert_eq!((e.level, e.message.as_str()), (level, message), "{e:?}");
    assert_eq!(e.field("script"), script, "{e:?}");
    assert_eq!(e.field("node"), node, "{e:?}");
}

/// What moved in the stats between `before` and `after`, as
/// `name+delta` for the fields that moved.
fn delta(before: Stats, after: Stats) -> String {
    let fields = [
        ("loads", before.loads, after.loads),
        ("surveys", before.surveys, after.surveys),
        ("reloads", before.reloads, after.reloads),
        ("calls", before.calls, after.calls),
        ("refused_loads", before.refused_loads, after.refused_loads),
        (
            "atomic_retries",
            before.atomic_retries,
            after.atomic_retries,
        ),
        (
            "sha_mismatches",
            before.sha_mismatches,
            after.sha_mismatches,
        ),
        ("failed_ran", before.failed_ran, after.failed_ran),
        (
            "failed_not_run",
            before.failed_not_run,
            after.failed_not_run,
        ),
        (
            "failed_unknown",
            before.failed_unknown,
            after.failed_unknown,
        ),
        (
            "slot_map_refreshes",
            before.slot_map_refreshes,
            after.slot_map_refreshes,
        ),
    ];
    let moved: Vec<String> = fields
        .iter()
        .filter(|(_, b, a)| a != b)
        .map(|(n, b, a)| format!("{n}+{}", a - b))
        .collect();
    if moved.is_empty() {
        "nothing".into()
    } else {
        moved.join(" ")
    }
}

fn flush(server: &TestServer) {
    redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query::<()>(&mut server.connection())
        .expect("SCRIPT FLUSH");
}

/// The events of a flush then a call, single server.
fn assert_flush_recovery(events: &[Event], sha: &str) {
    // The reload after NOSCRIPT: SCRIPT LOAD with the call, in one round
    // trip (no EVAL: nothing came between the two).
    assert_eq!(
        messages(events),
        ["script lost, reloading", "script loaded"],
        "{events:?}"
    );
    assert_event(
        &events[0],
        tracing::Level::INFO,
        "script lost, reloading",
        "incr_by",
        "single",
    );
    assert_eq!(events[0].field("sha"), prefix(sha));
    assert!(
        events[0].field("epoch").parse::<u64>().is_ok(),
        "{events:?}"
    );
    assert_event(
        &events[1],
        tracing::Level::DEBUG,
        "script loaded",
        "incr_by",
        "single",
    );
    assert_eq!(events[1].field("sha"), prefix(sha));
}

/// The survey of a fresh state's first call of an embedded script on
/// `node`: every script of the enum counted as present or absent.
fn assert_survey(e: &Event, script: &str, node: &str) {
    assert_event(e, tracing::Level::DEBUG, "scripts surveyed", script, node);
    let present: usize = e.field("present").parse().expect("present");
    let absent: usize = e.field("absent").parse().expect("absent");
    // Every script of the enum but the one called (its call tells).
    assert_eq!(present + absent, Scripts::ALL.len() - 1, "{e:?}");
}

/// A fresh state's first call of a script the server lacks: its survey,
/// then its load.
fn assert_first_call(events: &[Event], script: &str, sha: &str) {
    assert_eq!(
        messages(events),
        ["scripts surveyed", "script loaded"],
        "{events:?}"
    );
    assert_survey(&events[0], script, "single");
    assert_first_load(&events[1..], script, sha);
}

fn assert_first_load(events: &[Event], script: &str, sha: &str) {
    assert_eq!(messages(events), ["script loaded"], "{events:?}");
    assert_event(
        &events[0],
        tracing::Level::DEBUG,
        "script loaded",
        script,
        "single",
    );
    assert_eq!(events[0].field("sha"), prefix(sha));
    assert!(
        events[0].field("epoch").parse::<u64>().is_ok(),
        "{events:?}"
    );
}

matrix! {
    /// Sync: first call, flush, call, steady call, and a cold pipeline.
    fn events_of_a_flush_sync(server) {
        let (events, _guard) = capture();
        let state = ScriptState::new();
        let mut con = ScriptCache::with_state(server.connection(), state.clone());
        let sha = Scripts::IncrBy.sha1();
        let mut all = Vec::new();

        let s0 = state.stats();
        assert_eq!(Scripts::incr_by(KEY, ARG).invoke(&mut con).expect("first"), ARG);
        let first = events.take();
        assert_first_call(&first, "incr_by", sha);
        let s1 = state.stats();
        eprintln!("{}: first call: {:?}; stats {}", server.flavor(), messages(&first), delta(s0, s1));
        all.extend(first);

        flush(server);
        assert_eq!(Scripts::incr_by(KEY, ARG).invoke(&mut con).expect("after the flush"), 2 * ARG);
        let recovery = events.take();
        assert_flush_recovery(&recovery, sha);
        let s2 = state.stats();
        eprintln!("{}: SCRIPT FLUSH then a call: {:?}; stats {}", server.flavor(), messages(&recovery), delta(s1, s2));
        assert_eq!((s2.reloads - s1.reloads, s2.atomic_retries - s1.atomic_retries, s2.loads - s1.loads), (1, 0, 1));
        all.extend(recovery);

        assert_eq!(Scripts::incr_by(KEY, ARG).invoke(&mut con).expect("steady"), 3 * ARG);
        let steady = events.take();
        assert!(steady.is_empty(), "a steady call emits nothing: {steady:?}");
        let s3 = state.stats();
        assert_eq!(delta(s2, s3), "calls+1");

        // A pipeline with a cold script: its load is the same event.
        let mut p = pipe();
        p.invoke(Scripts::incr(KEY)).invoke(Scripts::incr_by(KEY, ARG));
        let _: (i64, i64) = p.query(&mut con).expect("pipeline");
        let piped = events.take();
        assert_first_load(&piped, "incr", Scripts::Incr.sha1());
        all.extend(piped);

        assert_no_values(&all);
        let s = state.stats();
        assert_eq!((s.failed_ran, s.failed_not_run, s.failed_unknown), (0, 0, 0));
    }

    /// Async (multiplexed connection): the same events, same order.
    async fn events_of_a_flush_async(server) {
        let (events, _guard) = capture();
        let state = ScriptState::new();
        let conn = server.client().get_multiplexed_async_connection().await.expect("connect");
        let mut con = ScriptCache::with_state(conn, state.clone());
        let sha = Scripts::IncrBy.sha1();

        let s0 = state.stats();
        assert_eq!(Scripts::incr_by(KEY, ARG).invoke_async(&mut con).await.expect("first"), ARG);
        let first = events.take();
        assert_first_call(&first, "incr_by", sha);

        flush(server);
        let s1 = state.stats();
        assert_eq!(Scripts::incr_by(KEY, ARG).invoke_async(&mut con).await.expect("after the flush"), 2 * ARG);
        let recovery = events.take();
        assert_flush_recovery(&recovery, sha);
        let s2 = state.stats();
        eprintln!("{} async: SCRIPT FLUSH then a call: {:?}; stats {}", server.flavor(), messages(&recovery), delta(s1, s2));

        assert_eq!(Scripts::incr_by(KEY, ARG).invoke_async(&mut con).await.expect("steady"), 3 * ARG);
        let steady = events.take();
        assert!(steady.is_empty(), "a steady call emits nothing: {steady:?}");
        assert_eq!(delta(s2, state.stats()), "calls+1");
        assert_eq!(delta(s0, state.stats()), "loads+2 surveys+1 reloads+1 calls+4");
        assert_no_values(&first);
        assert_no_values(&recovery);
    }

    /// A restart: the call on the dead connection fails, counted by whether
    /// it ran; a new connection sharing the state recovers with the flush
    /// events.
    fn events_of_a_restart(server) {
        let (events, _guard) = capture();
        let state = ScriptState::new();
        let mut con = ScriptCache::with_state(server.connection(), state.clone());
        let sha = Scripts::IncrBy.sha1();
        Scripts::incr_by(KEY, ARG).invoke(&mut con).expect("first");
        let _ = events.take();

        server.restart().expect("restart");
        let s0 = state.stats();
        let err = Scripts::incr_by(KEY, ARG).invoke(&mut con).expect_err("the old connection is gone");
        let failed = events.take();
        let s1 = state.stats();
        eprintln!(
            "{}: restart, call on the old connection: {:?} (ran: {:?}); events {:?}; stats {}",
            server.flavor(), err.to_string(), err.ran(), messages(&failed), delta(s0, s1)
        );
        assert!(failed.is_empty(), "{failed:?}");
        assert_eq!(s1.failed_ran, s0.failed_ran, "{s1:?}");
        assert_eq!(
            (s1.failed_not_run - s0.failed_not_run) + (s1.failed_unknown - s0.failed_unknown),
            1,
            "{s1:?}"
        );

        let mut con = ScriptCache::with_state(server.connection(), state.clone());
        assert_eq!(Scripts::incr_by(KEY, ARG).invoke(&mut con).expect("new connection"), ARG);
        let recovery = events.take();
        let s2 = state.stats();
        eprintln!(
            "{}: restart, call on a new connection: {:?}; stats {}",
            server.flavor(), messages(&recovery), delta(s1, s2)
        );
        assert_flush_recovery(&recovery, sha);
        assert_no_values(&recovery);
    }

    /// An ACL user without SCRIPT LOAD, nothing preloaded: one refused
    /// load, the switch to EVALSHA first, the EVAL retry; then nothing.
    fn events_of_a_refused_load(server) {
        let user = AclUser::without_script_load(server, "app");
        let (events, _guard) = capture();
        let state = ScriptState::new();
        let mut con = ScriptCache::with_state(user.connection(), state.clone());
        let sha = Scripts::IncrBy.sha1();
        let s0 = state.stats();
        assert_eq!(Scripts::incr_by(KEY, ARG).invoke(&mut con).expect("first"), ARG);
        let refused = events.take();
        let s1 = state.stats();
        eprintln!(
            "{}: first call as a user without SCRIPT LOAD: {:?}; stats {}",
            server.flavor(), messages(&refused), delta(s0, s1)
        );
        // The survey goes with the first call; on Redis 6.2 the user lacks
        // every SCRIPT subcommand, so it is refused too (no event).
        let surveyed = server.flavor() != Flavor::Redis62;
        let (survey, refused) = refused.split_at(usize::from(surveyed));
        assert_eq!(
            messages(refused),
            ["script load refused", "node switched to EVALSHA first", "script retried with EVAL"],
            "{refused:?}"
        );
        if let Some(e) = survey.first() {
            assert_survey(e, "incr_by", "single");
        }
        assert_event(&refused[0], tracing::Level::WARN, "script load refused", "incr_by", "single");
        assert_eq!(refused[0].field("sha"), prefix(sha));
        assert_event(&refused[1], tracing::Level::WARN, "node switched to EVALSHA first", "incr_by", "single");
        assert_event(&refused[2], tracing::Level::INFO, "script retried with EVAL", "incr_by", "single");
        let moved = if surveyed {
            "surveys+1 calls+2 refused_loads+1 atomic_retries+1"
        } else {
            "calls+2 refused_loads+1 atomic_retries+1"
        };
        assert_eq!(delta(s0, s1), moved);

        for i in 2..=4 {
            assert_eq!(Scripts::incr_by(KEY, ARG).invoke(&mut con).expect("steady"), i * ARG);
        }
        let steady = events.take();
        assert!(steady.is_empty(), "{steady:?}");
        assert_eq!(delta(s1, state.stats()), "calls+3");
        assert_no_values(survey);
        assert_no_values(refused);
    }
}

/// A cluster: the slot-map refresh event with the first map and after a
/// `NOSCRIPT`, the owner's address as the node; then a `CLUSTER FAILOVER`
/// of the owner (events printed, the refresh asserted).
fn cluster_scenario(flavor: Flavor) {
    match flavor.binary() {
        Ok(_) => {}
        Err(missing) if script_cache_tests::in_ci() => panic!("{missing}"),
        Err(missing) => {
            eprintln!("SKIPPED on {flavor}: {missing}");
            return;
        }
    }
    let cluster = TestCluster::start(flavor, 1);
    let key = format!("{{{KEY}}}");
    let owner = cluster.key_owner(&key);
    let addr = cluster.nodes()[owner].addr();
    let sha = Scripts::IncrBy.sha1();
    let (events, _guard) = capture();
    runtime().block_on(async {
        let conn = cluster
            .client()
            .get_async_connection()
            .await
            .expect("async cluster");
        let mut con = ScriptCache::new(conn);
        let mut all = Vec::new();

        let s0 = con.stats();
        assert_eq!(Scripts::incr_by(&key, ARG).invoke_async(&mut con).await.expect("first"), ARG);
        let first = events.take();
        let s1 = con.stats();
        eprintln!("{flavor} cluster: first call: {:?}; stats {}", messages(&first), delta(s0, s1));
        assert_eq!(
            messages(&first),
            ["slot map refreshed", "scripts surveyed", "script loaded"],
            "{first:?}"
        );
        assert_eq!(first[0].level, tracing::Level::INFO);
        assert_eq!(first[0].field("generation"), "1");
        assert_eq!(first[0].field("primaries"), "3");
        assert_survey(&first[1], "incr_by", &addr);
        assert_event(&first[2], tracing::Level::DEBUG, "script loaded", "incr_by", &addr);
        assert_eq!(first[2].field("sha"), prefix(sha));
        all.extend(first);

        cluster.flush_scripts_on(owner);
        assert_eq!(Scripts::incr_by(&key, ARG).invoke_async(&mut con).await.expect("after the flush"), 2 * ARG);
        let recovery = events.take();
        let s2 = con.stats();
        eprintln!("{flavor} cluster: SCRIPT FLUSH of the owner then a call: {:?}; stats {}", messages(&recovery), delta(s1, s2));
        assert_eq!(
            messages(&recovery),
            ["script lost, reloading", "script retried with EVAL", "slot map refreshed"],
            "{recovery:?}"
        );
        assert_event(&recovery[0], tracing::Level::INFO, "script lost, reloading", "incr_by", &addr);
        assert_event(&recovery[1], tracing::Level::INFO, "script retried with EVAL", "incr_by", &addr);
        assert_eq!(recovery[2].field("generation"), "2");
        all.extend(recovery);

        // The call after the EVAL retry loads the script for good (EVAL's
        // copy is evictable on newer servers): one `script loaded`.
        assert_eq!(Scripts::incr_by(&key, ARG).invoke_async(&mut con).await.expect("after the EVAL retry"), 3 * ARG);
        let reload = events.take();
        assert_eq!(messages(&reload), ["script loaded"], "{reload:?}");
        assert_eq!(delta(s2, con.stats()), "loads+1 calls+1");

        let s3 = con.stats();
        let new = cluster.failover(owner);
        let new_addr = cluster.nodes()[new].addr();
        assert_eq!(Scripts::incr_by(&key, ARG).invoke_async(&mut con).await.expect("after the failover"), 4 * ARG);
        let failover = events.take();
        let s4 = con.stats();
        let nodes: Vec<&str> = failover.iter().map(|e| e.field("node")).collect();
        eprintln!(
            "{flavor} cluster: CLUSTER FAILOVER ({addr} -> {new_addr}) then a call: {:?} on {nodes:?}; stats {}",
            messages(&failover), delta(s3, s4)
        );
        if flavor == Flavor::Redis62 {
            // Redis 6.2 replicates SCRIPT LOAD: the promoted replica has the
            // script the last call loaded, so no NOSCRIPT and no refresh of
            // ours is needed (redis-rs follows the MOVED itself).
            assert!(
                failover.iter().all(|e| e.message == "slot map refreshed"),
                "{failover:?}"
            );
        } else {
            assert!(
                failover.iter().any(|e| e.message == "slot map refreshed"),
                "{failover:?}"
            );
            assert!(s4.slot_map_refreshes > s3.slot_map_refreshes);
        }
        all.extend(failover);

        // The next call is keyed by the new primary (the refreshed map),
        // which the state has not seen load the script: one load there.
        assert_eq!(Scripts::incr_by(&key, ARG).invoke_async(&mut con).await.expect("next"), 5 * ARG);
        let next = events.take();
        let s5 = con.stats();
        eprintln!(
            "{flavor} cluster: the call after that: {:?} on {:?}; stats {}",
            messages(&next),
            next.iter().map(|e| e.field("node")).collect::<Vec<_>>(),
            delta(s4, s5)
        );
        // The state's first call on that node also surveys it.
        assert!(next.len() <= 2, "{next:?}");
        for e in &next {
            if e.message == "scripts surveyed" {
                assert_survey(e, "incr_by", &new_addr);
            } else {
                assert_event(e, tracing::Level::DEBUG, "script loaded", "incr_by", &new_addr);
            }
        }
        all.extend(next);

        // Settled: quiet.
        assert_eq!(Scripts::incr_by(&key, ARG).invoke_async(&mut con).await.expect("settled"), 6 * ARG);
        let settled = events.take();
        assert!(settled.is_empty(), "{settled:?}");
        assert_no_values(&all);
    });
}

script_cache_tests::per_flavor!(events_of_a_cluster, cluster_scenario);
