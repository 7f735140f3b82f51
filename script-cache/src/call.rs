//! One script call as a state machine with no I/O: it says what to send
//! next ([`Request`]) and reads what came back. The drivers in
//! [`drive`](crate::drive) only move bytes. The decisions come from
//! [`policy`](crate::policy):
//!
//! 1. first attempt: `EVALSHA` if the state has the script confirmed (or
//!    the node is called `EVALSHA` first); else `SCRIPT LOAD` + `EVALSHA`
//!    as one pipeline (one round trip), or, for an async task, waiting for
//!    another task that is loading it right now;
//! 2. after a `NOSCRIPT`: if another task is reloading it, wait for that
//!    and call again; otherwise `SCRIPT LOAD` + `EVALSHA` again, in one
//!    request (the server then holds the script as `SCRIPT LOAD`'s, which
//!    no server evicts; a server runs one client's pipeline back to back,
//!    so in practice nothing comes between the two);
//! 3. after a second `NOSCRIPT` (a flush between those two commands), or
//!    on a node that refuses `SCRIPT LOAD`: `EVAL` (`EVAL_RO`) with the
//!    source, one command that loads and runs, so it cannot meet
//!    `NOSCRIPT`. So a call never fails because of `NOSCRIPT`, and since
//!    a call that met `NOSCRIPT` did not run, no retry can run a script
//!    twice. (No `MULTI` / `EXEC`: a `WATCH` or `MULTI` the caller has open
//!    on the connection is left alone.) A load of a script whose body or
//!    command depends on the server version asks the capabilities again in
//!    the same round trip, so a reconnect to another server is noticed
//!    without a `NOSCRIPT`.

use redis::{Cmd, Pipeline, Value};

use crate::args::CallArgs;
use crate::error::{Error, Ran, ScriptId};
use crate::handle::ScriptHandle;
use crate::policy::{self, Called, Loaded, Pair, Reply, Scope, SurveyPlan};
use crate::policy::{Ask, LoadBy};
use crate::state::{Caps, Decided, Epoch, Hinted, Hints, LoadDecision, LoadGuard, Ticket, Waiter};
use crate::trace;

/// Upper bound of requests one call may send, whatever the server answers:
/// probe, load+call, call after a wait, atomic retry, and a re-probe or a
/// switch of body after a server change on the way.
const MAX_STEPS: u8 = 8;

/// How many times one call waits for other callers' loads (a sync wait
/// lasts at most a second each time) before it loads by itself.
const MAX_WAITS: u8 = 30;

/// What a driver must do next.
pub(crate) enum Request<'a> {
    /// Send `<command> <sha1> <numkeys> keys... args...` with the call's
    /// arguments (written by the driver into a buffer it reuses, see
    /// [`CallArgs::write_packed_eval`]), feed back its reply with
    /// [`Call::feed_one`].
    Eval {
        command: &'static str,
        sha1: &'a str,
    },
    /// Send one command, feed back its reply with [`Call::feed_one`].
    One(Cmd),
    /// Send these commands as one pipeline, feed back every reply with
    /// [`Call::feed_many`].
    Pipeline(Pipeline),
    /// Wait until another caller finished loading, then ask again.
    Wait(Waiter),
    /// Finished.
    Done(Result<Value, Error>),
}

/// A first attempt the connection's [`Hints`] decide without the state's
/// lock: `EVALSHA` only, relying on a confirmation. The steady case, kept
/// out of the state machine: a value ends the call, anything else is
/// handed to a [`Call`] ([`Call::resumed`]) as if it had sent the request.
pub(crate) struct Steady<'a> {
    /// The mark relied on: a script's SHA-1, a function's library's.
    pub(crate) sha1: &'a str,
    /// What the command names: the script's SHA-1, the function's name on
    /// the server.
    pub(crate) sent_as: &'a str,
    pub(crate) command: &'static str,
    epoch: Epoch,
}

impl<'a> Steady<'a> {
    /// The hinted first attempt of `handle`, if nothing changed in the
    /// state since this connection decided the script was confirmed.
    #[inline]
    pub(crate) fn hinted(
        handle: &'a ScriptHandle,
        scope: Scope<'_>,
        hints: &Hints,
    ) -> Option<Steady<'a>> {
        let sha1 = handle.sha1();
        let Hinted {
            epoch,
            command,
            legacy,
        } = hints.get(&scope.state.loaded, sha1)?;
        if handle.function().is_some() {
            // The hint is the library's, shared by its functions: the
            // command is this function's (`FCALL` or `FCALL_RO`).
            return Some(Steady {
                sha1,
                sent_as: handle.called_as(sha1),
                command: policy::command_for(handle, Caps::Modern),
                epoch,
            });
        }
        let sha1 = if legacy { handle.body(true).sha1 } else { sha1 };
        Some(Steady {
            sha1,
            sent_as: sha1,
            command,
            epoch,
        })
    }

    /// Reads the reply: the value, or the reply for [`Call::resumed`].
    #[inline]
    pub(crate) fn finish(
        &self,
        scope: Scope<'_>,
        reply: redis::RedisResult<Value>,
    ) -> Result<Value, Reply> {
        match reply {
            Ok(Value::ServerError(e)) => Err(Reply::from_value(Value::ServerError(e))),
            Ok(value) => Ok(self.done(scope, value)),
            Err(e) => Err(Reply::from_result(Err(e))),
        }
    }

    /// A value came back (not an error reply): the call is done.
    #[inline]
    pub(crate) fn done(&self, scope: Scope<'_>, value: Value) -> Value {
        // What `Call::feed_one` does with a value.
        scope.state.counters.called(1);
        value
    }
}

/// What the last request was, to read its reply.
enum Sent<'a> {
    Nothing,
    Probe,
    /// `EVALSHA` alone, relying on confirmation `epoch` (none when called
    /// `EVALSHA` first without a mark).
    Call {
        sha1: &'a str,
        command: &'static str,
        epoch: Option<Epoch>,
        ticket: Ticket,
    },
    /// `FUNCTION LIST` of a function's library, before its load when
    /// other code under its name is refused.
    Inspect {
        sha1: &'a str,
    },
    /// `SCRIPT LOAD` + `EVALSHA`, after a capability probe when `caps`
    /// (what the body and command were chosen for) are to be checked.
    LoadAndCall {
        sha1: &'a str,
        command: &'static str,
        ticket: Ticket,
        check: Option<Caps>,
        /// A function's `FUNCTION LIST` goes before its load.
        inspect: bool,
        /// A survey sent ahead of the load (after the probe, if any).
        survey: Option<SurveyPlan>,
    },
    /// `MULTI`, `FUNCTION LOAD REPLACE`, `FCALL`, `EXEC`: a function's
    /// atomic retry.
    AtomicLoad {
        sha1: &'a str,
        command: &'static str,
        ticket: Ticket,
    },
    /// A survey, then `EVALSHA` first (a large script with no mark).
    SurveyAndCall {
        sha1: &'a str,
        command: &'static str,
        ticket: Ticket,
        survey: SurveyPlan,
    },
    /// `EVAL` / `EVAL_RO` with the source (cannot meet `NOSCRIPT`), after a
    /// capability probe when `check` is set.
    Reload {
        sha1: &'a str,
        command: &'static str,
        ticket: Ticket,
        check: Option<Caps>,
    },
}

/// One script call in progress.
pub(crate) struct Call<'a> {
    handle: &'a ScriptHandle,
    args: &'a CallArgs,
    scope: Scope<'a>,
    /// The connection's remembered decisions, if it keeps them for this
    /// node.
    hints: Option<&'a mut Hints>,
    coordinate: bool,
    sent: Sent<'a>,
    guard: Option<LoadGuard>,
    /// Held while this call's survey is under way: the first calls of the
    /// other scripts of the family wait for its answer.
    survey_guard: Option<LoadGuard>,
    /// The last request was an `EVALSHA` first the other callers wait for
    /// (its guard is `guard`).
    leading: bool,
    noscripts: u8,
    waited: bool,
    waits: u8,
    steps: u8,
    /// The confirmation the last load got, which its call relied on.
    confirmed: Option<Epoch>,
    /// Whether this call asked the capabilities itself.
    probed: bool,
    /// Whether this call looked at the server's copy of its function's
    /// library (and found none, or this build's).
    inspected: bool,
    /// Whether the transport can send a transaction (`MULTI` ... `EXEC`
    /// reaching one node as one unit): not a sync cluster connection.
    transactions: bool,
    outcome: Option<Result<Value, Error>>,
}

impl<'a> Call<'a> {
    /// A call of `handle` with `args`, recorded in `scope`. It waits for
    /// another caller's load of the script instead of loading too (a
    /// bounded number of times, [`MAX_WAITS`]). `hints` are the
    /// connection's remembered decisions for `scope`'s node: a first
    /// attempt they cover decides without the state's lock.
    pub(crate) fn new(
        handle: &'a ScriptHandle,
        args: &'a CallArgs,
        scope: Scope<'a>,
        hints: Option<&'a mut Hints>,
    ) -> Self {
        Call {
            handle,
            args,
            scope,
            hints,
            coordinate: true,
            sent: Sent::Nothing,
            guard: None,
            survey_guard: None,
            leading: false,
            noscripts: 0,
            waited: false,
            waits: 0,
            steps: 0,
            confirmed: None,
            probed: false,
            inspected: false,
            transactions: true,
            outcome: None,
        }
    }

    /// The transport cannot send a transaction: a function's atomic retry
    /// is not sent; the call ends as [`Error::NoScript`] (it did not run),
    /// which a cluster driver retries, bounded, after asking the slot map
    /// again.
    pub(crate) fn without_transactions(&mut self) {
        self.transactions = false;
    }

    /// The call after a [`Steady`] attempt that did not answer a value:
    /// where [`next`](Self::next) and [`feed_one`](Self::feed_one) would be
    /// had they sent it.
    pub(crate) fn resumed(
        steady: Steady<'a>,
        handle: &'a ScriptHandle,
        args: &'a CallArgs,
        scope: Scope<'a>,
        hints: Option<&'a mut Hints>,
        reply: Reply,
    ) -> Self {
        let mut call = Call::new(handle, args, scope, hints);
        call.steps = 1;
        call.sent = Sent::Call {
            sha1: steady.sha1,
            command: steady.command,
            epoch: Some(steady.epoch),
            // Only read for a call without a confirmation.
            ticket: scope.state.loaded.ticket(),
        };
        call.feed_one(reply);
        call
    }

    /// The script command of the request last sent (`EVALSHA`, `EVAL`,
    /// ...), if it carried one (not a probe).
    pub(crate) fn command(&self) -> Option<&'static str> {
        match &self.sent {
            Sent::Call { command, .. }
            | Sent::LoadAndCall { command, .. }
            | Sent::SurveyAndCall { command, .. }
            | Sent::AtomicLoad { command, .. }
            | Sent::Reload { command, .. } => Some(command),
            Sent::Nothing | Sent::Probe | Sent::Inspect { .. } => None,
        }
    }

    /// Loads by itself rather than wait for another caller's load (the
    /// state machine's tests drive one call alone).
    #[cfg(test)]
    fn alone(mut self) -> Self {
        self.coordinate = false;
        self
    }

    fn id(&self) -> ScriptId {
        self.handle.id()
    }

    /// The next thing to send.
    pub(crate) fn next(&mut self) -> Request<'a> {
        if let Some(outcome) = self.outcome.take() {
            return Request::Done(outcome);
        }
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Request::Done(Err(Error::NoScript {
                script: self.id(),
                after_reload: true,
            }));
        }
        // This call's own `EVALSHA` first held the others: after its
        // NOSCRIPT it loads under that hold; after anything else (a reply
        // that means "decide again") it lets them go.
        let leading = std::mem::take(&mut self.leading);
        if leading && self.noscripts != 1 {
            self.guard = None;
        }
        let ask = match (self.noscripts, self.waited) {
            (1, _) if leading => Ask::AfterOwnCall,
            (0, _) => Ask::First,
            (1, false) => Ask::AfterNoScript,
            (1, true) => Ask::AfterWait,
            _ => Ask::MustLoad,
        };
        let handle: &'a ScriptHandle = self.handle;
        let Some(Decided {
            caps,
            facts,
            body,
            decision,
            ticket,
            version,
        }) = self.scope.decide(handle, ask, self.coordinate)
        else {
            self.sent = Sent::Probe;
            return Request::One(policy::probe_cmd());
        };
        if handle.function().is_some() && (caps == Caps::Legacy || facts.no_functions) {
            // No functions on this server (Redis 6.2): nothing is sent.
            if let LoadDecision::Load(guard) = decision {
                self.guard = Some(guard);
                self.release(body.sha1);
            }
            return Request::Done(Err(Error::FunctionsUnsupported { script: self.id() }));
        }
        let command = policy::command_for(handle, caps);
        if let (Ask::First, LoadDecision::Loaded(epoch), Some(hints)) =
            (ask, &decision, &mut self.hints)
        {
            // The next first attempt of this script on this connection is
            // a `Steady` one while nothing changes. (A function's hint is
            // its library's, shared by its functions: `Steady::hinted`
            // takes the command from the function, not from the hint.)
            let hinted = Hinted {
                epoch: *epoch,
                command,
                legacy: caps == Caps::Legacy,
            };
            hints.put(handle.sha1(), hinted, version);
        }
        match decision {
            LoadDecision::Loaded(epoch) => self.call(body.sha1, command, Some(epoch), ticket),
            LoadDecision::CallFirst => self.call(body.sha1, command, None, ticket),
            LoadDecision::CallFirstLeading(guard) => {
                self.guard = Some(guard);
                self.leading = true;
                self.call(body.sha1, command, None, ticket)
            }
            LoadDecision::Survey {
                script,
                survey,
                load,
            } => {
                self.guard = Some(script);
                self.survey_guard = Some(survey);
                let Some(family) = handle.family() else {
                    // Not decided for a script without a family: call it
                    // `EVALSHA` first, the others waiting for its reply.
                    self.leading = true;
                    return self.call(body.sha1, command, None, ticket);
                };
                let (exists, plan) = policy::survey_cmd(family, caps, ticket);
                if load {
                    // As a first load (below), with the survey ahead of it.
                    let check = (policy::needs_caps(handle) && !self.probed).then_some(caps);
                    let mut pipe = Pipeline::with_capacity(4);
                    if check.is_some() {
                        pipe.add_command(policy::probe_cmd());
                    }
                    pipe.add_command(exists);
                    pipe.add_command(policy::load_cmd(body.source));
                    pipe.add_command(self.args.eval_cmd(command, handle.called_as(body.sha1)));
                    self.sent = Sent::LoadAndCall {
                        sha1: body.sha1,
                        command,
                        ticket,
                        check,
                        inspect: false,
                        survey: Some(plan),
                    };
                    Request::Pipeline(pipe)
                } else {
                    // A large source: `EVALSHA` first, the others waiting
                    // for its reply (as `CallFirstLeading`).
                    self.leading = true;
                    let mut pipe = Pipeline::with_capacity(2);
                    pipe.add_command(exists);
                    pipe.add_command(self.args.eval_cmd(command, handle.called_as(body.sha1)));
                    self.sent = Sent::SurveyAndCall {
                        sha1: body.sha1,
                        command,
                        ticket,
                        survey: plan,
                    };
                    Request::Pipeline(pipe)
                }
            }
            LoadDecision::Load(guard) => {
                self.guard = Some(guard);
                let function = handle.function();
                let refuse = function.is_some()
                    && self
                        .scope
                        .state
                        .refuse_other_libraries
                        .load(std::sync::atomic::Ordering::Relaxed);
                if let Some(f) = function
                    && refuse
                    && !self.inspected
                {
                    // Other code under the library's name is refused:
                    // look before loading (one round trip more).
                    self.sent = Sent::Inspect { sha1: body.sha1 };
                    return Request::One(policy::inspect_cmd(f));
                }
                if policy::load_by(handle, facts, ask, self.scope.node) == LoadBy::ScriptLoad {
                    // A version-dependent script checks, in the same round
                    // trip, that the server is still what the state thinks
                    // (a reconnect to another server sends no NOSCRIPT for
                    // a script it never had, and one that lost the script
                    // may be another server).
                    let check = (policy::needs_caps(handle) && !self.probed).then_some(caps);
                    // A function's library is loaded with `REPLACE`, after
                    // a look at what the server held under its name (a
                    // replaced copy is counted and traced).
                    let inspect = function.filter(|_| !refuse);
                    self.sent = Sent::LoadAndCall {
                        sha1: body.sha1,
                        command,
                        ticket,
                        check,
                        inspect: inspect.is_some(),
                        survey: None,
                    };
                    let mut pipe = Pipeline::with_capacity(4);
                    if check.is_some() {
                        pipe.add_command(policy::probe_cmd());
                    }
                    if let Some(f) = inspect {
                        pipe.add_command(policy::inspect_cmd(f));
                    }
                    pipe.add_command(policy::load_cmd_for(handle, body.source));
                    pipe.add_command(self.args.eval_cmd(command, handle.called_as(body.sha1)));
                    Request::Pipeline(pipe)
                } else if function.is_some() && !self.transactions {
                    // A sync cluster connection sends each command on its
                    // own, and redis-rs follows a redirect of each one
                    // apart: a `MULTI` sent that way is no transaction (the
                    // call may run outside it, on another node). The
                    // function was not found right after its load (a slot
                    // in migration to a node without the library, a flush
                    // between the two): it did not run.
                    self.release(body.sha1);
                    Request::Done(Err(Error::NoScript {
                        script: self.id(),
                        after_reload: true,
                    }))
                } else if function.is_some() {
                    // A function's atomic retry: there is no `EVAL` for
                    // functions, so its library is loaded and the function
                    // called inside one `MULTI`, which cannot meet
                    // "Function not found".
                    self.scope.state.counters.atomic_retry();
                    trace::eval_retry(handle, body.sha1, self.scope.node, command);
                    self.sent = Sent::AtomicLoad {
                        sha1: body.sha1,
                        command,
                        ticket,
                    };
                    let mut pipe = Pipeline::with_capacity(4);
                    pipe.add_command(redis::cmd("MULTI"));
                    pipe.add_command(policy::load_cmd_for(handle, body.source));
                    pipe.add_command(self.args.eval_cmd(command, handle.called_as(body.sha1)));
                    pipe.add_command(redis::cmd("EXEC"));
                    Request::Pipeline(pipe)
                } else {
                    self.scope.state.counters.atomic_retry();
                    let command = policy::eval_command(command);
                    trace::eval_retry(handle, body.sha1, self.scope.node, command);
                    // A version-dependent script checks the capabilities in
                    // the same round trip: a server that lost the script may
                    // be another server (a reconnect after an upgrade).
                    let check = (policy::needs_caps(handle) && !self.probed).then_some(caps);
                    self.sent = Sent::Reload {
                        sha1: body.sha1,
                        command,
                        ticket,
                        check,
                    };
                    let eval = self.args.eval_cmd(command, body.source);
                    if check.is_some() {
                        let mut pipe = Pipeline::with_capacity(2);
                        pipe.add_command(policy::probe_cmd());
                        pipe.add_command(eval);
                        Request::Pipeline(pipe)
                    } else {
                        Request::One(eval)
                    }
                }
            }
            LoadDecision::Wait(waiter) => {
                // Waiting is not a request to the server; a loader that
                // takes very long is waited for a bounded number of times,
                // then this call loads by itself.
                self.steps -= 1;
                self.waits += 1;
                if self.waits >= MAX_WAITS {
                    self.coordinate = false;
                }
                if self.noscripts > 0 {
                    self.waited = true;
                }
                Request::Wait(waiter)
            }
        }
    }

    fn call(
        &mut self,
        sha1: &'a str,
        command: &'static str,
        epoch: Option<Epoch>,
        ticket: Ticket,
    ) -> Request<'a> {
        self.sent = Sent::Call {
            sha1,
            command,
            epoch,
            ticket,
        };
        Request::Eval {
            command,
            sha1: self.handle.called_as(sha1),
        }
    }

    /// Reads the reply of a [`Request::One`].
    pub(crate) fn feed_one(&mut self, reply: Reply) {
        match std::mem::replace(&mut self.sent, Sent::Nothing) {
            Sent::Probe => match policy::caps_from_probe(reply, Some(&self.id())) {
                Ok(caps) => {
                    self.probed = true;
                    self.scope.state.loaded.set_caps(self.scope.node, caps);
                }
                Err(e) => self.outcome = Some(Err(e)),
            },
            Sent::Reload {
                sha1,
                command,
                ticket,
                check: None,
            } => self.read_reload(reply, sha1, command, ticket),
            Sent::Inspect { sha1 } => match self.scope.refuse_other(reply, self.handle) {
                Err(e) => self.fail(sha1, e),
                Ok(()) => {
                    // Absent or this build's (or not readable: the load
                    // that follows replaces whatever is there, so this
                    // build's code runs). Decide again, now to load.
                    self.inspected = true;
                    self.release(sha1);
                }
            },
            Sent::Call {
                sha1,
                command,
                epoch,
                ticket,
            } => {
                self.scope.state.counters.called(1);
                let reply = match reply {
                    // The steady case, short: what `read_call`, `combine`
                    // and `settle` make of a value.
                    Reply::Value(v) => {
                        if epoch.is_none() {
                            // Called EVALSHA first, and the server had it:
                            // the callers waiting for this call may go.
                            let _ = self.scope.ran(sha1, ticket);
                            self.guard = None;
                        }
                        self.outcome = Some(Ok(v));
                        return;
                    }
                    other => other,
                };
                let called = self.scope.read_call(reply, self.handle, sha1, command);
                if matches!(called, Called::Value(_)) && epoch.is_none() {
                    // Called EVALSHA first, and the server had it.
                    let _ = self.scope.ran(sha1, ticket);
                    self.guard = None;
                }
                self.settle(policy::combine(None, called), sha1, epoch);
            }
            _ => self.misfed(),
        }
    }

    /// Reads the replies of a [`Request::Pipeline`] (or the error that
    /// replaced them).
    /// Reads the reply of `EVAL <source>`.
    fn read_reload(&mut self, reply: Reply, sha1: &'a str, command: &'static str, ticket: Ticket) {
        self.scope.state.counters.called(1);
        let called = self.scope.read_eval(reply, self.handle, sha1, command);
        if matches!(called, Called::Value(_)) {
            // EVAL caches the script, evictably on newer servers: a hint
            // for the callers waiting for this reload.
            let _ = self.scope.evalled(sha1, ticket);
        }
        // Wakes the tasks waiting for this load, whatever it said.
        self.release(sha1);
        self.settle(policy::combine(None, called), sha1, None);
    }

    /// Reads a capability probe sent ahead of a load: a server other than
    /// the state thought updates the state (the request itself went out as
    /// the state thought: both bodies run on a current server, and a legacy
    /// one refuses the shebang, which is retried).
    fn read_check(&mut self, assumed: Caps, probe: Reply) {
        self.probed = true;
        if let Ok(caps) = policy::caps_from_probe(probe, None)
            && caps != assumed
        {
            self.scope.state.loaded.set_caps(self.scope.node, caps);
        }
    }

    pub(crate) fn feed_many(&mut self, replies: redis::RedisResult<Vec<Value>>) {
        let sent = std::mem::replace(&mut self.sent, Sent::Nothing);
        if let Sent::AtomicLoad {
            sha1,
            command,
            ticket,
        } = sent
        {
            return self.read_atomic(replies, sha1, command, ticket);
        }
        if let Sent::SurveyAndCall {
            sha1,
            command,
            ticket,
            survey,
        } = sent
        {
            let Some(values) = self.replies_of(replies, 2, sha1) else {
                return;
            };
            let mut values = values.into_iter().map(Reply::from_value);
            let (Some(exists), Some(reply)) = (values.next(), values.next()) else {
                return self.misfed();
            };
            self.scope.read_survey(exists, self.handle, &survey, sha1);
            self.survey_guard = None;
            // The call is read as an `EVALSHA` first sent alone.
            self.sent = Sent::Call {
                sha1,
                command,
                epoch: None,
                ticket,
            };
            return self.feed_one(reply);
        }
        if let Sent::Reload {
            sha1,
            command,
            ticket,
            check: Some(assumed),
        } = sent
        {
            let Some(values) = self.replies_of(replies, 2, sha1) else {
                return;
            };
            let mut values = values.into_iter().map(Reply::from_value);
            let (Some(probe), Some(reply)) = (values.next(), values.next()) else {
                return self.misfed();
            };
            self.read_check(assumed, probe);
            return self.read_reload(reply, sha1, command, ticket);
        }
        let Sent::LoadAndCall {
            sha1,
            command,
            ticket,
            check,
            inspect,
            survey,
        } = sent
        else {
            return self.misfed();
        };
        let expected =
            2 + usize::from(check.is_some()) + usize::from(survey.is_some()) + usize::from(inspect);
        let Some(values) = self.replies_of(replies, expected, sha1) else {
            return;
        };
        self.scope.state.counters.called(1);
        let mut values = values.into_iter().map(Reply::from_value);
        if let Some(assumed) = check
            && let Some(probe) = values.next()
        {
            self.read_check(assumed, probe);
        }
        if let Some(plan) = &survey
            && let Some(exists) = values.next()
        {
            self.scope.read_survey(exists, self.handle, plan, sha1);
            self.survey_guard = None;
        }
        if inspect && let Some(listed) = values.next() {
            // Replaced by this build's code in the same request.
            self.scope.read_look(listed, self.handle);
        }
        let (Some(load), Some(call)) = (values.next(), values.next()) else {
            return self.misfed();
        };
        let pair = self.read_pair(load, call, sha1, command, ticket);
        // Wakes the tasks waiting for this load, whatever it said.
        self.release(sha1);
        let confirmed = self.confirmed.take();
        self.settle(pair, sha1, confirmed);
    }

    /// Reads the replies of a function's atomic retry: `MULTI`'s, two
    /// `QUEUED`, and `EXEC`'s array of the load's and the call's replies.
    fn read_atomic(
        &mut self,
        replies: redis::RedisResult<Vec<Value>>,
        sha1: &'a str,
        command: &'static str,
        ticket: Ticket,
    ) {
        let Some(values) = self.replies_of(replies, 4, sha1) else {
            return;
        };
        self.scope.state.counters.called(1);
        let mut values = values.into_iter();
        let (Some(multi), Some(load), Some(call), Some(exec)) =
            (values.next(), values.next(), values.next(), values.next())
        else {
            return self.misfed();
        };
        let (load, call) = match exec {
            Value::Array(mut pair) if pair.len() == 2 => {
                let call = pair.pop().map(Reply::from_value);
                let load = pair.pop().map(Reply::from_value);
                match (load, call) {
                    (Some(load), Some(call)) => (load, call),
                    _ => return self.misfed(),
                }
            }
            // Refused before anything ran: `MULTI` itself (a transaction
            // the caller has open), a queueing error, `EXECABORT`.
            other => {
                let refused = [multi, load, call, other]
                    .into_iter()
                    .map(Reply::from_value)
                    .find_map(|r| match r {
                        Reply::Server(e) => Some(e),
                        _ => None,
                    });
                let error = match refused {
                    Some(e) => e.into_load_error(&self.id()),
                    None => Error::client(
                        Some(&self.id()),
                        Ran::No,
                        "script-cache: the atomic retry's EXEC was aborted",
                    ),
                };
                return self.fail(sha1, error);
            }
        };
        let pair = self.read_pair(load, call, sha1, command, ticket);
        self.release(sha1);
        let confirmed = self.confirmed.take();
        self.settle(pair, sha1, confirmed);
    }

    /// Reads `SCRIPT LOAD` and `EVALSHA` replies that belong together.
    fn read_pair(
        &mut self,
        load: Reply,
        call: Reply,
        sha1: &'a str,
        command: &'static str,
        ticket: Ticket,
    ) -> Pair {
        let loaded = self.scope.read_load(load, self.handle, sha1, ticket);
        let confirmed = matches!(loaded, Loaded::Confirmed(_));
        if let Loaded::Confirmed(epoch) = loaded {
            self.confirmed = epoch;
        }
        let called = self.scope.read_call(call, self.handle, sha1, command);
        if !confirmed && matches!(called, Called::Value(_)) {
            // The load failed (refused, say) but the server had the script.
            let _ = self.scope.ran(sha1, ticket);
        }
        policy::combine(Some(loaded), called)
    }

    /// Acts on the outcome of a load and/or call.
    fn settle(&mut self, pair: Pair, sha1: &str, epoch: Option<Epoch>) {
        match pair {
            Pair::Value(v) => self.outcome = Some(Ok(v)),
            Pair::Failed(e) => self.outcome = Some(Err(e)),
            Pair::Redecide => {}
            Pair::NoScript => {
                let cleared = self.scope.lost(sha1, epoch);
                self.noscripts = self.noscripts.saturating_add(1);
                if cleared && self.noscripts == 1 {
                    // Flushed, restarted or failed over: one reload follows
                    // (by this task or the first one to get there).
                    self.scope.state.counters.reloaded();
                    trace::lost(self.handle, sha1, self.scope.node, epoch);
                }
            }
        }
    }

    /// Gives up a load: forget "loading" and wake the waiting tasks, which
    /// then decide again.
    fn release(&mut self, sha1: &str) {
        if self.guard.take().is_some() {
            self.scope
                .state
                .loaded
                .abandon_loading(self.scope.node, sha1);
        }
    }

    /// The replies of a request of `expected` commands; or the call fails
    /// (the request failed as a whole, or answered another count) and
    /// `None`.
    fn replies_of(
        &mut self,
        replies: redis::RedisResult<Vec<Value>>,
        expected: usize,
        sha1: &str,
    ) -> Option<Vec<Value>> {
        let error = match replies {
            Ok(values) if values.len() == expected => return Some(values),
            Ok(values) => unexpected_count(&self.id(), expected, values.len()),
            Err(e) => Error::redis(Some(&self.id()), e),
        };
        self.fail(sha1, error);
        None
    }

    fn fail(&mut self, sha1: &str, error: Error) {
        self.release(sha1);
        self.survey_guard = None;
        self.outcome = Some(Err(error));
    }

    fn misfed(&mut self) {
        self.outcome = Some(Err(Error::client(
            Some(&self.id()),
            Ran::Unknown,
            "script-cache: reply fed to the wrong request",
        )));
    }
}

/// The error of a reply count that does not match the request.
fn unexpected_count(script: &ScriptId, expected: usize, got: usize) -> Error {
    // The request went out; what ran cannot be read from such replies.
    Error::client(
        Some(script),
        Ran::Unknown,
        format!("script-cache: unexpected number of replies: expected {expected}, got {got}"),
    )
}

impl Drop for Call<'_> {
    fn drop(&mut self) {
        // A call dropped between sending a load and reading its reply (an
        // async task cancelled mid-flight) must not leave "loading" behind.
        if let (
            Some(_),
            Sent::LoadAndCall { sha1, .. }
            | Sent::Reload { sha1, .. }
            | Sent::Inspect { sha1 }
            | Sent::AtomicLoad { sha1, .. }
            | Sent::SurveyAndCall { sha1, .. },
        ) = (&self.guard, &self.sent)
        {
            self.scope
                .state
                .loaded
                .abandon_loading(self.scope.node, sha1);
        }
    }
}

#[cfg(test)]
mod tests {
    //! The state machine fed with replies parsed from real RESP bytes, for
    //! the interleavings a real server cannot be made to produce on cue.
    use super::*;
    use crate::handle::DynamicScript;
    use crate::state::{LoadMode, NodeKey, StateInner};
    use std::sync::Arc;

    fn resp(bytes: &[u8]) -> Value {
        redis::parse_redis_value(bytes).unwrap()
    }

    fn noscript() -> Value {
        resp(b"-NOSCRIPT No matching script. Please use EVAL.\r\n")
    }

    fn sha_reply(sha: &str) -> Value {
        resp(format!("${}\r\n{sha}\r\n", sha.len()).as_bytes())
    }

    fn handle() -> ScriptHandle {
        ScriptHandle::Dynamic(Arc::new(DynamicScript::new("s", "return 1")))
    }

    fn ticket(state: &StateInner) -> Ticket {
        state
            .loaded
            .loaded_epochs(&NodeKey::SINGLE, std::iter::empty())
            .1
    }

    fn names(p: &Pipeline) -> Vec<String> {
        p.cmd_iter()
            .map(|c| match c.args_iter().next() {
                Some(redis::Arg::Simple(b)) => String::from_utf8_lossy(b).into_owned(),
                _ => String::new(),
            })
            .collect()
    }

    fn cmd_names(cmd: &Cmd) -> Vec<String> {
        cmd.args_iter()
            .map(|a| match a {
                redis::Arg::Simple(b) => String::from_utf8_lossy(b).into_owned(),
                _ => String::new(),
            })
            .collect()
    }

    static LIBRARY: crate::function::LibraryMeta = crate::function::LibraryMeta::__new(
        "lib",
        "lib",
        "lib.lua",
        "#!lua name=lib\nredis.register_function('f', function() return 1 end)\n",
        "0000000000000000000000000000000000000000",
    );
    static FUNCTION: crate::function::FunctionMeta = crate::function::FunctionMeta::__new(
        "f",
        "f",
        &LIBRARY,
        &[],
        crate::script::Arity::Exact(0),
        crate::script::Arity::Exact(0),
        "",
    );

    static READER: crate::function::FunctionMeta = crate::function::FunctionMeta::__new(
        "g",
        "g_v0123456789ab",
        &LIBRARY,
        &["no-writes"],
        crate::script::Arity::Exact(0),
        crate::script::Arity::Exact(0),
        "",
    );

    /// A library's hint serves each of its functions with its own command
    /// and name: the first call of `f` leaves a hint, a call of `g` (a
    /// `no-writes` function of the same library) then goes out as
    /// `FCALL_RO g..` without the lock, and a stale hint ends as the
    /// normal recovery.
    #[test]
    fn a_library_s_hint_serves_each_function_with_its_command() {
        let (f, g) = (
            ScriptHandle::Function(&FUNCTION),
            ScriptHandle::Function(&READER),
        );
        let lib = LIBRARY.sha1();
        let state = StateInner::default();
        let args = CallArgs::default();
        let scope = Scope::single(&state);
        let mut hints = Hints::default();
        state
            .loaded
            .mark_loaded(&NodeKey::SINGLE, lib, ticket(&state))
            .unwrap();
        assert!(Steady::hinted(&g, scope, &hints).is_none(), "no hint yet");
        let mut call = Call::new(&f, &args, scope, Some(&mut hints)).alone();
        let Request::Eval { command, sha1 } = call.next() else {
            panic!("expected FCALL only")
        };
        assert_eq!((command, sha1), ("FCALL", "f"));
        call.feed_one(Reply::from_value(resp(b":1\r\n")));
        assert!(matches!(call.next(), Request::Done(Ok(Value::Int(1)))));
        drop(call);
        let steady = Steady::hinted(&g, scope, &hints).expect("the library's hint");
        assert_eq!(
            (steady.sha1, steady.sent_as, steady.command),
            (lib, "g_v0123456789ab", "FCALL_RO")
        );
        let steady = Steady::hinted(&f, scope, &hints).expect("the library's hint");
        assert_eq!((steady.sent_as, steady.command), ("f", "FCALL"));
        // The server lost the library: "Function not found" is recovered as
        // by a call that decided under the lock (the library with the call).
        let Err(reply) = steady.finish(scope, Ok(resp(b"-ERR Function not found\r\n"))) else {
            panic!("an error is not a value")
        };
        let mut call = Call::resumed(steady, &f, &args, scope, Some(&mut hints), reply).alone();
        let Request::Pipeline(p) = call.next() else {
            panic!("expected the library with the call")
        };
        assert_eq!(names(&p).last().map(String::as_str), Some("FCALL"));
        assert!(names(&p).iter().any(|n| n == "FUNCTION"), "{:?}", names(&p));
    }

    /// Without transactions (a sync cluster connection), "Function not
    /// found" twice ends the call as `NoScript` (nothing ran) instead of a
    /// `MULTI` sent as separate commands.
    #[test]
    fn a_function_not_found_twice_without_transactions_is_no_script() {
        let handle = ScriptHandle::Function(&FUNCTION);
        let state = StateInner::default();
        let args = CallArgs::default();
        let scope = Scope::single(&state);
        let not_found = || resp(b"-ERR Function not found\r\n");
        let mut call = Call::new(&handle, &args, scope, None).alone();
        call.without_transactions();
        for _ in 0..2 {
            let Request::Pipeline(p) = call.next() else {
                panic!("expected list + load + call")
            };
            assert_eq!(names(&p), ["FUNCTION", "FUNCTION", "FCALL"]);
            call.feed_many(Ok(vec![resp(b"*0\r\n"), sha_reply("lib"), not_found()]));
        }
        match call.next() {
            Request::Done(Err(e @ Error::NoScript { .. })) => assert_eq!(e.ran(), Ran::No),
            Request::Pipeline(p) => panic!("sent {:?}", names(&p)),
            _ => panic!("expected NoScript"),
        }
        assert_eq!(state.counters.snapshot().atomic_retries, 0);
    }

    #[test]
    fn a_function_not_found_twice_is_retried_inside_multi() {
        let handle = ScriptHandle::Function(&FUNCTION);
        let state = StateInner::default();
        let args = CallArgs::default();
        let scope = Scope::single(&state);
        let not_found = || resp(b"-ERR Function not found\r\n");
        let mut call = Call::new(&handle, &args, scope, None).alone();
        for _ in 0..2 {
            // The load with the call, after a look at the server's copy:
            // twice (the first call, then the reload after "Function not
            // found"), each meeting a flush between the load and the call.
            let Request::Pipeline(p) = call.next() else {
                panic!("expected list + load + call")
            };
            assert_eq!(names(&p), ["FUNCTION", "FUNCTION", "FCALL"]);
            call.feed_many(Ok(vec![resp(b"*0\r\n"), sha_reply("lib"), not_found()]));
        }
        // The atomic retry: MULTI, the load, the call, EXEC.
        let Request::Pipeline(p) = call.next() else {
            panic!("expected the atomic retry")
        };
        assert_eq!(names(&p), ["MULTI", "FUNCTION", "FCALL", "EXEC"]);
        call.feed_many(Ok(vec![
            resp(b"+OK\r\n"),
            resp(b"+QUEUED\r\n"),
            resp(b"+QUEUED\r\n"),
            resp(b"*2\r\n$3\r\nlib\r\n:1\r\n"),
        ]));
        assert!(matches!(call.next(), Request::Done(Ok(Value::Int(1)))));
        // The mark is the library's (its SHA-1), not the function's.
        assert!(state.loaded.is_loaded(&NodeKey::SINGLE, LIBRARY.sha1()));
        assert_eq!(handle.sha1(), LIBRARY.sha1());
        assert!(!state.loaded.is_loaded(&NodeKey::SINGLE, "f"));
        let stats = state.counters.snapshot();
        assert_eq!(
            (
                stats.loads,
                stats.calls,
                stats.atomic_retries,
                stats.reloads
            ),
            (3, 3, 1, 1)
        );
    }

    #[test]
    fn noscript_after_a_load_and_a_reload_retries_with_eval() {
        let handle = handle();
        let sha = handle.sha1().to_owned();
        let state = StateInner::default();
        let args = CallArgs::default();
        let scope = Scope::single(&state);
        let mut call = Call::new(&handle, &args, scope, None).alone();
        let Request::Pipeline(p) = call.next() else {
            panic!("expected load + call")
        };
        assert_eq!(names(&p), ["SCRIPT", "EVALSHA"]);
        // The load is confirmed but a flush lands before the call: loaded
        // again with the call (what SCRIPT LOAD holds, no server evicts).
        call.feed_many(Ok(vec![sha_reply(&sha), noscript()]));
        let Request::Pipeline(p) = call.next() else {
            panic!("expected load + call again")
        };
        assert_eq!(names(&p), ["SCRIPT", "EVALSHA"]);
        // A flush between those two as well: the EVAL retry, which cannot
        // meet NOSCRIPT.
        call.feed_many(Ok(vec![sha_reply(&sha), noscript()]));
        let Request::One(eval) = call.next() else {
            panic!("expected the EVAL retry")
        };
        assert_eq!(cmd_names(&eval), ["EVAL", "return 1", "0"]);
        call.feed_one(Reply::from_value(resp(b":1\r\n")));
        assert!(matches!(call.next(), Request::Done(Ok(Value::Int(1)))));
        // EVAL's copy is not a confirmation (newer servers evict it): the
        // next first call loads the script with SCRIPT LOAD.
        assert!(!state.loaded.is_loaded(&NodeKey::SINGLE, &sha));
        let mut next = Call::new(&handle, &args, scope, None).alone();
        let Request::Pipeline(p) = next.next() else {
            panic!("expected load + call")
        };
        assert_eq!(names(&p), ["SCRIPT", "EVALSHA"]);
        let stats = state.counters.snapshot();
        assert_eq!((stats.loads, stats.calls, stats.atomic_retries), (2, 3, 1));
    }

    #[test]
    fn a_refused_load_never_hides_the_reply_and_switches_to_evalsha_first() {
        let handle = handle();
        let sha = handle.sha1().to_owned();
        let state = StateInner::default();
        let args = CallArgs::default();
        let scope = Scope::single(&state);
        let mut call = Call::new(&handle, &args, scope, None).alone();
        let Request::Pipeline(_) = call.next() else {
            panic!("expected load + call")
        };
        call.feed_many(Ok(vec![
            resp(b"-NOPERM User u has no permissions to run the 'script|load' command\r\n"),
            resp(b":7\r\n"),
        ]));
        assert!(matches!(call.next(), Request::Done(Ok(Value::Int(7)))));
        assert!(state.loaded.load_refused(&NodeKey::SINGLE));
        assert!(state.loaded.is_loaded(&NodeKey::SINGLE, &sha));
        assert_eq!(state.counters.snapshot().refused_loads, 1);

        // Nothing preloaded on a refusing node, EVAL refused too: EVALSHA
        // first, then the EVAL retry is refused: did not run.
        state.loaded.clear();
        let mut call = Call::new(&handle, &args, scope, None).alone();
        let Request::Eval { command, .. } = call.next() else {
            panic!("expected EVALSHA first")
        };
        assert_eq!(command, "EVALSHA");
        call.feed_one(Reply::from_value(noscript()));
        let Request::One(_) = call.next() else {
            panic!("expected the EVAL retry")
        };
        call.feed_one(Reply::from_value(resp(
            b"-NOPERM User u has no permissions to run the 'eval' command\r\n",
        )));
        match call.next() {
            Request::Done(Err(
                e @ Error::PermissionDenied {
                    command: "EVAL", ..
                },
            )) => {
                assert_eq!(e.ran(), crate::Ran::No);
            }
            _ => panic!("expected PermissionDenied"),
        }
    }

    #[test]
    fn stale_noscript_does_not_undo_a_newer_load() {
        let handle = handle();
        let sha = handle.sha1().to_owned();
        let state = StateInner::default();
        let _ = state
            .loaded
            .mark_loaded(&NodeKey::SINGLE, &sha, ticket(&state));
        let args = CallArgs::default();
        let scope = Scope::single(&state);
        let mut call = Call::new(&handle, &args, scope, None).alone();
        let Request::Eval { .. } = call.next() else {
            panic!("expected EVALSHA only")
        };
        // Another task reloads the script before this call's NOSCRIPT (sent
        // before that reload) is read.
        let _ = state
            .loaded
            .mark_loaded(&NodeKey::SINGLE, &sha, ticket(&state));
        call.feed_one(Reply::from_value(noscript()));
        assert!(state.loaded.is_loaded(&NodeKey::SINGLE, &sha));
        let Request::Eval { command, .. } = call.next() else {
            panic!("expected EVALSHA again, no reload")
        };
        assert_eq!(command, "EVALSHA");
        call.feed_one(Reply::from_value(noscript()));
        // A second NOSCRIPT: EVAL.
        let Request::One(eval) = call.next() else {
            panic!("expected the EVAL retry")
        };
        assert_eq!(cmd_names(&eval)[0], "EVAL");
        assert_eq!(state.counters.snapshot().reloads, 0);
    }

    #[test]
    fn a_cold_load_of_a_version_dependent_script_checks_the_capabilities() {
        let handle = ScriptHandle::Dynamic(Arc::new(DynamicScript::new(
            "ro",
            "#!lua flags=no-writes\nreturn 1\n",
        )));
        let state = StateInner::default();
        // The state thinks the server is a 6.2 (it was, before a reconnect).
        state.loaded.set_caps(&NodeKey::SINGLE, Caps::Legacy);
        let args = CallArgs::default();
        let scope = Scope::single(&state);
        let mut call = Call::new(&handle, &args, scope, None).alone();
        let Request::Pipeline(p) = call.next() else {
            panic!("expected probe + load + call")
        };
        assert_eq!(names(&p), ["COMMAND", "SCRIPT", "EVALSHA"]);
        let legacy_sha = handle.body(true).sha1.to_owned();
        call.feed_many(Ok(vec![
            resp(b"*1\r\n*1\r\n$10\r\nevalsha_ro\r\n"),
            sha_reply(&legacy_sha),
            resp(b":1\r\n"),
        ]));
        assert!(matches!(call.next(), Request::Done(Ok(Value::Int(1)))));
        // Now known as a current server: the next call goes out as one.
        assert_eq!(state.loaded.caps(&NodeKey::SINGLE), Caps::Modern);
    }

    #[test]
    fn a_hint_skips_the_lock_and_a_stale_one_ends_in_a_reload() {
        let handle = handle();
        let sha = handle.sha1().to_owned();
        let state = StateInner::default();
        let args = CallArgs::default();
        let scope = Scope::single(&state);
        let mut hints = Hints::default();
        let epoch = state
            .loaded
            .mark_loaded(&NodeKey::SINGLE, &sha, ticket(&state))
            .unwrap();
        // The first call decides under the lock and remembers it.
        let mut call = Call::new(&handle, &args, scope, Some(&mut hints)).alone();
        let Request::Eval { sha1, .. } = call.next() else {
            panic!("expected EVALSHA only")
        };
        assert_eq!(sha1, sha);
        call.feed_one(Reply::from_value(resp(b":1\r\n")));
        assert!(matches!(call.next(), Request::Done(Ok(Value::Int(1)))));
        drop(call);
        let steady = Steady::hinted(&handle, scope, &hints).expect("a hint");
        assert_eq!((steady.sha1, steady.command), (&sha[..], "EVALSHA"));
        assert_eq!(steady.epoch, epoch);
        assert!(matches!(
            steady.finish(scope, Ok(Value::Int(2))),
            Ok(Value::Int(2))
        ));
        assert_eq!(state.counters.snapshot().calls, 2);

        // The server lost the script without the state knowing (a flush
        // from another client): the hint is stale, the call meets NOSCRIPT,
        // and the retry loads it with the call, as with any stale mark.
        let steady = Steady::hinted(&handle, scope, &hints).expect("a hint");
        let Err(reply) = steady.finish(scope, Ok(noscript())) else {
            panic!("NOSCRIPT is not a value")
        };
        let mut call =
            Call::resumed(steady, &handle, &args, scope, Some(&mut hints), reply).alone();
        let Request::Pipeline(p) = call.next() else {
            panic!("expected load + call")
        };
        assert_eq!(names(&p), ["SCRIPT", "EVALSHA"]);
        call.feed_many(Ok(vec![sha_reply(&sha), resp(b":2\r\n")]));
        assert!(matches!(call.next(), Request::Done(Ok(Value::Int(2)))));
        drop(call);
        let stats = state.counters.snapshot();
        assert_eq!((stats.reloads, stats.atomic_retries), (1, 0));
        // The old hint is void; the new confirmation is what counts.
        assert!(Steady::hinted(&handle, scope, &hints).is_none());
        assert!(state.loaded.is_loaded(&NodeKey::SINGLE, &sha));
    }

    /// Three embedded scripts of one enum: two small, one over
    /// `LAZY_LOAD_MAX`.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Fam {
        Small,
        Other,
        Big,
    }

    fn fam_meta(name: &'static str, source: &'static str, sha1: &'static str) -> ScriptMeta {
        use crate::script::Arity;
        ScriptMeta::__new(
            name,
            name,
            source,
            sha1,
            None,
            &[],
            Arity::Exact(0),
            Arity::Exact(0),
            "",
            &[],
        )
    }

    impl crate::EmbeddedScript for Fam {
        const ALL: &'static [Fam] = &[Fam::Small, Fam::Other, Fam::Big];
        fn meta(self) -> &'static ScriptMeta {
            static METAS: std::sync::OnceLock<[ScriptMeta; 3]> = std::sync::OnceLock::new();
            let metas = METAS.get_or_init(|| {
                let big: &'static str =
                    Box::leak(format!("return {}", "1 + ".repeat(700) + "1").into_boxed_str());
                assert!(big.len() > crate::LAZY_LOAD_MAX);
                [
                    fam_meta(
                        "small",
                        "return 1",
                        "1111111111111111111111111111111111111111",
                    ),
                    fam_meta(
                        "other",
                        "return 2",
                        "2222222222222222222222222222222222222222",
                    ),
                    fam_meta("big", big, "3333333333333333333333333333333333333333"),
                ]
            });
            &metas[self as usize]
        }
    }

    use crate::EmbeddedScript as _;
    use crate::script::ScriptMeta;

    fn fam(script: Fam) -> ScriptHandle {
        crate::Invocation::embedded(script).handle
    }

    fn int_array(items: &[i64]) -> Value {
        let mut bytes = format!("*{}\r\n", items.len());
        for i in items {
            bytes.push_str(&format!(":{i}\r\n"));
        }
        resp(bytes.as_bytes())
    }

    #[test]
    fn a_cold_state_asks_about_the_whole_family_with_its_first_call() {
        let state = StateInner::default();
        let args = CallArgs::default();
        let scope = Scope::single(&state);
        let small = fam(Fam::Small);
        // First call of a small script: SCRIPT EXISTS of the family, then
        // its load and call, one round trip.
        let mut call = Call::new(&small, &args, scope, None);
        let Request::Pipeline(p) = call.next() else {
            panic!("expected survey + load + call")
        };
        assert_eq!(names(&p), ["SCRIPT", "SCRIPT", "EVALSHA"]);
        let exists: Vec<String> = p.cmd_iter().next().map(cmd_names).unwrap();
        assert_eq!(
            exists,
            [
                "SCRIPT",
                "EXISTS",
                Fam::Small.meta().sha1(),
                Fam::Other.meta().sha1(),
                Fam::Big.meta().sha1()
            ]
        );
        // The server has `other` and `big`, not `small`.
        call.feed_many(Ok(vec![
            int_array(&[0, 1, 1]),
            sha_reply(small.sha1()),
            resp(b":1\r\n"),
        ]));
        assert!(matches!(call.next(), Request::Done(Ok(Value::Int(1)))));
        drop(call);
        let node = &NodeKey::SINGLE;
        assert!(state.loaded.is_loaded(node, Fam::Other.meta().sha1()));
        assert!(state.loaded.is_loaded(node, Fam::Big.meta().sha1()));
        assert!(state.loaded.is_loaded(node, small.sha1()));
        let stats = state.counters.snapshot();
        assert_eq!((stats.surveys, stats.loads), (1, 1));
        // The large script's first call is EVALSHA alone: no source, no
        // second survey.
        let big = fam(Fam::Big);
        let mut call = Call::new(&big, &args, scope, None);
        let Request::Eval { sha1, .. } = call.next() else {
            panic!("expected EVALSHA alone")
        };
        assert_eq!(sha1, Fam::Big.meta().sha1());
    }

    #[test]
    fn a_large_script_the_server_lacks_is_loaded_after_noscript() {
        let state = StateInner::default();
        let args = CallArgs::default();
        let scope = Scope::single(&state);
        let big = fam(Fam::Big);
        // First contact with a large script: survey + EVALSHA, no source.
        let mut call = Call::new(&big, &args, scope, None);
        let Request::Pipeline(p) = call.next() else {
            panic!("expected survey + call")
        };
        assert_eq!(names(&p), ["SCRIPT", "EVALSHA"]);
        // The server has none of them: NOSCRIPT, then load + call.
        call.feed_many(Ok(vec![int_array(&[0, 0, 0]), noscript()]));
        let Request::Pipeline(p) = call.next() else {
            panic!("expected load + call")
        };
        assert_eq!(names(&p), ["SCRIPT", "EVALSHA"]);
        call.feed_many(Ok(vec![sha_reply(big.sha1()), resp(b":5\r\n")]));
        assert!(matches!(call.next(), Request::Done(Ok(Value::Int(5)))));
        drop(call);
        // A small one it lacked: loaded with its first call, one round
        // trip, and no survey again.
        let other = fam(Fam::Other);
        let mut call = Call::new(&other, &args, scope, None);
        let Request::Pipeline(p) = call.next() else {
            panic!("expected load + call")
        };
        assert_eq!(names(&p), ["SCRIPT", "EVALSHA"]);
        call.feed_many(Ok(vec![sha_reply(other.sha1()), resp(b":2\r\n")]));
        assert!(matches!(call.next(), Request::Done(Ok(Value::Int(2)))));
        let stats = state.counters.snapshot();
        assert_eq!((stats.surveys, stats.loads), (1, 2));
    }

    #[test]
    fn a_refused_survey_is_not_sent_again_and_changes_no_reply() {
        let state = StateInner::default();
        let args = CallArgs::default();
        let scope = Scope::single(&state);
        let small = fam(Fam::Small);
        let mut call = Call::new(&small, &args, scope, None);
        let Request::Pipeline(_) = call.next() else {
            panic!("expected survey + load + call")
        };
        call.feed_many(Ok(vec![
            resp(b"-NOPERM User u has no permissions to run the 'script|exists' command\r\n"),
            sha_reply(small.sha1()),
            resp(b":1\r\n"),
        ]));
        assert!(matches!(call.next(), Request::Done(Ok(Value::Int(1)))));
        drop(call);
        assert_eq!(state.counters.snapshot().surveys, 0);
        // The next script of the family is loaded with its call, unasked.
        let other = fam(Fam::Other);
        let mut call = Call::new(&other, &args, scope, None);
        let Request::Pipeline(p) = call.next() else {
            panic!("expected load + call")
        };
        assert_eq!(names(&p), ["SCRIPT", "EVALSHA"]);
    }

    #[test]
    fn evalsha_first_mode_loads_only_after_noscript() {
        let handle = handle();
        let state = StateInner {
            mode: LoadMode::EvalshaFirst,
            ..StateInner::default()
        };
        let args = CallArgs::default();
        let scope = Scope::single(&state);
        let mut call = Call::new(&handle, &args, scope, None).alone();
        let Request::Eval { .. } = call.next() else {
            panic!("expected EVALSHA first")
        };
        call.feed_one(Reply::from_value(resp(b":3\r\n")));
        assert!(matches!(call.next(), Request::Done(Ok(Value::Int(3)))));
        assert!(state.loaded.is_loaded(&NodeKey::SINGLE, handle.sha1()));
    }
}
