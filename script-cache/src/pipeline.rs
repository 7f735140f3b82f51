//! Pipelines and transactions that mix script calls with other commands.

use std::collections::HashSet;

use redis::{Cmd, FromRedisValue, ToRedisArgs, Value};

use crate::args::CallArgs;
use crate::cache::ScriptCache;
use crate::call::{Reply, confirm_load, load_cmd};
use crate::error::{Error, Result, ServerReply};
use crate::invocation::Invocation;
use crate::state::{Caps, Epoch, NodeKey};

/// A pipeline of ordinary commands and script calls; see [`pipe`].
///
/// Sent in one round trip. Every script of the pipeline that the connection
/// has not confirmed gets a `SCRIPT LOAD` in front of it in the same round
/// trip, and the replies of those loads are stripped: the caller's tuple
/// only sees its own commands.
///
/// **Never replayed.** The other commands of a pipeline have run by the time
/// a `NOSCRIPT` comes back, so a script call that meets `NOSCRIPT` here is
/// not retried: it becomes [`Error::NoScript`] for that entry, and the
/// script is marked unloaded so the next use loads it.
///
/// **Transactions** ([`atomic`](Pipeline::atomic)): the loads go *inside*
/// the `MULTI`, ahead of the calls, so they run in the same atomic step as
/// the calls. Loads put before `MULTI` could be undone by a `SCRIPT FLUSH`
/// from another client between them and `EXEC`, and `EXEC` would then run
/// every other queued command with the script calls failing: a half-applied
/// transaction. With [`always_load`](Pipeline::always_load) even scripts the
/// connection has confirmed are loaded inside the `MULTI` (at the cost of
/// sending their source), so that no flush at any time can split the
/// transaction. [`loads_before_multi`](Pipeline::loads_before_multi) puts
/// the loads in front of the `MULTI` instead (same round trip), for
/// proxies that refuse `SCRIPT` inside a transaction.
#[derive(Clone, Debug, Default)]
pub struct Pipeline {
    entries: Vec<Entry>,
    ignored: HashSet<usize>,
    atomic: bool,
    always_load: bool,
    loads_before_multi: bool,
}

#[derive(Clone, Debug)]
enum Entry {
    Cmd(Cmd),
    Script(Invocation),
}

/// A new, empty [`Pipeline`].
pub fn pipe() -> Pipeline {
    Pipeline::default()
}

/// What to send for a pipeline, given what the connection knows: the loads
/// to put in front, and per entry the body SHA-1 and command of its script.
struct Plan<'p> {
    /// (script entry that caused the load, body SHA-1, body source)
    loads: Vec<(usize, &'p str, &'p str)>,
    /// Body SHA-1, command, and the load confirmation relied on (if the
    /// script was confirmed when the pipeline was built), per script entry.
    shas: Vec<Option<(&'p str, &'static str, Option<Epoch>)>>,
}

impl Plan<'_> {
    /// Commands sent, `MULTI`/`EXEC` excluded.
    fn len(&self) -> usize {
        self.loads.len() + self.shas.len()
    }
}

/// The replies of a pipeline's entries, loads stripped.
#[derive(Default)]
struct Replies {
    /// One per entry; an entry that failed holds `Nil` here.
    values: Vec<Value>,
    /// The failed entries, in order, with why.
    errors: Vec<(usize, Error)>,
    /// A failed load whose call did not report it.
    unreported: Option<Error>,
}

/// Where the commands of a pipeline are written: packed bytes for a sync
/// connection (no command is copied), a `redis::Pipeline` for an async one
/// (what its API takes).
trait Sink {
    fn command(&mut self, cmd: &Cmd);
    fn eval(&mut self, args: &CallArgs, command: &str, sha1: &str);
}

/// Packed bytes; `scratch` is reused for every script call.
struct Packed {
    bytes: Vec<u8>,
    scratch: Cmd,
}

impl Sink for Packed {
    fn command(&mut self, cmd: &Cmd) {
        cmd.write_packed_command(&mut self.bytes);
    }

    fn eval(&mut self, args: &CallArgs, command: &str, sha1: &str) {
        args.write_eval(&mut self.scratch, command, sha1);
        self.scratch.write_packed_command(&mut self.bytes);
    }
}

impl Sink for redis::Pipeline {
    fn command(&mut self, cmd: &Cmd) {
        self.add_command(cmd.clone());
    }

    fn eval(&mut self, args: &CallArgs, command: &str, sha1: &str) {
        self.add_command(args.eval_cmd(command, sha1));
    }
}

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

    /// In a transaction, loads every script it calls inside the `MULTI`,
    /// also those this connection has confirmed, so that even a
    /// `SCRIPT FLUSH` between two transactions cannot make one half-apply.
    /// Costs the scripts' source on every transaction.
    pub fn always_load(&mut self) -> &mut Self {
        self.always_load = true;
        self
    }

    /// In a transaction, sends the loads *before* the `MULTI` instead of
    /// inside it, still in the same round trip. For proxies or managed
    /// services that refuse `SCRIPT` inside `MULTI`. The cost: a
    /// `SCRIPT FLUSH` from another client that lands between the loads and
    /// `EXEC` makes the calls fail with `NOSCRIPT` while the other queued
    /// commands run; the default (inside) rules that out.
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
            Entry::Script(inv) => inv.handle.read_only() || inv.handle.has_shebang(),
            Entry::Cmd(_) => false,
        })
    }

    /// Decides what to send given what the connection knows.
    fn plan<C>(&self, con: &ScriptCache<C>, caps: Caps) -> Plan<'_> {
        let node = NodeKey::SINGLE;
        let force = self.atomic && self.always_load;
        let mut loads: Vec<(usize, &str, &str)> = Vec::new();
        let mut shas = Vec::with_capacity(self.entries.len());
        // One lock for the whole pipeline.
        let mut epochs = con
            .shared
            .loaded
            .loaded_epochs(
                &node,
                self.entries.iter().filter_map(|e| match e {
                    Entry::Script(inv) => Some(inv.handle.body(caps == Caps::Legacy).sha1),
                    Entry::Cmd(_) => None,
                }),
            )
            .into_iter();
        for (index, entry) in self.entries.iter().enumerate() {
            let Entry::Script(inv) = entry else {
                shas.push(None);
                continue;
            };
            let body = inv.handle.body(caps == Caps::Legacy);
            let epoch = epochs.next().flatten();
            let queued = loads.iter().any(|(_, sha, _)| *sha == body.sha1);
            if !queued && (force || epoch.is_none()) {
                loads.push((index, body.sha1, body.source));
            }
            let command = if inv.handle.read_only() && caps == Caps::Modern {
                "EVALSHA_RO"
            } else {
                "EVALSHA"
            };
            shas.push(Some((body.sha1, command, epoch)));
        }
        Plan { loads, shas }
    }

    /// About how many bytes the packed commands of `plan` take, so the
    /// buffer is allocated once in the common case.
    fn packed_size_hint(&self, plan: &Plan<'_>) -> usize {
        let loads: usize = plan.loads.iter().map(|(_, _, src)| src.len() + 48).sum();
        let entries: usize = self
            .entries
            .iter()
            .map(|e| match e {
                Entry::Script(inv) => 96 + inv.args.packed_size_hint(),
                Entry::Cmd(_) => 64,
            })
            .sum();
        loads + entries + 32
    }

    /// Writes the commands of `plan`: `MULTI` if atomic, the loads (or the
    /// loads, then `MULTI`), the entries, `EXEC`.
    fn emit(&self, plan: &Plan<'_>, sink: &mut impl Sink) {
        let outside = self.loads_before_multi;
        if outside {
            for (_, _, source) in &plan.loads {
                sink.command(&load_cmd(source));
            }
        }
        if self.atomic {
            sink.command(&redis::cmd("MULTI"));
        }
        if !outside {
            for (_, _, source) in &plan.loads {
                sink.command(&load_cmd(source));
            }
        }
        for (entry, sha) in self.entries.iter().zip(&plan.shas) {
            match (entry, sha) {
                (Entry::Script(inv), Some((sha1, command, _))) => {
                    sink.eval(&inv.args, command, sha1)
                }
                (Entry::Cmd(cmd), _) => sink.command(cmd),
                // A script entry always has its SHA-1 in the plan.
                (Entry::Script(_), None) => {}
            }
        }
        if self.atomic {
            sink.command(&redis::cmd("EXEC"));
        }
    }

    /// Reads the raw replies of a [`Plan`]: confirms the loads, strips
    /// their replies, classifies the error replies. `None` when a `WATCH`ed
    /// key aborted the transaction.
    fn read<C>(
        &self,
        con: &ScriptCache<C>,
        wire: &Plan<'_>,
        replies: redis::RedisResult<Vec<Value>>,
    ) -> Result<Option<Replies>> {
        let node = NodeKey::SINGLE;
        let shared = &con.shared;
        let mut replies = replies?;
        let n = wire.len();
        let n_loads = wire.loads.len();
        // Replies of loads sent before MULTI come first, outside the
        // transaction; they count even if the transaction is aborted.
        let outside = self.atomic && self.loads_before_multi;
        let mut values: Vec<Value> = if self.atomic {
            if replies.len() < 2 + if outside { n_loads } else { 0 } {
                return Err(unexpected(format!(
                    "{} replies to a transaction",
                    replies.len()
                )));
            }
            let exec = replies.pop();
            let pre: Vec<Value> = if outside {
                replies.drain(..n_loads).collect()
            } else {
                Vec::new()
            };
            // MULTI's OK, then a QUEUED (or a queueing error) per command.
            let refused = replies
                .get(1..)
                .unwrap_or_default()
                .iter()
                .find_map(|v| match v {
                    Value::ServerError(e) => {
                        Some(format!("{} {}", e.code(), e.details().unwrap_or_default()))
                    }
                    _ => None,
                });
            let in_multi = if outside { n - n_loads } else { n };
            match exec {
                Some(Value::Array(items)) if items.len() == in_multi => {
                    if outside {
                        let mut all = pre;
                        all.extend(items);
                        all
                    } else {
                        items
                    }
                }
                Some(Value::Nil) => {
                    self.confirm_loads(con, wire, pre);
                    return Ok(None);
                }
                Some(Value::ServerError(e)) => {
                    self.confirm_loads(con, wire, pre);
                    return Err(Error::TransactionAborted {
                        message: refused.unwrap_or_else(|| {
                            format!("{} {}", e.code(), e.details().unwrap_or_default())
                        }),
                    });
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
        let (load_errors, confirmed_now) =
            self.confirm_loads(con, wire, values.drain(..n_loads).collect());
        let mut load_errors = load_errors;
        shared
            .counters
            .called(wire.shas.iter().filter(|s| s.is_some()).count() as u64);
        // Only error replies need more than a look: the values stay where
        // they are, and each error is classified and taken out.
        let mut errors = Vec::new();
        for (i, value) in values.iter_mut().enumerate() {
            if !matches!(value, Value::ServerError(_)) {
                continue;
            }
            let Value::ServerError(e) = std::mem::take(value) else {
                continue;
            };
            let error = match (&self.entries[i], &wire.shas[i]) {
                (Entry::Script(inv), Some((sha1, command, epoch))) => {
                    let script = inv.handle.id_for(sha1);
                    let reply = ServerReply::from_server_error(&e);
                    if reply.is("NOSCRIPT") {
                        let relied_on = confirmed_now
                            .iter()
                            .find(|(s, _)| s == sha1)
                            .map(|(_, e)| *e)
                            .or(*epoch);
                        if let Some(epoch) = relied_on {
                            let _ = shared.loaded.mark_unloaded(&node, sha1, epoch);
                        }
                        // A failed load explains the NOSCRIPT better than
                        // NOSCRIPT itself.
                        let cause = wire
                            .loads
                            .iter()
                            .position(|(_, s, _)| s == sha1)
                            .and_then(|l| load_errors.get_mut(l))
                            .and_then(Option::take);
                        cause.unwrap_or(Error::NoScript {
                            script,
                            after_reload: false,
                        })
                    } else {
                        reply
                            .into_call_error(&script, command)
                            .located(|line| inv.handle.locate(line))
                    }
                }
                _ => Error::Command {
                    index: i,
                    source: e.into(),
                },
            };
            errors.push((i, error));
        }
        // A load that failed while no call reported it (its call was not
        // reached) is reported on its own.
        let unreported = load_errors.into_iter().flatten().next();
        Ok(Some(Replies {
            values,
            errors,
            unreported,
        }))
    }

    /// Reads the replies of the plan's loads (the first `values.len()` of
    /// them): marks each confirmed one loaded; returns why each failed, and
    /// the confirmations made.
    fn confirm_loads<'p, C>(
        &self,
        con: &ScriptCache<C>,
        wire: &Plan<'p>,
        values: Vec<Value>,
    ) -> (Vec<Option<Error>>, Vec<(&'p str, Epoch)>) {
        let node = NodeKey::SINGLE;
        let mut errors = Vec::with_capacity(values.len());
        let mut confirmed = Vec::with_capacity(values.len());
        for (&(entry, sha1, _), value) in wire.loads.iter().zip(values) {
            let script = self.script_id(entry, sha1);
            let error = confirm_load(Reply::from_value(value), &script).err();
            if error.is_none() {
                confirmed.push((sha1, con.shared.loaded.mark_loaded(&node, sha1)));
            }
            errors.push(error);
        }
        con.shared.counters.loaded(confirmed.len() as u64);
        (errors, confirmed)
    }

    fn script_id(&self, entry: usize, sha1: &str) -> crate::ScriptId {
        match self.entries.get(entry) {
            Some(Entry::Script(inv)) => inv.handle.id_for(sha1),
            _ => crate::ScriptId {
                name: "?".into(),
                sha1: sha1.into(),
            },
        }
    }

    /// Converts per-entry results into the caller's type: the first error
    /// wins, ignored entries are dropped.
    fn finish<T: FromRedisValue>(&self, replies: Option<Replies>) -> Result<T> {
        let Some(replies) = replies else {
            // A WATCHed key changed: like redis-rs, the transaction's reply
            // is nil.
            return redis::from_redis_value(Value::Nil)
                .map_err(|e| Error::from(redis::RedisError::from(e)));
        };
        if let Some((_, error)) = replies.errors.into_iter().next() {
            return Err(error);
        }
        if let Some(error) = replies.unreported {
            return Err(error);
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

    /// Every entry's outcome.
    fn each(replies: Option<Replies>) -> Result<Option<Vec<Result<Value>>>> {
        let Some(replies) = replies else {
            return Ok(None);
        };
        if let Some(error) = replies.unreported {
            return Err(error);
        }
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
    /// entries into `T` (a tuple, a `Vec`, ...). The first failing entry
    /// makes it an error; use [`query_each`](Pipeline::query_each) to see
    /// every entry's outcome.
    pub fn query<T: FromRedisValue, C: redis::ConnectionLike>(
        &self,
        con: &mut ScriptCache<C>,
    ) -> Result<T> {
        let results = self.send(con)?;
        self.finish(results)
    }

    /// Sends the pipeline and returns each entry's outcome (ignored
    /// entries included), or `None` when a `WATCH`ed key aborted the
    /// transaction.
    pub fn query_each<C: redis::ConnectionLike>(
        &self,
        con: &mut ScriptCache<C>,
    ) -> Result<Option<Vec<Result<Value>>>> {
        Self::each(self.send(con)?)
    }

    fn send<C: redis::ConnectionLike>(&self, con: &mut ScriptCache<C>) -> Result<Option<Replies>> {
        if self.entries.is_empty() {
            return Ok(Some(Replies::default()));
        }
        let caps = con.caps(self.needs_caps())?;
        let plan = self.plan(con, caps);
        let mut packed = Packed {
            bytes: Vec::with_capacity(self.packed_size_hint(&plan)),
            scratch: Cmd::with_capacity(8, 128),
        };
        self.emit(&plan, &mut packed);
        let count = plan.len() + if self.atomic { 2 } else { 0 };
        let replies = con.conn.req_packed_commands(&packed.bytes, 0, count);
        self.read(con, &plan, replies)
    }

    /// Async [`query`](Pipeline::query).
    #[cfg(feature = "tokio-comp")]
    pub async fn query_async<T: FromRedisValue, C: redis::aio::ConnectionLike + Send>(
        &self,
        con: &mut ScriptCache<C>,
    ) -> Result<T> {
        let results = self.send_async(con).await?;
        self.finish(results)
    }

    /// Async [`query_each`](Pipeline::query_each).
    #[cfg(feature = "tokio-comp")]
    pub async fn query_each_async<C: redis::aio::ConnectionLike + Send>(
        &self,
        con: &mut ScriptCache<C>,
    ) -> Result<Option<Vec<Result<Value>>>> {
        Self::each(self.send_async(con).await?)
    }

    #[cfg(feature = "tokio-comp")]
    async fn send_async<C: redis::aio::ConnectionLike + Send>(
        &self,
        con: &mut ScriptCache<C>,
    ) -> Result<Option<Replies>> {
        if self.entries.is_empty() {
            return Ok(Some(Replies::default()));
        }
        let caps = con.caps_async(self.needs_caps()).await?;
        let plan = self.plan(con, caps);
        let mut pipe = redis::Pipeline::with_capacity(plan.len() + 2);
        self.emit(&plan, &mut pipe);
        let replies = con.conn.req_packed_commands(&pipe, 0, pipe.len()).await;
        self.read(con, &plan, replies)
    }
}

fn unexpected(detail: String) -> Error {
    Error::from(redis::RedisError::from((
        redis::ErrorKind::UnexpectedReturnType,
        "script-cache: unexpected pipeline reply",
        detail,
    )))
}
