//! The rule model: every rule of the lint, its name (what allow comments
//! use), its severity, and a finding of one. Adding a rule is a variant
//! here, its line in [`Rule::ALL`], [`Rule::name`], [`Rule::severity`] and
//! [`Rule::help`], and the check that pushes it.

use std::fmt;

pub use crate::Severity;

/// One lint rule. Its [`name`](Rule::name) is what allow comments use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Rule {
    /// Reading a global the servers do not define, or calling a missing
    /// field of a library table.
    UndefinedGlobal,
    /// Creating or assigning a global, or writing a library table's field.
    GlobalWrite,
    /// A literal command or subcommand no server knows.
    UnknownCommand,
    /// A command or global some targeted servers lack.
    ServerSupport,
    /// A command the servers refuse inside scripts.
    CommandNotAllowed,
    /// A literal call with a number of arguments its command never takes.
    CommandArity,
    /// A write command in a `no-writes` script.
    WriteInNoWrites,
    /// A key argument not taken from `KEYS` (a warning).
    KeyNotInKeys,
    /// A local never read (a warning).
    UnusedLocal,
    /// A function parameter never read (a warning).
    UnusedParameter,
    /// A loop variable never read (a warning).
    UnusedLoopVariable,
    /// A local shadowing a local of an enclosing scope (a warning).
    ShadowedLocal,
    /// A statement after `return`, `break` or `error(...)` (a warning).
    UnreachableCode,
    /// A loop whose body always leaves it (a warning).
    LoopRunsOnce,
    /// An assignment with more names than values, or more values than
    /// names (a warning).
    UnbalancedAssignment,
    /// `KEYS[0]` or `ARGV[0]`, which is nil (a warning).
    IndexZero,
    /// A `redis.call` reply compared with `nil` (a warning).
    NilCompareReply,
    /// `KEYS` or `SCAN` called from a script (a warning).
    KeyspaceScan,
    /// A `return` whose reply the `-- @return` type cannot take.
    ReturnType,
    /// A `-- script-cache:` comment the lint cannot read.
    Directive,
}

impl Rule {
    /// Every rule.
    pub const ALL: [Rule; 20] = [
        Rule::UndefinedGlobal,
        Rule::GlobalWrite,
        Rule::UnknownCommand,
        Rule::ServerSupport,
        Rule::CommandNotAllowed,
        Rule::CommandArity,
        Rule::WriteInNoWrites,
        Rule::KeyNotInKeys,
        Rule::UnusedLocal,
        Rule::UnusedParameter,
        Rule::UnusedLoopVariable,
        Rule::ShadowedLocal,
        Rule::UnreachableCode,
        Rule::LoopRunsOnce,
        Rule::UnbalancedAssignment,
        Rule::IndexZero,
        Rule::NilCompareReply,
        Rule::KeyspaceScan,
        Rule::ReturnType,
        Rule::Directive,
    ];

    /// The rule's name in messages and allow comments.
    pub fn name(self) -> &'static str {
        match self {
            Rule::UndefinedGlobal => "undefined-global",
            Rule::GlobalWrite => "global-write",
            Rule::UnknownCommand => "unknown-command",
            Rule::ServerSupport => "server-support",
            Rule::CommandNotAllowed => "command-not-allowed",
            Rule::CommandArity => "command-arity",
            Rule::WriteInNoWrites => "write-in-no-writes",
            Rule::KeyNotInKeys => "key-not-in-keys",
            Rule::UnusedLocal => "unused-local",
            Rule::UnusedParameter => "unused-parameter",
            Rule::UnusedLoopVariable => "unused-loop-variable",
            Rule::ShadowedLocal => "shadowed-local",
            Rule::UnreachableCode => "unreachable-code",
            Rule::LoopRunsOnce => "loop-runs-once",
            Rule::UnbalancedAssignment => "unbalanced-assignment",
            Rule::IndexZero => "index-zero",
            Rule::NilCompareReply => "nil-compare-reply",
            Rule::KeyspaceScan => "keyspace-scan",
            Rule::ReturnType => "return-type",
            Rule::Directive => "lint-directive",
        }
    }

    /// What the rule finds and why it matters, in one sentence: the
    /// rule's help in SARIF's `tool.driver.rules` and in docs/lint.md.
    pub fn help(self) -> &'static str {
        match self {
            Rule::UndefinedGlobal => {
                "Reading a global the servers' script sandbox does not define, or calling a \
                 missing field of a library table: the servers fail the call (\"Script attempted \
                 to access nonexistent global variable\")."
            }
            Rule::GlobalWrite => {
                "Creating or assigning a global, or writing a field of a library table: the \
                 servers' globals are read-only (\"Attempt to modify a readonly table\"); use a \
                 local."
            }
            Rule::UnknownCommand => {
                "A literal command or subcommand in redis.call/redis.pcall that no server knows: \
                 the call fails (\"Unknown Redis command called from script\")."
            }
            Rule::ServerSupport => {
                "A command, global or library function that some of the servers the script \
                 targets lack (script-cache.toml or `-- script-cache: servers(...)` say which)."
            }
            Rule::CommandNotAllowed => {
                "A command the servers refuse inside scripts (MULTI, EVAL, SUBSCRIBE, blocking \
                 commands on Redis 6.2 and 7.0): send it from the client."
            }
            Rule::CommandArity => {
                "A literal call with a number of arguments its command never takes: the server \
                 answers \"Wrong number of args\"."
            }
            Rule::WriteInNoWrites => {
                "A write command in a script whose shebang declares `flags=no-writes`: Redis 7+ \
                 and Valkey refuse it at run time."
            }
            Rule::KeyNotInKeys => {
                "A key argument that is a literal or comes from ARGV, not KEYS: in a cluster it \
                 may live on another shard, and ACL key patterns cannot see it."
            }
            Rule::UnusedLocal => "A local variable nothing reads; prefix it with `_` if meant.",
            Rule::UnusedParameter => "A function parameter nothing reads; name it `_x` if meant.",
            Rule::UnusedLoopVariable => "A loop variable nothing reads; name it `_` if meant.",
            Rule::ShadowedLocal => {
                "A local with the name of a local of an enclosing scope of the same function: \
                 the outer one is hidden there."
            }
            Rule::UnreachableCode => {
                "A statement after return, break or error(...) in the same block: it never runs."
            }
            Rule::LoopRunsOnce => "A loop whose body always leaves it: it runs at most once.",
            Rule::UnbalancedAssignment => {
                "An assignment with more names than values (the extra names are nil) or more \
                 values than names (the extra values are dropped)."
            }
            Rule::IndexZero => "KEYS[0] or ARGV[0]: Lua arrays start at 1, so it is nil.",
            Rule::NilCompareReply => {
                "A redis.call reply compared with nil: a nil bulk reply is false in Lua, so the \
                 comparison is never true."
            }
            Rule::KeyspaceScan => {
                "KEYS or SCAN called from a script: it walks the whole keyspace while the server \
                 runs nothing else, and misses the other shards of a cluster."
            }
            Rule::ReturnType => {
                "A return whose reply cannot convert to the type the header's `-- @return` \
                 declares: the typed call would fail converting the reply after the script ran."
            }
            Rule::Directive => {
                "A `-- script-cache:` comment the lint cannot read: an unknown directive, rule or \
                 server."
            }
        }
    }

    /// The rule named `name`.
    pub fn from_name(name: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|r| r.name() == name)
    }

    /// Whether a finding fails the build.
    pub fn severity(self) -> Severity {
        match self {
            Rule::KeyNotInKeys
            | Rule::UnusedLocal
            | Rule::UnusedParameter
            | Rule::UnusedLoopVariable
            | Rule::ShadowedLocal
            | Rule::UnreachableCode
            | Rule::LoopRunsOnce
            | Rule::UnbalancedAssignment
            | Rule::IndexZero
            | Rule::NilCompareReply
            | Rule::KeyspaceScan => Severity::Warning,
            Rule::UndefinedGlobal
            | Rule::GlobalWrite
            | Rule::UnknownCommand
            | Rule::ServerSupport
            | Rule::CommandNotAllowed
            | Rule::CommandArity
            | Rule::WriteInNoWrites
            | Rule::ReturnType
            | Rule::Directive => Severity::Error,
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One finding, at a line and column of the linted source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The rule.
    pub rule: Rule,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
    /// What is wrong, e.g. ``unknown Redis command `GETT` ``.
    pub message: String,
    /// How to fix it, and how to silence the rule.
    pub help: String,
}

impl Finding {
    /// Whether it fails the build.
    pub fn severity(&self) -> Severity {
        self.rule.severity()
    }

    /// The message with the rule's name, e.g. ``unknown Redis command `GETT`
    /// [lint: unknown-command]``.
    pub fn titled(&self) -> String {
        format!("{} [lint: {}]", self.message, self.rule)
    }
}

pub(super) fn allow_help(rule: Rule) -> String {
    format!("to accept it here, add `-- script-cache: allow({rule})` on this line or the one above")
}
