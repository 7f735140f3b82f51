//! Transactions: what the default of script-cache's `pipe().atomic()`
//! (every script loaded inside the `MULTI`, so `EXEC` cannot meet
//! `NOSCRIPT`) costs per transaction, against `trust_marks()` (loads only
//! what the state has not confirmed) and redis-rs `pipe().atomic()` with
//! hand-written `EVALSHA`s, on warm connections.

use std::fmt::Write as _;
use std::time::Instant;

use script_cache::ScriptCache;
use script_cache_tests::{Recording, TestServer};

use crate::clients::{KEY, Subject};
use crate::json::Json;
use crate::stats::{max, median, micros, min, percentile};
use crate::wire::{script_commands, trips_text};
use crate::{Options, Section};

/// Script calls per transaction: one, and a few of the same script (its
/// source is still sent once per transaction).
const SHAPES: [usize; 2] = [1, 8];

#[derive(Clone, Copy, PartialEq, Eq)]
enum TxClient {
    /// `script_cache::pipe().atomic()`: every script loaded inside MULTI.
    Default,
    /// `script_cache::pipe().atomic().trust_marks()`.
    TrustMarks,
    /// `redis::pipe().atomic()` with `EVALSHA sha 1 key` by hand.
    RedisRs,
}

impl TxClient {
    const ALL: [TxClient; 3] = [TxClient::Default, TxClient::TrustMarks, TxClient::RedisRs];

    fn label(self) -> &'static str {
        match self {
            TxClient::Default => "script-cache `pipe().atomic()` (default)",
            TxClient::TrustMarks => "script-cache `.atomic().trust_marks()`",
            TxClient::RedisRs => "redis-rs `pipe().atomic()` + EVALSHA by hand",
        }
    }

    fn id(self) -> &'static str {
        match self {
            TxClient::Default => "default",
            TxClient::TrustMarks => "trust_marks",
            TxClient::RedisRs => "redis_rs",
        }
    }
}

/// One transaction of `calls` calls of `s`, the way `client` sends it;
/// returns the last counter.
fn transaction<C: script_cache::SyncConnection>(
    client: TxClient,
    s: &Subject,
    con: &mut ScriptCache<C>,
    calls: usize,
) -> i64 {
    let result: Result<Vec<i64>, String> = match client {
        TxClient::Default | TxClient::TrustMarks => {
            let mut p = script_cache::pipe();
            p.atomic();
            if client == TxClient::TrustMarks {
                p.trust_marks();
            }
            for _ in 0..calls {
                p.invoke(s.call(KEY));
            }
            p.query(con).map_err(|e| e.to_string())
        }
        TxClient::RedisRs => {
            let mut p = redis::pipe();
            p.atomic();
            for _ in 0..calls {
                p.cmd("EVALSHA").arg(s.sha1()).arg(1).arg(KEY);
            }
            p.query(con.get_mut()).map_err(|e| e.to_string())
        }
    };
    match result {
        Ok(values) if values.len() == calls => values.last().copied().unwrap_or_default(),
        Ok(values) => panic!("{}: {} replies for {calls}", client.label(), values.len()),
        Err(e) => panic!("{} {}: {e}", client.label(), s.name()),
    }
}

pub(crate) fn run(server: &TestServer, options: &Options) -> Section {
    let trials = if options.quick { 50 } else { 1001 };
    let mut md = String::new();
    let _ = writeln!(
        md,
        "## Transactions: the cost of loading inside `MULTI`\n\n\
         A transaction of 1 or 8 calls of one script on a warm connection (the script \
         loaded and confirmed). script-cache's default `pipe().atomic()` sends every \
         script's `SCRIPT LOAD` inside the `MULTI`, so that `EXEC` cannot meet `NOSCRIPT` \
         whatever happened to the server's script cache; `trust_marks()` sends only \
         the loads the state has not confirmed (none here) and gives that guarantee \
         up. Bytes and commands: one transaction through a recording connection. \
         Latency: one transaction alone, on a plain connection, median / p90 \
         [min–max] of {trials} trials, the clients interleaved; ratio = median over \
         the redis-rs transaction's median.\n"
    );
    let _ = writeln!(
        md,
        "| script | calls | client | sent | bytes | server ran | latency µs median / p90 [min–max] | latency ratio |\n\
         |---|---:|---|---|---:|---|---:|---:|"
    );
    let mut rows = Vec::new();
    for s in Subject::all() {
        for calls in SHAPES {
            eprintln!("txn: {} x {calls} ...", s.name());
            // Bytes and what the server ran: one warm transaction each.
            let mut wires = Vec::new();
            for client in TxClient::ALL {
                let rec = Recording::new(server.connection());
                let log = rec.log();
                let mut con = ScriptCache::new(rec);
                // Warm: the script loaded and confirmed on this state.
                let _: i64 = s.call(KEY).invoke(&mut con).expect("warm-up call");
                log.clear();
                server.reset_stats();
                transaction(client, &s, &mut con, calls);
                wires.push((
                    log.round_trips(),
                    log.bytes_sent(),
                    script_commands(&server.commandstats()),
                ));
            }
            // Latency, interleaved, on plain connections.
            let mut cons: Vec<ScriptCache<redis::Connection>> = TxClient::ALL
                .iter()
                .map(|_| ScriptCache::new(server.connection()))
                .collect();
            for con in &mut cons {
                let _: i64 = s.call(KEY).invoke(con).expect("warm-up call");
            }
            let mut latencies: Vec<Vec<f64>> = vec![Vec::with_capacity(trials); cons.len()];
            for trial in 0..trials {
                for k in 0..cons.len() {
                    // Rotate the order each trial.
                    let i = (k + trial) % cons.len();
                    let start = Instant::now();
                    std::hint::black_box(transaction(TxClient::ALL[i], &s, &mut cons[i], calls));
                    latencies[i].push(micros(start.elapsed()));
                }
            }
            let base = median(&latencies[2]);
            for (i, client) in TxClient::ALL.into_iter().enumerate() {
                let (trips, bytes, ran) = &wires[i];
                let lat = &latencies[i];
                let ratio = median(lat) / base;
                let bold = if client == TxClient::Default {
                    "**"
                } else {
                    ""
                };
                let _ = writeln!(
                    md,
                    "| {} | {calls} | {bold}{}{bold} | {} | {bold}{bytes}{bold} | {ran} | {:.0} / {:.0} [{:.0}–{:.0}] | {ratio:.2} |",
                    s.name(),
                    client.label(),
                    trips_text(trips),
                    median(lat),
                    percentile(lat, 90.0),
                    min(lat),
                    max(lat),
                );
                rows.push(Json::obj([
                    ("script", Json::str(s.name())),
                    ("calls", Json::count(calls as u64)),
                    ("client", Json::str(client.id())),
                    ("round_trips", Json::count(trips.len() as u64)),
                    ("sent", Json::str(trips_text(trips))),
                    ("bytes", Json::count(*bytes)),
                    ("server_ran", Json::str(ran.clone())),
                    ("latency_us_median", Json::num(median(lat))),
                    ("latency_us_p90", Json::num(percentile(lat, 90.0))),
                    ("latency_ratio_to_redis_rs", Json::num(ratio)),
                ]));
            }
        }
    }
    Section {
        markdown: md,
        json: Json::Arr(rows),
    }
}
