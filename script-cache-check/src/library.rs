//! Function libraries (Redis 7.0+, every Valkey): a file whose first line
//! is `#!lua name=<library>` is loaded with `FUNCTION LOAD` and its
//! functions are called by name with `FCALL` / `FCALL_RO`.
//!
//! [`library_name`] tells a library from a script by its first line;
//! [`functions`] reads its `redis.register_function` calls, positional
//! (`redis.register_function('name', function(keys, args) ... end)`) or
//! table form (`redis.register_function{function_name = 'name', callback
//! = ..., flags = {'no-writes'}}`), with literal names and flags, and
//! refuses what the server would refuse when the library is loaded: a
//! name or flags that are not literals, an unknown flag, a name used
//! twice, a `redis.call` that runs at load time (outside every function),
//! a library that registers nothing. Each function's typed call comes
//! from the comment block right above its registration (`-- @key`,
//! `-- @arg`, `-- @return`, as a script's header), or, without one, from
//! the literal indices of the callback's parameters (`keys[1]`, `args[2]`),
//! as a script's from `KEYS[n]` / `ARGV[n]`.

use full_moon::ast::{
    Block, Call, Expression, Field, FunctionArgs, FunctionBody, LastStmt, Parameter, Prefix, Stmt,
    Suffix,
};
use full_moon::node::Node;
use full_moon::tokenizer::{TokenReference, TokenType};

use crate::lex::{Lexed, Token, TokenKind, lex};
use crate::shebang::KNOWN_FLAGS;
use crate::usage::{IndexTooLarge, Usage, usage_of};

pub use crate::shebang::{library_name, valid_name};

/// One function a library registers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    /// Its name, as `FCALL` takes it.
    pub name: String,
    /// Where its `redis.register_function` call is (1-based line and
    /// column of the analysed source).
    pub line: u32,
    /// See `line`.
    pub column: u32,
    /// The byte range of its name's string literal (quotes included) in
    /// the analysed source: where [`crate::version::rewrite`] writes the
    /// name the server gets.
    pub name_span: (usize, usize),
    /// Its flags (`no-writes`, ...), in the order written.
    pub flags: Vec<String>,
    /// The callback's parameter names (keys, args), empty where it has
    /// none.
    pub params: (String, String),
    /// How the callback reads its keys and arguments.
    pub usage: Usage,
    /// The lines of the callback's body (from its parameters to its
    /// `end`), where a `no-writes` function's writes are refused.
    pub body_lines: (u32, u32),
    /// The comment block right above the registration, as a text with the
    /// lines of the source (every other line empty): what
    /// [`crate::header::parse`] and the docs read.
    pub comments: String,
    /// The local functions of the library's top level (declared above the
    /// registration) that the callback calls by name, directly or through
    /// one another, each with the lines of its body: where a `no-writes`
    /// function's writes are refused too.
    pub helpers: Vec<(String, (u32, u32))>,
}

impl Function {
    /// Whether the function is called with `FCALL_RO` (`no-writes`).
    pub fn read_only(&self) -> bool {
        self.flags.iter().any(|f| f == "no-writes")
    }
}

/// A problem in a library, at a 1-based line and column of the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Line.
    pub line: u32,
    /// Column (characters).
    pub column: u32,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// The functions `source` (a library as sent, `#!lua name=..` line
/// included, with its includes expanded, which Lua 5.1 accepted)
/// registers, and every problem the server would meet loading it.
pub fn functions(source: &str) -> (Vec<Function>, Vec<Problem>) {
    let text = crate::lint::parser_view(source);
    let Ok(ast) = full_moon::parse_fallible(&text, full_moon::LuaVersion::lua51()).into_result()
    else {
        return (Vec::new(), Vec::new());
    };
    let (found, mut problems) = read(&ast, &text);
    let found = found.into_iter().map(|(f, _)| f);
    let mut functions: Vec<Function> = Vec::new();
    for f in found {
        if let Some(first) = functions.iter().find(|g| g.name == f.name) {
            problems.push(Problem {
                line: f.line,
                column: f.column,
                message: format!(
                    "the function `{}` is registered twice in this library (first at line \
                     {}); the server refuses the library (\"Function already exists in the \
                     library\"): rename one",
                    f.name, first.line
                ),
            });
            continue;
        }
        functions.push(f);
    }
    if functions.is_empty() && problems.is_empty() {
        problems.push(Problem {
            line: 1,
            column: 1,
            message: "the library registers no function (the server refuses it: \"No \
                      functions registered\"): add `redis.register_function('name', \
                      function(keys, args) ... end)`, or remove the `name=` shebang to make \
                      the file a script"
                .to_owned(),
        });
    }
    problems.sort_by_key(|p| (p.line, p.column));
    (functions, problems)
}

/// The registrations of `ast` (parsed from `text`, a [`crate::lint::parser_view`])
/// read without a problem, each with its callback's body, and the
/// problems of the others and of what runs at load time.
fn read<'a>(
    ast: &'a full_moon::ast::Ast,
    text: &str,
) -> (Vec<(Function, &'a FunctionBody)>, Vec<Problem>) {
    let lexed = lex(text.as_bytes());
    let mut reader = Reader {
        text,
        lexed: &lexed,
        locals: Vec::new(),
        found: Vec::new(),
        calls: Vec::new(),
        problems: Vec::new(),
    };
    reader.block(ast.nodes());
    let Reader {
        found,
        calls,
        mut problems,
        ..
    } = reader;
    load_time(text, &lexed, &calls, &mut problems);
    (found.into_iter().flatten().collect(), problems)
}

/// Each function `ast` (a library parsed from `text`, a
/// [`crate::lint::parser_view`]) registers without a problem, with its
/// callback's body: where the lint checks a function's `return`s against
/// its `@return`.
pub(crate) fn callbacks<'a>(
    ast: &'a full_moon::ast::Ast,
    text: &str,
) -> Vec<(Function, &'a FunctionBody)> {
    read(ast, text).0
}

/// A local function of the library's top level a registration may name.
struct LocalFn<'a> {
    name: String,
    body: &'a FunctionBody,
}

struct Reader<'s, 'a> {
    text: &'s str,
    lexed: &'s Lexed,
    locals: Vec<LocalFn<'a>>,
    /// Every registration read, with its callback's body (`None` when it
    /// had a problem).
    found: Vec<Option<(Function, &'a FunctionBody)>>,
    /// Where the registrations read are, problems or not.
    calls: Vec<(u32, u32)>,
    problems: Vec<Problem>,
}

fn at(token: &TokenReference) -> (u32, u32) {
    let p = token.token().start_position();
    (
        u32::try_from(p.line()).unwrap_or(u32::MAX),
        u32::try_from(p.character()).unwrap_or(u32::MAX),
    )
}

fn name_of(token: &TokenReference) -> &str {
    match token.token_type() {
        TokenType::Identifier { identifier } => identifier.as_str(),
        _ => "",
    }
}

/// A string literal's value, when it has no escape.
fn literal(e: &Expression) -> Option<&str> {
    match e {
        Expression::String(token) => match token.token_type() {
            TokenType::StringLiteral { literal, .. } if !literal.contains('\\') => {
                Some(literal.as_str())
            }
            _ => None,
        },
        Expression::Parentheses { expression, .. } => literal(expression),
        _ => None,
    }
}

/// The byte range of a string literal's token (through parentheses),
/// quotes included.
fn literal_span(e: &Expression) -> (usize, usize) {
    match e {
        Expression::Parentheses { expression, .. } => literal_span(expression),
        Expression::String(token) => (
            token.token().start_position().bytes(),
            token.token().end_position().bytes(),
        ),
        _ => (0, 0),
    }
}

fn expr_at(e: &Expression) -> (u32, u32) {
    e.start_position()
        .map(|p| {
            (
                u32::try_from(p.line()).unwrap_or(u32::MAX),
                u32::try_from(p.character()).unwrap_or(u32::MAX),
            )
        })
        .unwrap_or((1, 1))
}

/// Whether `call` is `redis.register_function(...)` (or `server.`), and
/// its arguments.
fn registration<'a>(
    prefix: &'a Prefix,
    suffixes: &[&'a Suffix],
) -> Option<(&'a TokenReference, &'a FunctionArgs)> {
    let Prefix::Name(head) = prefix else {
        return None;
    };
    if !matches!(name_of(head), "redis" | "server") {
        return None;
    }
    match suffixes {
        [
            Suffix::Index(full_moon::ast::Index::Dot { name, .. }),
            Suffix::Call(Call::AnonymousCall(args)),
        ] if name_of(name) == "register_function" => Some((head, &**args)),
        _ => None,
    }
}

impl<'s, 'a> Reader<'s, 'a> {
    fn problem(&mut self, (line, column): (u32, u32), message: impl Into<String>) {
        self.problems.push(Problem {
            line,
            column,
            message: message.into(),
        });
    }

    /// The local functions declared so far that `body` calls by name,
    /// directly or through one another (first the direct ones), each with
    /// the lines of its body.
    fn helpers_of(&self, body: &FunctionBody) -> Vec<(String, (u32, u32))> {
        let mut found: Vec<&LocalFn<'a>> = Vec::new();
        let mut queue = vec![span(body)];
        while let Some(range) = queue.pop() {
            for name in self.called_in(range) {
                // The latest declaration of that name is the one in scope.
                let Some(local) = self.locals.iter().rev().find(|l| l.name == name) else {
                    continue;
                };
                if !found.iter().any(|f| std::ptr::eq(*f, local)) {
                    found.push(local);
                    queue.push(span(local.body));
                }
            }
        }
        found
            .into_iter()
            .map(|l| (l.name.clone(), lines_of(l.body)))
            .collect()
    }

    /// The names called in the byte range `range`: a name (not a field or
    /// method, not a declaration) followed by `(`, a string or `{`.
    fn called_in(&self, (start, end): (usize, usize)) -> Vec<&'s str> {
        let source = self.text.as_bytes();
        let tokens: Vec<&Token> = self
            .lexed
            .tokens
            .iter()
            .filter(|t| t.start >= start && t.end <= end)
            .collect();
        let text = |t: &Token| self.text.get(t.start..t.end).unwrap_or("");
        let mut names = Vec::new();
        for (i, t) in tokens.iter().enumerate() {
            if t.kind != TokenKind::Name {
                continue;
            }
            let before = i.checked_sub(1).and_then(|j| tokens.get(j));
            if before.is_some_and(|b| matches!(text(b), "." | ":" | "function")) {
                continue;
            }
            let call = tokens.get(i + 1).is_some_and(|n| {
                n.kind == TokenKind::String
                    || (n.kind == TokenKind::Symbol
                        && matches!(source.get(n.start), Some(b'(' | b'{')))
            });
            if call && !names.contains(&text(t)) {
                names.push(text(t));
            }
        }
        names
    }

    /// The library's top level: registrations and the local functions
    /// they may name. What is nested (a registration in an `if`, a loop,
    /// a function) is found by [`load_time`] and refused there.
    fn block(&mut self, block: &'a Block) {
        for stmt in block.stmts() {
            match stmt {
                Stmt::FunctionCall(call) => {
                    let suffixes: Vec<&Suffix> = call.suffixes().collect();
                    if let Some((head, args)) = registration(call.prefix(), &suffixes) {
                        self.calls.push(at(head));
                        let f = self.register(head, args);
                        self.found.push(f);
                    }
                }
                Stmt::LocalFunction(f) => self.locals.push(LocalFn {
                    name: name_of(f.name()).to_owned(),
                    body: f.body(),
                }),
                Stmt::LocalAssignment(assign) => {
                    for (name, value) in assign.names().iter().zip(assign.expressions().iter()) {
                        if let Expression::Function(f) = value {
                            self.locals.push(LocalFn {
                                name: name_of(name).to_owned(),
                                body: f.body(),
                            });
                        }
                    }
                }
                _ => {}
            }
        }
        if let Some(LastStmt::Return(_)) = block.last_stmt() {
            // A library's chunk may return; nothing to read.
        }
    }

    /// One `redis.register_function(...)` at the top level.
    fn register(
        &mut self,
        head: &TokenReference,
        args: &'a FunctionArgs,
    ) -> Option<(Function, &'a FunctionBody)> {
        let call_at = at(head);
        let (name, callback, flags) = match args {
            FunctionArgs::Parentheses { arguments, .. } => {
                let list: Vec<&Expression> = arguments.iter().collect();
                match list.as_slice() {
                    [Expression::TableConstructor(table)] => self.table_form(call_at, table)?,
                    [name, callback] => (*name, *callback, None),
                    _ => {
                        self.problem(
                            call_at,
                            "`redis.register_function` takes a name and a callback \
                             (`redis.register_function('name', function(keys, args) ... end)`) \
                             or one table (`redis.register_function{function_name = 'name', \
                             callback = ..., flags = {'no-writes'}}`)",
                        );
                        return None;
                    }
                }
            }
            FunctionArgs::TableConstructor(table) => self.table_form(call_at, table)?,
            _ => {
                self.problem(
                    call_at,
                    "`redis.register_function` takes a name and a callback, or a table; a \
                     string alone registers nothing",
                );
                return None;
            }
        };
        let name_expr = name;
        let Some(name) = literal(name) else {
            self.problem(
                expr_at(name),
                "the function name must be a string literal (`'bump'`), so that its typed \
                 call can be generated at build time; write the name here",
            );
            return None;
        };
        if !valid_name(name) {
            self.problem(
                expr_at_name(call_at, args),
                format!(
                    "`{name}` is not a function name the servers accept (\"Function names can \
                     only contain letters, numbers, or underscores(_) and must be at least one \
                     character long\"); rename it"
                ),
            );
            return None;
        }
        let flags = match flags {
            None => Vec::new(),
            Some(e) => self.flags(e)?,
        };
        let body = match callback {
            Expression::Function(f) => f.body(),
            Expression::Var(full_moon::ast::Var::Name(token)) => {
                let wanted = name_of(token);
                match self.locals.iter().rev().find(|l| l.name == wanted) {
                    Some(l) => l.body,
                    None => {
                        self.problem(
                            at(token),
                            format!(
                                "the callback `{wanted}` is not a local function declared \
                                 above in this library; write the function here \
                                 (`function(keys, args) ... end`) or declare `local function \
                                 {wanted}(keys, args)` before this line"
                            ),
                        );
                        return None;
                    }
                }
            }
            other => {
                self.problem(
                    expr_at(other),
                    "the callback must be a function (`function(keys, args) ... end`) or the \
                     name of a local function declared above",
                );
                return None;
            }
        };
        let param = |i: usize| match body.parameters().iter().nth(i) {
            Some(Parameter::Name(token)) => name_of(token).to_owned(),
            _ => String::new(),
        };
        let params = (param(0), param(1));
        let (start, end) = span(body);
        let tokens: Vec<Token> = self
            .lexed
            .tokens
            .iter()
            .filter(|t| t.start >= start && t.end <= end)
            .copied()
            .collect();
        let usage = match usage_of(
            self.text.as_bytes(),
            self.lexed,
            &tokens,
            (&params.0, &params.1),
        ) {
            Ok(usage) => usage,
            Err(IndexTooLarge { table, written, at }) => {
                let shown = if table == "KEYS" {
                    &params.0
                } else {
                    &params.1
                };
                self.problem(
                    at,
                    format!(
                        "`{shown}[{written}]`: literal indices above {} are not supported (a \
                         typed call takes one parameter per entry); index with a variable \
                         (`{shown}[i]`), and the typed call takes a slice",
                        crate::usage::MAX_LITERAL_INDEX
                    ),
                );
                return None;
            }
        };
        let body_lines = lines_of(body);
        let function = Function {
            name: name.to_owned(),
            line: call_at.0,
            column: call_at.1,
            name_span: literal_span(name_expr),
            flags,
            params,
            usage,
            body_lines,
            comments: comments_above(self.text, call_at.0),
            helpers: self.helpers_of(body),
        };
        Some((function, body))
    }

    /// `{function_name = .., callback = .., flags = .., description = ..}`.
    fn table_form(
        &mut self,
        call_at: (u32, u32),
        table: &'a full_moon::ast::TableConstructor,
    ) -> Option<(&'a Expression, &'a Expression, Option<&'a Expression>)> {
        let (mut name, mut callback, mut flags) = (None, None, None);
        for field in table.fields() {
            match field {
                Field::NameKey { key, value, .. } => match name_of(key) {
                    "function_name" => name = Some(&**value),
                    "callback" => callback = Some(&**value),
                    "flags" => flags = Some(&**value),
                    "description" => {}
                    other => {
                        self.problem(
                            at(key),
                            format!(
                                "`{other}` is not a field of `redis.register_function` (the \
                                 server refuses the library: \"unknown argument given to \
                                 register_function\"); the fields are `function_name`, \
                                 `callback`, `flags` and `description`"
                            ),
                        );
                        return None;
                    }
                },
                _ => {
                    self.problem(
                        call_at,
                        "write the fields of `redis.register_function` by name: \
                         `{function_name = 'name', callback = ..., flags = {..}}`",
                    );
                    return None;
                }
            }
        }
        match (name, callback) {
            (Some(name), Some(callback)) => Some((name, callback, flags)),
            _ => {
                self.problem(
                    call_at,
                    "`redis.register_function{..}` needs `function_name` and `callback` \
                     (the server refuses the library without them)",
                );
                None
            }
        }
    }

    /// `{'no-writes', ...}`, literals only.
    fn flags(&mut self, e: &Expression) -> Option<Vec<String>> {
        let not_literal = "the flags must be a table of string literals (`flags = \
                           {'no-writes'}`), so that the call can be chosen at build time \
                           (`FCALL_RO` for `no-writes`); write them here";
        let Expression::TableConstructor(table) = e else {
            self.problem(expr_at(e), not_literal);
            return None;
        };
        let mut flags: Vec<String> = Vec::new();
        for field in table.fields() {
            let Field::NoKey(value) = field else {
                self.problem(expr_at(e), not_literal);
                return None;
            };
            let Some(flag) = literal(value) else {
                self.problem(expr_at(value), not_literal);
                return None;
            };
            if !KNOWN_FLAGS.contains(&flag) {
                self.problem(
                    expr_at(value),
                    format!(
                        "unknown function flag `{flag}` (the server refuses the library: \
                         \"unknown flag given\"); the flags are: {}",
                        KNOWN_FLAGS.join(", ")
                    ),
                );
                return None;
            }
            if !flags.iter().any(|f| f == flag) {
                flags.push(flag.to_owned());
            }
        }
        Some(flags)
    }
}

/// Where to blame a bad name: its expression in the positional form,
/// the call otherwise.
fn expr_at_name(call_at: (u32, u32), args: &FunctionArgs) -> (u32, u32) {
    match args {
        FunctionArgs::Parentheses { arguments, .. } => match arguments.iter().next() {
            Some(e @ Expression::String(_)) => expr_at(e),
            _ => call_at,
        },
        _ => call_at,
    }
}

/// The lines of a function body, from its parameters' `)` to its `end`.
fn lines_of(body: &FunctionBody) -> (u32, u32) {
    let line_of = |token: &TokenReference| {
        u32::try_from(token.token().start_position().line()).unwrap_or(u32::MAX)
    };
    (
        line_of(body.parameters_parentheses().tokens().1),
        line_of(body.end_token()),
    )
}

/// The byte range of a function body, after its parameters, to `end`.
fn span(body: &FunctionBody) -> (usize, usize) {
    let start = body
        .parameters_parentheses()
        .tokens()
        .1
        .token()
        .end_position()
        .bytes();
    let end = body.end_token().token().end_position().bytes();
    (start, end)
}

/// The run of `--` comment lines right above line `line` of `text`, with
/// every other line empty, so that the readers of a script's leading
/// comments ([`crate::header::parse`], the docs) read it with the
/// source's line numbers.
fn comments_above(text: &str, line: u32) -> String {
    let lines: Vec<&str> = text.split('\n').collect();
    let call = usize::try_from(line)
        .unwrap_or(usize::MAX)
        .saturating_sub(1);
    let mut first = call;
    while first > 0
        && lines
            .get(first - 1)
            .is_some_and(|l| l.trim_start().starts_with("--"))
    {
        first -= 1;
    }
    let mut out = String::new();
    for (i, l) in lines.iter().enumerate().take(call) {
        if i >= first {
            out.push_str(l.trim_end_matches('\r'));
        }
        out.push('\n');
    }
    out
}

/// What runs when the library is loaded and the server refuses there: a
/// command (`redis.call`/`redis.pcall` outside every function), and a
/// registration the reader could not read (nested in a block or a
/// function).
fn load_time(text: &str, lexed: &Lexed, read: &[(u32, u32)], problems: &mut Vec<Problem>) {
    let source = text.as_bytes();
    let tokens = &lexed.tokens;
    // Open blocks: `f` a function, `b` any other.
    let mut open: Vec<u8> = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        let word = t.text(source);
        if t.kind == TokenKind::Name {
            match word {
                b"function" => open.push(b'f'),
                b"do" | b"then" | b"repeat" => open.push(b'b'),
                b"end" | b"until" => {
                    open.pop();
                }
                b"elseif" | b"else" => {
                    if open.last() == Some(&b'b') {
                        open.pop();
                    }
                    if word == b"else" {
                        open.push(b'b');
                    }
                }
                _ => {}
            }
        }
        if t.kind != TokenKind::Name || !matches!(word, b"redis" | b"server") {
            continue;
        }
        let prev = i
            .checked_sub(1)
            .and_then(|p| tokens.get(p))
            .map(|p| p.text(source));
        if matches!(prev, Some(b"." | b":")) {
            continue;
        }
        let (Some(dot), Some(field)) = (tokens.get(i + 1), tokens.get(i + 2)) else {
            continue;
        };
        if !matches!(dot.text(source), b"." | b":") {
            continue;
        }
        let pos = (t.line, lexed.column(source, t.line, t.start));
        let table = String::from_utf8_lossy(word);
        let in_function = open.contains(&b'f');
        match field.text(source) {
            b"call" | b"pcall" if !in_function => problems.push(Problem {
                line: pos.0,
                column: pos.1,
                message: format!(
                    "`{table}.{}` at load time: a library's top level runs on `FUNCTION LOAD`, \
                     where the server refuses commands; move the call into a function the \
                     library registers (or that one calls)",
                    String::from_utf8_lossy(field.text(source))
                ),
            }),
            b"register_function" if !read.contains(&pos) => problems.push(Problem {
                line: pos.0,
                column: pos.1,
                message: if in_function {
                    format!(
                        "`{table}.register_function` inside a function: functions are \
                         registered when the library is loaded; call it at the top level of \
                         the library"
                    )
                } else {
                    format!(
                        "`{table}.register_function` inside a block: write each registration \
                         as a statement at the top level of the library, with a literal name, \
                         so that its typed call can be generated at build time"
                    )
                },
            }),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::Arity;

    fn read(src: &str) -> (Vec<Function>, Vec<Problem>) {
        functions(src)
    }

    #[test]
    fn positional_and_table_forms() {
        let src = "#!lua name=counters\n\
                   -- @key counter\n\
                   -- @arg by\n\
                   redis.register_function('bump', function(keys, args)\n\
                   \x20 return redis.call('INCRBY', keys[1], args[1])\n\
                   end)\n\
                   local function peek(k, a)\n\
                   \x20 return redis.call('GET', k[1]) .. (a[2] or '')\n\
                   end\n\
                   redis.register_function{function_name = 'peek', callback = peek, flags = {'no-writes'}}\n";
        let (fs, problems) = read(src);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(fs.len(), 2);
        assert_eq!(fs[0].name, "bump");
        assert_eq!((fs[0].line, fs[0].column), (4, 1));
        assert_eq!(fs[0].params, ("keys".to_owned(), "args".to_owned()));
        assert_eq!(fs[0].usage.keys, Arity::Exact(1));
        assert_eq!(fs[0].usage.args, Arity::Exact(1));
        assert!(!fs[0].read_only());
        assert_eq!(
            fs[0].comments, "\n-- @key counter\n-- @arg by\n",
            "the block above, on its own lines"
        );
        assert_eq!(fs[1].name, "peek");
        assert!(fs[1].read_only());
        assert_eq!(fs[1].usage.keys, Arity::Exact(1));
        assert_eq!(fs[1].usage.args, Arity::Exact(2));
        assert_eq!(fs[1].comments, "\n".repeat(9));
        assert_eq!(fs[0].body_lines, (4, 6));
        assert_eq!(fs[1].body_lines, (7, 9), "the local function's body");
    }

    #[test]
    fn what_the_server_refuses() {
        let cases: &[(&str, (u32, u32), &str)] = &[
            (
                "#!lua name=l\nlocal n = 'x'\nredis.register_function(n, function() end)\n",
                (3, 25),
                "must be a string literal",
            ),
            (
                "#!lua name=l\nredis.register_function{function_name='a', callback=function() end, flags=f}\n",
                (2, 75),
                "flags must be a table of string literals",
            ),
            (
                "#!lua name=l\nredis.register_function{function_name='a', callback=function() end, flags={'no-write'}}\n",
                (2, 76),
                "unknown function flag `no-write`",
            ),
            (
                "#!lua name=l\nredis.call('SET', 'k', 1)\nredis.register_function('a', function() end)\n",
                (2, 1),
                "at load time",
            ),
            (
                "#!lua name=l\nredis.register_function('a', function() end)\nredis.register_function('a', function() end)\n",
                (3, 1),
                "registered twice",
            ),
            (
                "#!lua name=l\nlocal x = 1\n",
                (1, 1),
                "registers no function",
            ),
            (
                "#!lua name=l\nif true then redis.register_function('a', function() end) end\n",
                (2, 14),
                "inside a block",
            ),
            (
                "#!lua name=l\nredis.register_function('a-b', function() end)\n",
                (2, 25),
                "not a function name",
            ),
            (
                "#!lua name=l\nredis.register_function('a', nope)\n",
                (2, 30),
                "not a local function",
            ),
            (
                "#!lua name=l\nredis.register_function{function_name='a', callback=function() end, x=1}\n",
                (2, 69),
                "not a field",
            ),
        ];
        for (src, pos, needle) in cases {
            let (_, problems) = read(src);
            let p = problems
                .first()
                .unwrap_or_else(|| panic!("no problem for {src:?}"));
            assert_eq!((p.line, p.column), *pos, "{src:?}: {}", p.message);
            assert!(p.message.contains(needle), "{src:?}: {}", p.message);
        }
    }

    #[test]
    fn calls_inside_functions_are_fine() {
        let src = "#!lua name=l\nlocal function helper(k)\n  return redis.call('GET', k)\nend\n\
                   redis.register_function('a', function(keys) return helper(keys[1]) end)\n";
        let (fs, problems) = read(src);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(fs[0].usage.keys, Arity::Exact(1));
        assert_eq!(fs[0].usage.args, Arity::Exact(0));
    }
}
