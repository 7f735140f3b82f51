//! The lint: what would fail at run time, found at build time.
//!
//! Runs on a source that Lua 5.1 accepted (`check_syntax`), with
//! the command table and the scripts' Lua environment generated from the
//! servers themselves (`tables.rs`, written by `cargo run -p
//! script-cache-tests --bin lint-tables` from `COMMAND`, `COMMAND DOCS` and
//! the globals each server gives a script). Each error is certain to fail
//! when the line runs:
//!
//! * `undefined-global`: reading a global the sandbox does not define
//!   (the servers refuse it: "Script attempted to access nonexistent
//!   global variable"), or calling a field of a library table that does
//!   not exist (`redis.calll(...)`, `string.fromat(...)`);
//! * `global-write`: creating or assigning a global, or writing a field of
//!   a library table (`_G` and the library tables are read-only on every
//!   server: "Attempt to modify a readonly table"; `KEYS[1] = x` is fine);
//! * `unknown-command`: a literal command name (or subcommand) in
//!   `redis.call`/`redis.pcall` that no server knows;
//! * `server-support`: a command, global or library function that some of
//!   the servers the script targets lack (every known server, unless the
//!   folder's `script-cache.toml` or the script's `-- script-cache:
//!   servers(...)` says otherwise; see [`crate::servers`]);
//! * `command-not-allowed`: a command the servers refuse in scripts
//!   (`MULTI`, `EVAL`, `SUBSCRIBE`..., and on Redis 6.2 and 7.0 `BLPOP`
//!   and the other blocking commands, which Redis 8.2 and Valkey allow);
//! * `command-arity`: a literal call with a number of arguments its command
//!   never takes;
//! * `write-in-no-writes`: a command a `#!lua flags=no-writes` script may
//!   not send: the writes, and what may replicate (`PUBLISH`, `PFCOUNT`),
//!   as probed on Redis 7+ and Valkey, which refuse them ("Write commands
//!   are not allowed from read-only scripts"); Redis 6.2 does not enforce
//!   the flag and would run them, so the lint holds it there too.
//!
//! Warnings are hazards rather than certain failures; one of them:
//!
//! * `key-not-in-keys`: a key argument that is a string literal or comes
//!   from `ARGV`, not `KEYS` (in a cluster it may live on another shard),
//!   unless the shebang declares `allow-cross-slot-keys` or `no-cluster`.
//!   Keys built from a `KEYS` entry (`KEYS[1] .. ':x'`) and values the lint
//!   cannot follow (function parameters, replies) are not reported.
//!
//! And the luacheck-class warnings of `hygiene.rs`: `unused-local`,
//! `unused-parameter`, `unused-loop-variable`, `shadowed-local`,
//! `unreachable-code`, `loop-runs-once`, `unbalanced-assignment`,
//! `index-zero`, `nil-compare-reply` and `keyspace-scan`.
//!
//! Calls through a local alias (`local rcall = redis.call`, as BullMQ
//! writes them) are checked like direct ones, and so are calls through
//! Valkey's `server` table (`server.call`), which is itself
//! `server-support` unless every target is a Valkey.
//!
//! # Directives
//!
//! In any comment:
//!
//! * `-- script-cache: allow(rule, ...)` silences those rules on the line of
//!   the comment and on the line after it;
//! * `-- script-cache: allow-file(rule, ...)` silences them in the whole
//!   file;
//! * `-- script-cache: servers(redis-8.2, valkey-9.1)` says which servers
//!   the script runs on (`redis-6.2`, `redis-7.0`, `valkey-8.1`,
//!   `redis-8.2`, `valkey-9.1`), for `server-support` and for which table
//!   of commands applies. It narrows the folder's targets
//!   (`script-cache.toml`); naming a server the folder does not declare is
//!   a `lint-directive` error.

//!
//! # Layout
//!
//! * `rules.rs`: the rule model ([`Rule`], [`Finding`]): the one place
//!   where rules are registered (name, severity, help);
//! * `directives.rs`: the `-- script-cache:` comments, read from the
//!   comments the lexer finds;
//! * this module: the entry points and the walk over full_moon's syntax
//!   tree (statements, expressions, globals, library calls);
//! * `scopes.rs`: the locals of each scope, and what is reported when a
//!   scope ends;
//! * `commands.rs`: the checks of a literal `redis.call`, one function each;
//! * `hygiene.rs`: the luacheck-class rules;
//! * `tables.rs`: the commands and globals of each server, generated.

mod commands;
mod directives;
mod hygiene;
mod replies;
mod returns;
mod rules;
mod scopes;
mod tables;

use full_moon::ast::{
    self, Block, Call, Expression, Field, FunctionArgs, FunctionBody, FunctionCall, Index,
    LastStmt, Parameter, Prefix, Stmt, Suffix, Var,
};
use full_moon::node::Node;
use full_moon::tokenizer::{Symbol, TokenReference, TokenType};

use crate::servers::{SERVER_NAMES, Servers};
use directives::Directives;
use rules::allow_help;
pub use rules::{Finding, Rule, Severity};
use scopes::{Kind, Local};
use tables::{COMMANDS, Command, GLOBALS, Global, SERVERS};

// The servers' names (`crate::servers`) index the tables' `SERVERS`.
const _: () = assert!(SERVER_NAMES.len() == SERVERS.len());
const ALL_SERVERS: u8 = (1 << SERVERS.len()) - 1;

/// Lints `source` (a whole script as sent to the servers, `#!` line
/// included, with its includes expanded), whose shebang declares `flags`.
/// The findings are in source order; a source full_moon cannot read (Lua
/// accepted it, the lint's parser did not) gets none.
pub fn lint(source: &str, flags: &[String]) -> Vec<Finding> {
    lint_for(source, flags, Servers::ALL)
}

/// [`lint`] for a script that runs on `servers` (a folder's
/// `script-cache.toml`); the script's own `servers(...)` directive narrows
/// them further.
pub fn lint_for(source: &str, flags: &[String], servers: Servers) -> Vec<Finding> {
    lint_with(source, flags_of(flags), servers)
}

/// Lints a function library (`#!lua name=<library>`, with its includes
/// expanded) that runs on `servers`: as a script, in the library's
/// environment, where `KEYS` and `ARGV` do not exist (a callback gets its
/// keys and arguments as parameters) and `redis.register_function` does.
pub fn lint_library_for(source: &str, servers: Servers) -> Vec<Finding> {
    lint_with(
        source,
        Flags {
            no_writes: false,
            keys_anywhere: false,
            library: true,
        },
        servers,
    )
}

/// The `write-in-no-writes` findings of a function library: every write
/// command of `source` as if the whole library were `no-writes`; the
/// caller keeps those inside the callbacks of `no-writes` functions.
pub fn library_writes_for(source: &str, servers: Servers) -> Vec<Finding> {
    let mut findings = lint_with(
        source,
        Flags {
            no_writes: true,
            keys_anywhere: true,
            library: true,
        },
        servers,
    );
    findings.retain(|f| f.rule == Rule::WriteInNoWrites);
    findings
}

fn lint_with(source: &str, flags: Flags, servers: Servers) -> Vec<Finding> {
    if source.len() > MAX_LINTED_BYTES {
        return Vec::new();
    }
    let text = parser_view(source);
    // A deep syntax tree is walked (and dropped) recursively: a thread
    // with a stack of its own, so no input can exhaust the caller's.
    std::thread::Builder::new()
        .name("script-cache-lint".into())
        .stack_size(LINT_STACK)
        .spawn(move || lint_text(&text, flags, servers.mask()))
        .ok()
        .and_then(|handle| handle.join().ok())
        .unwrap_or_default()
}

/// [`lint`] with the flags of the source's own `#!lua` shebang (none when
/// it has none, or one that does not parse): for a whole script as a user
/// wrote it.
pub fn lint_script(source: &str) -> Vec<Finding> {
    lint_script_for(source, Servers::ALL)
}

/// [`lint_script`] for a script that runs on `servers`.
pub fn lint_script_for(source: &str, servers: Servers) -> Vec<Finding> {
    let flags = crate::shebang::parse(source.as_bytes())
        .ok()
        .flatten()
        .map(|s| s.flags)
        .unwrap_or_default();
    lint_for(source, &flags, servers)
}

/// The lint thread's stack: the servers' Lua caps nesting at 200 levels,
/// but a chain of binary operators (`a + b + c ...`) is a left-deep tree
/// as deep as the source is long (two bytes a level at the least).
const LINT_STACK: usize = 512 << 20;

/// Sources longer than this are not linted (the parser's recursion would
/// need more than the lint thread's 512 MiB stack); the servers' Lua verdict
/// still applies.
pub const MAX_LINTED_BYTES: usize = 256 << 10;

#[derive(Clone, Copy)]
struct Flags {
    no_writes: bool,
    keys_anywhere: bool,
    /// A function library (`#!lua name=..`): no `KEYS`/`ARGV`,
    /// `redis.register_function` exists.
    library: bool,
}

fn flags_of(flags: &[String]) -> Flags {
    Flags {
        no_writes: flags.iter().any(|f| f == "no-writes"),
        keys_anywhere: flags
            .iter()
            .any(|f| f == "allow-cross-slot-keys" || f == "no-cluster"),
        library: false,
    }
}

/// `source` as full_moon reads it, with Lua's line breaks: the `#!` line
/// blanked (it is not Lua), a bare `\r` made a `\n` (Lua ends a line
/// there), the `\r` of `\n\r` a space (one break for Lua). Same length.
pub(crate) fn parser_view(source: &str) -> String {
    let mut bytes = source.as_bytes().to_vec();
    if bytes.starts_with(b"#!") {
        for b in bytes.iter_mut().take_while(|b| **b != b'\n') {
            *b = b' ';
        }
    }
    for i in 0..bytes.len() {
        if bytes[i] != b'\r' {
            continue;
        }
        let after_lf = i > 0 && bytes[i - 1] == b'\n';
        let before_lf = bytes.get(i + 1) == Some(&b'\n');
        if after_lf {
            bytes[i] = b' ';
        } else if !before_lf {
            bytes[i] = b'\n';
        }
    }
    // Only ASCII bytes were replaced by ASCII bytes.
    String::from_utf8(bytes).unwrap_or_default()
}

fn lint_text(text: &str, flags: Flags, project: u8) -> Vec<Finding> {
    let Ok(ast) = full_moon::parse_fallible(text, full_moon::LuaVersion::lua51()).into_result()
    else {
        return Vec::new();
    };
    let directives = Directives::read(text, project);
    let mut walker = Walker {
        scopes: Vec::new(),
        written: Vec::new(),
        findings: directives.problems.clone(),
        servers: directives.servers,
        project: directives.project,
        flags,
        functions: Vec::new(),
        loops: 0,
        resp3: text.contains("setresp"),
    };
    walker.block(ast.nodes(), &[]);
    if text.contains("@return") && !walker.resp3 {
        if flags.library {
            // Each function's `@return` is in the comment block above its
            // registration, and its `return`s are its callback's.
            for (function, body) in crate::library::callbacks(&ast, text) {
                if let Some(returns) = crate::header::parse(&function.comments).0.returns {
                    walker
                        .findings
                        .extend(returns::check(body.block(), &returns));
                }
            }
        } else if let Some(returns) = crate::header::parse(text).0.returns {
            walker
                .findings
                .extend(returns::check(ast.nodes(), &returns));
        }
    }
    let mut findings: Vec<Finding> = walker
        .findings
        .into_iter()
        .filter(|f| !directives.allows(f))
        .collect();
    findings.sort_by_key(|f| (f.line, f.column));
    findings.dedup();
    findings
}

fn pos(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// ` (did you mean `x`?)` for the closest of `known` (shown through
/// `show`), or nothing.
fn did_you_mean<'a>(
    name: &str,
    known: impl Iterator<Item = &'a str>,
    show: impl Fn(&str) -> String,
) -> String {
    let best: Vec<String> = crate::similar(name, known)
        .first()
        .map(|best| show(best))
        .into_iter()
        .collect();
    crate::did_you_mean(&best)
        .map(|phrase| format!(" ({phrase})"))
        .unwrap_or_default()
}

fn same(s: &str) -> String {
    s.to_owned()
}

/// Where a value may come from, for `key-not-in-keys`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    /// A `KEYS` entry, or built from one.
    Keys,
    /// Certainly not from `KEYS`: what it is.
    NotKeys(&'static str),
    /// The lint cannot tell.
    Unknown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Alias {
    Call,
    Pcall,
}

struct Walker {
    scopes: Vec<Vec<Local>>,
    /// Globals already reported as written: reading them again is the same
    /// mistake, reported once.
    written: Vec<String>,
    findings: Vec<Finding>,
    servers: u8,
    /// The folder's targets (`script-cache.toml`), which `servers` narrows.
    project: u8,
    flags: Flags,
    /// Where the scopes of each function being walked start: a local
    /// shadows only the locals of its own function (a helper's parameter or
    /// local named like a local of the script is its own business).
    functions: Vec<usize>,
    /// The loops being walked.
    loops: usize,
    /// The script switches to RESP3 (`redis.setresp(3)`), where a null
    /// reply is `nil`: `nil-compare-reply` does not apply.
    resp3: bool,
}

fn token_name(token: &TokenReference) -> &str {
    match token.token_type() {
        TokenType::Identifier { identifier } => identifier.as_str(),
        _ => "",
    }
}

fn at(token: &TokenReference) -> (u32, u32) {
    let p = token.token().start_position();
    (pos(p.line()), pos(p.character()))
}

/// The value of a string literal without escapes.
fn literal(e: &Expression) -> Option<(&str, &TokenReference)> {
    match e {
        Expression::String(token) => match token.token_type() {
            TokenType::StringLiteral { literal, .. } if !literal.contains('\\') => {
                Some((literal.as_str(), token))
            }
            _ => None,
        },
        Expression::Parentheses { expression, .. } => literal(expression),
        _ => None,
    }
}

/// The first token of `e`, for its position.
fn first_token(e: &Expression) -> Option<&TokenReference> {
    match e {
        Expression::BinaryOperator { lhs, .. } => first_token(lhs),
        Expression::Parentheses { contained, .. } => Some(contained.tokens().0),
        Expression::UnaryOperator { unop, .. } => Some(unop.token()),
        Expression::Function(f) => Some(f.function_token()),
        Expression::FunctionCall(call) => match call.prefix() {
            Prefix::Name(t) => Some(t),
            Prefix::Expression(e) => first_token(e),
            _ => None,
        },
        Expression::TableConstructor(t) => Some(t.braces().tokens().0),
        Expression::Number(t) | Expression::String(t) | Expression::Symbol(t) => Some(t),
        Expression::Var(Var::Name(t)) => Some(t),
        Expression::Var(Var::Expression(ve)) => match ve.prefix() {
            Prefix::Name(t) => Some(t),
            Prefix::Expression(e) => first_token(e),
            _ => None,
        },
        _ => None,
    }
}

/// Whether `e`, as the last argument, may stand for any number of values.
fn multiple(e: &Expression) -> bool {
    match e {
        Expression::FunctionCall(_) => true,
        Expression::Symbol(s) => s.is_symbol(Symbol::Ellipsis),
        _ => false,
    }
}

/// `redis-8.2, valkey-9.1`: the names of a mask's servers.
fn servers_list_names(mask: u8) -> String {
    Servers::from_mask(mask).to_string()
}

fn servers_list(mask: u8) -> String {
    let names: Vec<&str> = (0..SERVERS.len())
        .filter(|i| mask & (1 << i) != 0)
        .map(|i| SERVERS[i])
        .collect();
    match names.as_slice() {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// The tables whose `call`/`pcall` run a command: `redis`, and Valkey's
/// `server` (the same table under another name).
fn is_call_table(name: &str) -> bool {
    name == "redis" || name == "server"
}

fn find_command(name: &str) -> Option<&'static Command> {
    COMMANDS
        .binary_search_by(|c| c.name.cmp(name))
        .ok()
        .and_then(|i| COMMANDS.get(i))
}

fn find_global(name: &str) -> Option<&'static Global> {
    GLOBALS
        .binary_search_by(|g| g.name.cmp(name))
        .ok()
        .and_then(|i| GLOBALS.get(i))
}

fn command_mask(c: &Command) -> u8 {
    (0..SERVERS.len())
        .filter(|i| c.arity.get(*i).is_some_and(|a| *a != 0))
        .fold(0, |m, i| m | (1 << i))
}

impl Walker {
    fn push(&mut self, rule: Rule, (line, column): (u32, u32), message: String, help: String) {
        let help = if help.is_empty() {
            allow_help(rule)
        } else {
            format!("{help}; {}", allow_help(rule))
        };
        self.findings.push(Finding {
            rule,
            line,
            column,
            message,
            help,
        });
    }

    fn block_body(&mut self, block: &Block) {
        // Where the block is left for good: what follows never runs
        // (reported once, at the first statement after it).
        let mut left: Option<(u32, u32)> = None;
        let mut reported = false;
        for stmt in block.stmts() {
            if let (Some(end), false) = (left, reported) {
                self.unreachable(stmt.start_position(), end);
                reported = true;
            }
            self.stmt(stmt);
            if left.is_none() {
                left = self.leaves(stmt);
            }
        }
        if let Some(last) = block.last_stmt() {
            if let (Some(end), false) = (left, reported) {
                self.unreachable(last.start_position(), end);
            }
            if let LastStmt::Return(ret) = last {
                for e in ret.returns() {
                    self.expr(e);
                }
            }
        }
    }

    fn stmt(&mut self, stmt: &Stmt) {
        match stmt {
            Stmt::Assignment(a) => {
                let exprs: Vec<&Expression> = a.expressions().iter().collect();
                for e in &exprs {
                    self.expr(e);
                }
                let targets: Vec<(String, (u32, u32))> = a
                    .variables()
                    .iter()
                    .filter_map(|v| match v {
                        Var::Name(t) => Some((format!("`{}`", token_name(t)), at(t))),
                        Var::Expression(ve) => {
                            let first = match ve.prefix() {
                                Prefix::Name(t) => Some(t),
                                Prefix::Expression(e) => first_token(e),
                                _ => None,
                            };
                            first.map(|t| ("a field".to_owned(), at(t)))
                        }
                        _ => None,
                    })
                    .collect();
                if targets.len() == a.variables().len() {
                    self.unbalanced(&targets, &exprs, false);
                }
                for (i, var) in a.variables().iter().enumerate() {
                    self.assign(var, exprs.get(i).copied());
                }
            }
            Stmt::Do(d) => self.block(d.block(), &[]),
            Stmt::FunctionCall(call) => self.call(call),
            Stmt::FunctionDeclaration(f) => {
                let name = f.name();
                let names: Vec<&TokenReference> = name.names().iter().collect();
                if let Some(first) = names.first() {
                    let first_name = token_name(first);
                    if names.len() == 1 && name.method_name().is_none() {
                        if let Some(local) = self.local_mut(first_name) {
                            local.alias = None;
                            local.origin = Origin::Unknown;
                            local.reply = false;
                        } else {
                            self.global_write(first, first_name);
                        }
                    } else {
                        self.name_read(first);
                        if names.len() == 2 || (names.len() == 1 && name.method_name().is_some()) {
                            let field = names
                                .get(1)
                                .map(|t| token_name(t))
                                .or(name.method_name().map(token_name))
                                .unwrap_or_default();
                            self.library_write(first, first_name, field);
                        }
                    }
                }
                self.function(f.body(), name.method_name().is_some());
            }
            Stmt::GenericFor(f) => {
                for e in f.expressions() {
                    self.expr(e);
                }
                let names: Vec<Local> = f
                    .names()
                    .iter()
                    .map(|t| Local::new(token_name(t), Kind::LoopVariable, Some(at(t))))
                    .collect();
                self.runs_once(stmt, f.block());
                self.loops += 1;
                self.block(f.block(), &names);
                self.loops -= 1;
            }
            Stmt::If(i) => {
                self.expr(i.condition());
                self.block(i.block(), &[]);
                for elseif in i.else_if().into_iter().flatten() {
                    self.expr(elseif.condition());
                    self.block(elseif.block(), &[]);
                }
                if let Some(b) = i.else_block() {
                    self.block(b, &[]);
                }
            }
            Stmt::LocalAssignment(l) => {
                let exprs: Vec<&Expression> = l.expressions().iter().collect();
                for e in &exprs {
                    self.expr(e);
                }
                let targets: Vec<(String, (u32, u32))> = l
                    .names()
                    .iter()
                    .map(|t| (format!("`{}`", token_name(t)), at(t)))
                    .collect();
                self.unbalanced(&targets, &exprs, true);
                for (i, name) in l.names().iter().enumerate() {
                    let value = exprs.get(i).copied();
                    let (alias, origin, reply) = match value {
                        Some(v) => (self.alias_of(v), self.origin(v), self.is_reply(v)),
                        None => (None, Origin::Unknown, false),
                    };
                    let local = self.declare_token(name, Kind::Local);
                    local.alias = alias;
                    local.origin = origin;
                    local.reply = reply;
                }
            }
            Stmt::LocalFunction(f) => {
                self.declare_token(f.name(), Kind::Local);
                self.function(f.body(), false);
            }
            Stmt::NumericFor(f) => {
                self.expr(f.start());
                self.expr(f.end());
                if let Some(step) = f.step() {
                    self.expr(step);
                }
                let index = f.index_variable();
                self.runs_once(stmt, f.block());
                self.loops += 1;
                self.block(
                    f.block(),
                    &[Local::new(
                        token_name(index),
                        Kind::LoopVariable,
                        Some(at(index)),
                    )],
                );
                self.loops -= 1;
            }
            Stmt::Repeat(r) => {
                self.runs_once(stmt, r.block());
                // `until` sees the block's locals.
                self.loops += 1;
                self.scopes.push(Vec::new());
                self.block_body(r.block());
                self.expr(r.until());
                self.pop_scope();
                self.loops -= 1;
            }
            Stmt::While(w) => {
                self.runs_once(stmt, w.block());
                self.loops += 1;
                self.expr(w.condition());
                self.block(w.block(), &[]);
                self.loops -= 1;
            }
            _ => {}
        }
    }

    fn function(&mut self, body: &FunctionBody, method: bool) {
        let mut names: Vec<Local> = Vec::new();
        if method {
            names.push(Local::new("self", Kind::Implicit, None));
        }
        for p in body.parameters() {
            match p {
                Parameter::Name(n) => {
                    names.push(Local::new(token_name(n), Kind::Parameter, Some(at(n))));
                }
                // Lua 5.1 (LUA_COMPAT_VARARG): a vararg function has `arg`.
                Parameter::Ellipsis(_) => names.push(Local::new("arg", Kind::Implicit, None)),
                _ => {}
            }
        }
        self.functions.push(self.scopes.len());
        self.block(body.block(), &names);
        self.functions.pop();
    }

    fn assign(&mut self, var: &Var, value: Option<&Expression>) {
        match var {
            Var::Name(token) => {
                let name = token_name(token);
                let alias = value.and_then(|v| self.alias_of(v));
                let origin = value.map_or(Origin::Unknown, |v| self.origin(v));
                let reply = value.is_some_and(|v| self.is_reply(v));
                if let Some(local) = self.local_mut(name) {
                    local.alias = alias;
                    local.origin = origin;
                    local.reply &= reply;
                } else {
                    self.global_write(token, name);
                }
            }
            Var::Expression(ve) => {
                self.prefix(ve.prefix());
                let suffixes: Vec<&Suffix> = ve.suffixes().collect();
                for s in &suffixes {
                    self.suffix(s);
                }
                if let (Prefix::Name(table), [Suffix::Index(index)]) = (ve.prefix(), &suffixes[..])
                {
                    let field = match index {
                        Index::Dot { name, .. } => token_name(name).to_owned(),
                        Index::Brackets { expression, .. } => match literal(expression) {
                            Some((s, _)) => s.to_owned(),
                            None => return,
                        },
                        _ => return,
                    };
                    self.library_write(table, token_name(table), &field);
                }
            }
            _ => {}
        }
    }

    fn global_write(&mut self, token: &TokenReference, name: &str) {
        if !self.written.iter().any(|w| w == name) {
            self.written.push(name.to_owned());
        }
        let exists = find_global(name).is_some_and(|g| g.servers & self.servers != 0);
        let message = if exists {
            format!("assigns the global `{name}`, which the servers' environment provides")
        } else {
            format!("creates the global `{name}`")
        };
        self.push(
            Rule::GlobalWrite,
            at(token),
            format!("{message}: scripts cannot write globals (the servers refuse it at run time)"),
            format!("declare it `local {name}` (or `local function {name}`)"),
        );
    }

    /// `table.field = ...` where `table` is a global library table.
    fn library_write(&mut self, token: &TokenReference, table: &str, field: &str) {
        if self.local(table).is_some() || table == "KEYS" || table == "ARGV" {
            return;
        }
        if find_global(table).is_some_and(|g| g.table && g.servers != 0) {
            self.push(
                Rule::GlobalWrite,
                at(token),
                format!(
                    "writes `{table}.{field}`: the library table `{table}` is read-only (the \
                     servers refuse the write at run time: \"Attempt to modify a readonly table\")"
                ),
                "keep your own values in a local table".to_owned(),
            );
        }
    }

    fn name_read(&mut self, token: &TokenReference) {
        let name = token_name(token);
        if let Some(local) = self.local_mut(name) {
            local.read = true;
            return;
        }
        if name.is_empty() || self.written.iter().any(|w| w == name) {
            return;
        }
        if self.flags.library && (name == "KEYS" || name == "ARGV") {
            let which = if name == "KEYS" { "keys" } else { "args" };
            self.push(
                Rule::UndefinedGlobal,
                at(token),
                format!(
                    "`{name}` does not exist in a function library (reading it fails at run \
                     time): a registered function gets its {which} as a parameter of its \
                     callback"
                ),
                format!("declare the callback as `function(keys, args)` and read `{which}[1]`"),
            );
            return;
        }
        match find_global(name) {
            Some(g) if g.servers & self.servers == self.servers => {}
            Some(g) if g.servers != 0 => {
                self.missing_on(token, &format!("the global `{name}`"), "reading", g.servers);
            }
            _ => {
                let locals: Vec<String> = self
                    .scopes
                    .iter()
                    .flatten()
                    .map(|l| l.name.clone())
                    .collect();
                let known = GLOBALS
                    .iter()
                    .filter(|g| !g.name.contains('.'))
                    .map(|g| g.name)
                    .chain(locals.iter().map(String::as_str));
                self.push(
                    Rule::UndefinedGlobal,
                    at(token),
                    format!(
                        "`{name}` is not defined: no local of that name is in scope and the \
                         servers' Lua environment has no such global (reading it fails at run \
                         time){}",
                        did_you_mean(name, known, same)
                    ),
                    "declare it with `local` before this line".to_owned(),
                );
            }
        }
    }

    /// `server-support`: `subject` (a global, a library function) exists
    /// on the servers of `has` only, and some targeted servers lack it.
    fn missing_on(&mut self, token: &TokenReference, subject: &str, doing: &str, has: u8) {
        let lacking = self.servers & !has;
        self.push(
            Rule::ServerSupport,
            at(token),
            format!(
                "{subject} does not exist on {} ({doing} it fails there; it exists on {})",
                servers_list(lacking),
                servers_list(has)
            ),
            self.target_help(has),
        );
    }

    fn target_help(&self, has: u8) -> String {
        self.target_help_as(has, "have")
    }

    /// A target that fits: the servers of `has` among the folder's, in a
    /// `servers(...)` directive; when the folder declares none of them, the
    /// servers of `has` in its `script-cache.toml`.
    fn target_help_as(&self, has: u8, verb: &str) -> String {
        let names = |mask: u8| -> Vec<&str> {
            (0..SERVERS.len())
                .filter(|i| mask & (1 << i) != 0)
                .filter_map(|i| SERVER_NAMES.get(i).copied())
                .collect()
        };
        if has & self.project != 0 {
            format!(
                "if the script only runs on servers that {verb} it, say so: `-- script-cache: \
                 servers({})`",
                names(has & self.project).join(", ")
            )
        } else {
            let quoted: Vec<String> = names(has).iter().map(|n| format!("\"{n}\"")).collect();
            let third_person = if verb == "have" { "has" } else { "allows" };
            format!(
                "none of the servers the folder's script-cache.toml declares {third_person} \
                 it; if the scripts run on servers that do, declare them there: `servers = \
                 [{}]`",
                quoted.join(", ")
            )
        }
    }

    fn prefix(&mut self, prefix: &Prefix) {
        match prefix {
            Prefix::Name(token) => self.name_read(token),
            Prefix::Expression(e) => self.expr(e),
            _ => {}
        }
    }

    fn suffix(&mut self, suffix: &Suffix) {
        match suffix {
            Suffix::Index(Index::Brackets { expression, .. }) => self.expr(expression),
            Suffix::Call(Call::AnonymousCall(args)) => self.args(args),
            Suffix::Call(Call::MethodCall(m)) => self.args(m.args()),
            _ => {}
        }
    }

    fn args(&mut self, args: &FunctionArgs) {
        match args {
            FunctionArgs::Parentheses { arguments, .. } => {
                for e in arguments {
                    self.expr(e);
                }
            }
            FunctionArgs::TableConstructor(t) => self.table(t),
            _ => {}
        }
    }

    fn table(&mut self, t: &ast::TableConstructor) {
        for field in t.fields() {
            match field {
                Field::ExpressionKey { key, value, .. } => {
                    self.expr(key);
                    self.expr(value);
                }
                Field::NameKey { value, .. } => self.expr(value),
                Field::NoKey(e) => self.expr(e),
                _ => {}
            }
        }
    }

    fn expr(&mut self, e: &Expression) {
        match e {
            Expression::BinaryOperator { lhs, binop, rhs } => {
                self.expr(lhs);
                self.expr(rhs);
                if matches!(binop, ast::BinOp::TwoEqual(_) | ast::BinOp::TildeEqual(_)) {
                    self.compared_with_nil(lhs, rhs);
                }
            }
            Expression::Parentheses { expression, .. } => self.expr(expression),
            Expression::UnaryOperator { expression, .. } => self.expr(expression),
            Expression::Function(f) => self.function(f.body(), false),
            Expression::FunctionCall(call) => self.call(call),
            Expression::TableConstructor(t) => self.table(t),
            Expression::Var(Var::Name(token)) => self.name_read(token),
            Expression::Var(Var::Expression(ve)) => {
                self.index_zero(ve);
                self.prefix(ve.prefix());
                for s in ve.suffixes() {
                    self.suffix(s);
                }
            }
            _ => {}
        }
    }

    /// `redis.call` / `redis.pcall` (the global one), as a value.
    fn alias_of(&self, e: &Expression) -> Option<Alias> {
        let Expression::Var(Var::Expression(ve)) = e else {
            return None;
        };
        let suffixes: Vec<&Suffix> = ve.suffixes().collect();
        match (ve.prefix(), &suffixes[..]) {
            (Prefix::Name(table), [Suffix::Index(Index::Dot { name, .. })])
                if is_call_table(token_name(table)) && self.local(token_name(table)).is_none() =>
            {
                match token_name(name) {
                    "call" => Some(Alias::Call),
                    "pcall" => Some(Alias::Pcall),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    fn origin(&self, e: &Expression) -> Origin {
        match e {
            Expression::String(_) => Origin::NotKeys("a string literal"),
            Expression::Parentheses { expression, .. } => self.origin(expression),
            Expression::Var(Var::Name(token)) => self
                .local(token_name(token))
                .map_or(Origin::Unknown, |l| l.origin),
            Expression::Var(Var::Expression(ve)) => {
                let suffixes: Vec<&Suffix> = ve.suffixes().collect();
                match (ve.prefix(), &suffixes[..]) {
                    (Prefix::Name(table), [Suffix::Index(Index::Brackets { .. })]) => {
                        let name = token_name(table);
                        if self.local(name).is_some() {
                            Origin::Unknown
                        } else if name == "KEYS" {
                            Origin::Keys
                        } else if name == "ARGV" {
                            Origin::NotKeys("an `ARGV` entry")
                        } else {
                            Origin::Unknown
                        }
                    }
                    _ => Origin::Unknown,
                }
            }
            Expression::BinaryOperator { lhs, binop, rhs } => {
                if !matches!(binop, ast::BinOp::TwoDots(_)) {
                    return Origin::Unknown;
                }
                match (self.origin(lhs), self.origin(rhs)) {
                    (Origin::Keys, _) | (_, Origin::Keys) => Origin::Keys,
                    (Origin::NotKeys(a), Origin::NotKeys(b)) => {
                        if a == b {
                            Origin::NotKeys(a)
                        } else {
                            Origin::NotKeys("built from `ARGV` and string literals")
                        }
                    }
                    _ => Origin::Unknown,
                }
            }
            _ => Origin::Unknown,
        }
    }

    fn call(&mut self, call: &FunctionCall) {
        let suffixes: Vec<&Suffix> = call.suffixes().collect();
        if let Prefix::Name(head) = call.prefix() {
            let head_name = token_name(head);
            let local = self.local(head_name).map(|l| l.alias);
            match (local, &suffixes[..]) {
                // A local alias of redis.call / redis.pcall.
                (Some(Some(_)), [Suffix::Call(Call::AnonymousCall(args)), ..]) => {
                    self.command(args);
                }
                // redis.call(...), redis.pcall(...), string.format(...)
                (
                    None,
                    [
                        Suffix::Index(Index::Dot { name, .. }),
                        Suffix::Call(Call::AnonymousCall(args)),
                        ..,
                    ],
                ) => {
                    let field = token_name(name);
                    if is_call_table(head_name) && (field == "call" || field == "pcall") {
                        self.command(args);
                    }
                    self.library_call(head_name, name, field);
                }
                _ => {}
            }
        }
        self.prefix(call.prefix());
        for s in suffixes {
            self.suffix(s);
        }
    }

    /// `table.field(...)` of a global library table.
    fn library_call(&mut self, table: &str, token: &TokenReference, field: &str) {
        let Some(t) = find_global(table) else {
            return;
        };
        if !t.table || table == "KEYS" || table == "ARGV" {
            return;
        }
        // A table some targets lack is reported once, as the global.
        if t.servers & self.servers != self.servers {
            return;
        }
        let full = format!("{table}.{field}");
        if field == "register_function" {
            if !self.flags.library {
                self.push(
                    Rule::UndefinedGlobal,
                    at(token),
                    format!(
                        "`{full}` exists only in a function library (calling it from a \
                         script fails: attempt to call a nil value)"
                    ),
                    "make the file a library: first line `#!lua name=<library>` (Redis 7.0+, \
                     Valkey)"
                        .to_owned(),
                );
            }
            return;
        }
        match find_global(&full) {
            Some(g) if g.servers & self.servers == self.servers => {}
            Some(g) if g.servers != 0 => {
                self.missing_on(token, &format!("`{full}`"), "calling", g.servers);
            }
            _ => {
                let prefix = format!("{table}.");
                let known = GLOBALS.iter().filter_map(|g| g.name.strip_prefix(&prefix));
                let suggestion = did_you_mean(field, known, |f| format!("{table}.{f}"));
                self.push(
                    Rule::UndefinedGlobal,
                    at(token),
                    format!(
                        "`{full}` does not exist in the servers' Lua environment (calling it \
                         fails at run time: attempt to call a nil value){}",
                        suggestion
                    ),
                    String::new(),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests;
