//! Pipelines that call scripts the server may not have: script-cache's
//! loads-in-the-same-round-trip against "SCRIPT EXISTS, then load the
//! missing ones, then the pipeline" (what redis-py's pipelines do), and
//! redis-rs's `Pipeline::invoke_script`, which sends EVALSHA as is.

use std::fmt::Write as _;
use std::time::Instant;

use script_cache::ScriptCache;
use script_cache_tests::{Recording, TestServer};

use crate::clients::{KEY, Subject};
use crate::json::Json;
use crate::stats::{median, micros};
use crate::wire::{script_commands, trips_text};
use crate::{Options, Section};

/// Calls per pipeline, alternating the two benchmark scripts.
const DEPTH: usize = 32;

type Con = ScriptCache<Recording<redis::Connection>>;

#[derive(Clone, Copy, PartialEq, Eq)]
enum PipeClient {
    ScriptCache,
    ExistsThenLoad,
    RedisRs,
}

impl PipeClient {
    const ALL: [PipeClient; 3] = [
        PipeClient::ScriptCache,
        PipeClient::ExistsThenLoad,
        PipeClient::RedisRs,
    ];

    fn label(self) -> &'static str {
        match self {
            PipeClient::ScriptCache => "script-cache `pipe()`",
            PipeClient::ExistsThenLoad => "SCRIPT EXISTS, then load (redis-py)",
            PipeClient::RedisRs => "redis-rs `pipe().invoke_script`",
        }
    }
}

/// Sends one pipeline of `DEPTH` calls the way `client` does.
fn send(client: PipeClient, subjects: &[Subject], con: &mut Con) -> Result<Vec<i64>, String> {
    let pick = |i: usize| &subjects[i % subjects.len()];
    match client {
        PipeClient::ScriptCache => {
            let mut p = script_cache::pipe();
            for i in 0..DEPTH {
                p.invoke(pick(i).call(KEY));
            }
            p.query(con).map_err(|e| e.to_string())
        }
        PipeClient::ExistsThenLoad => {
            let mut exists = redis::cmd("SCRIPT");
            exists.arg("EXISTS");
            for s in subjects {
                exists.arg(s.sha1());
            }
            let known: Vec<bool> = exists.query(con.get_mut()).map_err(|e| e.to_string())?;
            for (s, known) in subjects.iter().zip(known) {
                if !known {
                    let _: String = redis::cmd("SCRIPT")
                        .arg("LOAD")
                        .arg(s.source())
                        .query(con.get_mut())
                        .map_err(|e| e.to_string())?;
                }
            }
            let mut p = redis::pipe();
            for i in 0..DEPTH {
                p.cmd("EVALSHA").arg(pick(i).sha1()).arg(1).arg(KEY);
            }
            p.query(con.get_mut()).map_err(|e| e.to_string())
        }
        PipeClient::RedisRs => {
            let mut p = redis::pipe();
            for i in 0..DEPTH {
                p.invoke_script(&pick(i).rs.key(KEY));
            }
            p.query(con.get_mut()).map_err(|e| e.to_string())
        }
    }
}

/// One pipeline's wire record.
struct Shot {
    trips: Vec<Vec<String>>,
    bytes: u64,
    server: String,
    latency_us: f64,
    error: Option<String>,
}

pub(crate) fn run(server: &TestServer, options: &Options) -> Section {
    let subjects = Subject::all();
    let trials = if options.quick { 5 } else { 41 };
    let mut admin = server.connection();
    // [client][0 = cold, 1 = warm] -> shots
    let mut shots: Vec<[Vec<Shot>; 2]> = PipeClient::ALL
        .iter()
        .map(|_| [Vec::new(), Vec::new()])
        .collect();
    eprintln!("pipeline: unloaded scripts ...");
    for _ in 0..trials {
        for (i, &client) in PipeClient::ALL.iter().enumerate() {
            redis::cmd("SCRIPT")
                .arg("FLUSH")
                .query::<()>(&mut admin)
                .expect("SCRIPT FLUSH");
            let rec = Recording::new(server.connection());
            let log = rec.log();
            let mut con = ScriptCache::new(rec);
            for (phase, slot) in shots[i].iter_mut().enumerate() {
                if phase == 1 && client == PipeClient::RedisRs {
                    // redis-rs needs the scripts loaded by hand first.
                    for s in &subjects {
                        s.rs.load(&mut admin).expect("SCRIPT LOAD");
                    }
                }
                log.clear();
                server.reset_stats();
                let start = Instant::now();
                let result = send(client, &subjects, &mut con);
                let latency_us = micros(start.elapsed());
                slot.push(Shot {
                    trips: log.round_trips(),
                    bytes: log.bytes_sent(),
                    server: script_commands(&server.commandstats()),
                    latency_us,
                    error: result.err(),
                });
            }
        }
    }

    let mut md = String::new();
    let _ = writeln!(
        md,
        "## Pipelines with unloaded scripts\n\n\
         A pipeline of {DEPTH} calls alternating `incr` and `incr_4k`. *Cold*: after \
         `SCRIPT FLUSH`, on a new connection. *Warm*: the next pipeline on the same \
         connection. Latency: median of {trials} trials.\n"
    );
    let _ = writeln!(
        md,
        "| state | client | round trips | sent | bytes | server ran | latency µs | outcome |\n\
         |---|---|---:|---|---:|---|---:|---|"
    );
    let mut rows = Vec::new();
    for (phase, state) in ["cold", "warm"].into_iter().enumerate() {
        for (i, &client) in PipeClient::ALL.iter().enumerate() {
            let list = &shots[i][phase];
            let Some(first) = list.first() else { continue };
            let latency = median(&list.iter().map(|s| s.latency_us).collect::<Vec<_>>());
            let outcome = match &first.error {
                None => "ok".to_owned(),
                Some(e) => format!("error: {}", e.chars().take(60).collect::<String>()),
            };
            let bold = if client == PipeClient::ScriptCache {
                "**"
            } else {
                ""
            };
            let _ = writeln!(
                md,
                "| {state} | {bold}{}{bold} | {bold}{}{bold} | {} | {} | {} | {latency:.0} | {outcome} |",
                client.label(),
                first.trips.len(),
                trips_text(&first.trips),
                first.bytes,
                first.server,
            );
            rows.push(Json::obj([
                ("state", Json::str(state)),
                ("client", Json::str(client.label())),
                ("round_trips", Json::count(first.trips.len() as u64)),
                ("sent", Json::str(trips_text(&first.trips))),
                ("bytes", Json::count(first.bytes)),
                ("server_ran", Json::str(first.server.clone())),
                ("latency_us_median", Json::num(latency)),
                ("error", first.error.clone().map_or(Json::Null, Json::Str)),
            ]));
        }
    }
    Section {
        markdown: md,
        json: Json::Arr(rows),
    }
}
