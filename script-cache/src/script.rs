//! Static description of a script embedded at build time, and the trait the
//! generated enums implement.

use core::fmt;

/// How many `KEYS` (or `ARGV`) entries a call of a script passes, as the
/// build-time analysis of its header and body found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Arity {
    /// Only literal indices are used (`KEYS[1]`, `KEYS[2]`): the script reads
    /// exactly this many entries (the highest literal index).
    Exact(usize),
    /// The table is indexed dynamically (`KEYS[i]`, `#KEYS`, `unpack(ARGV)`):
    /// any number of entries, at least the highest literal index seen.
    Variadic {
        /// The highest literal index used next to the dynamic access.
        min: usize,
    },
}

impl Arity {
    /// The smallest number of entries the script needs.
    pub const fn min(self) -> usize {
        match self {
            Arity::Exact(n) => n,
            Arity::Variadic { min } => min,
        }
    }

    /// Whether the script indexes the table dynamically.
    pub const fn is_variadic(self) -> bool {
        matches!(self, Arity::Variadic { .. })
    }

    /// Whether `n` entries satisfy this arity.
    pub const fn accepts(self, n: usize) -> bool {
        match self {
            Arity::Exact(e) => n == e,
            Arity::Variadic { min } => n >= min,
        }
    }
}

impl fmt::Display for Arity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arity::Exact(n) => write!(f, "{n}"),
            Arity::Variadic { min } => write!(f, "{min} or more"),
        }
    }
}

/// Where a run of lines of a script's expanded source comes from: the
/// script file itself or a snippet it includes with `-- @include`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineSpan {
    /// First line of the run in the expanded source (1-based).
    pub start: u32,
    /// How many lines the run has.
    pub len: u32,
    /// The file the lines come from, relative to the script folder.
    pub file: &'static str,
    /// The line of `file` that `start` corresponds to (1-based).
    pub first: u32,
}

/// A line of an original file (script or included snippet).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SourceLocation {
    /// The file, relative to the script folder (or the name of a script
    /// registered at run time).
    pub file: String,
    /// The line in that file (1-based).
    pub line: u32,
}

impl fmt::Display for SourceLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// Everything known at build time about one embedded script.
///
/// Values of this type are `'static` data produced by the macros; read them
/// through [`EmbeddedScript`].
#[derive(Debug)]
pub struct ScriptMeta {
    name: &'static str,
    file: &'static str,
    source: &'static str,
    sha1: &'static str,
    legacy: Option<LegacySource>,
    flags: &'static [&'static str],
    keys: Arity,
    args: Arity,
    doc: &'static str,
    lines: &'static [LineSpan],
}

/// The variant of a script with a `#!lua` shebang that servers without
/// shebang support (Redis before 7.0) accept: the shebang line is turned
/// into a Lua comment, so line numbers stay the same.
#[derive(Debug, Clone, Copy)]
pub struct LegacySource {
    /// The source with its first line commented out.
    pub source: &'static str,
    /// SHA-1 of [`LegacySource::source`].
    pub sha1: &'static str,
}

impl ScriptMeta {
    /// Used by generated code; not part of the public API.
    #[doc(hidden)]
    #[allow(clippy::too_many_arguments)]
    pub const fn __new(
        name: &'static str,
        file: &'static str,
        source: &'static str,
        sha1: &'static str,
        legacy: Option<LegacySource>,
        flags: &'static [&'static str],
        keys: Arity,
        args: Arity,
        doc: &'static str,
        lines: &'static [LineSpan],
    ) -> Self {
        ScriptMeta {
            name,
            file,
            source,
            sha1,
            legacy,
            flags,
            keys,
            args,
            doc,
            lines,
        }
    }

    /// The file stem as written, e.g. `"rate_limit"`.
    pub const fn name(&self) -> &'static str {
        self.name
    }
    /// The file, relative to the script folder, e.g. `"rate_limit.lua"`.
    pub const fn file(&self) -> &'static str {
        self.file
    }
    /// The exact bytes sent with `SCRIPT LOAD`.
    pub const fn source(&self) -> &'static str {
        self.source
    }
    /// SHA-1 of [`ScriptMeta::source`] in 40 lowercase hex digits: what
    /// `SCRIPT LOAD` answers.
    pub const fn sha1(&self) -> &'static str {
        self.sha1
    }
    /// For scripts with a `#!lua` shebang: the variant for servers that do
    /// not understand shebangs (Redis 6.2 and older).
    pub const fn legacy(&self) -> Option<LegacySource> {
        self.legacy
    }
    /// The shebang flags (`no-writes`, `allow-oom`, ...), in the order written.
    pub const fn flags(&self) -> &'static [&'static str] {
        self.flags
    }
    /// Whether the script declares `#!lua flags=no-writes`.
    pub fn read_only(&self) -> bool {
        self.flags.contains(&"no-writes")
    }
    /// How many `KEYS` a call passes: the typed call's keys (the header's
    /// `@key` lines, a routing-only key included), or, for a script
    /// without a typed call, what its body reads. An untyped call
    /// ([`Invocation`](crate::Invocation)) with another count is refused
    /// before it is sent ([`Error::WrongArity`](crate::Error::WrongArity)).
    pub const fn keys(&self) -> Arity {
        self.keys
    }
    /// How many `ARGV` a call passes, as [`keys`](ScriptMeta::keys).
    pub const fn args(&self) -> Arity {
        self.args
    }
    /// The documentation read from the leading comment block of the script
    /// (`---` lines, and the text of a `--[[ ... ]]` block), without the
    /// comment markers.
    pub const fn doc(&self) -> &'static str {
        self.doc
    }

    /// Where each run of lines of the expanded source comes from. Empty when
    /// the script includes nothing (every line is its own).
    pub const fn lines(&self) -> &'static [LineSpan] {
        self.lines
    }

    /// The original file and line of line `line` (1-based) of the source
    /// sent to the server, following `-- @include` expansions.
    pub fn locate(&self, line: u32) -> Option<SourceLocation> {
        if self.lines.is_empty() {
            return (line >= 1).then(|| SourceLocation {
                file: self.file.to_owned(),
                line,
            });
        }
        self.lines
            .iter()
            .find(|span| line >= span.start && line - span.start < span.len)
            .map(|span| SourceLocation {
                file: span.file.to_owned(),
                line: span.first + (line - span.start),
            })
    }
}

/// Implemented by every enum that `include_scripts!`, `#[scripts]` or
/// `#[derive(Scripts)]` generates: one variant per embedded script.
///
/// The metadata lives on this trait rather than in inherent methods so the
/// enum's own namespace stays free for the typed call functions: a script
/// called `name.lua` or `read_only.lua` still gets its own function.
pub trait EmbeddedScript: Copy + Eq + fmt::Debug + Send + Sync + 'static {
    /// Every script of the enum, in file-name order.
    const ALL: &'static [Self];

    /// The build-time description of this script.
    fn meta(self) -> &'static ScriptMeta;

    /// Finds a script by its name (the file stem as written).
    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|s| s.meta().name() == name)
    }

    /// The file stem as written, e.g. `"rate_limit"`.
    fn name(self) -> &'static str {
        self.meta().name()
    }
    /// The file, relative to the script folder.
    fn file(self) -> &'static str {
        self.meta().file()
    }
    /// The exact source sent with `SCRIPT LOAD`.
    fn source(self) -> &'static str {
        self.meta().source()
    }
    /// SHA-1 of the source, 40 lowercase hex digits.
    fn sha1(self) -> &'static str {
        self.meta().sha1()
    }
    /// Whether the script declares `#!lua flags=no-writes`.
    fn read_only(self) -> bool {
        self.meta().read_only()
    }
    /// How many `KEYS` a call passes ([`ScriptMeta::keys`]).
    fn keys(self) -> Arity {
        self.meta().keys()
    }
    /// How many `ARGV` a call passes ([`ScriptMeta::args`]).
    fn args(self) -> Arity {
        self.meta().args()
    }

    /// An invocation of this script with no keys or arguments yet.
    fn invocation(self) -> crate::Invocation {
        crate::Invocation::embedded(self)
    }

    /// Starts an invocation with its first key (redis-rs `Script::key`).
    fn key<K: redis::ToRedisArgs>(self, key: K) -> crate::Invocation {
        self.invocation().key(key)
    }

    /// Starts an invocation with its first argument (redis-rs `Script::arg`).
    fn arg<A: redis::ToRedisArgs>(self, arg: A) -> crate::Invocation {
        self.invocation().arg(arg)
    }
}

/// Error of `FromStr` on a generated script enum: no script has that name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownScriptName {
    name: String,
    known: &'static [&'static str],
}

impl UnknownScriptName {
    /// Used by generated code; not part of the public API.
    #[doc(hidden)]
    pub fn __new(name: &str, known: &'static [&'static str]) -> Self {
        UnknownScriptName {
            name: name.to_owned(),
            known,
        }
    }
    /// The name that was looked up.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The names that exist.
    pub fn known(&self) -> &'static [&'static str] {
        self.known
    }
}

impl fmt::Display for UnknownScriptName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no script named `{}`", self.name)?;
        if !self.known.is_empty() {
            write!(f, " (known: {})", self.known.join(", "))?;
        }
        Ok(())
    }
}

impl std::error::Error for UnknownScriptName {}

#[cfg(test)]
mod tests {
    use super::*;

    static SPANS: [LineSpan; 3] = [
        LineSpan {
            start: 1,
            len: 2,
            file: "main.lua",
            first: 1,
        },
        LineSpan {
            start: 3,
            len: 4,
            file: "lib/util.lua",
            first: 1,
        },
        LineSpan {
            start: 7,
            len: 5,
            file: "main.lua",
            first: 4,
        },
    ];

    static WITH_INCLUDE: ScriptMeta = ScriptMeta::__new(
        "main",
        "main.lua",
        "",
        "",
        None,
        &[],
        Arity::Exact(0),
        Arity::Exact(0),
        "",
        &SPANS,
    );
    static PLAIN: ScriptMeta = ScriptMeta::__new(
        "plain",
        "plain.lua",
        "",
        "",
        None,
        &[],
        Arity::Exact(0),
        Arity::Exact(0),
        "",
        &[],
    );

    #[test]
    fn locate_follows_includes() {
        let at = |line| WITH_INCLUDE.locate(line).map(|l| l.to_string());
        assert_eq!(at(1).as_deref(), Some("main.lua:1"));
        assert_eq!(at(3).as_deref(), Some("lib/util.lua:1"));
        assert_eq!(at(6).as_deref(), Some("lib/util.lua:4"));
        assert_eq!(at(7).as_deref(), Some("main.lua:4"));
        assert_eq!(at(11).as_deref(), Some("main.lua:8"));
        assert_eq!(at(12), None);
        assert_eq!(at(0), None);
        assert_eq!(
            PLAIN.locate(5).map(|l| l.to_string()).as_deref(),
            Some("plain.lua:5")
        );
        assert_eq!(PLAIN.locate(0), None);
    }
}
