//! Pipelines and transactions that mix script calls with other commands.
//! What to load and how to read the replies comes from
//! [`policy`](crate::policy), as for single calls.

use std::collections::HashSet;

use redis::{Cmd, FromRedisValue, ToRedisArgs, Value};

use crate::cache::ScriptCache;
#[cfg(feature = "tokio-comp")]
use crate::connection::AsyncConnection;
use crate::connection::SyncConnection;
use crate::drive::{self, Batch, Link, Sink};
use crate::error::{EntryOutcome, Error, Result, ServerReply};
use crate::function::FunctionMeta;
use crate::handle::ScriptHandle;
use crate::invocation::Invocation;
use crate::policy::{self, Called, EntryVerdict, Loaded, Look, Reply, Scope};
use crate::span::Op;
use crate::state::{Caps, Epoch, Ticket};

/// A pipeline of ordinary commands and script calls; see [`pipe`].
///
/// Sent in one round trip. Every script of the pipeline that the state has
/// not confirmed gets a `SCRIPT LOAD` in front of it in the same round
/// trip, and the replies of those loads are stripped: the caller's tuple
/// only sees its own commands. A load the server refuses never hides the
/// reply of a call that ran.
///
/// **Never replayed.** The other commands of a pipeline have run by the time
/// a `NOSCRIPT` comes back, so a script call that meets `NOSCRIPT` here is
/// not retried: it becomes [`Error::NoScript`] for that entry (it did not
/// run), and the script is marked unloaded so the next use loads it.
/// [`query_each`](Pipeline::query_each) returns each entry's own outcome;
/// [`query`](Pipeline::query), which cannot return one value then, returns
/// [`Error::Pipeline`] with every entry's outcome, whose
/// [`ran`](Error::ran) is [`Ran::Yes`](crate::Ran::Yes) when any entry
/// ran (never "did not run" while the other entries ran) and whose
/// message names which entries ran and which did not. A pipeline of one
/// entry returns that entry's error.
///
/// Nor are the `NOSCRIPT` entries sent again by themselves (say as one
/// `EVAL` each in a second round trip), even on request: they would run
/// after the entries that followed them, so a script that reads what a
/// later entry writes, or writes what it reads, would see another state
/// than the pipeline's order promises. A caller who knows that ordering
/// does not matter does it in one step: each entry that is
/// [`Error::NoScript`] in [`query_each`](Pipeline::query_each)'s results
/// did not run, and the same invocation sent alone
/// ([`Invocation::invoke`]) cannot fail because of `NOSCRIPT`. Where the
/// entries must apply together, use [`atomic`](Pipeline::atomic).
///
/// **Transactions** ([`atomic`](Pipeline::atomic)) never half-apply: every
/// script the transaction calls is loaded *inside* its `MULTI`, ahead of
/// the calls, whatever the state's marks say, so `EXEC` cannot meet
/// `NOSCRIPT` even if a `SCRIPT FLUSH`, a restart or a failover came just
/// before. That costs each script's source on every transaction;
/// [`trust_marks`](Pipeline::trust_marks) and
/// [`loads_before_multi`](Pipeline::loads_before_multi) trade the guarantee
/// away, for documented reasons. On a server that refuses `SCRIPT LOAD`
/// (see [`LoadMode`](crate::LoadMode)) a transaction calls its scripts with
/// `EVAL` (the source inside the `MULTI`), which cannot meet `NOSCRIPT`
/// either. A transaction the server aborts as a whole (`EXECABORT`: nothing
/// ran) because of what the state assumed about it — a `SCRIPT LOAD` it
/// refuses, an `EVALSHA_RO` it does not know after a reconnect to an older
/// server — is planned again with what the refusal taught and sent once
/// more.
#[derive(Clone, Debug, Default)]
pub struct Pipeline {
    entries: Vec<Entry>,
    ignored: HashSet<usize>,
    atomic: bool,
    trust_marks: bool,
    loads_before_multi: bool,
}

#[derive(Clone, Debug)]
enum Entry {
    Cmd(Cmd),
    Script(Invocation),
}

/// Cluster pipelines: a child module, to reuse the planning and reading.
#[cfg(feature = "cluster")]
#[path = "cluster_pipeline.rs"]
mod cluster;

/// A new, empty [`Pipeline`].
pub fn pipe() -> Pipeline {
    Pipeline::default()
}

/// A `SCRIPT LOAD` planned in front of a pipeline's calls.
struct PlannedLoad<'p> {
    handle: &'p ScriptHandle,
    sha1: &'p str,
    source: &'p str,
    /// A function's first load on the node (no mark): what the server
    /// holds under its library's name is looked at, with the load
    /// ([`Look::WithLoad`]: a replaced copy is counted) or before the
    /// pipeline is sent ([`Look::Before`]: another copy is refused).
    look: Look,
}

/// A planned script call: the body and command it goes out with, the
/// confirmation it relies on, and the load planned for it (if any).
struct PlannedCall<'p> {
    sha1: &'p str,
    command: &'static str,
    epoch: Option<Epoch>,
    load: Option<usize>,
    /// Sent as `EVAL <source>` (`command` is then `EVAL` or `EVAL_RO`).
    eval: Option<&'p str>,
}

/// What to send for a pipeline, given what the state knows.
struct Plan<'p> {
    loads: Vec<PlannedLoad<'p>>,
    /// One per entry: `None` for a plain command.
    calls: Vec<Option<PlannedCall<'p>>>,
    ticket: Ticket,
}

impl Plan<'_> {
    /// Commands sent, `MULTI`/`EXEC` excluded.
    fn len(&self) -> usize {
        self.load_cmds() + self.calls.len()
    }

    /// Commands sent for the loads: each load, and the `FUNCTION LIST`
    /// in front of a function's first load.
    fn load_cmds(&self) -> usize {
        self.loads.len()
            + self
                .loads
                .iter()
                .filter(|l| l.look == Look::WithLoad)
                .count()
    }
}

/// What reading a pipeline's replies concluded.
enum Read {
    /// The replies (`None`: a `WATCH`ed key aborted the transaction).
    Done(Option<Replies>),
    /// The transaction was aborted as a whole because of something the
    /// state assumed and now knows better: plan and send it again.
    Replan(Error),
}

/// The replies of a pipeline's entries, loads stripped.
#[derive(Default)]
struct Replies {
    /// One per entry; an entry that failed holds `Nil` here.
    values: Vec<Value>,
    /// The failed entries, in order, with why.
    errors: Vec<(usize, Error)>,
}

/// A planned pipeline as the transports take it: they write its commands
/// into their own [`Sink`] (packed bytes on one server, a
/// `redis::Pipeline` for the async and cluster APIs).
struct Planned<'a> {
    pipeline: &'a Pipeline,
    plan: &'a Plan<'a>,
}

impl Batch for Planned<'_> {
    fn len(&self) -> usize {
        self.plan.len() + if self.pipeline.atomic { 2 } else { 0 }
    }

    fn size_hint(&self) -> usize {
        self.pipeline.packed_size_hint(self.plan)
    }

    fn write(&self, sink: &mut impl Sink) {
        self.pipeline.emit(self.plan, sink);
    }
}

/// How many times a pipeline is planned and sent at most: once more after
/// a transaction the server aborted as a whole for what the state assumed
/// (nothing ran), with what the abort taught.
const ATTEMPTS: usize = 2;

impl Pipeline {
    /// An empty pipeline.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes it a transaction (`MULTI` / `EXEC`).
    pub fn atomic(&mut self) -> &mut Self {
        self.atomic = true;
        self
    }

    /// In a transaction, loads inside the `MULTI` only the scripts the
    /// state has not confirmed, instead of every script (the default):
    /// saves sending the sources on every transaction, at a price: a
    /// `SCRIPT FLUSH`, restart or failover since the last confirmation
    /// makes `EXEC` meet `NOSCRIPT` for those scripts while the other queued
    /// commands run, a **half-applied transaction**. Only for servers whose
    /// script cache nothing flushes.
    pub fn trust_marks(&mut self) -> &mut Self {
        self.trust_marks = true;
        self
    }

    /// In a transaction, sends the loads *before* the `MULTI` instead of
    /// inside it, still in the same round trip. For proxies or managed
    /// services that refuse `SCRIPT` inside `MULTI`. The cost: a
    /// `SCRIPT FLUSH` from another client that lands between the loads and
    /// `EXEC` makes the calls fail with `NOSCRIPT` while the other queued
    /// commands run (a half-applied transaction); the default (inside)
    /// rules that out.
    pub fn loads_before_multi(&mut self) -> &mut Self {
        self.loads_before_multi = true;
        self
    }

    /// Adds a command.
    pub fn cmd(&mut self, name: &str) -> &mut Self {
        self.add_command(redis::cmd(name))
    }

    /// Adds a prepared command.
    pub fn add_command(&mut self, cmd: Cmd) -> &mut Self {
        self.entries.push(Entry::Cmd(cmd));
        self
    }

    /// Adds an argument to the last command added with
    /// [`cmd`](Pipeline::cmd) or [`add_command`](Pipeline::add_command);
    /// does nothing after a script call (give scripts their arguments with
    /// [`Invocation::arg`]).
    pub fn arg<A: ToRedisArgs>(&mut self, arg: A) -> &mut Self {
        if let Some(Entry::Cmd(cmd)) = self.entries.last_mut() {
            cmd.arg(arg);
        }
        self
    }

    /// Adds a script call: an [`Invocation`] or a typed call
    /// ([`TypedInvocation`](crate::TypedInvocation)).
    pub fn invoke(&mut self, invocation: impl Into<Invocation>) -> &mut Self {
        self.entries.push(Entry::Script(invocation.into()));
        self
    }

    /// Leaves the reply of the last entry out of the result.
    pub fn ignore(&mut self) -> &mut Self {
        if let Some(last) = self.entries.len().checked_sub(1) {
            self.ignored.insert(last);
        }
        self
    }

    /// How many entries (commands and script calls) it has.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it has no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn needs_caps(&self) -> bool {
        self.entries.iter().any(|e| match e {
            Entry::Script(inv) => policy::needs_caps(&inv.handle),
            Entry::Cmd(_) => false,
        })
    }

    /// Decides what to send given what the state knows.
    fn plan(&self, scope: Scope<'_>, caps: Caps) -> Plan<'_> {
        let (loaded, node) = (&scope.state.loaded, scope.node);
        let refuse = scope
            .state
            .refuse_other_libraries
            .load(std::sync::atomic::Ordering::Relaxed);
        // One lock for the whole pipeline.
        let (epochs, ticket) = loaded.loaded_epochs(
            node,
            self.entries.iter().filter_map(|e| match e {
                Entry::Script(inv) => Some(policy::target(&inv.handle, caps).body.sha1),
                Entry::Cmd(_) => None,
            }),
        );
        let facts = loaded.facts(node);
        let batch = if self.atomic {
            policy::Batch::Transaction {
                trust_marks: self.trust_marks,
            }
        } else {
            policy::Batch::Pipeline
        };
        let mut epochs = epochs.into_iter();
        let mut loads: Vec<PlannedLoad<'_>> = Vec::new();
        let mut calls = Vec::with_capacity(self.entries.len());
        for entry in &self.entries {
            let Entry::Script(inv) = entry else {
                calls.push(None);
                continue;
            };
            let target = policy::target(&inv.handle, caps);
            let epoch = epochs.next().flatten();
            let verdict = match policy::decide_entry(facts, epoch, batch, scope.state.mode) {
                // No `EVAL` for a function: its library is loaded in the
                // same request (inside the `MULTI` of a transaction).
                EntryVerdict::Eval if inv.handle.function().is_some() => {
                    EntryVerdict::Call { load: true }
                }
                verdict => verdict,
            };
            let wanted = match verdict {
                EntryVerdict::Eval => {
                    calls.push(Some(PlannedCall {
                        sha1: target.body.sha1,
                        command: policy::eval_command(target.command),
                        epoch,
                        load: None,
                        eval: Some(target.body.source),
                    }));
                    continue;
                }
                EntryVerdict::Call { load } => load,
            };
            let queued = loads.iter().position(|l| l.sha1 == target.body.sha1);
            let load = match queued {
                Some(at) => Some(at),
                None if wanted => {
                    loads.push(PlannedLoad {
                        handle: &inv.handle,
                        sha1: target.body.sha1,
                        source: target.body.source,
                        look: policy::look(&inv.handle, epoch, refuse),
                    });
                    Some(loads.len() - 1)
                }
                None => None,
            };
            calls.push(Some(PlannedCall {
                sha1: target.body.sha1,
                command: target.command,
                epoch,
                load,
                eval: None,
            }));
        }
        Plan {
            loads,
            calls,
            ticket,
        }
    }

    /// About how many bytes the packed commands of `plan` take, so the
    /// buffer is allocated once in the common case.
    fn packed_size_hint(&self, plan: &Plan<'_>) -> usize {
        let loads: usize = plan.loads.iter().map(|l| l.source.len() + 48).sum();
        let entries: usize = self
            .entries
            .iter()
            .map(|e| match e {
                Entry::Script(inv) => 80 + inv.args.packed_size_hint(),
                Entry::Cmd(_) => 64,
            })
            .sum();
        let evals: usize = plan
            .calls
            .iter()
            .flatten()
            .filter_map(|c| c.eval.map(str::len))
            .sum();
        loads + entries + evals + 32
    }

    /// Writes the commands of `plan`: `MULTI` if atomic, the loads (or the
    /// loads, then `MULTI`), the entries, `EXEC`.
    fn emit(&self, plan: &Plan<'_>, sink: &mut impl Sink) {
        let outside = self.loads_before_multi;
        if outside {
            Self::emit_loads(plan, sink);
        }
        if self.atomic {
            sink.command(&redis::cmd("MULTI"));
        }
        if !outside {
            Self::emit_loads(plan, sink);
        }
        for (entry, call) in self.entries.iter().zip(&plan.calls) {
            match (entry, call) {
                (Entry::Script(inv), Some(call)) => sink.eval(
                    &inv.args,
                    call.command,
                    call.eval.unwrap_or(inv.handle.called_as(call.sha1)),
                ),
                (Entry::Cmd(cmd), _) => sink.command(cmd),
                // A script entry always has its call in the plan.
                (Entry::Script(_), None) => {}
            }
        }
        if self.atomic {
            sink.command(&redis::cmd("EXEC"));
        }
    }

    /// Writes the loads of `plan`, each function's first load after its
    /// `FUNCTION LIST` when the plan looks with the load.
    fn emit_loads(plan: &Plan<'_>, sink: &mut impl Sink) {
        for load in &plan.loads {
            if let (Look::WithLoad, Some(f)) = (load.look, load.handle.function()) {
                sink.command(&policy::inspect_cmd(f));
            }
            sink.command(&policy::load_cmd_for(load.handle, load.source));
        }
    }

    /// Refuses the pipeline, before anything is sent, when it calls a
    /// function and the server has none (Redis 6.2: known from the probe,
    /// or from an earlier function call there):
    /// [`Error::FunctionsUnsupported`], nothing ran.
    fn check_functions(&self, scope: Scope<'_>, caps: Caps) -> Result<()> {
        let Some(inv) = self.entries.iter().find_map(|e| match e {
            Entry::Script(inv) if inv.handle.function().is_some() => Some(inv),
            _ => None,
        }) else {
            return Ok(());
        };
        if caps == Caps::Legacy || scope.state.loaded.no_functions(scope.node) {
            return Err(Error::FunctionsUnsupported {
                script: inv.handle.id(),
            });
        }
        Ok(())
    }

    /// Refuses the pipeline, before anything is sent, when a script entry
    /// has a key or argument count its metadata says is wrong
    /// ([`Error::WrongArity`], nothing ran).
    fn check_arity(&self) -> Result<()> {
        self.entries.iter().try_for_each(|entry| match entry {
            Entry::Script(inv) => inv.check_arity(),
            Entry::Cmd(_) => Ok(()),
        })
    }

    /// Reads the raw replies of a [`Plan`]: reads the loads, strips their
    /// replies, classifies the error replies. `None` when a `WATCH`ed key
    /// aborted the transaction.
    fn read(
        &self,
        scope: Scope<'_>,
        plan: &Plan<'_>,
        replies: redis::RedisResult<Vec<Value>>,
    ) -> Result<Read> {
        let mut replies = replies?;
        let n = plan.len();
        let n_loads = plan.load_cmds();
        let outside = self.atomic && self.loads_before_multi;
        let mut values: Vec<Value> = if self.atomic {
            let before = if outside { n_loads } else { 0 };
            if replies.len() != n + 2 {
                return Err(unexpected(format!(
                    "{} replies to a transaction of {n} commands",
                    replies.len()
                )));
            }
            let exec = replies.pop();
            let mut pre: Vec<Value> = replies.drain(..before).collect();
            // MULTI's OK, then a QUEUED (or a queueing error) per command.
            let mut queued = replies.into_iter();
            let multi = queued.next();
            let queued: Vec<Value> = queued.collect();
            if let Some(Value::ServerError(e)) = multi {
                // MULTI refused (BUSY, LOADING...): the commands after it
                // were not queued but run (or refused) one by one.
                self.read_loads(scope, plan, pre);
                let all_refused = queued.iter().all(|v| matches!(v, Value::ServerError(_)));
                let error =
                    ServerReply::from_server_error(&e).into_other_error(None, "MULTI refused");
                return if all_refused {
                    Err(error)
                } else {
                    Err(unexpected(format!(
                        "MULTI was refused ({error}) and some commands ran outside a transaction"
                    )))
                };
            }
            match exec {
                Some(Value::Array(items)) if items.len() == n - before => {
                    pre.extend(items);
                    pre
                }
                Some(Value::Nil) => {
                    self.read_loads(scope, plan, pre);
                    return Ok(Read::Done(None));
                }
                Some(Value::ServerError(e)) => {
                    self.read_loads(scope, plan, pre);
                    return self.aborted(scope, plan, &queued, &e);
                }
                other => return Err(unexpected(format!("EXEC answered {other:?}"))),
            }
        } else if replies.len() == n {
            replies
        } else {
            return Err(unexpected(format!(
                "expected {n} replies, got {}",
                replies.len()
            )));
        };

        // The loads' replies come first; what is left is one per entry.
        let mut loads = self.read_loads(scope, plan, values.drain(..n_loads).collect());
        scope
            .state
            .counters
            .called(plan.calls.iter().filter(|c| c.is_some()).count() as u64);
        // Only error replies need more than a look: the values stay where
        // they are, and each error is classified and taken out.
        let mut errors = Vec::new();
        for (i, value) in values.iter_mut().enumerate() {
            let (Entry::Script(inv), Some(call)) = (&self.entries[i], &plan.calls[i]) else {
                if matches!(value, Value::ServerError(_))
                    && let Value::ServerError(e) = std::mem::take(value)
                {
                    errors.push((
                        i,
                        Error::Command {
                            index: i,
                            source: e.into(),
                        },
                    ));
                }
                continue;
            };
            let load = call.load.and_then(|l| loads.get_mut(l));
            let confirmed = match load.as_deref() {
                Some(Some(Loaded::Confirmed(epoch))) => Some(*epoch),
                _ => None,
            };
            if !matches!(value, Value::ServerError(_)) {
                if call.eval.is_some() {
                    // EVAL's copy, evictable on newer servers.
                    let _ = scope.evalled(call.sha1, plan.ticket);
                } else if confirmed.is_none() && call.epoch.is_none() {
                    // Ran without a confirmed load: the server has it.
                    let _ = scope.ran(call.sha1, plan.ticket);
                }
                continue;
            }
            let reply = Reply::from_value(std::mem::take(value));
            let called = if call.eval.is_some() {
                scope.read_eval(reply, &inv.handle, call.sha1, call.command)
            } else {
                scope.read_call(reply, &inv.handle, call.sha1, call.command)
            };
            let error = match called {
                Called::NoScript => {
                    let relied_on = confirmed.flatten().or(call.epoch);
                    let _ = scope.lost(call.sha1, relied_on);
                    // A failed load explains the NOSCRIPT better than
                    // NOSCRIPT itself.
                    match load.and_then(Option::take) {
                        Some(Loaded::Failed(e)) => e,
                        _ => Error::NoScript {
                            script: inv.handle.id_for(call.sha1),
                            after_reload: false,
                        },
                    }
                }
                Called::UnknownCommand => Error::client(
                    Some(&inv.handle.id_for(call.sha1)),
                    crate::Ran::No,
                    "script-cache: the server does not know EVALSHA_RO (it changed under the connection); the entry did not run",
                ),
                Called::Failed(e) => e,
                Called::Value(_) => continue,
            };
            errors.push((i, error));
        }
        Ok(Read::Done(Some(Replies { values, errors })))
    }

    /// Reads the replies of the plan's loads (the first `values.len()` of
    /// them) and records what they say.
    fn read_loads(
        &self,
        scope: Scope<'_>,
        plan: &Plan<'_>,
        values: Vec<Value>,
    ) -> Vec<Option<Loaded>> {
        let mut values = values.into_iter();
        let mut out = Vec::with_capacity(plan.loads.len());
        for load in &plan.loads {
            if load.look == Look::WithLoad {
                let Some(listed) = values.next() else { break };
                scope.read_look(Reply::from_value(listed), load.handle);
            }
            let Some(value) = values.next() else { break };
            out.push(Some(scope.read_load(
                Reply::from_value(value),
                load.handle,
                load.sha1,
                plan.ticket,
            )));
        }
        out
    }

    /// Looks at what the server holds under the library name of each
    /// function whose first load on the node the plan carries, when other
    /// code there is refused: another copy is [`Error::OtherLibrary`]
    /// (nothing of the pipeline is sent, so nothing ran), as for a single
    /// call. One `FUNCTION LIST` per library, before the pipeline.
    fn vet(&self, scope: Scope<'_>, plan: &Plan<'_>, link: &mut impl drive::SendOne) -> Result<()> {
        for (f, handle) in to_vet(plan) {
            let reply = Reply::from_result(link.one(&policy::inspect_cmd(f)));
            scope.refuse_other(reply, handle)?;
        }
        Ok(())
    }

    /// [`vet`](Pipeline::vet), async.
    #[cfg(feature = "tokio-comp")]
    async fn vet_async(
        &self,
        scope: Scope<'_>,
        plan: &Plan<'_>,
        link: &mut impl drive::AsyncSendOne,
    ) -> Result<()> {
        for (f, handle) in to_vet(plan) {
            let reply = Reply::from_result(link.one(policy::inspect_cmd(f)).await);
            scope.refuse_other(reply, handle)?;
        }
        Ok(())
    }

    /// Why `EXEC` aborted a transaction (nothing ran). A load the server
    /// refuses (the node then calls scripts with `EVAL` in transactions),
    /// or an `EVALSHA_RO` / `EVAL_RO` it does not know (a reconnect to an
    /// older server: capabilities are asked again), is something the state
    /// assumed: [`Read::Replan`]. Anything else is the error:
    /// [`Error::PermissionDenied`] naming the script for a refused call,
    /// else [`Error::TransactionAborted`].
    fn aborted(
        &self,
        scope: Scope<'_>,
        plan: &Plan<'_>,
        queued: &[Value],
        exec: &redis::ServerError,
    ) -> Result<Read> {
        let inside = if self.loads_before_multi {
            0
        } else {
            plan.load_cmds()
        };
        let mut load_replies = queued[..inside.min(queued.len())].iter();
        for load in &plan.loads {
            if load.look == Look::WithLoad {
                let _ = load_replies.next();
            }
            let Some(value) = load_replies.next() else {
                break;
            };
            if let Value::ServerError(e) = value {
                let reply = Reply::Server(ServerReply::from_server_error(e));
                match scope.read_load(reply, load.handle, load.sha1, plan.ticket) {
                    Loaded::Failed(error @ Error::PermissionDenied { .. }) => {
                        return Ok(Read::Replan(error));
                    }
                    Loaded::Failed(error) => return Err(error),
                    Loaded::ShebangRejected | Loaded::Confirmed(_) => {}
                }
            }
        }
        let entries = queued.get(inside..).unwrap_or_default();
        for ((entry, call), value) in self.entries.iter().zip(&plan.calls).zip(entries) {
            let (Entry::Script(inv), Some(call), Value::ServerError(e)) = (entry, call, value)
            else {
                continue;
            };
            let reply = Reply::Server(ServerReply::from_server_error(e));
            match scope.read_call(reply, &inv.handle, call.sha1, call.command) {
                Called::UnknownCommand => {
                    return Ok(Read::Replan(Error::TransactionAborted {
                        message: format!("{} is unknown to this server", call.command),
                    }));
                }
                Called::Failed(error) if error.ran() == crate::Ran::No => {
                    return Err(error);
                }
                _ => {}
            }
        }
        let refused = queued.iter().find_map(|v| match v {
            Value::ServerError(e) => {
                Some(format!("{} {}", e.code(), e.details().unwrap_or_default()))
            }
            _ => None,
        });
        Err(Error::TransactionAborted {
            message: refused.unwrap_or_else(|| {
                format!("{} {}", exec.code(), exec.details().unwrap_or_default())
            }),
        })
    }

    /// Converts per-entry results into the caller's type, ignored entries
    /// dropped. A failed entry makes it an error: that entry's own error
    /// when it is the only entry, else [`Error::Pipeline`] with every
    /// entry's outcome (never one entry's "did not run" when others ran).
    fn finish<T: FromRedisValue>(&self, replies: Option<Replies>) -> Result<T> {
        let Some(replies) = replies else {
            // A WATCHed key changed: like redis-rs, the transaction's reply
            // is nil (`Option<T>` gives `None`); a type that cannot be nil
            // gets the error that says so.
            return redis::from_redis_value(Value::Nil).map_err(|_| Error::TransactionAborted {
                message: "a WATCHed key changed".into(),
            });
        };
        if !replies.errors.is_empty() {
            return Err(Self::failed(replies));
        }
        let values = if self.ignored.is_empty() {
            replies.values
        } else {
            replies
                .values
                .into_iter()
                .enumerate()
                .filter(|(i, _)| !self.ignored.contains(i))
                .map(|(_, v)| v)
                .collect()
        };
        redis::from_redis_value(Value::Array(values))
            .map_err(|e| Error::from(redis::RedisError::from(e)))
    }

    /// The error of a pipeline some of whose entries failed.
    fn failed(replies: Replies) -> Error {
        let Replies { values, errors } = replies;
        let mut errors = errors.into_iter().peekable();
        if values.len() <= 1
            && let Some((_, error)) = errors.next()
        {
            // Nothing else was sent: the entry's error is the pipeline's.
            return error;
        }
        let entries = (0..values.len())
            .map(|i| match errors.next_if(|(at, _)| *at == i) {
                Some((_, error)) => EntryOutcome::Failed(error),
                None => EntryOutcome::Ran,
            })
            .collect();
        Error::Pipeline { entries }
    }

    /// Every entry's outcome.
    fn each(replies: Option<Replies>) -> Result<Option<Vec<Result<Value>>>> {
        let Some(replies) = replies else {
            return Ok(None);
        };
        let mut errors = replies.errors.into_iter().peekable();
        let each = replies
            .values
            .into_iter()
            .enumerate()
            .map(|(i, value)| match errors.next_if(|(at, _)| *at == i) {
                Some((_, error)) => Err(error),
                None => Ok(value),
            })
            .collect();
        Ok(Some(each))
    }

    /// Sends the pipeline and converts the replies of the non-ignored
    /// entries into `T` (a tuple, a `Vec`, ...). A failing entry makes it
    /// an error: [`Error::Pipeline`], which lists every entry's outcome and
    /// says the pipeline ran when any entry ran (a pipeline of one entry
    /// returns that entry's error); use [`query_each`](Pipeline::query_each)
    /// for each entry's value or error.
    pub fn query<T: FromRedisValue>(
        &self,
        con: &mut ScriptCache<impl SyncConnection>,
    ) -> Result<T> {
        let results = self.send(con)?;
        self.finish(results)
    }

    /// Sends the pipeline and returns each entry's outcome (ignored
    /// entries included), or `None` when a `WATCH`ed key aborted the
    /// transaction.
    pub fn query_each(
        &self,
        con: &mut ScriptCache<impl SyncConnection>,
    ) -> Result<Option<Vec<Result<Value>>>> {
        Self::each(self.send(con)?)
    }

    fn send<C: SyncConnection>(&self, con: &mut ScriptCache<C>) -> Result<Option<Replies>> {
        if self.entries.is_empty() {
            return Ok(Some(Replies::default()));
        }
        self.check_arity()?;
        let state = &con.state;
        let mut op = Op::batch(&state.inner, self.atomic, self.entries.len());
        let _span = op.entered();
        let result = self.send_in(&mut con.conn, &mut con.local, state, &mut op);
        op.end(Self::first_error(&result));
        result
    }

    /// The error a batch's span and duration report: the pipeline's, or
    /// its first failed entry's.
    fn first_error(result: &Result<Option<Replies>>) -> Option<&Error> {
        match result {
            Err(e) => Some(e),
            Ok(Some(replies)) => replies.errors.first().map(|(_, e)| e),
            Ok(None) => None,
        }
    }

    fn send_in<C: SyncConnection>(
        &self,
        conn: &mut C,
        local: &mut crate::local::Local,
        state: &crate::ScriptState,
        op: &mut Op<'_>,
    ) -> Result<Option<Replies>> {
        #[cfg(feature = "cluster")]
        if let Some(conn) = conn.as_cluster() {
            return self.send_cluster(conn, state, op);
        }
        op.single(local.server.as_ref(), || conn.get_db());
        let mut link = drive::Single {
            conn,
            buf: &mut local.buf,
        };
        let result = self.run(Scope::single(&state.inner), &mut link);
        let size = local.buf.len();
        local.trim(size);
        result
    }

    /// The pipeline loop (sync), whatever the transport: plans the
    /// pipeline for `scope`'s node (after the capability probe, when a
    /// script needs it), sends it over `link` in one request and reads the
    /// replies; a transaction the server aborted as a whole for what the
    /// state assumed is planned and sent once more.
    fn run(&self, scope: Scope<'_>, link: &mut impl Link) -> Result<Option<Replies>> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let caps = drive::caps(&scope, self.needs_caps(), link)?;
            self.check_functions(scope, caps)?;
            let plan = self.plan(scope, caps);
            self.vet(scope, &plan, link)?;
            let replies = link.batch(&Planned {
                pipeline: self,
                plan: &plan,
            });
            match self.read(scope, &plan, replies)? {
                Read::Done(replies) => return Ok(replies),
                Read::Replan(error) if attempts >= ATTEMPTS => return Err(error),
                Read::Replan(_) => {}
            }
        }
    }

    /// Async [`query`](Pipeline::query).
    #[cfg(feature = "tokio-comp")]
    pub async fn query_async<T: FromRedisValue>(
        &self,
        con: &mut ScriptCache<impl AsyncConnection>,
    ) -> Result<T> {
        let results = self.send_async(con).await?;
        self.finish(results)
    }

    /// Async [`query_each`](Pipeline::query_each).
    #[cfg(feature = "tokio-comp")]
    pub async fn query_each_async(
        &self,
        con: &mut ScriptCache<impl AsyncConnection>,
    ) -> Result<Option<Vec<Result<Value>>>> {
        Self::each(self.send_async(con).await?)
    }

    #[cfg(feature = "tokio-comp")]
    async fn send_async<C: AsyncConnection>(
        &self,
        con: &mut ScriptCache<C>,
    ) -> Result<Option<Replies>> {
        if self.entries.is_empty() {
            return Ok(Some(Replies::default()));
        }
        self.check_arity()?;
        let state = &con.state;
        let mut op = Op::batch(&state.inner, self.atomic, self.entries.len());
        let span = op.span();
        let send = self.send_in_async(&mut con.conn, &mut con.local, state, &mut op);
        let result = crate::span::instrument(span, send).await;
        op.end(Self::first_error(&result));
        result
    }

    #[cfg(feature = "tokio-comp")]
    async fn send_in_async<C: AsyncConnection>(
        &self,
        conn: &mut C,
        local: &mut crate::local::Local,
        state: &crate::ScriptState,
        op: &mut Op<'_>,
    ) -> Result<Option<Replies>> {
        #[cfg(feature = "cluster-async")]
        if let Some(conn) = conn.as_cluster_async() {
            return self.send_cluster_async(conn, state, op).await;
        }
        op.single(local.server.as_ref(), || conn.get_db());
        let mut link = drive::SingleAsync {
            conn,
            cmd: &mut local.cmd,
        };
        self.run_async(Scope::single(&state.inner), &mut link).await
    }

    /// The pipeline loop (async): [`run`](Pipeline::run).
    #[cfg(feature = "tokio-comp")]
    async fn run_async(
        &self,
        scope: Scope<'_>,
        link: &mut impl drive::AsyncLink,
    ) -> Result<Option<Replies>> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let caps = drive::caps_async(&scope, self.needs_caps(), link).await?;
            self.check_functions(scope, caps)?;
            let plan = self.plan(scope, caps);
            self.vet_async(scope, &plan, link).await?;
            let replies = link
                .batch(&Planned {
                    pipeline: self,
                    plan: &plan,
                })
                .await;
            match self.read(scope, &plan, replies)? {
                Read::Done(replies) => return Ok(replies),
                Read::Replan(error) if attempts >= ATTEMPTS => return Err(error),
                Read::Replan(_) => {}
            }
        }
    }
}

/// Replies that do not match the pipeline sent: what ran cannot be read
/// from them.
fn unexpected(detail: String) -> Error {
    Error::client(
        None,
        crate::Ran::Unknown,
        format!("script-cache: unexpected pipeline reply: {detail}"),
    )
}

/// The functions whose library [`Pipeline::vet`] looks at: one per
/// library among the loads of `plan` that look before the batch.
fn to_vet<'p>(plan: &'p Plan<'_>) -> Vec<(&'static FunctionMeta, &'p ScriptHandle)> {
    let mut out: Vec<(&'static FunctionMeta, &'p ScriptHandle)> = Vec::new();
    for load in plan.loads.iter().filter(|l| l.look == Look::Before) {
        if let Some(f) = load.handle.function()
            && !out
                .iter()
                .any(|(g, _)| g.library().name() == f.library().name())
        {
            out.push((f, load.handle));
        }
    }
    out
}
