//! The Lua checker shared by script-cache's macros, its runtime
//! registration and its command line.
//!
//! Redis and Valkey run Lua 5.1.5. `check_syntax` (feature `lua`) compiles a script body
//! with a vendored Lua 5.1.5 (through `mlua`), the way the servers do on
//! `SCRIPT LOAD`, without running it, so its verdict is the server's: a
//! bare `\r` ends a `--` comment, code after `return` and `break` outside a
//! loop are refused, `0x1p4` and a NUL after the last statement are
//! accepted, the nesting and local-variable limits are Lua's own. The
//! differential test of the workspace (`tests/tests/differential.rs`)
//! holds this against `SCRIPT LOAD` on Redis 6.2, Redis 7 and Valkey.
//!
//! Around the verdict, everything the macros, the runtime and the command
//! line share:
//!
//! * [`folder`]: which files of a script folder are scripts, reading them
//!   and their snippets (UTF-8, no byte order mark).
//! * [`lex`]: a Lua 5.1 lexer that splits text where Lua does, so that
//!   analysis and diagnostics see what Lua sees (never recursive, linear).
//! * [`usage`]: the `KEYS`/`ARGV` arity, read from the tokens.
//! * [`shebang`]: the `#!lua flags=...` first line, as Redis 7 reads it.
//! * [`comments`]: the leading comment block, the one reader behind a
//!   script's docs and header tags (`---`, `--`, `--[[ ]]`).
//! * [`header`]: the typed-call header (`-- @key`, `-- @arg`, `-- @return`,
//!   routing-only keys), read from the leading comment block.
//! * [`include`](mod@include): `-- @include "path"` expansion (BullMQ's `---
//!   @include "includes/x"` too), with the line spans that map the
//!   expanded source back to its files.
//! * [`naming`]: file stem -> variant and typed-call function names, and
//!   the clashes between them.
//! * [`signature`]: the typed call's parameters, the header checked
//!   against what the body reads.
//! * [`version`]: the names a library and its functions get on the
//!   server in versioned mode (`functions = "versioned"`), and the
//!   rewrite of its code that carries them.
//! * [`Diagnostic`] ([`diagnostic`]): one problem in a script file as
//!   data (file, line, column in characters, end, [`Severity`], lint rule,
//!   message, help, notes), what every check reports, with one text
//!   renderer (`--> lua/x.lua:3:7`, the line and a caret).
//!
//! * `lint` (feature `lint`): what would fail when a line runs, found
//!   before anything is sent.
//! * `analysis` (features `lua` and `lint`): the per-file analysis and the
//!   folder pipeline (`check_folder`) the macros and the command line
//!   share.
//!
//! Nothing here depends on `redis`, `syn` or `proc-macro2`.
//!
//! # Features
//!
//! Both are on by default; the macros and the command line use them.
//!
//! * `lua`: `check_syntax`, `check_syntax_for`, `SyntaxError` and
//!   `Target`, the Lua 5.1 verdict of a vendored Lua 5.1.5 (`mlua`, which
//!   builds Lua with a C compiler).
//! * `lint`: the `lint` module (its Lua 5.1 syntax tree is `full_moon`'s).
//!
//! Without them the light parts remain, with neither `mlua` nor
//! `full_moon` among the dependencies: [`sha1_hex`], [`shebang`],
//! [`servers`] (`script-cache.toml`), [`naming`], [`similar`] and
//! [`did_you_mean`], the lexer and the readers above. The runtime
//! (`script-cache`) turns them off when its own `checker` feature is off.
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

#[cfg(all(feature = "lua", feature = "lint"))]
pub mod analysis;
pub mod comments;
pub mod diagnostic;
pub mod folder;
pub mod header;
pub mod include;
pub mod lex;
#[cfg(feature = "lint")]
pub mod library;
#[cfg(feature = "lint")]
pub mod lint;
pub mod naming;
pub mod servers;
pub mod shebang;
pub mod signature;
#[cfg(feature = "lua")]
mod syntax;
pub mod usage;
pub mod version;

pub use diagnostic::{Diagnostic, Severity, dedup};
#[cfg(feature = "lua")]
pub use syntax::{check_syntax, check_syntax_for};

#[cfg(feature = "lua")]
use std::fmt;

/// Why a script body does not compile as Lua 5.1.
#[cfg(feature = "lua")]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    /// The line of the problem (1-based). For a block that is never
    /// closed (`'end' expected (to close 'if' at line 2)`), the line of
    /// its opener; for an error at the end of the input, the line of the
    /// last token; otherwise the line Lua blamed.
    pub line: u32,
    /// Lua's message without the `user_script:N:` prefix, e.g.
    /// `'=' expected near 'x'`. Always valid UTF-8: bytes of the source
    /// that are not (as in `near '\xc3'`) are shown as U+FFFD.
    pub message: String,
    /// The 1-based column (in characters) of the token Lua blamed, when
    /// it can be found on that line.
    pub column: Option<u32>,
}

#[cfg(feature = "lua")]
impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.column {
            Some(column) => write!(f, "line {}:{column}: {}", self.line, self.message),
            None => write!(f, "line {}: {}", self.line, self.message),
        }
    }
}

#[cfg(feature = "lua")]
impl std::error::Error for SyntaxError {}

/// The part of a script Lua compiles: after a `#!` first line (Redis 7+
/// and Valkey read it as the shebang), starting with the newline that ends
/// it, so line numbers stay those of the file. `None` for a `#!` line with
/// no newline after it (Redis 7 refuses it: "Invalid script shebang").
pub fn lua_body(source: &[u8]) -> Option<&[u8]> {
    match source.strip_prefix(b"#!") {
        Some(rest) => rest
            .iter()
            .position(|&b| b == b'\n')
            .map(|end| &rest[end..]),
        None => Some(source),
    }
}

/// A server build, for [`check_syntax_for`]: their Lua 5.1.5 builds differ
/// in one corner (a `[[` inside a level-0 long string or comment).
#[cfg(feature = "lua")]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Target {
    /// Redis 6.2: no shebang support; a nested `[[` is refused ("nesting of
    /// [[...]] is deprecated").
    Redis6,
    /// Redis 7: `#!lua` shebang; a nested `[[` is text.
    Redis7,
    /// Valkey: as Redis 7 for the body.
    Valkey,
}

/// SHA-1 of a script body in 40 lowercase hex digits: the name
/// `SCRIPT LOAD` answers and `EVALSHA` takes. The one implementation of the
/// workspace (macros, runtime registration and command line).
pub fn sha1_hex(source: &str) -> String {
    sha1_smol::Sha1::from(source.as_bytes())
        .digest()
        .to_string()
}

/// The names of `known` close to `name` ("did you mean"), closest first,
/// at most three: the same name in another case, within a third of its
/// length in edits (optimal string alignment: a swap of two neighbours is
/// one edit; at least one, never the whole name), or, for names of four characters or more, one
/// that contains the other (`lock` -> `lock_acquire`). The one
/// suggestion rule of the workspace: the lint's unknown globals and
/// commands, missing includes, and unknown names at run time.
pub fn similar<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> Vec<String> {
    let want = name.to_lowercase();
    let len = want.chars().count();
    // At least one edit, but never all of the name (`x` is not like `u`).
    let limit = (len / 3).max(1).min(len.saturating_sub(1));
    let mut found: Vec<(usize, &str)> = known
        .filter_map(|k| {
            let lower = k.to_lowercase();
            let d = strsim::osa_distance(&want, &lower);
            let contains = {
                let (short, long) = if want.len() <= lower.len() {
                    (&want, &lower)
                } else {
                    (&lower, &want)
                };
                short.chars().count() >= 4 && long.contains(short.as_str())
            };
            ((d <= limit || contains) && k != name).then_some((d, k))
        })
        .collect();
    found.sort();
    found.dedup();
    found
        .into_iter()
        .take(3)
        .map(|(_, k)| k.to_owned())
        .collect()
}

/// The "did you mean" phrase for the suggestions of [`similar`]:
/// ``did you mean `a`?``, ``did you mean one of `a`, `b`?``, or `None`
/// without any.
pub fn did_you_mean(similar: &[String]) -> Option<String> {
    match similar {
        [] => None,
        [one] => Some(format!("did you mean `{one}`?")),
        more => Some(format!("did you mean one of `{}`?", more.join("`, `"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        let known = ["rate_limit", "lock_acquire", "lock_release", "enqueue_once"];
        let at = |name| similar(name, known.iter().copied());
        assert_eq!(at("rate_limt"), ["rate_limit"]);
        assert_eq!(at("RATE_LIMIT"), ["rate_limit"]);
        assert_eq!(at("lock"), ["lock_acquire", "lock_release"]);
        assert_eq!(at("rate_limit_v2"), ["rate_limit"]);
        assert!(at("zzz").is_empty());
        assert!(at("rate_limit").is_empty(), "never the name itself");
        // Short names get edits only: `x` suggests nothing that merely
        // contains it.
        assert!(similar("x", ["xpcall", "next", "u"].into_iter()).is_empty());
        assert_eq!(similar("X", ["x"].into_iter()), ["x"]);
        assert_eq!(
            did_you_mean(&at("rate_limt")).as_deref(),
            Some("did you mean `rate_limit`?")
        );
        assert_eq!(
            did_you_mean(&at("lock")).as_deref(),
            Some("did you mean one of `lock_acquire`, `lock_release`?")
        );
        assert_eq!(did_you_mean(&[]), None);
    }

    #[test]
    fn sha1_is_what_script_load_answers() {
        // SHA-1 of "return 1" as answered by SCRIPT LOAD.
        assert_eq!(
            sha1_hex("return 1"),
            "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"
        );
    }
}
