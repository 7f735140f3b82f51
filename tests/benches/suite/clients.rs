//! The scripts under test and the four ways of calling them that the suite
//! compares, plus the floor (`EVALSHA` pre-packed once), which only
//! `profile` runs.

use std::sync::Arc;

use redis::ConnectionLike as _;
use redis::aio::MultiplexedConnection;
use script_cache::prelude::*;
use script_cache::{ScriptCache, TypedInvocation};

use crate::steady::DEPTH;

/// The benchmark scripts (`tests/bench-lua/`): `incr.lua` (1-key INCR) and
/// `incr_4k.lua` (the same INCR with 4 KB of source).
#[script_cache::scripts(dir = "bench-lua")]
pub(crate) enum Bench {}

/// The key every steady-state call increments.
pub(crate) const KEY: &str = "bench:counter";

/// One benchmark script with what each client needs to call it.
#[derive(Clone)]
pub(crate) struct Subject {
    pub(crate) script: Bench,
    /// redis-rs's own script object (computes the same SHA-1).
    pub(crate) rs: Arc<redis::Script>,
    /// The floor's commands, built and packed once.
    floor: Arc<Floor>,
}

/// `EVALSHA <sha> 1 <KEY>` built once, for [`Client::Floor`]: what is left
/// of a call when the client does nothing but send a command it already
/// has and read the reply.
struct Floor {
    /// The command (the async API of redis-rs takes a `Cmd`, and packs it on
    /// every send).
    cmd: redis::Cmd,
    /// The command packed (RESP bytes), for the sync connection.
    packed: Vec<u8>,
    /// [`DEPTH`] of them back to back: one packed pipeline.
    pipeline: Vec<u8>,
}

impl Floor {
    fn new(sha1: &str) -> Floor {
        let cmd = evalsha_cmd(sha1, KEY);
        let packed = cmd.get_packed_command();
        Floor {
            cmd,
            pipeline: packed.repeat(DEPTH),
            packed,
        }
    }
}

impl Subject {
    pub(crate) fn all() -> Vec<Subject> {
        [Bench::Incr, Bench::Incr4k]
            .into_iter()
            .map(|script| Subject {
                script,
                rs: Arc::new(redis::Script::new(script.source())),
                floor: Arc::new(Floor::new(script.sha1())),
            })
            .collect()
    }

    /// `incr` or `incr_4k`.
    pub(crate) fn name(&self) -> &'static str {
        self.script.name()
    }

    pub(crate) fn sha1(&self) -> &'static str {
        self.script.sha1()
    }

    pub(crate) fn source(&self) -> &'static str {
        self.script.source()
    }

    /// The script-cache call: the typed call function generated from the
    /// script's `-- @key counter` / `-- @return integer` header.
    pub(crate) fn call(&self, key: &str) -> TypedInvocation<i64> {
        match self.script {
            Bench::Incr => Bench::incr(key),
            Bench::Incr4k => Bench::incr_4k(key),
        }
    }
}

/// The ways of calling a script that the steady-state benchmark compares
/// ([`Client::ALL`]), and the floor, which only `profile` runs
/// ([`Client::PROFILED`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Client {
    /// `Bench::incr(k).invoke(&mut cache)` on a `ScriptCache` (typed call).
    ScriptCache,
    /// `redis::cmd("EVALSHA").arg(sha).arg(1).arg(k)` on the same connection:
    /// the baseline.
    HandEvalsha,
    /// redis-rs `Script::key(k).invoke(..)` (EVALSHA, NOSCRIPT -> load + retry).
    RedisScript,
    /// `EVAL <source> 1 k`: the source on every call.
    Eval,
    /// The floor: the same `EVALSHA`, built (and, where redis-rs takes
    /// bytes, packed) once per [`Subject`], sent with `req_packed_command`
    /// (sync: the packed bytes; async: the `Cmd`, which redis-rs packs on
    /// every send) or `req_packed_commands` (the whole pipeline packed
    /// once), the reply converted to `i64`. What a client that does nothing
    /// else costs: redis-rs sending one command and parsing its reply. Not
    /// in the wall-clock sections ([`Client::ALL`]), only in `profile`.
    Floor,
}

impl Client {
    /// The clients of the wall-clock `steady` section.
    pub(crate) const ALL: [Client; 4] = [
        Client::ScriptCache,
        Client::HandEvalsha,
        Client::RedisScript,
        Client::Eval,
    ];

    /// The clients `profile --client` takes: [`Client::ALL`] and the floor.
    pub(crate) const PROFILED: [Client; 5] = [
        Client::ScriptCache,
        Client::HandEvalsha,
        Client::RedisScript,
        Client::Eval,
        Client::Floor,
    ];

    pub(crate) fn label(self) -> &'static str {
        match self {
            Client::ScriptCache => "script-cache",
            Client::HandEvalsha => "EVALSHA by hand",
            Client::RedisScript => "redis-rs Script",
            Client::Eval => "EVAL",
            Client::Floor => "EVALSHA pre-packed",
        }
    }

    /// Machine-friendly name for the JSON.
    pub(crate) fn id(self) -> &'static str {
        match self {
            Client::ScriptCache => "script_cache",
            Client::HandEvalsha => "evalsha",
            Client::RedisScript => "redis_script",
            Client::Eval => "eval",
            Client::Floor => "floor",
        }
    }
}

fn evalsha_cmd(sha1: &str, key: &str) -> redis::Cmd {
    let mut cmd = redis::cmd("EVALSHA");
    cmd.arg(sha1).arg(1).arg(key);
    cmd
}

fn eval_cmd(source: &str, key: &str) -> redis::Cmd {
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(source).arg(1).arg(key);
    cmd
}

/// One call on a sync connection; returns the counter.
pub(crate) fn call_sync(
    client: Client,
    s: &Subject,
    con: &mut ScriptCache<redis::Connection>,
) -> i64 {
    let result = match client {
        Client::ScriptCache => s.call(KEY).invoke(con).map_err(|e| e.to_string()),
        Client::HandEvalsha => evalsha_cmd(s.sha1(), KEY)
            .query::<i64>(con.get_mut())
            .map_err(|e| e.to_string()),
        Client::RedisScript => {
            s.rs.key(KEY)
                .invoke::<i64>(con.get_mut())
                .map_err(|e| e.to_string())
        }
        Client::Eval => eval_cmd(s.source(), KEY)
            .query::<i64>(con.get_mut())
            .map_err(|e| e.to_string()),
        Client::Floor => con
            .get_mut()
            .req_packed_command(&s.floor.packed)
            .and_then(|v| Ok(redis::from_redis_value::<i64>(v)?))
            .map_err(|e| e.to_string()),
    };
    result.unwrap_or_else(|e| panic!("{} {}: {e}", client.label(), s.name()))
}

/// One call on a multiplexed async connection; returns the counter.
pub(crate) async fn call_async(
    client: Client,
    s: &Subject,
    con: &mut ScriptCache<MultiplexedConnection>,
) -> i64 {
    let result = match client {
        Client::ScriptCache => s
            .call(KEY)
            .invoke_async(con)
            .await
            .map_err(|e| e.to_string()),
        Client::HandEvalsha => evalsha_cmd(s.sha1(), KEY)
            .query_async::<i64>(con.get_mut())
            .await
            .map_err(|e| e.to_string()),
        Client::RedisScript => {
            s.rs.key(KEY)
                .invoke_async::<i64>(con.get_mut())
                .await
                .map_err(|e| e.to_string())
        }
        Client::Eval => eval_cmd(s.source(), KEY)
            .query_async::<i64>(con.get_mut())
            .await
            .map_err(|e| e.to_string()),
        Client::Floor => {
            redis::aio::ConnectionLike::req_packed_command(con.get_mut(), &s.floor.cmd)
                .await
                .and_then(|v| Ok(redis::from_redis_value::<i64>(v)?))
                .map_err(|e| e.to_string())
        }
    };
    result.unwrap_or_else(|e| panic!("{} {}: {e}", client.label(), s.name()))
}

/// One pipeline of `depth` calls (built for this round trip, as an
/// application would; the floor's is packed once per [`Subject`], for
/// `depth` = [`DEPTH`] only); returns the last counter.
pub(crate) fn call_pipeline(
    client: Client,
    s: &Subject,
    con: &mut ScriptCache<redis::Connection>,
    depth: usize,
) -> i64 {
    let result: Result<Vec<i64>, String> = match client {
        Client::ScriptCache => {
            let mut p = script_cache::pipe();
            for _ in 0..depth {
                p.invoke(s.call(KEY));
            }
            p.query(con).map_err(|e| e.to_string())
        }
        Client::HandEvalsha => {
            let mut p = redis::pipe();
            for _ in 0..depth {
                p.add_command(evalsha_cmd(s.sha1(), KEY));
            }
            p.query(con.get_mut()).map_err(|e| e.to_string())
        }
        Client::RedisScript => {
            // redis-rs pipelines send the invocation's EVALSHA as is (no
            // NOSCRIPT handling): the script must be loaded beforehand.
            let mut p = redis::pipe();
            for _ in 0..depth {
                p.invoke_script(&s.rs.key(KEY));
            }
            p.query(con.get_mut()).map_err(|e| e.to_string())
        }
        Client::Eval => {
            let mut p = redis::pipe();
            for _ in 0..depth {
                p.add_command(eval_cmd(s.source(), KEY));
            }
            p.query(con.get_mut()).map_err(|e| e.to_string())
        }
        Client::Floor => {
            assert_eq!(depth, DEPTH, "the floor's pipeline is packed for {DEPTH}");
            con.get_mut()
                .req_packed_commands(&s.floor.pipeline, 0, depth)
                .and_then(|replies| {
                    replies
                        .into_iter()
                        .map(|v| Ok(redis::from_redis_value::<i64>(v)?))
                        .collect()
                })
                .map_err(|e| e.to_string())
        }
    };
    match result {
        Ok(values) if values.len() == depth => values.last().copied().unwrap_or_default(),
        Ok(values) => panic!("{}: {} replies for {depth}", client.label(), values.len()),
        Err(e) => panic!("{} {}: {e}", client.label(), s.name()),
    }
}
