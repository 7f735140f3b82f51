//! The one error type of the runtime.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::script::{Arity, SourceLocation};

/// Which script an error is about: its name and the SHA-1 it runs under.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ScriptId {
    /// The script's name (file stem, or the name given at registration).
    pub name: Arc<str>,
    /// The SHA-1 sent with `EVALSHA`.
    pub sha1: Arc<str>,
}

impl fmt::Display for ScriptId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let short = self.sha1.get(..12).unwrap_or(&self.sha1);
        write!(f, "script `{}` ({short})", self.name)
    }
}

/// Everything that can go wrong running a script.
///
/// Every variant that concerns one script names it ([`ScriptId`]: name and
/// SHA-1), so a log line says which script failed without more context.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The script ran and raised an error: a Lua runtime error, an
    /// `error_reply`, or a failing `redis.call`. The script may have written
    /// before failing (Redis scripts are not rolled back).
    Script {
        /// The script.
        script: ScriptId,
        /// The error code the server sent (`ERR`, `WRONGTYPE`, or the code of
        /// the script's own `error_reply`). A code is an all-uppercase word
        /// (`ERR`, `NOSCRIPT`, `RATE_LIMITED`); a reply that does not start
        /// with one (`redis.error_reply('my failure')`) has an empty code,
        /// and its whole text is the message.
        code: String,
        /// The server's message, without the code.
        message: String,
        /// The line of the source sent to the server that the server blamed
        /// (`user_script:N`), if any.
        line: Option<u32>,
        /// That line in the original file: the script, or the snippet it
        /// included with `-- @include` that holds the line.
        location: Option<SourceLocation>,
    },
    /// The server answered `NOSCRIPT` again after the script was reloaded,
    /// or inside a pipeline or transaction (which are never replayed).
    NoScript {
        /// The script.
        script: ScriptId,
        /// Whether a reload was attempted first.
        after_reload: bool,
    },
    /// The server refused a command for lack of permission (ACL `NOPERM`).
    PermissionDenied {
        /// The script.
        script: ScriptId,
        /// The refused command (`SCRIPT LOAD`, `EVALSHA`, ...).
        command: &'static str,
        /// The server's message.
        message: String,
    },
    /// The server could not take the call right now: a condition of the
    /// server, not an error of the script (see [`Condition`]). The script
    /// did not run, or stopped at its first write with nothing applied
    /// (`READONLY`, `OOM`): [`ran`](Error::ran) is [`Ran::No`], and the
    /// same call may be retried once the condition is over.
    Unavailable {
        /// The script, if the refusal concerned one.
        script: Option<ScriptId>,
        /// What the server said it is going through.
        condition: Condition,
        /// The server's message, without the code.
        message: String,
    },
    /// A script registered at run time is not valid Lua 5.1 (checked with
    /// the same checker as the build-time macros, with the `checker`
    /// feature; without it, only the errors Lua's lexer rules find: code
    /// that is not ASCII, an unfinished quoted string, an escape above 255,
    /// and the server reports the others as [`Error::LoadRejected`] at the
    /// first call). It was not registered, and nothing was sent.
    Syntax {
        /// The name it was to be registered under.
        name: String,
        /// The line Lua blamed (1-based).
        line: u32,
        /// Lua's message.
        message: String,
    },
    /// A script registered at run time would fail when a line of it runs:
    /// the build-time lint (`script_cache_check::lint`: an undefined or
    /// written global, an unknown command, a wrong literal arity, a write
    /// in a `no-writes` script, ...) found it. It was not registered, and
    /// nothing was sent. The lint's warnings do not stop a registration.
    /// Only with the `checker` feature (default).
    Lint {
        /// The name it was to be registered under.
        name: String,
        /// The line (1-based).
        line: u32,
        /// The column (1-based, in characters).
        column: u32,
        /// The rule, as allow comments name it (`-- script-cache:
        /// allow(global-write)`).
        rule: &'static str,
        /// What is wrong.
        message: String,
        /// How to fix it.
        help: String,
    },
    /// A script registered at run time has a `#!` first line the servers
    /// refuse at `SCRIPT LOAD` (an unknown flag or option, an engine other
    /// than `lua`, no newline after it, ...), read by the same parser as the
    /// build-time macros (`script_cache_check::shebang`). It was not
    /// registered, and nothing was sent.
    Shebang {
        /// The name it was to be registered under.
        name: String,
        /// The 1-based column (in characters) on line 1.
        column: u32,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A file or folder given to `register_file` or `register_all_scripts`
    /// is outside the folder set with `set_script_dir` once resolved
    /// (`..`, an absolute path, or a symlink leads out of it). Nothing was
    /// read or registered.
    OutsideScriptDir {
        /// The path as given (a file of the folder for
        /// `register_all_scripts`: the symlink that leads out).
        path: PathBuf,
        /// The script folder.
        script_dir: PathBuf,
    },
    /// A call of an embedded script passes a number of keys or arguments
    /// that its build-time metadata ([`ScriptMeta::keys`],
    /// [`ScriptMeta::args`]) says is wrong. Refused before anything was
    /// sent: the script did not run.
    ///
    /// [`ScriptMeta::keys`]: crate::ScriptMeta::keys
    /// [`ScriptMeta::args`]: crate::ScriptMeta::args
    WrongArity {
        /// The script.
        script: ScriptId,
        /// The keys the script takes.
        expected_keys: Arity,
        /// The keys given.
        keys: usize,
        /// The arguments the script takes.
        expected_args: Arity,
        /// The arguments given.
        args: usize,
    },
    /// `SCRIPT LOAD` was refused for another reason (for scripts registered
    /// at run time without the `checker` feature, typically a Lua syntax
    /// error), or an `EVAL` of the source was (the server did not compile
    /// it). The script did not run.
    LoadRejected {
        /// The script.
        script: ScriptId,
        /// The server's error code.
        code: String,
        /// The server's message.
        message: String,
    },
    /// The server answered `SCRIPT LOAD` with another SHA-1 than the one
    /// computed at build (or registration) time. The script is not marked
    /// loaded: calling it by the wrong SHA could run something else.
    ShaMismatch {
        /// The script, with the expected SHA-1.
        script: ScriptId,
        /// What the server answered.
        server_sha1: String,
    },
    /// A function of a library was called on a server without functions
    /// (Redis 6.2 and older: functions need Redis 7.0 or newer, or
    /// Valkey). Nothing was sent: the function did not run. Scripts keep
    /// working on that server.
    FunctionsUnsupported {
        /// The function, with its library's SHA-1.
        script: ScriptId,
    },
    /// The server holds a library of the same name with other code than
    /// this build's, and the state refuses to replace it
    /// ([`ScriptState::refuse_other_libraries`](crate::ScriptState::refuse_other_libraries)).
    /// Nothing was loaded and the function did not run.
    OtherLibrary {
        /// The function, with this build's library SHA-1.
        script: ScriptId,
        /// The library's name on the server.
        library: String,
        /// SHA-1 of the code the server holds.
        server_sha1: String,
    },
    /// No script of that name is registered.
    UnknownScript {
        /// The name asked for.
        name: String,
        /// Registered names that look alike, closest first.
        similar: Vec<String>,
    },
    /// A script of that name is registered with another source; use
    /// `replace_script` to replace it on purpose.
    NameTaken {
        /// The name.
        name: String,
        /// SHA-1 of the registered source.
        registered_sha1: String,
        /// SHA-1 of the new source.
        new_sha1: String,
    },
    /// A script file could not be read.
    Io {
        /// The file or folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A script name or file is not acceptable (not UTF-8, empty name).
    InvalidScript {
        /// The file or name.
        what: String,
        /// Why it is refused.
        reason: String,
    },
    /// A transaction was aborted as a whole (`EXECABORT`, or `WATCH`ed keys
    /// changed): none of its commands ran.
    TransactionAborted {
        /// The server's explanation, when there is one.
        message: String,
    },
    /// The keys of one script call, or the commands of one cluster
    /// pipeline or transaction, hash to different Redis Cluster slots.
    /// Detected before anything was sent: nothing ran. Put the keys under
    /// one hash tag (`{user:42}:a`, `{user:42}:b`).
    CrossSlot {
        /// The script, if the call was a single script call.
        script: Option<ScriptId>,
        /// The distinct slots, in the order met.
        slots: Vec<u16>,
    },
    /// A command of a pipeline that is not a script call failed. When the
    /// server answered it with an error reply, it ran and was refused
    /// ([`ran`](Error::ran) is [`Ran::Yes`]); a connection error is
    /// [`Ran::Unknown`].
    Command {
        /// The position of the command in the pipeline, counting only the
        /// caller's own commands.
        index: usize,
        /// The error.
        source: redis::RedisError,
    },
    /// Some entries of a pipeline (or transaction) of more than one entry
    /// failed: what [`Pipeline::query`](crate::Pipeline::query) returns then,
    /// as it cannot return one value. Each entry's outcome, in order
    /// (ignored entries included, indexed as in
    /// [`query_each`](crate::Pipeline::query_each), which returns each
    /// entry's own result instead). [`ran`](Error::ran) speaks of the
    /// pipeline as a whole: [`Ran::Yes`] when any entry ran (succeeded, or
    /// ran and failed), so retrying the pipeline on [`Ran::No`] never
    /// applies an entry twice; the message names which entries ran and
    /// which did not.
    Pipeline {
        /// One per entry of the pipeline, in order.
        entries: Vec<EntryOutcome>,
    },
    /// The script ran, but its reply did not convert to the requested type.
    Reply {
        /// The script.
        script: ScriptId,
        /// The conversion error from redis-rs.
        source: redis::RedisError,
    },
    /// script-cache itself stopped a request or could not read an
    /// exchange: a request it does not send (a transaction on a sync
    /// cluster connection, a cluster without a slot map), a server that
    /// changed under the connection (`EVALSHA_RO` unknown), a command the
    /// server refused outside a script (`COMMAND INFO`, `SCRIPT FLUSH`),
    /// or replies that do not match what was sent. Unlike
    /// [`Error::Redis`], it knows whether anything ran: [`ran`](Error::ran)
    /// is the `ran` field.
    Client {
        /// The script concerned, if any.
        script: Option<ScriptId>,
        /// Whether the script ran.
        ran: Ran,
        /// What happened.
        message: String,
    },
    /// A connection error or a protocol error.
    Redis {
        /// The script being run, if any.
        script: Option<ScriptId>,
        /// The error from redis-rs.
        source: redis::RedisError,
    },
}

impl Error {
    /// The script this error is about, if it is about one.
    pub fn script(&self) -> Option<&ScriptId> {
        match self {
            Error::Script { script, .. }
            | Error::NoScript { script, .. }
            | Error::PermissionDenied { script, .. }
            | Error::LoadRejected { script, .. }
            | Error::ShaMismatch { script, .. }
            | Error::FunctionsUnsupported { script }
            | Error::OtherLibrary { script, .. }
            | Error::WrongArity { script, .. }
            | Error::Reply { script, .. } => Some(script),
            Error::Redis { script, .. }
            | Error::Unavailable { script, .. }
            | Error::Client { script, .. } => script.as_ref(),
            _ => None,
        }
    }

    /// Whether the script ran.
    ///
    /// * [`Ran::No`]: provably not, or stopped before anything took effect:
    ///   `NOSCRIPT`, a refused `SCRIPT LOAD` or `EVALSHA`, a transaction
    ///   aborted as a whole, a server condition ([`Error::Unavailable`]),
    ///   a check before sending (syntax, unknown name, ...).
    /// * [`Ran::Unknown`]: the request was sent and no reply came (I/O
    ///   error, dropped connection, timeout).
    /// * [`Ran::Yes`]: it ran: it raised an error ([`Error::Script`], which
    ///   may follow writes: Redis does not roll back), or its reply did not
    ///   convert ([`Error::Reply`]).
    ///
    /// For an entry of a pipeline (in [`query_each`](crate::Pipeline::query_each)'s
    /// results) this speaks of that entry only: the other commands of a
    /// non-atomic pipeline ran. A plain command that the server answered
    /// with an error ([`Error::Command`] with a server error) ran: the
    /// server executed and refused it ([`Ran::Yes`], as a command such as
    /// a plain `EVAL` may have written before failing). For
    /// [`Error::Pipeline`] it speaks of the whole pipeline: [`Ran::Yes`] if
    /// any entry ran, else [`Ran::Unknown`] if any may have, else
    /// [`Ran::No`].
    pub fn ran(&self) -> Ran {
        match self {
            Error::Script { .. } | Error::Reply { .. } => Ran::Yes,
            Error::Client { ran, .. } => *ran,
            Error::Command { source, .. } if ServerReply::from_redis_error(source).is_some() => {
                Ran::Yes
            }
            Error::Redis { source, .. } | Error::Command { source, .. } => {
                if source.is_connection_refusal() {
                    Ran::No
                } else {
                    Ran::Unknown
                }
            }
            Error::Pipeline { entries } => {
                entries
                    .iter()
                    .map(EntryOutcome::ran)
                    .fold(Ran::No, |all, one| match (all, one) {
                        (Ran::Yes, _) | (_, Ran::Yes) => Ran::Yes,
                        (Ran::Unknown, _) | (_, Ran::Unknown) => Ran::Unknown,
                        (Ran::No, Ran::No) => Ran::No,
                    })
            }
            _ => Ran::No,
        }
    }

    /// Whether calling the script again cannot make it run twice: true
    /// exactly when [`ran`](Error::ran) is [`Ran::No`]. (Whether a retry
    /// can succeed is another matter: a syntax error stays one.)
    pub fn is_retry_safe(&self) -> bool {
        self.ran() == Ran::No
    }

    /// The server condition behind the error, if it is one.
    ///
    /// For [`Error::Pipeline`]: the condition every failed entry met, when
    /// no entry ran (a non-atomic pipeline refused entry by entry, say
    /// under `BUSY`).
    pub fn condition(&self) -> Option<Condition> {
        match self {
            Error::Unavailable { condition, .. } => Some(*condition),
            Error::Pipeline { entries } => {
                let mut conditions = entries.iter().map(|e| match e {
                    EntryOutcome::Failed(e) => e.condition(),
                    EntryOutcome::Ran => None,
                });
                let first = conditions.next().flatten()?;
                conditions.all(|c| c == Some(first)).then_some(first)
            }
            _ => None,
        }
    }

    /// Whether the error came from the connection (I/O, dropped connection,
    /// timeout) rather than from the server's answer.
    pub fn is_connection_error(&self) -> bool {
        match self {
            Error::Redis { source, .. } | Error::Command { source, .. } => {
                source.is_io_error()
                    || source.is_connection_dropped()
                    || source.is_connection_refusal()
                    || source.is_timeout()
            }
            _ => false,
        }
    }

    /// The server's error prefix behind the error (`NOSCRIPT`, `BUSY`,
    /// `WRONGTYPE`, a script's own `error_reply` code), if the server
    /// answered with one: `db.response.status_code` of the spans and
    /// metrics.
    #[cfg(any(feature = "tracing", feature = "opentelemetry"))]
    pub(crate) fn status_code(&self) -> Option<&str> {
        let code = match self {
            Error::Script { code, .. } | Error::LoadRejected { code, .. } => code.as_str(),
            Error::NoScript { .. } => "NOSCRIPT",
            Error::PermissionDenied { .. } => "NOPERM",
            Error::Unavailable { condition, .. } => condition.code(),
            Error::TransactionAborted { .. } => "EXECABORT",
            Error::Redis { source, .. } | Error::Command { source, .. } => source.code()?,
            Error::Pipeline { entries } => entries.iter().find_map(|e| e.error()?.status_code())?,
            _ => return None,
        };
        (!code.is_empty()).then_some(code)
    }

    /// A low-cardinality name of the error: `error.type` of the spans and
    /// metrics. The server's error prefix when there is one, else what
    /// went wrong on the client's side (`timeout`, `io`, ...).
    #[cfg(any(feature = "tracing", feature = "opentelemetry"))]
    pub(crate) fn error_type(&self) -> &str {
        if let Some(code) = self.status_code() {
            return code;
        }
        match self {
            Error::Redis { source, .. } | Error::Command { source, .. } => {
                if source.is_timeout() {
                    "timeout"
                } else if source.is_connection_refusal() {
                    "connection_refused"
                } else if source.is_io_error() || source.is_connection_dropped() {
                    "io"
                } else {
                    "redis"
                }
            }
            Error::Script { .. } => "script_error",
            Error::ShaMismatch { .. } => "sha_mismatch",
            Error::WrongArity { .. } => "wrong_arity",
            Error::CrossSlot { .. } => "cross_slot",
            Error::Reply { .. } => "reply_type",
            Error::Pipeline { .. } => "pipeline",
            Error::Client { .. } => "client",
            _ => "_OTHER",
        }
    }

    /// Fills in the original file and line of a script error.
    pub(crate) fn located(mut self, locate: impl FnOnce(u32) -> Option<SourceLocation>) -> Self {
        if let Error::Script {
            line: Some(line),
            location,
            ..
        } = &mut self
        {
            *location = locate(*line);
        }
        self
    }

    /// An [`Error::Client`].
    pub(crate) fn client(script: Option<&ScriptId>, ran: Ran, message: impl Into<String>) -> Self {
        Error::Client {
            script: script.cloned(),
            ran,
            message: message.into(),
        }
    }

    pub(crate) fn redis(script: Option<&ScriptId>, source: redis::RedisError) -> Self {
        Error::Redis {
            script: script.cloned(),
            source,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Script {
                script,
                code,
                message,
                line,
                location,
            } => {
                write!(f, "{script} failed")?;
                match (location, line) {
                    (Some(location), _) => write!(f, " at {location}")?,
                    (None, Some(line)) => write!(f, " at line {line}")?,
                    (None, None) => {}
                }
                write!(f, ": {}", coded(code, message))
            }
            Error::NoScript {
                script,
                after_reload: true,
            } => write!(
                f,
                "{script}: the server answered NOSCRIPT again right after loading it"
            ),
            Error::NoScript {
                script,
                after_reload: false,
            } => write!(
                f,
                "{script}: NOSCRIPT inside a pipeline (not replayed; the script is marked unloaded)"
            ),
            Error::PermissionDenied {
                script,
                command,
                message,
            } => write!(f, "{script}: {command} refused: NOPERM {message}"),
            Error::Unavailable {
                script,
                condition,
                message,
            } => {
                if let Some(script) = script {
                    write!(f, "{script}: ")?;
                }
                write!(
                    f,
                    "server unavailable ({}): {} {message}; the script did not run",
                    condition.describe(),
                    condition.code()
                )
            }
            Error::Lint {
                name,
                line,
                column,
                rule,
                message,
                help,
            } => write!(
                f,
                "script `{name}` would fail at run time (line {line}:{column}: {message} \
                 [lint: {rule}]; {help}); it was not registered"
            ),
            Error::Syntax {
                name,
                line,
                message,
            } => write!(
                f,
                "script `{name}` is not valid Lua 5.1 (line {line}: {message}); it was not registered"
            ),
            Error::Shebang {
                name,
                column,
                message,
            } => write!(
                f,
                "script `{name}` has a shebang the servers refuse at SCRIPT LOAD (line 1:{column}: \
                 {message}); it was not registered"
            ),
            Error::OutsideScriptDir { path, script_dir } => write!(
                f,
                "{} is outside the script folder {} (`..`, an absolute path or a symlink \
                 leads out of it); nothing was registered",
                path.display(),
                script_dir.display()
            ),
            Error::WrongArity {
                script,
                expected_keys,
                keys,
                expected_args,
                args,
            } => write!(
                f,
                "{script} takes {} and {}, but the call gives {} and {}; nothing was sent",
                counted(*expected_keys, "key"),
                counted(*expected_args, "argument"),
                counted(Arity::Exact(*keys), "key"),
                counted(Arity::Exact(*args), "argument"),
            ),
            Error::Reply { script, source } => {
                write!(f, "{script} ran, but its reply did not convert: {source}")
            }
            Error::LoadRejected {
                script,
                code,
                message,
            } => write!(
                f,
                "{script}: the server refused to load it: {}; the script did not run",
                coded(code, message)
            ),
            Error::FunctionsUnsupported { script } => write!(
                f,
                "{script}: functions need Redis 7.0 or newer (or Valkey), and this server has \
                 none (Redis 6.2 or older); the function did not run (scripts work there)"
            ),
            Error::OtherLibrary {
                script,
                library,
                server_sha1,
            } => write!(
                f,
                "{script}: the server holds library `{library}` with other code (SHA-1 \
                 {server_sha1}, this build's is {}) and the state refuses to replace it; \
                 nothing was loaded and the function did not run",
                script.sha1
            ),
            Error::ShaMismatch {
                script,
                server_sha1,
            } => write!(
                f,
                "{script}: SCRIPT LOAD answered SHA-1 {server_sha1}, expected {}; \
                 the script was not marked loaded",
                script.sha1
            ),
            Error::UnknownScript { name, similar } => {
                write!(f, "no script named `{name}` is registered")?;
                if let Some(phrase) = script_cache_check::did_you_mean(similar) {
                    write!(f, "; {phrase}")?;
                }
                Ok(())
            }
            Error::NameTaken {
                name,
                registered_sha1,
                new_sha1,
            } => write!(
                f,
                "script `{name}` is already registered with another source \
                 ({registered_sha1}, new {new_sha1}); use replace_script to replace it"
            ),
            Error::Io { path, source } => write!(f, "cannot read {}: {source}", path.display()),
            Error::InvalidScript { what, reason } => write!(f, "{what}: {reason}"),
            Error::CrossSlot { script, slots } => {
                if let Some(script) = script {
                    write!(f, "{script}: ")?;
                }
                write!(
                    f,
                    "CROSSSLOT: keys in different cluster slots {slots:?}; nothing was sent"
                )
            }
            Error::TransactionAborted { message } => {
                write!(f, "transaction aborted, nothing ran: {message}")
            }
            Error::Command { index, source } => {
                write!(f, "pipeline command #{index} failed: {source}")
            }
            Error::Client {
                script: Some(script),
                message,
                ..
            } => write!(f, "{script}: {message}"),
            Error::Client {
                script: None,
                message,
                ..
            } => f.write_str(message),
            Error::Pipeline { entries } => {
                write!(f, "pipeline of {} entries failed", entries.len())?;
                let mut ran = Vec::new();
                for (i, entry) in entries.iter().enumerate() {
                    match entry {
                        EntryOutcome::Ran => ran.push(i),
                        EntryOutcome::Failed(e) => {
                            let what = match e.ran() {
                                Ran::No => "did not run",
                                Ran::Unknown => "may have run",
                                Ran::Yes => "ran and failed",
                            };
                            write!(f, "; entry #{i} {what}: {e}")?;
                        }
                    }
                }
                match ran.as_slice() {
                    [] => write!(f, "; no entry ran"),
                    [one] => write!(f, "; entry #{one} ran"),
                    many => write!(f, "; entries {} ran", ranges(many)),
                }
            }
            Error::Redis { script, source } => {
                if let Some(script) = script {
                    write!(f, "{script}: ")?;
                }
                if connection_lost(source) {
                    write!(f, "connection lost; the script may have run ({source})")
                } else {
                    write!(f, "{source}")
                }
            }
        }
    }
}

/// A connection that dropped after the request may have been sent (end
/// of file, broken pipe, reset): not one that was refused, where nothing
/// was sent ([`Error::ran`] tells them apart the same way).
fn connection_lost(source: &redis::RedisError) -> bool {
    source.is_connection_dropped() && !source.is_connection_refusal()
}

/// `ERR message`, or the message alone when the reply had no code.
fn coded(code: &str, message: &str) -> String {
    if code.is_empty() {
        message.to_owned()
    } else {
        format!("{code} {message}")
    }
}

/// Whether the first word of an error reply is an error code: two or more
/// characters, uppercase ASCII letters, digits and `_`, starting with a
/// letter (`ERR`, `WRONGTYPE`, `NOSCRIPT`, `BUSY`, `OOM`, `RATE_LIMITED`).
/// `redis.error_reply('my failure')` starts with no code: its `my` is a
/// word of the message.
pub(crate) fn is_error_code(word: &str) -> bool {
    word.len() >= 2
        && word.starts_with(|c: char| c.is_ascii_uppercase())
        && word
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// `#0-#3, #5, #7-#8` for sorted entry indexes.
fn ranges(indexes: &[usize]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while let Some(&start) = indexes.get(i) {
        let mut end = start;
        while indexes.get(i + 1) == Some(&(end + 1)) {
            end += 1;
            i += 1;
        }
        parts.push(if end == start {
            format!("#{start}")
        } else {
            format!("#{start}-#{end}")
        });
        i += 1;
    }
    parts.join(", ")
}

/// `1 key`, `2 keys`, `1 or more keys`.
fn counted(arity: Arity, word: &str) -> String {
    let plural = if arity == Arity::Exact(1) { "" } else { "s" };
    format!("{arity} {word}{plural}")
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            Error::Redis { source, .. }
            | Error::Command { source, .. }
            | Error::Reply { source, .. } => Some(source),
            Error::Pipeline { entries } => entries.iter().find_map(|e| match e {
                EntryOutcome::Failed(e) => Some(e as &(dyn std::error::Error + 'static)),
                EntryOutcome::Ran => None,
            }),
            _ => None,
        }
    }
}

impl From<redis::RedisError> for Error {
    fn from(source: redis::RedisError) -> Self {
        Error::Redis {
            script: None,
            source,
        }
    }
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A server error reply, reduced to what classification needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ServerReply {
    pub(crate) code: String,
    pub(crate) message: String,
}

impl ServerReply {
    /// redis-rs splits an error reply at its first space; a first word
    /// that is not an error code ([`is_error_code`]) goes back into the
    /// message, and the code is empty.
    fn new(code: &str, detail: &str) -> Self {
        if is_error_code(code) {
            ServerReply {
                code: code.to_owned(),
                message: detail.to_owned(),
            }
        } else {
            ServerReply {
                code: String::new(),
                message: if detail.is_empty() {
                    code.to_owned()
                } else {
                    format!("{code} {detail}")
                },
            }
        }
    }

    pub(crate) fn from_server_error(e: &redis::ServerError) -> Self {
        ServerReply::new(e.code(), e.details().unwrap_or_default())
    }

    /// The server error carried by a redis-rs error, if it is one.
    pub(crate) fn from_redis_error(e: &redis::RedisError) -> Option<Self> {
        match e.kind() {
            redis::ErrorKind::Server(_) | redis::ErrorKind::Extension => {
                Some(ServerReply::new(e.code()?, e.detail().unwrap_or_default()))
            }
            _ => None,
        }
    }

    pub(crate) fn is(&self, code: &str) -> bool {
        self.code.eq_ignore_ascii_case(code)
    }

    /// Classifies the error reply of a script call (`EVALSHA`,
    /// `EVALSHA_RO`): a server condition, a refusal of the command itself,
    /// or an error the script raised while running.
    pub(crate) fn into_call_error(mut self, script: &ScriptId, command: &'static str) -> Error {
        // Redis 6.2 wraps errors raised inside a script in ERR; the code of
        // the command that failed inside is what callers match on.
        if self.is("ERR")
            && let Some(inner) = wrapped_code(&self.message)
        {
            self.code = inner;
        }
        // A `user_script:N` marker: the error was raised while the script
        // ran (by Lua, or by a command it called).
        let inside = script_line(&self.message).is_some();
        if let Some(condition) = Condition::from_code(&self.code) {
            // A script stopped by READONLY or OOM stopped at its first
            // write: servers refuse those before anything was written.
            return Error::Unavailable {
                script: Some(script.clone()),
                condition,
                message: self.message,
            };
        }
        if self.is("NOPERM") && !inside {
            return Error::PermissionDenied {
                script: script.clone(),
                command,
                message: self.message,
            };
        }
        Error::Script {
            script: script.clone(),
            line: script_line(&self.message),
            code: self.code,
            message: self.message,
            location: None,
        }
    }

    /// Whether an `EVAL` of a source was refused because the server does
    /// not compile it (`ERR Error compiling script ...`): it did not run.
    pub(crate) fn is_compile_error(&self) -> bool {
        self.is("ERR") && self.message.starts_with("Error compiling script")
    }

    /// Classifies the error reply of `SCRIPT LOAD`.
    pub(crate) fn into_load_error(self, script: &ScriptId) -> Error {
        if let Some(condition) = Condition::from_code(&self.code) {
            return Error::Unavailable {
                script: Some(script.clone()),
                condition,
                message: self.message,
            };
        }
        if self.is("NOPERM") {
            return Error::PermissionDenied {
                script: script.clone(),
                command: "SCRIPT LOAD",
                message: self.message,
            };
        }
        Error::LoadRejected {
            script: script.clone(),
            code: self.code,
            message: self.message,
        }
    }

    /// Classifies the error reply of a command that is not a script call
    /// (the capability probe, `SCRIPT FLUSH`, `MULTI`).
    pub(crate) fn into_other_error(self, script: Option<&ScriptId>, what: &'static str) -> Error {
        if let Some(condition) = Condition::from_code(&self.code) {
            return Error::Unavailable {
                script: script.cloned(),
                condition,
                message: self.message,
            };
        }
        // The server answered: that command was refused, no script ran.
        Error::client(
            script,
            Ran::No,
            format!("{what}: {}", coded(&self.code, &self.message)),
        )
    }
}

/// What happened to one entry of a pipeline, in [`Error::Pipeline`].
#[derive(Debug)]
#[non_exhaustive]
pub enum EntryOutcome {
    /// It ran and the server answered a value (kept out of the error: use
    /// [`query_each`](crate::Pipeline::query_each) for the values).
    Ran,
    /// It failed; the error says whether it ran ([`Error::ran`]).
    Failed(Error),
}

impl EntryOutcome {
    /// Whether the entry ran: [`Ran::Yes`] for [`EntryOutcome::Ran`], else
    /// what its error says.
    pub fn ran(&self) -> Ran {
        match self {
            EntryOutcome::Ran => Ran::Yes,
            EntryOutcome::Failed(e) => e.ran(),
        }
    }

    /// The entry's error, if it failed.
    pub fn error(&self) -> Option<&Error> {
        match self {
            EntryOutcome::Ran => None,
            EntryOutcome::Failed(e) => Some(e),
        }
    }
}

/// Whether a script ran; see [`Error::ran`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ran {
    /// It did not run, or stopped before anything took effect: calling it
    /// again cannot apply it twice.
    No,
    /// The request was sent and no answer came: it may have run.
    Unknown,
    /// It ran (and raised an error, or its reply did not convert).
    Yes,
}

/// A condition of the server that refused a call, told apart from errors
/// a script raises ([`Error::Unavailable`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Condition {
    /// `BUSY`: another script (or function) is running past the busy
    /// threshold. Retry after it ends or after `SCRIPT KILL`.
    Busy,
    /// `READONLY`: a write on a replica.
    ReadOnly,
    /// `LOADING`: the server is loading its dataset.
    Loading,
    /// `MASTERDOWN`: a replica lost its primary and serves no stale data.
    MasterDown,
    /// `NOREPLICAS`: not enough good replicas to accept writes.
    NoReplicas,
    /// `OOM`: over `maxmemory`; the write was refused.
    OutOfMemory,
    /// `TRYAGAIN`: a cluster slot is being migrated (multi-key call).
    TryAgain,
    /// `CLUSTERDOWN`: the cluster cannot serve the slot.
    ClusterDown,
    /// `MOVED`: the slot lives on another node.
    Moved,
    /// `ASK`: the slot is being migrated to another node.
    Ask,
}

impl Condition {
    /// Whether a call refused with this condition may be sent again
    /// without risk of applying twice: true for every condition, as each
    /// refuses a command before it takes effect (`READONLY`, `OOM` and
    /// `NOREPLICAS` stop a script at its first write, with nothing
    /// applied). The same answer as [`Error::is_retry_safe`] for an
    /// [`Error::Unavailable`]; whether the retry can *succeed* depends on
    /// the condition ending.
    pub fn is_retry_safe(self) -> bool {
        match self {
            Condition::Busy
            | Condition::ReadOnly
            | Condition::Loading
            | Condition::MasterDown
            | Condition::NoReplicas
            | Condition::OutOfMemory
            | Condition::TryAgain
            | Condition::ClusterDown
            | Condition::Moved
            | Condition::Ask => true,
        }
    }

    /// The condition an error code stands for, if any.
    pub fn from_code(code: &str) -> Option<Condition> {
        let code = code.trim_start_matches('-');
        Some(match code.to_ascii_uppercase().as_str() {
            "BUSY" => Condition::Busy,
            "READONLY" => Condition::ReadOnly,
            "LOADING" => Condition::Loading,
            "MASTERDOWN" => Condition::MasterDown,
            "NOREPLICAS" => Condition::NoReplicas,
            "OOM" => Condition::OutOfMemory,
            "TRYAGAIN" => Condition::TryAgain,
            "CLUSTERDOWN" => Condition::ClusterDown,
            "MOVED" => Condition::Moved,
            "ASK" => Condition::Ask,
            _ => return None,
        })
    }

    /// The server's error code.
    pub fn code(self) -> &'static str {
        match self {
            Condition::Busy => "BUSY",
            Condition::ReadOnly => "READONLY",
            Condition::Loading => "LOADING",
            Condition::MasterDown => "MASTERDOWN",
            Condition::NoReplicas => "NOREPLICAS",
            Condition::OutOfMemory => "OOM",
            Condition::TryAgain => "TRYAGAIN",
            Condition::ClusterDown => "CLUSTERDOWN",
            Condition::Moved => "MOVED",
            Condition::Ask => "ASK",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Condition::Busy => "busy running another script",
            Condition::ReadOnly => "a read-only replica",
            Condition::Loading => "loading its dataset",
            Condition::MasterDown => "a replica without its primary",
            Condition::NoReplicas => "not enough replicas",
            Condition::OutOfMemory => "out of memory",
            Condition::TryAgain => "slot migrating",
            Condition::ClusterDown => "cluster down",
            Condition::Moved => "slot moved",
            Condition::Ask => "slot migrating",
        }
    }
}

/// The error code inside a Redis 6.2 script error:
/// `Error running script (call to f_<sha>): @user_script:8: WRONGTYPE ...`
/// or `... @user_script:10: @user_script: 10: -OOM command not allowed ...`.
fn wrapped_code(message: &str) -> Option<String> {
    let rest = message.strip_prefix("Error running script")?;
    // Skip every `user_script:N:` / `user_script: N:` marker.
    let mut tail = rest;
    while let Some(at) = tail.find("user_script:") {
        let after = &tail[at + "user_script:".len()..];
        let after = after.trim_start();
        let digits = after.chars().take_while(char::is_ascii_digit).count();
        tail = after[digits..]
            .strip_prefix(':')
            .unwrap_or(&after[digits..]);
    }
    let word: String = tail
        .trim_start()
        .trim_start_matches('-')
        .chars()
        .take_while(|c| !c.is_whitespace())
        .collect();
    let is_code = word.len() >= 2
        && word
            .chars()
            .all(|c| c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit());
    is_code.then_some(word)
}

/// The line a server error message blames: the number after
/// `user_script:` (Redis and Valkey name the script body so; Redis 7 adds
/// `@user_script:N` at the end as well).
pub(crate) fn script_line(message: &str) -> Option<u32> {
    let at = message.find("user_script:")?;
    let digits: String = message[at + "user_script:".len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_compile_error_did_not_run() {
        let script = ScriptId {
            name: "s".into(),
            sha1: "0123456789abcdef".into(),
        };
        let compile = ServerReply::new(
            "ERR",
            "Error compiling script (new function): user_script:2: '<name>' expected near '='",
        );
        assert!(compile.is_compile_error());
        let e = compile.into_load_error(&script);
        assert!(matches!(e, Error::LoadRejected { .. }), "{e:?}");
        assert_eq!(e.ran(), Ran::No);
        let text = e.to_string();
        assert!(
            text.contains("script `s`") && text.contains("did not run"),
            "{text}"
        );
        let running = ServerReply::new(
            "ERR",
            "user_script:1: Script attempted to access nonexistent global variable 'x'",
        );
        assert!(!running.is_compile_error());
    }

    #[test]
    fn finds_the_blamed_line() {
        let cases = [
            (
                "user_script:3: Script attempted to access nonexistent global variable 'x' script: abc, on @user_script:3.",
                Some(3),
            ),
            (
                "Error running script (call to f_abc): @user_script:12: user_script:12: boom",
                Some(12),
            ),
            (
                "Error compiling script (new function): user_script:1: unexpected symbol near '#'",
                Some(1),
            ),
            (
                "WRONGTYPE Operation against a key holding the wrong kind of value",
                None,
            ),
            ("user_script:", None),
        ];
        for (message, line) in cases {
            assert_eq!(script_line(message), line, "{message}");
        }
    }

    #[test]
    fn finds_the_code_wrapped_by_redis_6_2() {
        let cases = [
            (
                "Error running script (call to f_a15e): @user_script:8: WRONGTYPE Operation against a key holding the wrong kind of value",
                Some("WRONGTYPE"),
            ),
            (
                "Error running script (call to f_f5d5): @user_script:10: @user_script: 10: -OOM command not allowed when used memory > 'maxmemory'.",
                Some("OOM"),
            ),
            (
                "Error running script (call to f_1): @user_script:3: user_script:3: attempt to index local 't' (a nil value)",
                None,
            ),
            (
                "user_script:1: Script attempted to access nonexistent global variable 'x'",
                None,
            ),
        ];
        for (message, code) in cases {
            assert_eq!(wrapped_code(message).as_deref(), code, "{message}");
        }
    }

    #[test]
    fn display_names_the_script() {
        let script = ScriptId {
            name: "rate_limit".into(),
            sha1: "0123456789abcdef0123456789abcdef01234567".into(),
        };
        let e = ServerReply {
            code: "ERR".into(),
            message: "user_script:2: boom".into(),
        }
        .into_call_error(&script, "EVALSHA");
        assert_eq!(
            e.to_string(),
            "script `rate_limit` (0123456789ab) failed at line 2: ERR user_script:2: boom"
        );
        let e = e.located(|line| {
            Some(SourceLocation {
                file: "lib/util.lua".into(),
                line: line + 10,
            })
        });
        assert_eq!(
            e.to_string(),
            "script `rate_limit` (0123456789ab) failed at lib/util.lua:12: ERR user_script:2: boom"
        );
        assert_eq!(e.script(), Some(&script));
        let e = ServerReply {
            code: "NOPERM".into(),
            message: "no permission".into(),
        }
        .into_load_error(&script);
        assert_eq!(e.ran(), Ran::No);
        assert!(matches!(
            e,
            Error::PermissionDenied {
                command: "SCRIPT LOAD",
                ..
            }
        ));
    }
}

#[cfg(test)]
mod messages {
    use super::*;

    fn script() -> ScriptId {
        ScriptId {
            name: "s".into(),
            sha1: "0123456789abcdef0123456789abcdef01234567".into(),
        }
    }

    #[test]
    fn a_reply_without_a_code_keeps_its_whole_text() {
        for (word, code) in [
            ("ERR", true),
            ("WRONGTYPE", true),
            ("NOSCRIPT", true),
            ("OOM", true),
            ("RATE_LIMITED", true),
            ("E2BIG", true),
            ("my", false),
            ("My", false),
            ("I", false),
            ("ERROR:", false),
            ("_X", false),
            ("", false),
        ] {
            assert_eq!(is_error_code(word), code, "{word:?}");
        }
        let reply = ServerReply::new("my", "failure");
        assert_eq!(reply.code, "");
        assert_eq!(reply.message, "my failure");
        let e = reply.into_call_error(&script(), "EVALSHA");
        assert_eq!(
            e.to_string(),
            "script `s` (0123456789ab) failed: my failure"
        );
        assert_eq!(ServerReply::new("oops", "").message, "oops");
        let reply = ServerReply::new("RATE_LIMITED", "try later");
        assert_eq!(
            (reply.code.as_str(), reply.message.as_str()),
            ("RATE_LIMITED", "try later")
        );
    }

    #[test]
    fn a_dropped_connection_says_the_script_may_have_run() {
        for kind in [
            std::io::ErrorKind::UnexpectedEof,
            std::io::ErrorKind::BrokenPipe,
            std::io::ErrorKind::ConnectionReset,
        ] {
            let e = Error::redis(
                Some(&script()),
                redis::RedisError::from(std::io::Error::new(kind, "gone")),
            );
            assert_eq!(e.ran(), Ran::Unknown, "{kind:?}");
            assert!(
                e.to_string().starts_with(
                    "script `s` (0123456789ab): connection lost; the script may have run ("
                ),
                "{e}"
            );
        }
        // Refused: nothing was sent, and the message does not say lost.
        let e = Error::redis(
            Some(&script()),
            redis::RedisError::from(std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                "refused",
            )),
        );
        assert_eq!(e.ran(), Ran::No);
        assert!(!e.to_string().contains("connection lost"), "{e}");
    }
}

#[cfg(test)]
mod pipeline_errors {
    use super::*;

    fn noscript() -> Error {
        Error::NoScript {
            script: ScriptId {
                name: "s".into(),
                sha1: "0123456789abcdef0123456789abcdef01234567".into(),
            },
            after_reload: false,
        }
    }

    fn refused() -> Error {
        Error::Command {
            index: 2,
            source: redis::RedisError::from((
                redis::ErrorKind::Server(redis::ServerErrorKind::ResponseError),
                "An error was signalled by the server",
                "WRONGTYPE Operation against a key holding the wrong kind of value".to_owned(),
            )),
        }
    }

    #[test]
    fn a_pipeline_ran_when_any_entry_ran() {
        use EntryOutcome::{Failed, Ran as Ok};
        let e = Error::Pipeline {
            entries: vec![Failed(noscript()), Ok, Ok, Ok, Failed(noscript()), Ok],
        };
        assert_eq!(e.ran(), Ran::Yes);
        assert_eq!(
            e.to_string(),
            "pipeline of 6 entries failed; entry #0 did not run: script `s` (0123456789ab): \
             NOSCRIPT inside a pipeline (not replayed; the script is marked unloaded); \
             entry #4 did not run: script `s` (0123456789ab): NOSCRIPT inside a pipeline \
             (not replayed; the script is marked unloaded); entries #1-#3, #5 ran"
        );
        let none = Error::Pipeline {
            entries: vec![Failed(noscript()), Failed(noscript())],
        };
        assert_eq!(none.ran(), Ran::No);
        assert!(none.to_string().ends_with("; no entry ran"), "{none}");
        let unknown = Error::Pipeline {
            entries: vec![
                Failed(noscript()),
                Failed(Error::from(redis::RedisError::from((
                    redis::ErrorKind::Io,
                    "dropped",
                )))),
            ],
        };
        assert_eq!(unknown.ran(), Ran::Unknown);
        assert!(
            unknown.to_string().contains("entry #1 may have run"),
            "{unknown}"
        );
    }

    #[test]
    fn a_command_the_server_refused_ran() {
        let e = refused();
        assert_eq!(e.ran(), Ran::Yes, "{e}");
        let e = Error::Pipeline {
            entries: vec![EntryOutcome::Ran, EntryOutcome::Failed(refused())],
        };
        assert!(e.to_string().contains("entry #1 ran and failed"), "{e}");
        assert!(std::error::Error::source(&e).is_some());
    }

    #[test]
    fn ranges_are_compact() {
        assert_eq!(ranges(&[]), "");
        assert_eq!(ranges(&[3]), "#3");
        assert_eq!(ranges(&[0, 1, 2, 4, 6, 7]), "#0-#2, #4, #6-#7");
    }
}

#[cfg(test)]
mod properties {
    //! Bounded property tests: whatever a server (or something pretending
    //! to be one) answers, classification never panics and its verdict on
    //! whether the script ran is consistent.
    use super::*;
    use proptest::prelude::*;

    fn script() -> ScriptId {
        ScriptId {
            name: "s".into(),
            sha1: "0123456789abcdef0123456789abcdef01234567".into(),
        }
    }

    fn codes() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("ERR".to_owned()),
            Just("NOPERM".to_owned()),
            Just("BUSY".to_owned()),
            Just("OOM".to_owned()),
            Just("READONLY".to_owned()),
            Just("NOSCRIPT".to_owned()),
            Just("MOVED".to_owned()),
            "[A-Z]{1,12}",
            ".{0,8}",
        ]
    }

    fn messages() -> impl Strategy<Value = String> {
        prop_oneof![
            ".{0,80}",
            "Error running script \\(call to f_[a-f0-9]{4}\\): @user_script:[0-9]{1,3}: .{0,40}",
            ".{0,20}user_script:[0-9]{0,12}.{0,20}",
            "@user_script: [0-9]{1,4}: -[A-Z]{2,10} .{0,20}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 20_000, ..ProptestConfig::default() })]

        #[test]
        fn call_errors_classify_without_panicking(code in codes(), message in messages()) {
            let reply = ServerReply { code: code.clone(), message: message.clone() };
            let error = reply.clone().into_call_error(&script(), "EVALSHA");
            // Conditions and refusals say the script did not run; errors
            // raised while it ran say it did.
            match &error {
                Error::Unavailable { condition, .. } => {
                    prop_assert_eq!(error.ran(), Ran::No);
                    prop_assert!(Condition::from_code(condition.code()) == Some(*condition));
                }
                Error::PermissionDenied { .. } => prop_assert_eq!(error.ran(), Ran::No),
                Error::Script { line, .. } => {
                    prop_assert_eq!(error.ran(), Ran::Yes);
                    prop_assert_eq!(*line, script_line(&message));
                }
                other => prop_assert!(false, "unexpected classification {other:?}"),
            }
            prop_assert_eq!(error.is_retry_safe(), error.ran() == Ran::No);
            prop_assert!(error.to_string().contains("script `s`"));
            let load = reply.into_load_error(&script());
            prop_assert_eq!(load.ran(), Ran::No);
            let _ = load.to_string();
        }

        #[test]
        fn line_and_code_extraction_never_panic(message in ".{0,200}") {
            let _ = script_line(&message);
            let _ = wrapped_code(&message);
        }
    }
}
