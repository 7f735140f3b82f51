//! Cold start: the first call of a script on a fresh connection. Round
//! trips and bytes as the client sent them, commands as the server counted
//! them (`INFO commandstats`), and the latency of that first call.

use std::fmt::Write as _;
use std::time::Instant;

use script_cache::ScriptCache;
use script_cache_tests::{Recording, TestServer};

use crate::clients::{KEY, Subject};
use crate::json::Json;
use crate::stats::{median, micros, percentile};
use crate::wire::{script_commands, trips_text};
use crate::{Options, Section};

/// What the server holds before the first call.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ServerState {
    /// `SCRIPT FLUSH` just ran: the server has never seen the script.
    Flushed,
    /// Another client loaded it earlier; only this connection is new.
    Loaded,
    /// The server has it, and the new connection shares a `ScriptState`
    /// with a connection that called it
    /// (`ScriptCache::with_state(new_conn, state.clone())`).
    Shared,
}

impl ServerState {
    fn label(self) -> &'static str {
        match self {
            ServerState::Flushed => "server never saw the script",
            ServerState::Loaded => "server already has it",
            ServerState::Shared => "server already has it, shared ScriptState",
        }
    }

    fn id(self) -> &'static str {
        match self {
            ServerState::Flushed => "flushed",
            ServerState::Loaded => "loaded",
            ServerState::Shared => "shared_state",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ColdClient {
    ScriptCache,
    RedisScript,
    HandEvalsha,
    Eval,
}

impl ColdClient {
    fn label(self) -> &'static str {
        match self {
            ColdClient::ScriptCache => "script-cache",
            ColdClient::RedisScript => "redis-rs Script",
            ColdClient::HandEvalsha => "EVALSHA by hand",
            ColdClient::Eval => "EVAL",
        }
    }

    /// The clients that can make this first call at all (a bare EVALSHA
    /// fails with NOSCRIPT when the server never saw the script).
    fn for_state(state: ServerState) -> &'static [ColdClient] {
        match state {
            ServerState::Flushed => &[
                ColdClient::ScriptCache,
                ColdClient::RedisScript,
                ColdClient::Eval,
            ],
            ServerState::Loaded => &[
                ColdClient::ScriptCache,
                ColdClient::RedisScript,
                ColdClient::HandEvalsha,
            ],
            // Only script-cache has a state to share.
            ServerState::Shared => &[ColdClient::ScriptCache],
        }
    }
}

/// What one first call did.
#[derive(PartialEq, Eq)]
struct Wire {
    trips: Vec<Vec<String>>,
    bytes: u64,
    server: String,
}

fn first_call(
    server: &TestServer,
    admin: &mut redis::Connection,
    state: ServerState,
    client: ColdClient,
    s: &Subject,
) -> (Wire, f64) {
    match state {
        ServerState::Flushed => redis::cmd("SCRIPT").arg("FLUSH").query::<()>(admin),
        ServerState::Loaded | ServerState::Shared => redis::cmd("SCRIPT")
            .arg("LOAD")
            .arg(s.source())
            .query::<String>(admin)
            .map(drop),
    }
    .expect("prepare the server");
    let rec = Recording::new(server.connection());
    let log = rec.log();
    let mut con = if state == ServerState::Shared {
        // Another connection with the same state called the script first.
        let shared = script_cache::ScriptState::new();
        let mut other = ScriptCache::with_state(server.connection(), shared.clone());
        let _: i64 = s
            .call(KEY)
            .invoke(&mut other)
            .expect("call on the other connection");
        ScriptCache::with_state(rec, shared)
    } else {
        ScriptCache::new(rec)
    };
    server.reset_stats();

    let start = Instant::now();
    let value: Result<i64, String> = match client {
        ColdClient::ScriptCache => s.call(KEY).invoke(&mut con).map_err(|e| e.to_string()),
        ColdClient::RedisScript => {
            s.rs.key(KEY)
                .invoke(con.get_mut())
                .map_err(|e| e.to_string())
        }
        ColdClient::HandEvalsha => redis::cmd("EVALSHA")
            .arg(s.sha1())
            .arg(1)
            .arg(KEY)
            .query(con.get_mut())
            .map_err(|e| e.to_string()),
        ColdClient::Eval => redis::cmd("EVAL")
            .arg(s.source())
            .arg(1)
            .arg(KEY)
            .query(con.get_mut())
            .map_err(|e| e.to_string()),
    };
    let elapsed = micros(start.elapsed());
    if let Err(e) = value {
        panic!("{} {}: {e}", client.label(), s.name());
    }
    let wire = Wire {
        trips: log.round_trips(),
        bytes: log.bytes_sent(),
        server: script_commands(&server.commandstats()),
    };
    (wire, elapsed)
}

pub(crate) fn run(server: &TestServer, options: &Options) -> Section {
    let trials = if options.quick { 5 } else { 41 };
    let mut admin = server.connection();
    let mut md = String::new();
    let _ = writeln!(
        md,
        "## Cold start: the first call on a fresh connection\n\n\
         Round trips and request bytes as sent by the client; commands as counted by the \
         server (`INFO commandstats`, reset before the call); latency of the first call \
         alone (connection already open), median and p90 of {trials} trials. \
         Trials of all clients are interleaved.\n"
    );
    let _ = writeln!(
        md,
        "| server | script | client | round trips | sent | bytes | server ran | latency µs (median / p90) |\n\
         |---|---|---|---:|---|---:|---|---:|"
    );
    let mut rows = Vec::new();
    for state in [
        ServerState::Flushed,
        ServerState::Loaded,
        ServerState::Shared,
    ] {
        for s in Subject::all() {
            eprintln!("cold: {} / {} ...", state.label(), s.name());
            let clients = ColdClient::for_state(state);
            let mut wires: Vec<Option<Wire>> = clients.iter().map(|_| None).collect();
            let mut varies = vec![false; clients.len()];
            let mut latencies: Vec<Vec<f64>> = vec![Vec::new(); clients.len()];
            for _ in 0..trials {
                for (i, &client) in clients.iter().enumerate() {
                    let (wire, us) = first_call(server, &mut admin, state, client, &s);
                    latencies[i].push(us);
                    match &wires[i] {
                        None => wires[i] = Some(wire),
                        Some(first) if *first != wire => varies[i] = true,
                        Some(_) => {}
                    }
                }
            }
            for (i, &client) in clients.iter().enumerate() {
                let Some(wire) = &wires[i] else { continue };
                let bold = if client == ColdClient::ScriptCache {
                    "**"
                } else {
                    ""
                };
                let _ = writeln!(
                    md,
                    "| {} | {} | {bold}{}{bold} | {bold}{}{bold} | {}{} | {} | {} | {:.0} / {:.0} |",
                    state.label(),
                    s.name(),
                    client.label(),
                    wire.trips.len(),
                    trips_text(&wire.trips),
                    if varies[i] { " (varied)" } else { "" },
                    wire.bytes,
                    wire.server,
                    median(&latencies[i]),
                    percentile(&latencies[i], 90.0),
                );
                rows.push(Json::obj([
                    ("server_state", Json::str(state.id())),
                    ("script", Json::str(s.name())),
                    ("client", Json::str(client.label())),
                    ("round_trips", Json::count(wire.trips.len() as u64)),
                    ("sent", Json::str(trips_text(&wire.trips))),
                    ("bytes", Json::count(wire.bytes)),
                    ("server_ran", Json::str(wire.server.clone())),
                    ("latency_us_median", Json::num(median(&latencies[i]))),
                    ("latency_us_p90", Json::num(percentile(&latencies[i], 90.0))),
                    ("varied", Json::Bool(varies[i])),
                ]));
            }
        }
    }
    Section {
        markdown: md,
        json: Json::Arr(rows),
    }
}
