//! The load policy of one script call, written once for the sync and the
//! async connection: a small state machine that says what to send next and
//! reads what came back. The drivers (`sync_conn`, `async_conn`) only move
//! bytes.
//!
//! Policy:
//! * confirmed on this node: `EVALSHA` (or `EVALSHA_RO`) only;
//! * not confirmed: `SCRIPT LOAD` and `EVALSHA` as one pipeline, one round
//!   trip; the script is marked loaded only when the server answered the
//!   expected SHA-1;
//! * `NOSCRIPT` (matched on the error code): forget the mark, load and call
//!   again, once; a second `NOSCRIPT` is [`Error::NoScript`]. A script that
//!   got `NOSCRIPT` never ran, so the retry cannot run it twice;
//! * scripts with a `#!lua` shebang or the `no-writes` flag need to know
//!   whether the server has shebangs and `EVALSHA_RO` (Redis 7+, Valkey):
//!   asked once per node with `COMMAND INFO EVALSHA_RO`.

use redis::{Cmd, Pipeline, Value};

use crate::args::CallArgs;
use crate::error::{Error, ScriptId, ServerReply};
use crate::handle::ScriptHandle;
use crate::state::{Caps, Counters, Epoch, LoadDecision, LoadGuard, LoadedSet, NodeKey};

/// Upper bound of requests one call may send, whatever the server answers:
/// probe, load+call, reload+call, and one re-probe after a server change.
const MAX_STEPS: u8 = 6;

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

/// What a driver must do next.
pub(crate) enum Request {
    /// Send one command, feed back its reply with [`Call::feed_one`].
    One(Cmd),
    /// Send a two-command pipeline, feed back both replies with
    /// [`Call::feed_many`].
    Pipeline(Pipeline),
    /// Wait until another task finished loading, then ask again.
    #[cfg(feature = "tokio-comp")]
    Wait(tokio::sync::watch::Receiver<()>),
    /// Finished.
    Done(Result<Value, Error>),
}

/// What the last request was, to read its reply.
enum Sent<'a> {
    Nothing,
    Probe,
    Call {
        sha1: &'a str,
        command: &'static str,
        epoch: Epoch,
    },
    LoadAndCall {
        sha1: &'a str,
        command: &'static str,
    },
}

/// One script call in progress.
pub(crate) struct Call<'a> {
    handle: &'a ScriptHandle,
    args: &'a CallArgs,
    loaded: &'a LoadedSet,
    counters: &'a Counters,
    node: NodeKey,
    coordinate: bool,
    sent: Sent<'a>,
    guard: Option<LoadGuard>,
    noscripts: u8,
    steps: u8,
    outcome: Option<Result<Value, Error>>,
}

impl<'a> Call<'a> {
    pub(crate) fn new(
        handle: &'a ScriptHandle,
        args: &'a CallArgs,
        loaded: &'a LoadedSet,
        counters: &'a Counters,
        coordinate: bool,
    ) -> Self {
        Call {
            handle,
            args,
            loaded,
            counters,
            node: NodeKey::SINGLE,
            coordinate,
            sent: Sent::Nothing,
            guard: None,
            noscripts: 0,
            steps: 0,
            outcome: None,
        }
    }

    fn id(&self) -> ScriptId {
        self.handle.id()
    }

    fn needs_caps(&self) -> bool {
        self.handle.read_only() || self.handle.has_shebang()
    }

    /// The next thing to send.
    pub(crate) fn next(&mut self) -> Request {
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
        let handle: &'a ScriptHandle = self.handle;
        let Some((caps, body, decision)) = self.loaded.decide_with(
            &self.node,
            self.needs_caps(),
            |caps| handle.body(caps == Caps::Legacy),
            self.coordinate,
        ) else {
            self.sent = Sent::Probe;
            return Request::One(probe_cmd());
        };
        let command = if self.handle.read_only() && caps == Caps::Modern {
            "EVALSHA_RO"
        } else {
            "EVALSHA"
        };
        match decision {
            LoadDecision::Loaded(epoch) => {
                self.sent = Sent::Call {
                    sha1: body.sha1,
                    command,
                    epoch,
                };
                Request::One(self.args.eval_cmd(command, body.sha1))
            }
            LoadDecision::Load(guard) => {
                self.guard = Some(guard);
                self.sent = Sent::LoadAndCall {
                    sha1: body.sha1,
                    command,
                };
                let mut pipe = redis::Pipeline::with_capacity(2);
                pipe.add_command(load_cmd(body.source));
                pipe.add_command(self.args.eval_cmd(command, body.sha1));
                Request::Pipeline(pipe)
            }
            #[cfg(feature = "tokio-comp")]
            LoadDecision::Wait(rx) => {
                // Waiting is not a request to the server.
                self.steps -= 1;
                Request::Wait(rx)
            }
        }
    }

    /// Reads the reply of a [`Request::One`].
    pub(crate) fn feed_one(&mut self, reply: Reply) {
        match std::mem::replace(&mut self.sent, Sent::Nothing) {
            Sent::Probe => match caps_from_probe(reply) {
                Ok(caps) => self.loaded.set_caps(&self.node, caps),
                Err(e) => self.outcome = Some(Err(Error::redis(Some(&self.id()), e))),
            },
            Sent::Call {
                sha1,
                command,
                epoch,
            } => {
                self.counters.called(1);
                self.read_call(reply, sha1, command, epoch);
            }
            Sent::LoadAndCall { .. } | Sent::Nothing => {
                self.outcome = Some(Err(Error::redis(
                    Some(&self.id()),
                    redis::RedisError::from((
                        redis::ErrorKind::Client,
                        "script-cache: reply fed to the wrong request",
                    )),
                )));
            }
        }
    }

    /// Reads the replies of a [`Request::Pipeline`] (or the error that
    /// replaced them).
    pub(crate) fn feed_many(&mut self, replies: redis::RedisResult<Vec<Value>>) {
        let Sent::LoadAndCall { sha1, command } = std::mem::replace(&mut self.sent, Sent::Nothing)
        else {
            self.outcome = Some(Err(Error::redis(
                Some(&self.id()),
                redis::RedisError::from((
                    redis::ErrorKind::Client,
                    "script-cache: replies fed to the wrong request",
                )),
            )));
            return;
        };
        let mut replies = match replies {
            Ok(values) if values.len() == 2 => values.into_iter().map(Reply::from_value),
            Ok(values) => {
                self.release(sha1);
                self.outcome = Some(Err(Error::redis(
                    Some(&self.id()),
                    redis::RedisError::from((
                        redis::ErrorKind::UnexpectedReturnType,
                        "script-cache: expected 2 replies to SCRIPT LOAD + EVALSHA",
                        format!("got {}", values.len()),
                    )),
                )));
                return;
            }
            Err(e) => {
                self.release(sha1);
                self.outcome = Some(Err(Error::redis(Some(&self.id()), e)));
                return;
            }
        };
        let (Some(load), Some(call)) = (replies.next(), replies.next()) else {
            return;
        };
        self.counters.called(1);
        let script = self.handle.id_for(sha1);
        if let Reply::Server(e) = &load
            && self.handle.has_shebang()
            && is_shebang_rejection(e)
        {
            // The server does not take shebangs although it looked like it
            // would (COMMAND was refused, or a failover to an older server):
            // use the legacy body.
            self.release(sha1);
            self.loaded.set_caps(&self.node, Caps::Legacy);
            return;
        }
        if let Err(e) = confirm_load(load, &script) {
            self.release(sha1);
            self.outcome = Some(Err(e));
            return;
        }
        let epoch = self.loaded.mark_loaded(&self.node, sha1);
        self.counters.loaded(1);
        // Wakes the tasks waiting for this load.
        self.guard = None;
        self.read_call(call, sha1, command, epoch);
    }

    /// Gives up a load: forget "loading" and wake the waiting tasks, which
    /// then load it themselves.
    fn release(&mut self, sha1: &str) {
        self.loaded.abandon_loading(&self.node, sha1);
        self.guard = None;
    }

    fn read_call(&mut self, reply: Reply, sha1: &str, command: &'static str, epoch: Epoch) {
        // Names the script in errors only: the success path allocates nothing.
        let script = || self.handle.id_for(sha1);
        match reply {
            Reply::Value(v) => self.outcome = Some(Ok(v)),
            Reply::Server(e) if e.is("NOSCRIPT") => {
                // The next step reloads it (or, if another task reloaded
                // it since this call was sent, just calls again).
                let cleared = self.loaded.mark_unloaded(&self.node, sha1, epoch);
                self.noscripts += 1;
                if cleared && self.noscripts == 1 {
                    // Flushed, restarted or failed over: one reload follows
                    // (by this task or the first one to get there).
                    self.counters.reloaded();
                }
                if self.noscripts > 1 {
                    self.outcome = Some(Err(Error::NoScript {
                        script: script(),
                        after_reload: true,
                    }));
                }
            }
            Reply::Server(e) if command == "EVALSHA_RO" && is_unknown_command(&e) => {
                // The server changed under a reconnecting connection: ask
                // again what it supports.
                self.loaded.set_caps(&self.node, Caps::Unknown);
            }
            Reply::Server(e) => {
                let error = e
                    .into_call_error(&script(), command)
                    .located(|line| self.handle.locate(line));
                self.outcome = Some(Err(error));
            }
            Reply::Client(e) => self.outcome = Some(Err(Error::redis(Some(&script()), e))),
        }
    }
}

impl Drop for Call<'_> {
    fn drop(&mut self) {
        // A call dropped between sending a load and reading its reply (an
        // async task cancelled mid-flight) must not leave "loading" behind.
        if let (Some(_), Sent::LoadAndCall { sha1, .. }) = (&self.guard, &self.sent) {
            self.loaded.abandon_loading(&self.node, sha1);
        }
    }
}

/// Asks whether the server knows `EVALSHA_RO` (Redis 7+, Valkey), which
/// goes with `#!lua` shebang support.
pub(crate) fn probe_cmd() -> Cmd {
    let mut cmd = redis::cmd("COMMAND");
    cmd.arg("INFO").arg("EVALSHA_RO");
    cmd
}

/// Reads the reply of [`probe_cmd`].
pub(crate) fn caps_from_probe(reply: Reply) -> Result<Caps, redis::RedisError> {
    match reply {
        // `[nil]`: the server does not know EVALSHA_RO.
        Reply::Value(Value::Array(items)) if matches!(items.first(), Some(Value::Nil)) => {
            Ok(Caps::Legacy)
        }
        Reply::Value(_) => Ok(Caps::Modern),
        // COMMAND refused (ACL) or failed: assume a current server; a wrong
        // guess shows as a shebang rejection or an unknown EVALSHA_RO and is
        // corrected then.
        Reply::Server(_) => Ok(Caps::Modern),
        Reply::Client(e) => Err(e),
    }
}

/// `SCRIPT LOAD <source>`.
pub(crate) fn load_cmd(source: &str) -> Cmd {
    let mut cmd = redis::cmd("SCRIPT");
    cmd.arg("LOAD").arg(source);
    cmd
}

/// Reads the reply of `SCRIPT LOAD`: the server must answer the SHA-1 of
/// `script` (the body that was sent), or the script is not loaded.
pub(crate) fn confirm_load(reply: Reply, script: &ScriptId) -> Result<(), Error> {
    match reply {
        Reply::Value(v) => match sha_of(&v) {
            Some(got) if got.eq_ignore_ascii_case(&script.sha1) => Ok(()),
            got => Err(Error::ShaMismatch {
                script: script.clone(),
                server_sha1: got.unwrap_or_else(|| format!("{v:?}")),
            }),
        },
        Reply::Server(e) => Err(e.into_load_error(script)),
        Reply::Client(e) => Err(Error::redis(Some(script), e)),
    }
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

fn is_unknown_command(e: &ServerReply) -> bool {
    e.is("ERR") && e.message.to_ascii_lowercase().contains("unknown command")
}

/// Redis before 7.0 reads `#!lua` as Lua and fails on the `#`.
fn is_shebang_rejection(e: &ServerReply) -> bool {
    e.message.contains("user_script:1:") && e.message.contains("near '#'")
}

#[cfg(test)]
mod tests {
    //! The state machine fed with replies parsed from real RESP bytes. A
    //! real server cannot answer NOSCRIPT right after confirming a load on
    //! the same connection (it runs one client's pipeline back to back), so
    //! the second-NOSCRIPT bound is checked here.
    use super::*;
    use crate::handle::DynamicScript;
    use std::sync::Arc;

    fn resp(bytes: &[u8]) -> Value {
        redis::parse_redis_value(bytes).unwrap()
    }

    fn noscript() -> Value {
        resp(b"-NOSCRIPT No matching script. Please use EVAL.\r\n")
    }

    #[test]
    fn second_noscript_is_an_error_not_a_loop() {
        let handle = ScriptHandle::Dynamic(Arc::new(DynamicScript::new("s", "return 1")));
        let sha = handle.sha1().to_owned();
        let loaded = LoadedSet::default();
        let counters = Counters::default();
        let args = CallArgs::default();
        let mut call = Call::new(&handle, &args, &loaded, &counters, false);

        // Cold: load + call; the server confirms the load but the call
        // meets NOSCRIPT (flushed in between).
        let Request::Pipeline(p) = call.next() else {
            panic!("expected load + call")
        };
        assert_eq!(p.len(), 2);
        let sha_reply = resp(format!("${}\r\n{sha}\r\n", sha.len()).as_bytes());
        call.feed_many(Ok(vec![sha_reply.clone(), noscript()]));
        // Retried once, loading again.
        let Request::Pipeline(_) = call.next() else {
            panic!("expected a reload")
        };
        call.feed_many(Ok(vec![sha_reply, noscript()]));
        match call.next() {
            Request::Done(Err(Error::NoScript {
                script,
                after_reload: true,
            })) => {
                assert_eq!(&*script.name, "s");
            }
            _ => panic!("expected NoScript after the retry"),
        }
        assert!(!loaded.is_loaded(&NodeKey::SINGLE, &sha));
        let stats = counters.snapshot();
        assert_eq!((stats.loads, stats.reloads, stats.calls), (2, 1, 2));
    }

    #[test]
    fn warm_noscript_reloads_once_and_succeeds() {
        let handle = ScriptHandle::Dynamic(Arc::new(DynamicScript::new("s", "return 1")));
        let sha = handle.sha1().to_owned();
        let loaded = LoadedSet::default();
        let _ = loaded.mark_loaded(&NodeKey::SINGLE, &sha);
        let counters = Counters::default();
        let args = CallArgs::default();
        let mut call = Call::new(&handle, &args, &loaded, &counters, false);
        let Request::One(_) = call.next() else {
            panic!("expected EVALSHA only")
        };
        call.feed_one(Reply::from_value(noscript()));
        assert!(!loaded.is_loaded(&NodeKey::SINGLE, &sha));
        let Request::Pipeline(_) = call.next() else {
            panic!("expected a reload")
        };
        let sha_reply = resp(format!("${}\r\n{sha}\r\n", sha.len()).as_bytes());
        call.feed_many(Ok(vec![sha_reply, resp(b":1\r\n")]));
        match call.next() {
            Request::Done(Ok(Value::Int(1))) => {}
            _ => panic!("expected the retried call's reply"),
        }
        assert!(loaded.is_loaded(&NodeKey::SINGLE, &sha));
        assert_eq!(counters.snapshot().reloads, 1);
    }

    #[test]
    fn stale_noscript_does_not_undo_a_newer_load() {
        let handle = ScriptHandle::Dynamic(Arc::new(DynamicScript::new("s", "return 1")));
        let sha = handle.sha1().to_owned();
        let loaded = LoadedSet::default();
        let _ = loaded.mark_loaded(&NodeKey::SINGLE, &sha);
        let counters = Counters::default();
        let args = CallArgs::default();
        let mut call = Call::new(&handle, &args, &loaded, &counters, false);
        let Request::One(_) = call.next() else {
            panic!("expected EVALSHA only")
        };
        // Another task reloads the script before this call's NOSCRIPT (sent
        // before that reload) is read.
        let _ = loaded.mark_loaded(&NodeKey::SINGLE, &sha);
        call.feed_one(Reply::from_value(noscript()));
        assert!(
            loaded.is_loaded(&NodeKey::SINGLE, &sha),
            "the newer load stands"
        );
        let Request::One(_) = call.next() else {
            panic!("expected EVALSHA again, no reload")
        };
        call.feed_one(Reply::from_value(resp(b":1\r\n")));
        assert!(matches!(call.next(), Request::Done(Ok(Value::Int(1)))));
        assert_eq!(counters.snapshot().reloads, 0);
    }
}
