//! The one error type of the runtime.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::script::SourceLocation;

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
        /// the script's own `error_reply`).
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
    /// The server refused to load or run the script because it is out of
    /// memory (`OOM`).
    OutOfMemory {
        /// The script.
        script: ScriptId,
        /// The server's message.
        message: String,
    },
    /// `SCRIPT LOAD` was refused for another reason (for scripts registered
    /// at run time, typically a Lua syntax error).
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
    /// A command of a pipeline that is not a script call failed, or the
    /// reply did not convert to the requested type.
    Command {
        /// The position of the command in the pipeline, counting only the
        /// caller's own commands.
        index: usize,
        /// The error.
        source: redis::RedisError,
    },
    /// A connection error, a protocol error, or a reply that did not convert
    /// to the requested type.
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
            | Error::OutOfMemory { script, .. }
            | Error::LoadRejected { script, .. }
            | Error::ShaMismatch { script, .. } => Some(script),
            Error::Redis { script, .. } => script.as_ref(),
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
                write!(f, ": {code} {message}")
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
            Error::OutOfMemory { script, message } => write!(f, "{script}: OOM {message}"),
            Error::LoadRejected {
                script,
                code,
                message,
            } => write!(f, "{script}: SCRIPT LOAD refused: {code} {message}"),
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
                if !similar.is_empty() {
                    write!(f, "; did you mean {}?", quote_list(similar))?;
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
            Error::TransactionAborted { message } => {
                write!(f, "transaction aborted, nothing ran: {message}")
            }
            Error::Command { index, source } => {
                write!(f, "pipeline command #{index} failed: {source}")
            }
            Error::Redis {
                script: Some(script),
                source,
            } => write!(f, "{script}: {source}"),
            Error::Redis {
                script: None,
                source,
            } => write!(f, "{source}"),
        }
    }
}

fn quote_list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            Error::Redis { source, .. } | Error::Command { source, .. } => Some(source),
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
    pub(crate) fn from_server_error(e: &redis::ServerError) -> Self {
        ServerReply {
            code: e.code().to_owned(),
            message: e.details().unwrap_or_default().to_owned(),
        }
    }

    /// The server error carried by a redis-rs error, if it is one.
    pub(crate) fn from_redis_error(e: &redis::RedisError) -> Option<Self> {
        match e.kind() {
            redis::ErrorKind::Server(_) | redis::ErrorKind::Extension => Some(ServerReply {
                code: e.code()?.to_owned(),
                message: e.detail().unwrap_or_default().to_owned(),
            }),
            _ => None,
        }
    }

    pub(crate) fn is(&self, code: &str) -> bool {
        self.code.eq_ignore_ascii_case(code)
    }

    /// Classifies the error reply of a script call.
    pub(crate) fn into_call_error(mut self, script: &ScriptId, command: &'static str) -> Error {
        // Redis 6.2 wraps errors raised inside a script in ERR; the code of
        // the command that failed inside is what callers match on.
        if self.is("ERR")
            && let Some(inner) = wrapped_code(&self.message)
        {
            self.code = inner;
        }
        match self.refusal(script, command) {
            Ok(refusal) => refusal,
            Err(this) => this.into_script_error(script),
        }
    }

    /// `NOPERM` and `OOM` refusals of `command`, or the reply back.
    fn refusal(self, script: &ScriptId, command: &'static str) -> Result<Error, Self> {
        if self.is("NOPERM") {
            Ok(Error::PermissionDenied {
                script: script.clone(),
                command,
                message: self.message,
            })
        } else if self.is("OOM") {
            Ok(Error::OutOfMemory {
                script: script.clone(),
                message: self.message,
            })
        } else {
            Err(self)
        }
    }

    fn into_script_error(self, script: &ScriptId) -> Error {
        Error::Script {
            script: script.clone(),
            line: script_line(&self.message),
            code: self.code,
            message: self.message,
            location: None,
        }
    }

    /// Classifies the error reply of `SCRIPT LOAD`.
    pub(crate) fn into_load_error(self, script: &ScriptId) -> Error {
        match self.refusal(script, "SCRIPT LOAD") {
            Ok(refusal) => refusal,
            Err(this) => Error::LoadRejected {
                script: script.clone(),
                code: this.code,
                message: this.message,
            },
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
        assert!(matches!(
            e,
            Error::PermissionDenied {
                command: "SCRIPT LOAD",
                ..
            }
        ));
    }
}
