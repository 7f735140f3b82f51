//! The load policy: which body and command a script goes out with, and how
//! the replies of a load and a call are read. Written once; single calls
//! ([`call`](crate::call)), pipelines and transactions
//! ([`pipeline`](crate::pipeline)) and `load_all` use it, and the sync and
//! async drivers only move bytes.
//!
//! The rules:
//! * **body and command**: a script with a `#!lua` shebang goes out with
//!   its legacy body (shebang commented out) on Redis 6.2; a `no-writes`
//!   script as `EVALSHA_RO` on Redis 7+ and Valkey, `EVALSHA` elsewhere.
//!   Capabilities are asked once per node (`COMMAND INFO EVALSHA_RO`) and
//!   asked again on a sign the server changed (a `NOSCRIPT` on a 6.2, an
//!   unknown `EVALSHA_RO`, a refused shebang);
//! * **marks**: a script is marked loaded when `SCRIPT LOAD` answered its
//!   SHA-1 or an `EVALSHA` of it ran, unless a `flush_cache` started in
//!   between; a mark is a hint, and every path below is correct when it is
//!   stale;
//! * **a change of server voids the marks**: when what a node supports
//!   changes (the probe answers another version, a shebang is refused, an
//!   `EVALSHA_RO` is unknown), another server answers behind that node (a
//!   reconnect after a restart into another version, a failover to an
//!   older replica), and every mark of the one before is forgotten, so no
//!   pipeline trusts a body the previous server confirmed. A `NOSCRIPT`
//!   met by a call or a pipeline entry forgets the mark it relied on.
//!   The server's `run_id` is not read: a restart into the same version
//!   changes nothing a call depends on but the script cache, and the first
//!   `NOSCRIPT` of each script says so where it matters (a single call
//!   retries with `EVAL`, a pipeline entry is [`Error::NoScript`] and the
//!   next use loads), while asking `INFO server` would add a command to
//!   the round trips that must stay one (the first call, the retry) and a
//!   reply that ACLs and proxies often refuse;
//! * **cold states and large sources**: in `LoadMode::Lazy` a script over
//!   `LAZY_LOAD_MAX` bytes with no mark goes out as `EVALSHA` first (one
//!   caller of the state sends it, the others wait for its reply as for a
//!   load), and is loaded with the call after `NOSCRIPT`: a fresh process
//!   sends no large source to a server that has it (docs/connections.md,
//!   "Cold fleets"); a smaller script is loaded with its first call;
//! * **a survey on first contact**: in `LoadMode::Lazy`, the first call of
//!   an embedded script with no mark, on a node its enum was not asked
//!   about, carries one `SCRIPT EXISTS` of every script of the enum in the
//!   same request ([`survey_cmd`]); what the node has is marked (a hint),
//!   what it lacks stays unmarked (another process may load it before it
//!   is called), and the call itself goes out by the rules above. Callers
//!   of the enum's other scripts wait for the answer as for a load; a
//!   refused survey is not sent again;
//! * **a reply is never dropped**: when a load and a call travel together,
//!   the call's value is returned whatever happened to the load;
//! * **a refused load** (`NOPERM`) switches the node to `EVALSHA` first;
//! * **`NOSCRIPT`** on a single call: loaded again with the call
//!   (`SCRIPT LOAD` + `EVALSHA` in one request: what `SCRIPT LOAD` holds,
//!   no server evicts), and after a second `NOSCRIPT` (or where `SCRIPT
//!   LOAD` is refused) retried as one `EVAL` (`EVAL_RO`) with the source,
//!   which cannot meet `NOSCRIPT` ([`load_by`]); in a pipeline it is
//!   a typed error for that entry (pipelines are never replayed); in a
//!   transaction it cannot happen by default, as every script is loaded
//!   inside the `MULTI`.

use redis::{Cmd, Value};

use crate::error::{Error, ScriptId, ServerReply};
use crate::function::FunctionMeta;
use crate::handle::{Body, Family, ScriptHandle};
use crate::state::{
    Caps, Decided, Epoch, Facts, LAZY_LOAD_MAX, LoadMode, LoadReport, Mark, NodeKey, StateInner,
    Survey, Ticket, Verdict,
};
use crate::trace;

/// A server reply, or why there is none.
pub(crate) enum Reply {
    /// A value (never `Value::ServerError`).
    Value(Value),
    /// An error reply from the server.
    Server(ServerReply),
    /// No reply: connection or protocol error.
    Client(redis::RedisError),
}

impl Reply {
    pub(crate) fn from_value(value: Value) -> Reply {
        match value {
            Value::ServerError(e) => Reply::Server(ServerReply::from_server_error(&e)),
            v => Reply::Value(v),
        }
    }

    pub(crate) fn from_result(result: redis::RedisResult<Value>) -> Reply {
        match result {
            Ok(v) => Reply::from_value(v),
            Err(e) => match ServerReply::from_redis_error(&e) {
                Some(s) => Reply::Server(s),
                None => Reply::Client(e),
            },
        }
    }
}

/// The body and command a script goes out with.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Target<'a> {
    pub(crate) body: Body<'a>,
    pub(crate) command: &'static str,
}

/// Whether the body or command of `handle` depends on the server version.
/// A function does not: `FCALL` and `FCALL_RO` are the same on every
/// server that has functions, and one that has none (Redis 6.2) answers
/// "unknown command" to the load and the call of the first request, which
/// then ran nothing ([`Error::FunctionsUnsupported`]).
pub(crate) fn needs_caps(handle: &ScriptHandle) -> bool {
    handle.function().is_none() && (handle.read_only() || handle.has_shebang())
}

/// The command a script goes out with on a server with `caps`; a
/// function's is `FCALL` (`FCALL_RO` for `no-writes`), which takes its
/// name where `EVALSHA` takes a SHA-1.
pub(crate) fn command_for(handle: &ScriptHandle, caps: Caps) -> &'static str {
    if handle.function().is_some() {
        return if handle.read_only() {
            "FCALL_RO"
        } else {
            "FCALL"
        };
    }
    if handle.read_only() && caps == Caps::Modern {
        "EVALSHA_RO"
    } else {
        "EVALSHA"
    }
}

/// The command that loads and runs a body in one step, for `command`
/// (`EVALSHA` -> `EVAL`, `EVALSHA_RO` -> `EVAL_RO`).
pub(crate) fn eval_command(command: &'static str) -> &'static str {
    if command == "EVALSHA_RO" {
        "EVAL_RO"
    } else {
        "EVAL"
    }
}

/// The body and command of `handle` on a server with `caps`.
pub(crate) fn target(handle: &ScriptHandle, caps: Caps) -> Target<'_> {
    Target {
        body: handle.body(caps == Caps::Legacy),
        command: command_for(handle, caps),
    }
}

/// How a decision for a single call is asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ask {
    /// A first attempt: follow the marks and the mode.
    First,
    /// After `NOSCRIPT`: wait for another task's load if one is under way
    /// (a herd meeting one flush reloads once), else load.
    AfterNoScript,
    /// After `NOSCRIPT` and a wait for another task's load: call if that
    /// load was confirmed, wait again if another load is under way, else
    /// load.
    AfterWait,
    /// Load, whatever the marks say (the atomic retry), coordinating with
    /// waiting tasks.
    MustLoad,
    /// After `NOSCRIPT` for this caller's own coordinated `EVALSHA` first
    /// (a large script with no mark): load; the "loading" entry the others
    /// wait on is this caller's.
    AfterOwnCall,
}

/// The decision for a single call: probe, call relying on a mark, call
/// `EVALSHA` first, wait for another caller's load, or load.
/// `coordinate` makes concurrent callers wait for one loader; without it
/// every caller that finds the script unconfirmed loads it.
///
/// `source_len` is the size of the body to load: in [`LoadMode::Lazy`], a
/// body over [`LAZY_LOAD_MAX`] bytes the state has no mark for is called
/// `EVALSHA` first too (a cold state against a server that already has it
/// sends 40 bytes of SHA-1, not the source), and loaded after `NOSCRIPT`.
pub(crate) fn decide(
    needs_caps: bool,
    facts: Facts,
    mark: Mark,
    ask: Ask,
    mode: LoadMode,
    coordinate: bool,
    source_len: usize,
) -> Verdict {
    if needs_caps && facts.caps == Caps::Unknown {
        return Verdict::Probe;
    }
    let call_first = mode == LoadMode::EvalshaFirst || facts.load_refused;
    // A large script with no mark: EVALSHA first, the other callers waiting
    // for that call. A script back by `EVAL` (a cluster's reload) is still
    // loaded for good by the next first attempt, large or not.
    let lazy = mode == LoadMode::Lazy;
    let large_cold = lazy && source_len > LAZY_LOAD_MAX;
    match (mark, ask) {
        (
            Mark::Loaded(epoch),
            Ask::First | Ask::AfterNoScript | Ask::AfterWait | Ask::AfterOwnCall,
        ) => Verdict::Call(epoch),
        // `EVAL`'s copy serves the callers that waited for that `EVAL`; a
        // first attempt loads the script for good (Redis 7.4+ and Valkey
        // 8+ evict `EVAL`'s copies), unless the node is called `EVALSHA`
        // first.
        (Mark::Evalled(epoch), Ask::AfterNoScript | Ask::AfterWait | Ask::AfterOwnCall) => {
            Verdict::Call(epoch)
        }
        // Another caller's load: wait for it, also after a wait (a script
        // back by EVAL is then being loaded for good by a first attempt);
        // the waits of one call are bounded (`call::MAX_WAITS`).
        (Mark::Loading, Ask::First | Ask::AfterNoScript | Ask::AfterWait) if coordinate => {
            Verdict::Wait
        }
        (_, Ask::First) if call_first => Verdict::CallFirst,
        // The first contact with the node for the script's family: ask
        // about all of its scripts with this call (which goes out as if
        // there were no survey: loaded with it when small, `EVALSHA` first
        // when large).
        (Mark::Unknown, Ask::First) if lazy && facts.survey == Survey::Due => Verdict::Survey {
            load: !large_cold,
            coordinate,
        },
        (Mark::Unknown, Ask::First) if coordinate && facts.survey == Survey::Pending => {
            Verdict::WaitSurvey
        }
        (Mark::Unknown, Ask::First) if large_cold && coordinate => Verdict::CallFirstLeading,
        (Mark::Unknown, Ask::First) if large_cold => Verdict::CallFirst,
        _ => Verdict::Load { coordinate },
    }
}

/// How a script is loaded when the verdict is to load it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LoadBy {
    /// `SCRIPT LOAD` and the call in one request: the server then holds
    /// the script as `SCRIPT LOAD`'s, which no server evicts.
    ScriptLoad,
    /// `EVAL` (`EVAL_RO`) with the source: loads and runs in one command,
    /// so it cannot meet `NOSCRIPT`; but newer servers (Redis 7.4+, Valkey
    /// 8+) keep `EVAL`'s copy only until many other scripts are `EVAL`ed,
    /// and Redis 8.2 keeps it evictable even after a later `SCRIPT LOAD`.
    Eval,
}

/// How a single call loads its script: with `SCRIPT LOAD` and the call in
/// one request, the first time and after a `NOSCRIPT` (a flush, a
/// restart, a failover); by `EVAL` when that request met `NOSCRIPT` too (a
/// flush between its two commands), so the call cannot meet it a third
/// time, and on a node that refuses `SCRIPT LOAD` (the `EVAL` is then the
/// only way in, and the refusal would cost a round trip each time).
///
/// On a Redis Cluster node the reload after `NOSCRIPT` stays one `EVAL`, a
/// single routed command: a `NOSCRIPT` there often comes from a slot being
/// migrated, and redis-rs 1.8's cluster connection, given a pipeline whose
/// call meets `ASK`, was seen to lose requests and then time out every
/// call (a 3+3 cluster under load, `tests/tests/cluster.rs`
/// `slot_migration`). `EVAL`'s copy may then be evicted on newer servers;
/// the next `NOSCRIPT` reloads it.
///
/// A function is loaded with `FUNCTION LOAD REPLACE` and the call in one
/// request (a library, unlike `EVAL`'s copy of a script, is never
/// evicted); there is no `EVAL` for functions, so its atomic retry
/// ([`LoadBy::Eval`]) is the load and the call inside one `MULTI`.
pub(crate) fn load_by(handle: &ScriptHandle, facts: Facts, ask: Ask, node: &NodeKey) -> LoadBy {
    if handle.function().is_some() {
        return if ask == Ask::MustLoad {
            LoadBy::Eval
        } else {
            LoadBy::ScriptLoad
        };
    }
    match ask {
        Ask::MustLoad => LoadBy::Eval,
        Ask::AfterNoScript | Ask::AfterWait | Ask::AfterOwnCall
            if facts.load_refused || !node.is_single() =>
        {
            LoadBy::Eval
        }
        Ask::First | Ask::AfterNoScript | Ask::AfterWait | Ask::AfterOwnCall => LoadBy::ScriptLoad,
    }
}

/// How one script entry of a pipeline or transaction goes out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EntryVerdict {
    /// `EVAL` / `EVAL_RO` with the source: loads and runs in one command.
    Eval,
    /// `EVALSHA` / `EVALSHA_RO`, after a `SCRIPT LOAD` in the same request
    /// when `load`.
    Call { load: bool },
}

/// Where a pipeline entry is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Batch {
    /// A plain pipeline: never replayed, a `NOSCRIPT` is that entry's error.
    Pipeline,
    /// `MULTI` ... `EXEC`: every script loaded inside it (it cannot
    /// half-apply), unless the caller chose to trust the marks.
    Transaction { trust_marks: bool },
}

/// The decision for one script entry of a pipeline or transaction, from
/// what the state knows of the node and of the script (`mark`: its
/// confirmation, if any).
pub(crate) fn decide_entry(
    facts: Facts,
    mark: Option<Epoch>,
    batch: Batch,
    mode: LoadMode,
) -> EntryVerdict {
    match (facts.load_refused, batch) {
        // No load can go inside the MULTI: EVAL loads and runs in one
        // command, so the transaction cannot half-apply.
        (true, Batch::Transaction { .. }) => EntryVerdict::Eval,
        // The server refuses SCRIPT LOAD.
        (true, Batch::Pipeline) => EntryVerdict::Call { load: false },
        (false, Batch::Transaction { trust_marks: false }) => EntryVerdict::Call { load: true },
        _ => EntryVerdict::Call {
            load: mode != LoadMode::EvalshaFirst && mark.is_none(),
        },
    }
}

/// Whether a pipeline's load of a function's library looks first at what
/// the server holds under the library's name (`FUNCTION LIST`), as a
/// single call's first load does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Look {
    /// No look: a script, or a function the state has a mark for (the
    /// load replaces whatever is there, as in every transaction).
    No,
    /// In the same request, ahead of the load: a copy with other code is
    /// replaced by the load, counted and traced.
    WithLoad,
    /// Alone, before the pipeline is sent (other code is refused): a copy
    /// with other code is [`Error::OtherLibrary`] and nothing is sent.
    Before,
}

/// How a pipeline entry's load of `handle`, with confirmation `mark` on
/// the node, looks at the server's copy; `refuse`: other code is refused
/// ([`ScriptState::refuse_other_libraries`](crate::ScriptState::refuse_other_libraries)).
pub(crate) fn look(handle: &ScriptHandle, mark: Option<Epoch>, refuse: bool) -> Look {
    match (handle.function(), mark, refuse) {
        (Some(_), None, false) => Look::WithLoad,
        (Some(_), None, true) => Look::Before,
        _ => Look::No,
    }
}

/// Whether a cluster call of `handle` is sent to its shard's replicas
/// first (`ReplicaOptional`: a replica when the connection reads from
/// replicas, else the primary): a `no-writes` function whose primary holds
/// this build's library (`primary_has_it`: the state's mark). A replica
/// gets a library only by replication and cannot load one (`FUNCTION
/// LOAD` is a write), so until the primary has it the call goes there
/// (and loads it with the call); a replica that still lacks it answers
/// "Function not found", and the call goes to the primary, which sends the
/// library again with it ([`Scope::read_replica`]).
#[cfg(feature = "cluster")]
pub(crate) fn reads_replicas(handle: &ScriptHandle, primary_has_it: bool) -> bool {
    handle.function().is_some() && handle.read_only() && primary_has_it
}

/// What the reply of a call sent to a shard's replicas says.
#[cfg(feature = "cluster")]
pub(crate) enum ReplicaRead {
    /// The function ran and answered.
    Value(Value),
    /// It did not run there ("Function not found": replication lag, a
    /// replica flushed apart, a new replica; or a condition of the node):
    /// send it to the primary, which loads the library if it lacks it.
    Primary,
    /// It failed and ran, or may have: the error.
    Failed(Error),
}

/// The part of a [`ScriptState`](crate::ScriptState) one node's replies
/// are recorded in.
#[derive(Clone, Copy)]
pub(crate) struct Scope<'a> {
    pub(crate) state: &'a StateInner,
    pub(crate) node: &'a NodeKey,
}

/// What the reply to a `SCRIPT LOAD` said.
pub(crate) enum Loaded {
    /// The server answered the expected SHA-1 (the confirmation, unless a
    /// flush voided it).
    Confirmed(Option<Epoch>),
    /// The server does not take `#!` shebangs (Redis 6.2): the node is
    /// now known as legacy, and the legacy body is to be loaded.
    ShebangRejected,
    /// The load failed; the error says why (`NOPERM`, `OOM`, a Lua error,
    /// another SHA-1).
    Failed(Error),
}

/// What the reply to an `EVALSHA` said.
pub(crate) enum Called {
    /// The script ran and answered.
    Value(Value),
    /// `NOSCRIPT`: it did not run.
    NoScript,
    /// `EVALSHA_RO` is unknown to this server (it changed under a
    /// reconnecting connection): it did not run; capabilities are to be
    /// asked again.
    UnknownCommand,
    /// Any other error, classified.
    Failed(Error),
}

impl<'s> Scope<'s> {
    /// The one node behind a non-cluster connection.
    pub(crate) fn single(state: &'s StateInner) -> Scope<'s> {
        Scope {
            state,
            node: &NodeKey::SINGLE,
        }
    }

    /// Decides how a single call of `handle` goes out now, and records the
    /// verdict (a load under way, for the others to wait for). `None`:
    /// ask what the node supports first.
    pub(crate) fn decide<'h>(
        &self,
        handle: &'h ScriptHandle,
        ask: Ask,
        coordinate: bool,
    ) -> Option<Decided<'h>> {
        let mode = self.state.mode;
        self.state.loaded.decide_with(
            self.node,
            |caps| handle.body(caps == Caps::Legacy),
            handle.family().map(crate::handle::Family::id),
            |facts, mark| {
                // A library is never called `FCALL` first for its size: its
                // first load looks at the server's library of that name (a
                // call first could run other code under it unnoticed).
                let source_len = match handle.function() {
                    Some(_) => 0,
                    None => handle.body(facts.caps == Caps::Legacy).source.len(),
                };
                decide(
                    needs_caps(handle),
                    facts,
                    mark,
                    ask,
                    mode,
                    coordinate,
                    source_len,
                )
            },
        )
    }

    /// Reads the reply of a survey ([`survey_cmd`]) sent under `ticket`
    /// with a call of `handle`, and records what it says of every script
    /// but `handle`'s own (its call says that). A refused survey (an ACL
    /// without `SCRIPT EXISTS`) records nothing: the node is not asked
    /// again, and its scripts go by the rules of a state with no survey.
    pub(crate) fn read_survey(
        &self,
        reply: Reply,
        handle: &ScriptHandle,
        survey: &SurveyPlan,
        own: &str,
    ) {
        let Reply::Value(Value::Array(items)) = reply else {
            return;
        };
        if items.len() != survey.shas.len() {
            return;
        }
        let answers = survey
            .shas
            .iter()
            .zip(&items)
            .filter(|(sha1, _)| **sha1 != own)
            .map(|(sha1, v)| (*sha1, matches!(v, Value::Int(1) | Value::Boolean(true))));
        let (present, absent) = self
            .state
            .loaded
            .record_survey(self.node, answers, survey.ticket);
        self.state.counters.surveyed();
        trace::surveyed(handle, self.node, present, absent);
    }

    /// Reads the reply of `SCRIPT LOAD <body>` for `handle`, sent under
    /// `ticket`, and records what it says.
    pub(crate) fn read_load(
        &self,
        reply: Reply,
        handle: &ScriptHandle,
        sha1: &str,
        ticket: Ticket,
    ) -> Loaded {
        let script = || handle.id_for(sha1);
        let loaded = &self.state.loaded;
        // `FUNCTION LOAD` answers the library's name, `SCRIPT LOAD` the
        // SHA-1.
        let expected = match handle.function() {
            Some(f) => f.library().server_name(),
            None => sha1,
        };
        match reply {
            Reply::Value(v) => match sha_of(&v) {
                Some(got) if got.eq_ignore_ascii_case(expected) => {
                    self.state.counters.loaded(1);
                    if loaded.load_refused(self.node)
                        // Loads are allowed again (the ACL changed).
                        && loaded.set_load_refused(self.node, false)
                    {
                        trace::evalsha_first(handle, self.node, false);
                    }
                    let epoch = loaded.mark_loaded(self.node, sha1, ticket);
                    trace::loaded(handle, sha1, self.node, epoch);
                    Loaded::Confirmed(epoch)
                }
                got => {
                    let server_sha1 = got.unwrap_or_else(|| format!("{v:?}"));
                    self.state.counters.sha_mismatch();
                    trace::sha_mismatch(handle, sha1, &server_sha1, self.node);
                    Loaded::Failed(Error::ShaMismatch {
                        script: script(),
                        server_sha1,
                    })
                }
            },
            Reply::Server(e) if handle.has_shebang() && is_shebang_rejection(&e) => {
                loaded.set_caps(self.node, Caps::Legacy);
                Loaded::ShebangRejected
            }
            Reply::Server(e) if handle.function().is_some() && is_unknown_command(&e) => {
                // Remembered: the next function calls on the node fail at
                // once, nothing sent (a sign of another server resets it).
                if loaded.set_no_functions(self.node, true) {
                    trace::no_functions(handle, self.node);
                }
                Loaded::Failed(Error::FunctionsUnsupported { script: script() })
            }
            Reply::Server(e) => {
                let error = e.into_load_error(&script());
                if matches!(error, Error::PermissionDenied { .. }) {
                    self.state.counters.load_refused();
                    trace::load_refused(handle, sha1, self.node);
                    if loaded.set_load_refused(self.node, true) {
                        trace::evalsha_first(handle, self.node, true);
                    }
                }
                Loaded::Failed(error)
            }
            Reply::Client(e) => Loaded::Failed(Error::redis(Some(&script()), e)),
        }
    }

    /// Reads the `FUNCTION LIST` sent with the load of `handle`'s library:
    /// a copy with other code, replaced by that load, is counted and
    /// traced.
    pub(crate) fn read_look(&self, listed: Reply, handle: &ScriptHandle) {
        if let Some(f) = handle.function()
            && let Inspected::Other(server_sha1) = inspected(f, &listed)
        {
            self.state.counters.library_replaced();
            trace::other_library(handle, self.node, &server_sha1, true);
        }
    }

    /// Reads the `FUNCTION LIST` sent alone before the load of `handle`'s
    /// library when other code is refused: a copy with other code is
    /// [`Error::OtherLibrary`] (nothing loaded, nothing run); none, this
    /// build's, or an answer that cannot be read lets the load go on
    /// (it replaces whatever is there, so this build's code runs).
    pub(crate) fn refuse_other(&self, listed: Reply, handle: &ScriptHandle) -> Result<(), Error> {
        let Some(f) = handle.function() else {
            return Ok(());
        };
        match inspected(f, &listed) {
            Inspected::Other(server_sha1) => {
                trace::other_library(handle, self.node, &server_sha1, false);
                Err(Error::OtherLibrary {
                    script: handle.id(),
                    library: f.library().server_name().to_owned(),
                    server_sha1,
                })
            }
            Inspected::Absent | Inspected::Same | Inspected::Unknown => Ok(()),
        }
    }

    /// Reads the reply of a call of `handle` sent to the replicas of this
    /// scope's primary ([`reads_replicas`]), which the state marked
    /// (`epoch`) as holding the library. "Function not found" there: the
    /// call goes to the primary (counted in `Stats::replica_fallbacks`;
    /// it did not run, so nothing runs twice), and the primary's mark is
    /// forgotten, so that call sends the library again (one caller of the
    /// state does, the others wait for it, as for any load): loaded again
    /// at the primary, it is replicated to a replica that lost it (a
    /// replica cannot be sent a load). A replica that only lagged gets the
    /// same code again, which changes nothing.
    #[cfg(feature = "cluster")]
    pub(crate) fn read_replica(
        &self,
        reply: Reply,
        handle: &ScriptHandle,
        command: &'static str,
        epoch: Epoch,
    ) -> ReplicaRead {
        self.state.counters.called(1);
        match reply {
            Reply::Value(v) => ReplicaRead::Value(v),
            Reply::Server(e) if is_function_not_found(&e) => {
                self.state.counters.replica_fallback();
                trace::replica_fallback(handle, self.node);
                let _ = self.lost(handle.sha1(), Some(epoch));
                ReplicaRead::Primary
            }
            reply => match self.read_call(reply, handle, handle.sha1(), command) {
                Called::Value(v) => ReplicaRead::Value(v),
                Called::Failed(e) if e.ran() != crate::Ran::No => ReplicaRead::Failed(e),
                // Did not run (a condition of the replica, a redirect):
                // the primary's path and its retries take it from here.
                Called::Failed(_) | Called::NoScript | Called::UnknownCommand => {
                    ReplicaRead::Primary
                }
            },
        }
    }

    /// Reads the reply of a call of `handle` (body `sha1`, `command`).
    pub(crate) fn read_call(
        &self,
        reply: Reply,
        handle: &ScriptHandle,
        sha1: &str,
        command: &'static str,
    ) -> Called {
        match reply {
            Reply::Value(v) => Called::Value(v),
            Reply::Server(e) if handle.function().is_some() && is_unknown_command(&e) => {
                if self.state.loaded.set_no_functions(self.node, true) {
                    trace::no_functions(handle, self.node);
                }
                Called::Failed(Error::FunctionsUnsupported {
                    script: handle.id(),
                })
            }
            Reply::Server(e) if e.is("NOSCRIPT") => {
                // The server lost its scripts (a restart, perhaps into
                // another version): whether it has functions is asked
                // again by the next function call.
                self.state.loaded.set_no_functions(self.node, false);
                Called::NoScript
            }
            // A function's `NOSCRIPT`: the library is gone (`FUNCTION
            // FLUSH`, a restart without persistence, a new node).
            Reply::Server(e) if handle.function().is_some() && is_function_not_found(&e) => {
                Called::NoScript
            }
            Reply::Server(e) if command.ends_with("_RO") && is_unknown_command(&e) => {
                self.state.loaded.set_caps(self.node, Caps::Unknown);
                Called::UnknownCommand
            }
            Reply::Server(e) => Called::Failed(
                e.into_call_error(&handle.id_for(sha1), command)
                    .located(|line| handle.locate(line)),
            ),
            Reply::Client(e) => Called::Failed(Error::redis(Some(&handle.id_for(sha1)), e)),
        }
    }

    /// Reads the reply of `EVAL <body>` (`EVAL_RO`): like a call, and a
    /// shebang refused by a legacy server means "decide again".
    pub(crate) fn read_eval(
        &self,
        reply: Reply,
        handle: &ScriptHandle,
        sha1: &str,
        command: &'static str,
    ) -> Called {
        match reply {
            Reply::Server(e) if handle.has_shebang() && is_shebang_rejection(&e) => {
                self.state.loaded.set_caps(self.node, Caps::Legacy);
                Called::UnknownCommand
            }
            // A source the server does not compile (registered without
            // the `checker` feature): refused before it ran, as by
            // `SCRIPT LOAD`.
            Reply::Server(e) if e.is_compile_error() => {
                Called::Failed(e.into_load_error(&handle.id_for(sha1)))
            }
            reply => self.read_call(reply, handle, sha1, command),
        }
    }

    /// Records that an `EVAL` of `sha1` ran on the node: the server has it,
    /// as a copy newer servers may evict, so the next first call loads it
    /// with `SCRIPT LOAD`.
    pub(crate) fn evalled(&self, sha1: &str, ticket: Ticket) -> Option<Epoch> {
        self.state.loaded.mark_evalled(self.node, sha1, ticket)
    }

    /// Records that `sha1` ran on the node, so the server has it (a call
    /// that succeeded although its load failed or was not sent).
    pub(crate) fn ran(&self, sha1: &str, ticket: Ticket) -> Option<Epoch> {
        self.state.loaded.mark_loaded(self.node, sha1, ticket)
    }

    /// A cluster call's load + call pipeline escaped redis-rs's redirect
    /// handling: its load ran on the node the retry will reach (a
    /// migration target answers the one `ASKING`-covered command), so the
    /// retry calls first and redis-rs's own `ASKING` covers the
    /// `EVALSHA`. A wrong guess costs a `NOSCRIPT` and a load.
    #[cfg(feature = "cluster")]
    pub(crate) fn escaped_load_ran(&self, handle: &ScriptHandle) {
        let caps = self.state.loaded.caps(self.node);
        let sha1 = target(handle, caps).body.sha1;
        let (_, ticket) = self
            .state
            .loaded
            .loaded_epochs(self.node, std::iter::empty());
        let _ = self.state.loaded.mark_loaded(self.node, sha1, ticket);
    }

    /// A `NOSCRIPT` met by a call that relied on confirmation `epoch`:
    /// forgets the mark (unless newer). (The capabilities are checked by
    /// the reload that follows, in the same round trip.) Returns whether
    /// the mark was cleared.
    pub(crate) fn lost(&self, sha1: &str, epoch: Option<Epoch>) -> bool {
        epoch.is_some_and(|epoch| self.state.loaded.mark_unloaded(self.node, sha1, epoch))
    }
}

/// The loads `load_all` sends to one node: every script of the list the
/// state has not confirmed there, with the body for the node's
/// capabilities.
pub(crate) struct Preload<'h> {
    picked: Vec<&'h ScriptHandle>,
    /// How many of the list the state has confirmed there.
    known: usize,
    caps: Caps,
    ticket: Ticket,
}

impl<'h> Preload<'h> {
    /// The loads of the scripts of `handles` not confirmed on `scope`'s
    /// node, and the pipeline that sends them (empty when there are none).
    pub(crate) fn plan(
        scope: Scope<'_>,
        handles: &'h [ScriptHandle],
        caps: Caps,
    ) -> (Preload<'h>, redis::Pipeline) {
        let (epochs, ticket) = scope.state.loaded.loaded_epochs(
            scope.node,
            handles.iter().map(|h| target(h, caps).body.sha1),
        );
        let picked: Vec<&ScriptHandle> = handles
            .iter()
            .zip(epochs)
            .filter_map(|(h, epoch)| epoch.is_none().then_some(h))
            .collect();
        let mut pipe = redis::Pipeline::with_capacity(picked.len());
        for handle in &picked {
            pipe.add_command(load_cmd_for(handle, target(handle, caps).body.source));
        }
        (
            Preload {
                known: handles.len() - picked.len(),
                picked,
                caps,
                ticket,
            },
            pipe,
        )
    }

    /// Reads the replies of the loads into `report`: what the node
    /// confirmed, what it refused and why. An error is a failure of the
    /// whole request (no reply to read).
    pub(crate) fn read(
        self,
        scope: Scope<'_>,
        replies: redis::RedisResult<Vec<Value>>,
        report: &mut LoadReport,
    ) -> Result<(), Error> {
        report.known += self.known;
        let replies = replies.map_err(|e| Error::redis(None, e))?;
        for (handle, value) in self.picked.iter().zip(replies) {
            let sha1 = target(handle, self.caps).body.sha1;
            let refused = match scope.read_load(Reply::from_value(value), handle, sha1, self.ticket)
            {
                Loaded::Confirmed(_) => {
                    report.loaded += 1;
                    continue;
                }
                Loaded::ShebangRejected => Error::LoadRejected {
                    script: handle.id_for(sha1),
                    code: "ERR".into(),
                    message: "the server does not take `#!` shebangs; load again".into(),
                },
                Loaded::Failed(e) => e,
            };
            report.failed.push((handle.name().to_owned(), refused));
        }
        Ok(())
    }

    /// Whether there is nothing to load.
    pub(crate) fn is_empty(&self) -> bool {
        self.picked.is_empty()
    }

    /// Counts what is known, when nothing is to be sent.
    pub(crate) fn skip(self, report: &mut LoadReport) {
        report.known += self.known;
    }
}

/// The outcome of a load and a call sent together, for one script call.
pub(crate) enum Pair {
    /// The call ran and answered: its value, whatever the load said.
    Value(Value),
    /// The call met `NOSCRIPT` although its load (if any) succeeded: a
    /// flush came in between.
    NoScript,
    /// The server is not what the state thought (shebangs, `EVALSHA_RO`):
    /// nothing ran; decide again.
    Redecide,
    /// It failed; the error says whether it ran.
    Failed(Error),
}

/// Combines what a load (if one was sent) and the call after it said.
/// The call's value always wins; a failed load explains a `NOSCRIPT`
/// better than `NOSCRIPT` itself.
pub(crate) fn combine(load: Option<Loaded>, call: Called) -> Pair {
    match (load, call) {
        (_, Called::Value(v)) => Pair::Value(v),
        (Some(Loaded::ShebangRejected), _) | (_, Called::UnknownCommand) => Pair::Redecide,
        // SCRIPT LOAD refused, the call did not run: a single call goes on
        // to EVAL, which the server may allow (its refusal is the error
        // then).
        (Some(Loaded::Failed(Error::PermissionDenied { .. })), Called::NoScript) => Pair::NoScript,
        (Some(Loaded::Failed(e)), Called::NoScript) => Pair::Failed(e),
        (_, Called::NoScript) => Pair::NoScript,
        (_, Called::Failed(e)) => Pair::Failed(e),
    }
}

/// Asks whether the server knows `EVALSHA_RO` (Redis 7+, Valkey), which
/// goes with `#!lua` shebang support.
pub(crate) fn probe_cmd() -> Cmd {
    let mut cmd = redis::cmd("COMMAND");
    cmd.arg("INFO").arg("EVALSHA_RO");
    cmd
}

/// Reads the reply of [`probe_cmd`]. A server condition (`LOADING`,
/// `BUSY`) is an error: guessing would pick the wrong body.
pub(crate) fn caps_from_probe(reply: Reply, script: Option<&ScriptId>) -> Result<Caps, Error> {
    match reply {
        // `[nil]`: the server does not know EVALSHA_RO.
        Reply::Value(Value::Array(items)) if matches!(items.first(), Some(Value::Nil)) => {
            Ok(Caps::Legacy)
        }
        Reply::Value(_) => Ok(Caps::Modern),
        Reply::Server(e) if crate::error::Condition::from_code(&e.code).is_some() => {
            Err(e.into_other_error(script, "COMMAND INFO refused"))
        }
        // COMMAND refused (ACL) or failed: assume a current server; a wrong
        // guess shows as a shebang rejection or an unknown EVALSHA_RO and is
        // corrected then.
        Reply::Server(_) => Ok(Caps::Modern),
        Reply::Client(e) => Err(Error::redis(script, e)),
    }
}

/// A survey to send: the SHA-1s it asks about, and the ticket its answer
/// is recorded under.
#[derive(Debug)]
pub(crate) struct SurveyPlan {
    pub(crate) shas: Vec<&'static str>,
    pub(crate) ticket: Ticket,
}

/// `SCRIPT EXISTS` of the body every script of `family` runs on a server
/// with `caps` (about 47 bytes a script): what a state's first contact
/// with a node asks, pipelined with the first call.
pub(crate) fn survey_cmd(family: Family, caps: Caps, ticket: Ticket) -> (Cmd, SurveyPlan) {
    let mut shas = Vec::new();
    family.for_each(|meta| {
        shas.push(match meta.legacy() {
            Some(legacy) if caps == Caps::Legacy => legacy.sha1,
            _ => meta.sha1(),
        });
    });
    let mut cmd = redis::cmd("SCRIPT");
    cmd.arg("EXISTS");
    for sha1 in &shas {
        cmd.arg(*sha1);
    }
    (cmd, SurveyPlan { shas, ticket })
}

/// `SCRIPT LOAD <source>`.
pub(crate) fn load_cmd(source: &str) -> Cmd {
    let mut cmd = redis::cmd("SCRIPT");
    cmd.arg("LOAD").arg(source);
    cmd
}

/// `SCRIPT EXISTS` of the body each of `handles` runs on a server with
/// `caps`.
pub(crate) fn exists_cmd(handles: &[ScriptHandle], caps: Caps) -> Cmd {
    let mut cmd = redis::cmd("SCRIPT");
    cmd.arg("EXISTS");
    for handle in handles {
        cmd.arg(target(handle, caps).body.sha1);
    }
    cmd
}

/// Reads the reply of [`exists_cmd`]: the names of the scripts the server
/// lacks.
pub(crate) fn missing(handles: &[ScriptHandle], reply: Reply) -> Result<Vec<String>, Error> {
    let present = match reply {
        Reply::Value(Value::Array(items)) if items.len() == handles.len() => items,
        Reply::Value(other) => {
            return Err(Error::client(
                None,
                crate::Ran::No,
                format!(
                    "SCRIPT EXISTS answered {other:?} for {} scripts",
                    handles.len()
                ),
            ));
        }
        Reply::Server(e) => return Err(e.into_other_error(None, "SCRIPT EXISTS refused")),
        Reply::Client(e) => return Err(Error::redis(None, e)),
    };
    let mut names: Vec<String> = handles
        .iter()
        .zip(present)
        .filter(|(_, v)| matches!(v, Value::Int(0) | Value::Boolean(false)))
        .map(|(h, _)| h.name().to_owned())
        .collect();
    names.sort();
    Ok(names)
}

/// `SCRIPT FLUSH`.
pub(crate) fn flush_cmd() -> Cmd {
    let mut cmd = redis::cmd("SCRIPT");
    cmd.arg("FLUSH");
    cmd
}

/// The SHA-1 in a `SCRIPT LOAD` reply.
fn sha_of(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        Value::VerbatimString { text, .. } => Some(text.clone()),
        _ => None,
    }
}

/// `FCALL` of a function no loaded library registers.
fn is_function_not_found(e: &ServerReply) -> bool {
    e.message.starts_with("Function not found")
}

/// The command that loads `handle`'s body: `SCRIPT LOAD <source>`, or for
/// a function `FUNCTION LOAD REPLACE <library code>` (this build's code
/// replaces a library of the same name, so the binary's own code runs).
pub(crate) fn load_cmd_for(handle: &ScriptHandle, source: &str) -> Cmd {
    match handle.function() {
        Some(_) => {
            let mut cmd = redis::cmd("FUNCTION");
            cmd.arg("LOAD").arg("REPLACE").arg(source);
            cmd
        }
        None => load_cmd(source),
    }
}

/// `FUNCTION LIST LIBRARYNAME <library> WITHCODE`: what the server holds
/// under the library's name, sent with (or, when other code is refused,
/// before) the load of a function's library.
pub(crate) fn inspect_cmd(f: &FunctionMeta) -> Cmd {
    let mut cmd = redis::cmd("FUNCTION");
    cmd.arg("LIST")
        .arg("LIBRARYNAME")
        .arg(f.library().server_name())
        .arg("WITHCODE");
    cmd
}

/// What a `FUNCTION LIST LIBRARYNAME <name> WITHCODE` reply says about the
/// library `f` belongs to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Inspected {
    /// The server has no library of that name, or this build's code.
    Absent,
    /// This build's code.
    Same,
    /// Other code, with its SHA-1.
    Other(String),
    /// The reply could not be read (refused, say): nothing is known.
    Unknown,
}

/// Reads a [`inspect_cmd`] reply (RESP2 flat arrays or RESP3 maps).
pub(crate) fn inspected(f: &FunctionMeta, reply: &Reply) -> Inspected {
    let Reply::Value(Value::Array(libraries)) = reply else {
        return Inspected::Unknown;
    };
    for library in libraries {
        let pairs: Vec<(&Value, &Value)> = match library {
            Value::Array(flat) => flat
                .chunks(2)
                .filter_map(|p| Some((p.first()?, p.get(1)?)))
                .collect(),
            Value::Map(map) => map.iter().map(|(k, v)| (k, v)).collect(),
            _ => continue,
        };
        let field = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| sha_of(k).as_deref() == Some(name))
                .and_then(|(_, v)| sha_of(v))
        };
        if field("library_name").as_deref() != Some(f.library().server_name()) {
            continue;
        }
        return match field("library_code") {
            Some(code) if code == f.library().code() => Inspected::Same,
            Some(code) => Inspected::Other(script_cache_check::sha1_hex(&code)),
            None => Inspected::Unknown,
        };
    }
    Inspected::Absent
}

fn is_unknown_command(e: &ServerReply) -> bool {
    e.is("ERR") && e.message.to_ascii_lowercase().contains("unknown command")
}

/// Redis before 7.0 reads `#!lua` as Lua and fails on the `#`.
fn is_shebang_rejection(e: &ServerReply) -> bool {
    e.message.contains("user_script:1:") && e.message.contains("near '#'")
}

/// Whether a cluster call that finished with `result` is sent again (while
/// attempts are left): only one that provably did not run and failed for a
/// cluster condition (a redirect, a failover, a node loading or down), a
/// `NOSCRIPT` (the slot moved to a node that lacks the script), or a
/// refused connection; `escaped`: a load + call pipeline failed as a whole
/// with a redirect redis-rs did not follow, so nothing of it ran.
#[cfg(feature = "cluster")]
pub(crate) fn cluster_retry(result: &Result<Value, Error>, escaped: bool) -> bool {
    use crate::error::Condition;
    match result {
        Ok(_) => false,
        Err(e) if escaped => matches!(e, Error::Redis { .. }),
        Err(e) if e.ran() != crate::Ran::No => false,
        Err(Error::Unavailable { condition, .. }) => matches!(
            condition,
            Condition::Moved
                | Condition::Ask
                | Condition::TryAgain
                | Condition::ClusterDown
                | Condition::MasterDown
                | Condition::ReadOnly
                | Condition::Loading
        ),
        Err(Error::TransactionAborted { message }) => ["ASK", "MOVED", "TRYAGAIN", "CLUSTERDOWN"]
            .iter()
            .any(|c| message.contains(c)),
        Err(Error::NoScript { .. }) => true,
        Err(Error::Redis { source, .. }) => source.is_connection_refusal(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handle::Body;
    #[cfg(feature = "cluster")]
    use crate::state::StateInner;
    use crate::state::{LoadDecision, LoadedSet};

    fn body(sha1: &'static str) -> impl FnOnce(Caps) -> Body<'static> {
        move |_| Body { source: "", sha1 }
    }

    #[cfg(feature = "cluster")]
    #[test]
    fn a_replica_without_the_library_sends_the_call_to_the_primary() {
        static LIBRARY: crate::function::LibraryMeta = crate::function::LibraryMeta::__new(
            "lib",
            "lib",
            "lib.lua",
            "#!lua name=lib\n",
            "0000000000000000000000000000000000000000",
        );
        static READ: FunctionMeta = FunctionMeta::__new(
            "r",
            "r",
            &LIBRARY,
            &["no-writes"],
            crate::script::Arity::Exact(0),
            crate::script::Arity::Exact(0),
            "",
        );
        static WRITE: FunctionMeta = FunctionMeta::__new(
            "w",
            "w",
            &LIBRARY,
            &[],
            crate::script::Arity::Exact(0),
            crate::script::Arity::Exact(0),
            "",
        );
        let (read, write) = (
            ScriptHandle::Function(&READ),
            ScriptHandle::Function(&WRITE),
        );
        // Replicas only for a no-writes function whose primary has it.
        assert!(reads_replicas(&read, true));
        assert!(!reads_replicas(&read, false));
        assert!(!reads_replicas(&write, true));

        let state = StateInner::default();
        let node = NodeKey::node("127.0.0.1:7000".into());
        let scope = Scope {
            state: &state,
            node: &node,
        };
        let (_, ticket) = state.loaded.loaded_epochs(&node, std::iter::empty());
        // One mark for the library's functions: its SHA-1.
        let lib = read.sha1();
        assert_eq!(lib, write.sha1());
        let epoch = state.loaded.mark_loaded(&node, lib, ticket).unwrap();
        let resp = |b: &[u8]| Reply::from_value(redis::parse_redis_value(b).unwrap());
        assert!(matches!(
            scope.read_replica(resp(b":1\r\n"), &read, "FCALL_RO", epoch),
            ReplicaRead::Value(Value::Int(1))
        ));
        assert!(state.loaded.is_loaded(&node, lib));
        // Not found on the replica: to the primary, whose mark is
        // forgotten (the call there loads the library again).
        assert!(matches!(
            scope.read_replica(
                resp(b"-ERR Function not found\r\n"),
                &read,
                "FCALL_RO",
                epoch
            ),
            ReplicaRead::Primary
        ));
        assert!(!state.loaded.is_loaded(&node, lib));
        // The function's own error ran: returned, not sent again.
        match scope.read_replica(resp(b"-NOPE no\r\n"), &read, "FCALL_RO", epoch) {
            ReplicaRead::Failed(e) => assert_eq!(e.ran(), crate::Ran::Yes),
            _ => panic!("expected the function's error"),
        }
        // A condition of the replica (it did not run): to the primary.
        assert!(matches!(
            scope.read_replica(resp(b"-LOADING loading\r\n"), &read, "FCALL_RO", epoch),
            ReplicaRead::Primary
        ));
        let stats = state.counters.snapshot();
        assert_eq!((stats.replica_fallbacks, stats.calls), (1, 4));
    }

    #[test]
    fn decisions_follow_marks_mode_and_refusals() {
        let set = LoadedSet::default();
        let node = NodeKey::SINGLE;
        let decide = |ask, mode| {
            set.decide_with(&node, body("s"), None, |facts, mark| {
                super::decide(false, facts, mark, ask, mode, false, 0)
            })
            .map(|d| d.decision)
        };
        assert!(matches!(
            decide(Ask::First, LoadMode::Lazy),
            Some(LoadDecision::Load(_))
        ));
        assert!(matches!(
            decide(Ask::First, LoadMode::EvalshaFirst),
            Some(LoadDecision::CallFirst)
        ));
        assert!(matches!(
            decide(Ask::AfterNoScript, LoadMode::EvalshaFirst),
            Some(LoadDecision::Load(_))
        ));
        set.set_load_refused(&node, true);
        assert!(matches!(
            decide(Ask::First, LoadMode::Lazy),
            Some(LoadDecision::CallFirst)
        ));
        let (_, t) = set.loaded_epochs(&node, std::iter::empty());
        let epoch = set.mark_loaded(&node, "s", t).unwrap();
        assert!(
            matches!(decide(Ask::First, LoadMode::Lazy), Some(LoadDecision::Loaded(e)) if e == epoch)
        );
        assert!(matches!(
            decide(Ask::MustLoad, LoadMode::Lazy),
            Some(LoadDecision::Load(_))
        ));
        // Capabilities needed and unknown: probe first.
        assert!(
            set.decide_with(&node, body("s"), None, |facts, mark| {
                super::decide(true, facts, mark, Ask::First, LoadMode::Lazy, false, 0)
            })
            .is_none()
        );
    }

    #[test]
    fn a_large_source_is_sent_only_after_noscript_in_lazy_mode() {
        let facts = Facts {
            caps: Caps::Modern,
            load_refused: false,
            survey: Survey::Done,
            no_functions: false,
        };
        let lazy = LoadMode::Lazy;
        let large = LAZY_LOAD_MAX + 1;
        let verdict = |mark, ask, len| super::decide(false, facts, mark, ask, lazy, true, len);
        // Small: loaded with the first call (one round trip).
        assert_eq!(
            verdict(Mark::Unknown, Ask::First, LAZY_LOAD_MAX),
            Verdict::Load { coordinate: true }
        );
        // Large and unconfirmed: EVALSHA first, loaded after NOSCRIPT.
        assert_eq!(
            verdict(Mark::Unknown, Ask::First, large),
            Verdict::CallFirstLeading
        );
        assert_eq!(
            super::decide(false, facts, Mark::Unknown, Ask::First, lazy, false, large),
            Verdict::CallFirst
        );
        // The leader's own NOSCRIPT: it loads (the loading entry is its own).
        assert_eq!(
            verdict(Mark::Loading, Ask::AfterOwnCall, large),
            Verdict::Load { coordinate: true }
        );
        assert_eq!(
            verdict(Mark::Unknown, Ask::AfterNoScript, large),
            Verdict::Load { coordinate: true }
        );
        assert_eq!(verdict(Mark::Loading, Ask::First, large), Verdict::Wait);
        // EVAL's copy (evictable) is loaded for good by a first attempt.
        let epoch = {
            let set = LoadedSet::default();
            let (_, t) = set.loaded_epochs(&NodeKey::SINGLE, std::iter::empty());
            set.mark_evalled(&NodeKey::SINGLE, "s", t).unwrap()
        };
        assert_eq!(
            verdict(Mark::Evalled(epoch), Ask::First, large),
            Verdict::Load { coordinate: true }
        );
        assert_eq!(
            verdict(Mark::Unknown, Ask::MustLoad, large),
            Verdict::Load { coordinate: true }
        );
    }

    #[test]
    fn a_first_call_surveys_its_family_once_per_node() {
        let facts = |survey| Facts {
            caps: Caps::Modern,
            load_refused: false,
            survey,
            no_functions: false,
        };
        let lazy = LoadMode::Lazy;
        let large = LAZY_LOAD_MAX + 1;
        let first = |survey, mark, len| {
            super::decide(false, facts(survey), mark, Ask::First, lazy, true, len)
        };
        // Not surveyed: the first call asks, with its load when small.
        assert_eq!(
            first(Survey::Due, Mark::Unknown, 10),
            Verdict::Survey {
                load: true,
                coordinate: true
            }
        );
        assert_eq!(
            first(Survey::Due, Mark::Unknown, large),
            Verdict::Survey {
                load: false,
                coordinate: true
            }
        );
        // Another caller is asking: wait for its answer.
        assert_eq!(
            first(Survey::Pending, Mark::Unknown, large),
            Verdict::WaitSurvey
        );
        // Answered: a script it had is marked (called); one it lacked is
        // unmarked, and goes by the size rule (the answer may be stale).
        assert_eq!(
            first(Survey::Done, Mark::Unknown, large),
            Verdict::CallFirstLeading
        );
        assert_eq!(
            first(Survey::Done, Mark::Unknown, 10),
            Verdict::Load { coordinate: true }
        );
        // A mark decides before any survey; EVALSHA-first mode and a node
        // that refuses loads never survey.
        assert_eq!(first(Survey::Due, Mark::Loading, 10), Verdict::Wait);
        assert_eq!(
            super::decide(
                false,
                facts(Survey::Due),
                Mark::Unknown,
                Ask::First,
                LoadMode::EvalshaFirst,
                true,
                10
            ),
            Verdict::CallFirst
        );
        // After NOSCRIPT: load (a warm state's path is unchanged).
        assert_eq!(
            super::decide(
                false,
                facts(Survey::Due),
                Mark::Unknown,
                Ask::AfterNoScript,
                lazy,
                true,
                large
            ),
            Verdict::Load { coordinate: true }
        );
    }

    #[test]
    fn a_script_back_by_eval_is_loaded_for_good_by_the_next_first_call() {
        let set = LoadedSet::default();
        let node = NodeKey::SINGLE;
        let decide = |ask, mode| {
            set.decide_with(&node, body("s"), None, |facts, mark| {
                super::decide(false, facts, mark, ask, mode, true, 0)
            })
            .map(|d| d.decision)
        };
        let (_, t) = set.loaded_epochs(&node, std::iter::empty());
        let epoch = set.mark_evalled(&node, "s", t).unwrap();
        // Callers that waited for the EVAL call it...
        assert!(
            matches!(decide(Ask::AfterWait, LoadMode::Lazy), Some(LoadDecision::Loaded(e)) if e == epoch)
        );
        // ...a first attempt loads it with SCRIPT LOAD (EVAL's copy may be
        // evicted), unless the node is called EVALSHA first.
        assert!(matches!(
            decide(Ask::First, LoadMode::EvalshaFirst),
            Some(LoadDecision::CallFirst)
        ));
        assert!(matches!(
            decide(Ask::First, LoadMode::Lazy),
            Some(LoadDecision::Load(_))
        ));
        // A pipeline does not count it as confirmed either.
        assert_eq!(set.loaded_epochs(&node, ["s"].into_iter()).0, vec![None]);
    }

    #[test]
    fn pipeline_entries_load_unless_marked_and_transactions_always() {
        let facts = |load_refused| Facts {
            caps: Caps::Modern,
            load_refused,
            survey: Survey::Done,
            no_functions: false,
        };
        let (set, node) = (LoadedSet::default(), NodeKey::SINGLE);
        let (_, t) = set.loaded_epochs(&node, std::iter::empty());
        let mark = set.mark_loaded(&node, "s", t);
        let pipeline = Batch::Pipeline;
        let txn = Batch::Transaction { trust_marks: false };
        let trusting = Batch::Transaction { trust_marks: true };
        let lazy = LoadMode::Lazy;
        let call = |load| EntryVerdict::Call { load };
        assert_eq!(decide_entry(facts(false), None, pipeline, lazy), call(true));
        assert_eq!(
            decide_entry(facts(false), mark, pipeline, lazy),
            call(false)
        );
        let first = LoadMode::EvalshaFirst;
        assert_eq!(
            decide_entry(facts(false), None, pipeline, first),
            call(false)
        );
        // A transaction loads inside its MULTI, marks or not...
        assert_eq!(decide_entry(facts(false), mark, txn, lazy), call(true));
        assert_eq!(
            decide_entry(facts(false), mark, trusting, lazy),
            call(false)
        );
        // ...and where SCRIPT LOAD is refused, EVAL (no load to refuse).
        assert_eq!(
            decide_entry(facts(true), None, txn, lazy),
            EntryVerdict::Eval
        );
        assert_eq!(decide_entry(facts(true), None, pipeline, lazy), call(false));
    }
}
