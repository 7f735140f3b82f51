//! `return-type`: what a script's `return`s give, checked against its
//! `-- @return` type, and a library function's against the `@return` of
//! the comment block above its registration.
//!
//! Every `return` of the script's main chunk, or of the function's
//! callback (not of the functions inside them), is
//! given the kinds of reply it can produce, following the servers' Lua to
//! RESP2 conversion: a number is an integer (truncated), a string a bulk
//! string, a table an array up to its first nil, `{ok = s}` and
//! `redis.status_reply` a status, `{err = s}` and `redis.error_reply` an
//! error, `true` the integer 1, `false` and `nil` a nil reply. Values flow
//! through locals (assignments, `if` branches joined, loops to a fixed
//! point, `if not v` narrowing); `redis.call` and `redis.pcall` (or a
//! local alias) give the kinds of their command's reply from the reply
//! schemas of Redis's command files (`replies.rs`); `redis.pcall` may also
//! give an error. Anything else is unknown.
//!
//! A `return` is reported when none of the kinds it can give converts to
//! the declared Rust type (`header::ReturnType`): the conversion is sure to
//! fail whenever that `return` runs. An error reply never is (it is an
//! `Err` whatever the type), an unknown value never is, and a script that
//! calls `redis.setresp` is not checked (RESP3 replies differ). A string may
//! be an integer when it is a literal that reads as one or is made from
//! numbers (`tostring(n)`, `n .. ''`, `string.format('%d', n)`); a string
//! from a command or `ARGV` declared `integer` is reported (convert it with
//! `tonumber`).

use full_moon::ast::{
    BinOp, Block, Call, Expression, Field, FunctionArgs, FunctionCall, Index, LastStmt, Prefix,
    Stmt, Suffix, UnOp, Var,
};
use full_moon::tokenizer::{Symbol, TokenReference, TokenType};

use super::replies::REPLIES;
use super::{Finding, Rule, allow_help, at, is_call_table, literal, token_name};
use crate::header::{ReturnType, Returns};

/// A kind of reply in the generated table (`replies.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Reply {
    /// An integer.
    Int,
    /// A string: a bulk string, or a status the schema does not tell apart.
    Bulk,
    /// A status reply, with its text when the schema fixes it (`OK`).
    Status(Option<&'static str>),
    /// A nil reply (`false` in the script).
    Nil,
    /// An array, with the kinds of its elements when the schema says.
    Array(Option<&'static [Reply]>),
}

/// The kinds of reply of a command (`GET`, `CONFIG|GET`), if the table has
/// them.
pub(super) fn replies(name: &str) -> Option<&'static [Reply]> {
    REPLIES
        .binary_search_by(|(n, _)| (*n).cmp(name))
        .ok()
        .and_then(|i| REPLIES.get(i))
        .map(|(_, r)| *r)
}

/// What a value converts to when a script returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    Int,
    /// A bulk string, with its text when it is a literal.
    Bulk(Option<String>),
    /// A string reply that may be bulk or status (from a reply schema).
    Text,
    /// A bulk string made from a number (`tostring(n)`, `n .. ''`), which
    /// may read as an integer.
    NumText,
    Status(Option<String>),
    Error,
    Nil,
    /// An array: the kinds of each element (one group for all of them
    /// when from a reply schema), or `None` when not known.
    Array(Option<Vec<Vec<Kind>>>),
}

/// A value of the script, as far as it is known.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Val {
    Unknown,
    /// One of these kinds (never empty).
    Kinds(Vec<Kind>),
    /// `redis.call` (`pcall: false`) or `redis.pcall` as a value.
    Call {
        pcall: bool,
    },
}

fn kinds(list: &[Kind]) -> Val {
    let mut out: Vec<Kind> = Vec::new();
    for k in list {
        if !out.contains(k) {
            out.push(k.clone());
        }
    }
    if out.is_empty() {
        Val::Unknown
    } else {
        Val::Kinds(out)
    }
}

fn one(k: Kind) -> Val {
    Val::Kinds(vec![k])
}

fn union(a: &Val, b: &Val) -> Val {
    match (a, b) {
        (Val::Kinds(x), Val::Kinds(y)) => {
            let mut all = x.clone();
            all.extend(y.iter().cloned());
            kinds(&all)
        }
        _ if a == b => a.clone(),
        _ => Val::Unknown,
    }
}

fn from_reply(r: &Reply) -> Kind {
    match r {
        Reply::Int => Kind::Int,
        Reply::Bulk => Kind::Text,
        Reply::Status(s) => Kind::Status(s.map(str::to_owned)),
        Reply::Nil => Kind::Nil,
        Reply::Array(None) => Kind::Array(None),
        Reply::Array(Some(items)) => {
            Kind::Array(Some(vec![items.iter().map(from_reply).collect()]))
        }
    }
}

/// The locals in scope, innermost last.
type Env = Vec<(String, Val)>;

fn join(a: Option<Env>, b: Option<Env>) -> Option<Env> {
    match (a, b) {
        (Some(a), Some(b)) => Some(
            a.into_iter()
                .zip(b)
                .map(|((name, x), (_, y))| {
                    let v = union(&x, &y);
                    (name, v)
                })
                .collect(),
        ),
        (a, None) => a,
        (None, b) => b,
    }
}

fn lookup<'e>(env: &'e Env, name: &str) -> Option<&'e Val> {
    env.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v)
}

fn set(env: &mut Env, name: &str, val: Val) {
    if let Some(slot) = env.iter_mut().rev().find(|(n, _)| n == name) {
        slot.1 = val;
    }
}

/// The `return-type` findings of a script whose header declares
/// `returns`, in `ast`'s main chunk.
pub(super) fn check(block: &Block, returns: &Returns) -> Vec<Finding> {
    let mut unstable = Vec::new();
    written_in_functions(block, false, &mut unstable);
    let mut c = Checker {
        returns,
        unstable,
        record: true,
        findings: Vec::new(),
        breaks: Vec::new(),
    };
    c.block(block, Vec::new());
    c.findings
}

struct Checker<'a> {
    returns: &'a Returns,
    /// Names assigned (or whose fields are written) inside a function: a
    /// call may change them at any time, so they are unknown.
    unstable: Vec<String>,
    /// Whether `return`s are checked (not while a loop's fixed point is
    /// sought).
    record: bool,
    findings: Vec<Finding>,
    /// The environments at the `break`s of each loop being walked.
    breaks: Vec<Vec<Env>>,
}

/// The loop bodies are walked at most this many times to reach the fixed
/// point of their locals; past it, every local is unknown.
const LOOP_PASSES: usize = 4;

impl Checker<'_> {
    fn block(&mut self, block: &Block, env: Env) -> Option<Env> {
        let mark = env.len();
        let mut cur = Some(env);
        for stmt in block.stmts() {
            let e = cur.take()?;
            cur = self.stmt(stmt, e);
        }
        if let (Some(last), Some(e)) = (block.last_stmt(), cur.as_ref()) {
            match last {
                LastStmt::Return(ret) => {
                    let mut e = e.clone();
                    let val = match ret.returns().iter().next() {
                        None => one(Kind::Nil),
                        Some(first) => self.eval(first, &mut e),
                    };
                    if self.record {
                        self.report(ret.token(), &val);
                    }
                    return None;
                }
                LastStmt::Break(_) => {
                    let e = e.clone();
                    if let Some(list) = self.breaks.last_mut() {
                        list.push(e);
                    }
                    return None;
                }
                _ => {}
            }
        }
        cur.map(|mut e| {
            e.truncate(mark);
            e
        })
    }

    fn declare(&self, env: &mut Env, name: &str, val: Val) {
        let val = if self.unstable.iter().any(|n| n == name) {
            Val::Unknown
        } else {
            val
        };
        env.push((name.to_owned(), val));
    }

    fn stmt(&mut self, stmt: &Stmt, mut env: Env) -> Option<Env> {
        match stmt {
            Stmt::LocalAssignment(l) => {
                let vals = self.values(l.expressions().iter(), l.names().len(), &mut env);
                for (name, val) in l.names().iter().zip(vals) {
                    self.declare(&mut env, token_name(name), val);
                }
                Some(env)
            }
            Stmt::Assignment(a) => {
                let vals = self.values(a.expressions().iter(), a.variables().len(), &mut env);
                for (var, val) in a.variables().iter().zip(vals) {
                    match var {
                        Var::Name(t) => {
                            let name = token_name(t);
                            let val = if self.unstable.iter().any(|n| n == name) {
                                Val::Unknown
                            } else {
                                val
                            };
                            set(&mut env, name, val);
                        }
                        Var::Expression(ve) => self.field_write(ve, &mut env),
                        _ => {}
                    }
                }
                Some(env)
            }
            Stmt::FunctionCall(call) => {
                let ends = is_error_call(call, &env);
                self.call(call, &mut env);
                (!ends).then_some(env)
            }
            Stmt::Do(d) => self.block(d.block(), env),
            Stmt::If(i) => {
                let mut out = None;
                let mut rest = env;
                let conds = std::iter::once((i.condition(), i.block())).chain(
                    i.else_if()
                        .into_iter()
                        .flatten()
                        .map(|e| (e.condition(), e.block())),
                );
                for (cond, block) in conds {
                    self.eval(cond, &mut rest);
                    let taken = narrow(&rest, cond, true);
                    out = join(out, self.block(block, taken));
                    rest = narrow(&rest, cond, false);
                }
                let last = match i.else_block() {
                    Some(b) => self.block(b, rest),
                    None => Some(rest),
                };
                join(out, last)
            }
            Stmt::While(w) => self.looped(env, Vec::new(), |c, e| {
                c.eval(w.condition(), e);
                c.block(w.block(), e.clone())
            }),
            Stmt::Repeat(r) => self.looped(env, Vec::new(), |c, e| c.block(r.block(), e.clone())),
            Stmt::NumericFor(f) => {
                self.eval(f.start(), &mut env);
                self.eval(f.end(), &mut env);
                if let Some(step) = f.step() {
                    self.eval(step, &mut env);
                }
                let names = vec![(token_name(f.index_variable()).to_owned(), one(Kind::Int))];
                self.looped(env, names, |c, e| c.block(f.block(), e.clone()))
            }
            Stmt::GenericFor(f) => {
                for e in f.expressions() {
                    self.eval(e, &mut env);
                }
                let names = f
                    .names()
                    .iter()
                    .map(|t| (token_name(t).to_owned(), Val::Unknown))
                    .collect();
                self.looped(env, names, |c, e| c.block(f.block(), e.clone()))
            }
            Stmt::LocalFunction(f) => {
                env.push((token_name(f.name()).to_owned(), Val::Unknown));
                Some(env)
            }
            Stmt::FunctionDeclaration(f) => {
                let names: Vec<&TokenReference> = f.name().names().iter().collect();
                if let [one] = names[..] {
                    set(&mut env, token_name(one), Val::Unknown);
                } else if let Some(first) = names.first() {
                    set(&mut env, token_name(first), Val::Unknown);
                }
                Some(env)
            }
            _ => Some(env),
        }
    }

    /// A loop: its body (`body`, given the environment at the top of an
    /// iteration with the loop's own variables `names` last) walked until
    /// its locals settle, then once more with the `return`s checked. After
    /// it: what held before it, at the end of an iteration, or at a `break`.
    fn looped(
        &mut self,
        env: Env,
        names: Vec<(String, Val)>,
        body: impl Fn(&mut Self, &mut Env) -> Option<Env>,
    ) -> Option<Env> {
        let mark = env.len();
        let record = self.record;
        self.record = false;
        let mut entry = env.clone();
        let mut settled = false;
        for _ in 0..LOOP_PASSES {
            let mut inner = entry.clone();
            inner.extend(names.iter().cloned());
            self.breaks.push(Vec::new());
            let end = body(self, &mut inner);
            let breaks = self.breaks.pop().unwrap_or_default();
            let mut next = Some(entry.clone());
            for e in std::iter::once(end).flatten().chain(breaks) {
                let mut e = e;
                e.truncate(mark);
                next = join(next, Some(e));
            }
            let next = next.unwrap_or_else(|| entry.clone());
            if next == entry {
                settled = true;
                break;
            }
            entry = next;
        }
        if !settled {
            for (_, v) in &mut entry {
                *v = Val::Unknown;
            }
        }
        self.record = record;
        let mut inner = entry.clone();
        inner.extend(names);
        self.breaks.push(Vec::new());
        let end = body(self, &mut inner);
        let breaks = self.breaks.pop().unwrap_or_default();
        let mut after = Some(entry);
        for mut e in std::iter::once(end).flatten().chain(breaks) {
            e.truncate(mark);
            after = join(after, Some(e));
        }
        after
    }

    /// The values `count` names get from `exprs` (the last expression may
    /// give several values, or none).
    fn values<'e>(
        &mut self,
        exprs: impl Iterator<Item = &'e Expression>,
        count: usize,
        env: &mut Env,
    ) -> Vec<Val> {
        let exprs: Vec<&Expression> = exprs.collect();
        let mut vals: Vec<Val> = exprs.iter().map(|e| self.eval(e, env)).collect();
        let open = exprs.last().is_some_and(|e| {
            matches!(e, Expression::FunctionCall(_))
                || matches!(e, Expression::Symbol(s) if s.is_symbol(Symbol::Ellipsis))
        });
        while vals.len() < count {
            vals.push(if open { Val::Unknown } else { one(Kind::Nil) });
        }
        vals
    }

    /// `t.x = v` or `t[k] = v`: `t` stays an array only when `k` is a
    /// number (`{ok = ..}` or `{err = ..}` would change what it replies).
    fn field_write(&mut self, ve: &full_moon::ast::VarExpression, env: &mut Env) {
        let Prefix::Name(t) = ve.prefix() else {
            return;
        };
        let name = token_name(t);
        let numeric = match ve.suffixes().collect::<Vec<_>>()[..] {
            [Suffix::Index(Index::Brackets { expression, .. })] => is_number(expression, env),
            _ => false,
        };
        if !numeric {
            set(env, name, Val::Unknown);
        } else if let Some(Val::Kinds(_)) = lookup(env, name) {
            set(env, name, one(Kind::Array(None)));
        }
    }

    fn eval(&mut self, e: &Expression, env: &mut Env) -> Val {
        match e {
            Expression::Symbol(s) => match s.token_type() {
                TokenType::Symbol {
                    symbol: Symbol::True,
                } => one(Kind::Int),
                TokenType::Symbol {
                    symbol: Symbol::False | Symbol::Nil,
                } => one(Kind::Nil),
                _ => Val::Unknown,
            },
            Expression::Number(_) => one(Kind::Int),
            Expression::String(_) => one(Kind::Bulk(literal(e).map(|(s, _)| s.to_owned()))),
            Expression::Parentheses { expression, .. } => self.eval(expression, env),
            Expression::UnaryOperator { unop, expression } => {
                self.eval(expression, env);
                match unop {
                    UnOp::Not(_) => kinds(&[Kind::Int, Kind::Nil]),
                    _ => one(Kind::Int),
                }
            }
            Expression::BinaryOperator { lhs, binop, rhs } => {
                let a = self.eval(lhs, env);
                let b = self.eval(rhs, env);
                match binop {
                    BinOp::And(_) => match &a {
                        Val::Kinds(k) if !k.contains(&Kind::Nil) => b,
                        Val::Kinds(k) if k.iter().all(|k| *k == Kind::Nil) => one(Kind::Nil),
                        _ => union(&one(Kind::Nil), &b),
                    },
                    BinOp::Or(_) => match &a {
                        Val::Kinds(k) if !k.contains(&Kind::Nil) => a.clone(),
                        Val::Kinds(k) => {
                            let truthy: Vec<Kind> =
                                k.iter().filter(|k| **k != Kind::Nil).cloned().collect();
                            if truthy.is_empty() {
                                b
                            } else {
                                union(&kinds(&truthy), &b)
                            }
                        }
                        _ => Val::Unknown,
                    },
                    BinOp::TwoDots(_) if numeric_text(&a) && numeric_text(&b) => one(Kind::NumText),
                    BinOp::TwoDots(_) => one(Kind::Bulk(None)),
                    BinOp::TwoEqual(_)
                    | BinOp::TildeEqual(_)
                    | BinOp::LessThan(_)
                    | BinOp::LessThanEqual(_)
                    | BinOp::GreaterThan(_)
                    | BinOp::GreaterThanEqual(_) => kinds(&[Kind::Int, Kind::Nil]),
                    _ => one(Kind::Int),
                }
            }
            Expression::TableConstructor(t) => self.table(t, env),
            Expression::FunctionCall(call) => self.call(call, env),
            Expression::Var(Var::Name(t)) => {
                let name = token_name(t);
                match lookup(env, name) {
                    Some(v) => v.clone(),
                    None if name == "KEYS" || name == "ARGV" => {
                        one(Kind::Array(Some(vec![vec![Kind::Bulk(None)]])))
                    }
                    None => Val::Unknown,
                }
            }
            Expression::Var(Var::Expression(ve)) => {
                let suffixes: Vec<&Suffix> = ve.suffixes().collect();
                for s in &suffixes {
                    if let Suffix::Index(Index::Brackets { expression, .. }) = s {
                        self.eval(expression, env);
                    }
                }
                match (ve.prefix(), &suffixes[..]) {
                    (Prefix::Name(t), [Suffix::Index(Index::Brackets { .. })])
                        if matches!(token_name(t), "KEYS" | "ARGV")
                            && lookup(env, token_name(t)).is_none() =>
                    {
                        kinds(&[Kind::Bulk(None), Kind::Nil])
                    }
                    (Prefix::Name(t), [Suffix::Index(Index::Dot { name, .. })])
                        if is_call_table(token_name(t)) && lookup(env, token_name(t)).is_none() =>
                    {
                        match token_name(name) {
                            "call" => Val::Call { pcall: false },
                            "pcall" => Val::Call { pcall: true },
                            _ => Val::Unknown,
                        }
                    }
                    _ => Val::Unknown,
                }
            }
            _ => Val::Unknown,
        }
    }

    fn table(&mut self, t: &full_moon::ast::TableConstructor, env: &mut Env) -> Val {
        let mut groups: Vec<Vec<Kind>> = Vec::new();
        let mut complete = true;
        let mut special: Option<Val> = None;
        let fields: Vec<&Field> = t.fields().iter().collect();
        let count = fields.len();
        for (i, field) in fields.into_iter().enumerate() {
            match field {
                Field::NameKey { key, value, .. } => {
                    let v = self.eval(value, env);
                    match token_name(key) {
                        "err" => special = Some(one(Kind::Error)),
                        "ok" if special.is_none() => {
                            special = Some(match v {
                                Val::Kinds(k) if k.iter().all(|k| matches!(k, Kind::Bulk(_))) => {
                                    let texts: Vec<Kind> = k
                                        .into_iter()
                                        .map(|k| match k {
                                            Kind::Bulk(s) => Kind::Status(s),
                                            other => other,
                                        })
                                        .collect();
                                    kinds(&texts)
                                }
                                _ => Val::Unknown,
                            });
                        }
                        _ => {}
                    }
                }
                Field::ExpressionKey { key, value, .. } => {
                    let k = self.eval(key, env);
                    self.eval(value, env);
                    match literal(key) {
                        Some(("err", _)) => special = Some(one(Kind::Error)),
                        Some(("ok", _)) if special.is_none() => special = Some(Val::Unknown),
                        _ if matches!(&k, Val::Kinds(k) if k.iter().all(|k| *k == Kind::Int)) => {
                            complete = false;
                        }
                        Some(_) => {}
                        None => special = Some(Val::Unknown),
                    }
                }
                Field::NoKey(value) => {
                    let v = self.eval(value, env);
                    let last = i + 1 == count;
                    let spread = last
                        && (matches!(value, Expression::FunctionCall(_))
                            || matches!(value, Expression::Symbol(s) if s.is_symbol(Symbol::Ellipsis)));
                    if !complete || spread {
                        complete = false;
                        continue;
                    }
                    match v {
                        Val::Kinds(k) if !k.contains(&Kind::Nil) => groups.push(k),
                        _ => complete = false,
                    }
                }
                _ => special = Some(Val::Unknown),
            }
        }
        if let Some(s) = special {
            return s;
        }
        one(Kind::Array(Some(groups)))
    }

    fn call(&mut self, call: &FunctionCall, env: &mut Env) -> Val {
        let suffixes: Vec<&Suffix> = call.suffixes().collect();
        fn args(s: &Suffix) -> Option<Vec<&Expression>> {
            match s {
                Suffix::Call(Call::AnonymousCall(a)) => match &**a {
                    FunctionArgs::Parentheses { arguments, .. } => {
                        Some(arguments.iter().collect::<Vec<&Expression>>())
                    }
                    _ => None,
                },
                _ => None,
            }
        }
        let (callee, list) = match (call.prefix(), &suffixes[..]) {
            (Prefix::Name(head), [only]) => (
                match lookup(env, token_name(head)) {
                    Some(Val::Call { pcall }) => Callee::Command { pcall: *pcall },
                    Some(_) => Callee::Other,
                    None => Callee::Global(token_name(head).to_owned()),
                },
                args(only),
            ),
            (Prefix::Name(head), [Suffix::Index(Index::Dot { name, .. }), only])
                if lookup(env, token_name(head)).is_none() =>
            {
                let (table, field) = (token_name(head), token_name(name));
                let callee = if is_call_table(table) && matches!(field, "call" | "pcall") {
                    Callee::Command {
                        pcall: field == "pcall",
                    }
                } else {
                    Callee::Global(format!("{table}.{field}"))
                };
                (callee, args(only))
            }
            _ => (Callee::Other, None),
        };
        let Some(list) = list else {
            // A method call, a string or table argument: nothing known,
            // but a local passed along may be changed.
            for s in suffixes {
                if let Suffix::Call(Call::AnonymousCall(a)) = s
                    && let FunctionArgs::TableConstructor(t) = &**a
                {
                    self.table(t, env);
                }
            }
            return Val::Unknown;
        };
        let vals: Vec<Val> = list.iter().map(|e| self.eval(e, env)).collect();
        let keeps_tables = match &callee {
            Callee::Command { .. } => true,
            Callee::Global(g) => KEEPS_TABLES.contains(&g.as_str()),
            Callee::Other => false,
        };
        if !keeps_tables {
            for e in &list {
                if let Expression::Var(Var::Name(t)) = e
                    && matches!(lookup(env, token_name(t)), Some(Val::Kinds(_)))
                {
                    set(env, token_name(t), Val::Unknown);
                }
            }
        }
        match callee {
            Callee::Command { pcall } => {
                let Some((first, _)) = list.first().and_then(|e| literal(e)) else {
                    return Val::Unknown;
                };
                let name = first.to_ascii_uppercase();
                let sub = list
                    .get(1)
                    .and_then(|e| literal(e))
                    .map(|(s, _)| format!("{name}|{}", s.to_ascii_uppercase()));
                let found = sub.as_deref().and_then(replies).or_else(|| replies(&name));
                match found {
                    Some(r) => {
                        let mut k: Vec<Kind> = r.iter().map(from_reply).collect();
                        if pcall {
                            k.push(Kind::Error);
                        }
                        kinds(&k)
                    }
                    None => Val::Unknown,
                }
            }
            Callee::Global(name) => global_call(&name, &vals),
            Callee::Other => Val::Unknown,
        }
    }

    fn report(&mut self, token: &TokenReference, val: &Val) {
        let Val::Kinds(k) = val else {
            return;
        };
        let ty = &self.returns.ty;
        if k.iter().any(|k| fits(ty, k)) {
            return;
        }
        let (line, column) = at(token);
        let gives = alternatives(k.iter().map(describe).collect());
        let strings = k.iter().any(|k| {
            matches!(
                k,
                Kind::Bulk(_) | Kind::Text | Kind::NumText | Kind::Status(_)
            )
        });
        let convert = match ty {
            _ if is_integer(ty) && strings => "convert the value (`tonumber(...)`), ",
            ReturnType::String | ReturnType::Status if k.contains(&Kind::Nil) => {
                "give a string where it is nil (`value or ''`), "
            }
            ReturnType::String | ReturnType::Status => {
                "encode the table (`cjson.encode(...)`, `table.concat(...)`), "
            }
            _ => "",
        };
        let suggestion = suggest(k)
            .map(|s| format!("declare `-- @return {s}` if that is what it replies, "))
            .unwrap_or_default();
        self.findings.push(Finding {
            rule: Rule::ReturnType,
            line,
            column,
            message: format!(
                "this `return` gives {gives}, which `-- @return {}` (line {}, `{}` in Rust) \
                 cannot take: the call fails converting the reply whenever it runs",
                self.returns.written,
                self.returns.line,
                ty.rust()
            ),
            help: format!(
                "{suggestion}{convert}or return another value; {}",
                allow_help(Rule::ReturnType)
            ),
        });
    }
}

/// Library functions that read a table argument without adding `ok` or
/// `err` to it.
const KEEPS_TABLES: &[&str] = &[
    "table.insert",
    "table.concat",
    "table.getn",
    "table.sort",
    "table.remove",
    "unpack",
    "ipairs",
    "pairs",
    "next",
    "type",
    "tostring",
    "select",
    "cjson.encode",
    "cmsgpack.pack",
];

enum Callee {
    /// `redis.call` or `redis.pcall`, or a local alias.
    Command {
        pcall: bool,
    },
    /// A global function (`tostring`, `string.format`).
    Global(String),
    Other,
}

fn is_integer(ty: &ReturnType) -> bool {
    match ty {
        ReturnType::Integer => true,
        ReturnType::Optional(inner) => is_integer(inner),
        _ => false,
    }
}

/// Whether `v` is, as text, a number or nothing (`..` of such values may
/// read as an integer).
fn numeric_text(v: &Val) -> bool {
    matches!(v, Val::Kinds(k) if k.iter().all(|k| match k {
        Kind::Int | Kind::NumText => true,
        Kind::Bulk(Some(s)) => s.is_empty() || s.parse::<i64>().is_ok(),
        _ => false,
    }))
}

/// What a global library function returns.
fn global_call(name: &str, args: &[Val]) -> Val {
    let numbers =
        |v: Option<&Val>| matches!(v, Some(Val::Kinds(k)) if k.iter().all(|k| *k == Kind::Int));
    let int_format = matches!(args.first(), Some(Val::Kinds(k))
        if k.iter().all(|k| matches!(k, Kind::Bulk(Some(f)) if f == "%d" || f == "%i")));
    match name {
        "tostring" if numbers(args.first()) => one(Kind::NumText),
        "string.format" if int_format => one(Kind::NumText),
        "tostring" | "type" | "string.format" | "string.sub" | "string.lower" | "string.upper"
        | "string.rep" | "string.reverse" | "string.char" | "table.concat" | "redis.sha1hex"
        | "cjson.encode" | "cmsgpack.pack" | "struct.pack" | "bit.tohex" => one(Kind::Bulk(None)),
        "tonumber" | "string.find" => kinds(&[Kind::Int, Kind::Nil]),
        "string.len" | "table.getn" | "math.floor" | "math.ceil" | "math.abs" | "math.max"
        | "math.min" | "math.random" | "math.fmod" | "math.sqrt" | "math.pow" | "bit.band"
        | "bit.bor" | "bit.bxor" | "bit.lshift" | "bit.rshift" => one(Kind::Int),
        "redis.error_reply" => one(Kind::Error),
        "redis.status_reply" => match args.first() {
            Some(Val::Kinds(k)) if k.len() == 1 => match &k[0] {
                Kind::Bulk(s) => one(Kind::Status(s.clone())),
                _ => one(Kind::Status(None)),
            },
            _ => one(Kind::Status(None)),
        },
        _ => Val::Unknown,
    }
}

/// Whether a statement call is `error(...)`, which never returns.
fn is_error_call(call: &FunctionCall, env: &Env) -> bool {
    matches!(call.prefix(), Prefix::Name(t) if token_name(t) == "error" && lookup(env, "error").is_none())
        && call.suffixes().count() == 1
}

/// Whether `e` is surely a number (a numeric index: `t[#t + 1]`, `t[i]`
/// for a number `i`).
fn is_number(e: &Expression, env: &Env) -> bool {
    match e {
        Expression::Number(_) => true,
        Expression::Parentheses { expression, .. } => is_number(expression, env),
        Expression::UnaryOperator { unop, .. } => matches!(unop, UnOp::Minus(_) | UnOp::Hash(_)),
        Expression::BinaryOperator { binop, .. } => matches!(
            binop,
            BinOp::Plus(_) | BinOp::Minus(_) | BinOp::Star(_) | BinOp::Slash(_) | BinOp::Percent(_)
        ),
        Expression::Var(Var::Name(t)) => {
            matches!(lookup(env, token_name(t)), Some(Val::Kinds(k)) if k.iter().all(|k| *k == Kind::Int))
        }
        _ => false,
    }
}

/// The environment after `cond` was found true (`truthy`) or false: a
/// local tested alone (`if v`, `if not v`, `if a and v`) loses its nil
/// kind where it is true, keeps only it where it is false.
fn narrow(env: &Env, cond: &Expression, truthy: bool) -> Env {
    let mut env = env.clone();
    narrow_into(&mut env, cond, truthy);
    env
}

fn narrow_into(env: &mut Env, cond: &Expression, truthy: bool) {
    match cond {
        Expression::Parentheses { expression, .. } => narrow_into(env, expression, truthy),
        Expression::UnaryOperator {
            unop: UnOp::Not(_),
            expression,
        } => narrow_into(env, expression, !truthy),
        Expression::BinaryOperator {
            lhs,
            binop: BinOp::And(_),
            rhs,
        } if truthy => {
            narrow_into(env, lhs, true);
            narrow_into(env, rhs, true);
        }
        Expression::BinaryOperator {
            lhs,
            binop: BinOp::Or(_),
            rhs,
        } if !truthy => {
            narrow_into(env, lhs, false);
            narrow_into(env, rhs, false);
        }
        Expression::Var(Var::Name(t)) => {
            let name = token_name(t);
            if let Some(Val::Kinds(k)) = lookup(env, name) {
                let kept: Vec<Kind> = k
                    .iter()
                    .filter(|k| (**k == Kind::Nil) != truthy)
                    .cloned()
                    .collect();
                if !kept.is_empty() {
                    set(env, name, Val::Kinds(kept));
                }
            }
        }
        _ => {}
    }
}

/// Whether a reply of kind `k` may convert to `ty` (redis 1.x's
/// `FromRedisValue` over a RESP2 connection).
fn fits(ty: &ReturnType, k: &Kind) -> bool {
    if *k == Kind::Error {
        return true;
    }
    match ty {
        ReturnType::Value | ReturnType::Nil => true,
        ReturnType::Optional(inner) => *k == Kind::Nil || fits(inner, k),
        ReturnType::Integer => match k {
            Kind::Int | Kind::NumText => true,
            Kind::Bulk(Some(s)) | Kind::Status(Some(s)) => s.parse::<i64>().is_ok(),
            _ => false,
        },
        ReturnType::String | ReturnType::Status => {
            matches!(
                k,
                Kind::Int | Kind::Bulk(_) | Kind::Text | Kind::NumText | Kind::Status(_)
            )
        }
        ReturnType::Boolean => match k {
            Kind::Nil | Kind::Int | Kind::NumText => true,
            Kind::Bulk(Some(s)) => s == "1" || s == "0",
            Kind::Status(Some(s)) => s == "1" || s == "0" || s == "OK",
            _ => false,
        },
        ReturnType::Array(inner) => match k {
            Kind::Nil | Kind::Array(None) => true,
            Kind::Array(Some(groups)) => match inner {
                None => true,
                Some(t) => groups.iter().all(|g| g.iter().any(|k| fits(t, k))),
            },
            Kind::Bulk(_) | Kind::Text | Kind::NumText => inner.as_ref().is_none_or(|t| fits(t, k)),
            Kind::Int | Kind::Status(_) | Kind::Error => false,
        },
    }
}

fn describe(k: &Kind) -> String {
    match k {
        Kind::Int => "an integer".to_owned(),
        Kind::Bulk(Some(s)) => {
            let short: String = s.chars().take(40).collect();
            let more = if short.len() < s.len() { "..." } else { "" };
            format!("the string \"{short}{more}\"")
        }
        Kind::Bulk(None) | Kind::Text => "a string".to_owned(),
        Kind::NumText => "a string of a number".to_owned(),
        Kind::Status(Some(s)) => format!("the status `{s}`"),
        Kind::Status(None) => "a status".to_owned(),
        Kind::Error => "an error".to_owned(),
        Kind::Nil => "nil".to_owned(),
        Kind::Array(Some(groups)) if groups.iter().any(|g| !g.is_empty()) => {
            let elems: Vec<String> = groups.iter().flatten().map(plural).collect();
            format!("an array of {}", alternatives(elems))
        }
        Kind::Array(_) => "an array".to_owned(),
    }
}

/// What elements of kind `k` are, in the plural (`strings`).
fn plural(k: &Kind) -> String {
    match k {
        Kind::Int => "integers",
        Kind::Bulk(_) | Kind::Text | Kind::NumText => "strings",
        Kind::Status(_) => "statuses",
        Kind::Error => "errors",
        Kind::Nil => "nils",
        Kind::Array(_) => "arrays",
    }
    .to_owned()
}

/// `a or b or c`, each once.
fn alternatives(items: Vec<String>) -> String {
    let mut once: Vec<String> = Vec::new();
    for item in items {
        if !once.contains(&item) {
            once.push(item);
        }
    }
    once.join(" or ")
}

/// A `@return` type that takes every kind of `k`, when a simple one does.
fn suggest(k: &[Kind]) -> Option<String> {
    let nil = k.contains(&Kind::Nil);
    let rest: Vec<&Kind> = k
        .iter()
        .filter(|k| !matches!(k, Kind::Nil | Kind::Error))
        .collect();
    let base = if rest.is_empty() {
        return nil.then(|| "nil-or-string".to_owned());
    } else if rest.iter().all(|k| **k == Kind::Int) {
        "integer"
    } else if rest.iter().all(|k| {
        matches!(
            k,
            Kind::Int | Kind::Bulk(_) | Kind::Text | Kind::NumText | Kind::Status(_)
        )
    }) {
        "string"
    } else if rest.iter().all(|k| matches!(k, Kind::Array(_))) {
        return Some("array".to_owned());
    } else {
        return Some("value".to_owned());
    };
    Some(if nil {
        format!("nil-or-{base}")
    } else {
        base.to_owned()
    })
}

/// Names assigned, or whose fields are written, inside any function of
/// `block` (`inside`: `block` is itself in a function).
fn written_in_functions(block: &Block, inside: bool, out: &mut Vec<String>) {
    for stmt in block.stmts() {
        walk_stmt(stmt, inside, out);
    }
    if let Some(LastStmt::Return(r)) = block.last_stmt() {
        for e in r.returns() {
            walk_expr(e, inside, out);
        }
    }
}

fn add(out: &mut Vec<String>, name: &str) {
    if !out.iter().any(|n| n == name) {
        out.push(name.to_owned());
    }
}

fn walk_stmt(stmt: &Stmt, inside: bool, out: &mut Vec<String>) {
    match stmt {
        Stmt::Assignment(a) => {
            if inside {
                for v in a.variables() {
                    match v {
                        Var::Name(t) => add(out, token_name(t)),
                        Var::Expression(ve) => {
                            if let Prefix::Name(t) = ve.prefix() {
                                add(out, token_name(t));
                            }
                        }
                        _ => {}
                    }
                }
            }
            for e in a.expressions() {
                walk_expr(e, inside, out);
            }
        }
        Stmt::LocalAssignment(l) => {
            for e in l.expressions() {
                walk_expr(e, inside, out);
            }
        }
        Stmt::FunctionCall(c) => walk_call(c, inside, out),
        Stmt::Do(d) => written_in_functions(d.block(), inside, out),
        Stmt::If(i) => {
            walk_expr(i.condition(), inside, out);
            written_in_functions(i.block(), inside, out);
            for e in i.else_if().into_iter().flatten() {
                walk_expr(e.condition(), inside, out);
                written_in_functions(e.block(), inside, out);
            }
            if let Some(b) = i.else_block() {
                written_in_functions(b, inside, out);
            }
        }
        Stmt::While(w) => {
            walk_expr(w.condition(), inside, out);
            written_in_functions(w.block(), inside, out);
        }
        Stmt::Repeat(r) => {
            written_in_functions(r.block(), inside, out);
            walk_expr(r.until(), inside, out);
        }
        Stmt::NumericFor(f) => written_in_functions(f.block(), inside, out),
        Stmt::GenericFor(f) => {
            for e in f.expressions() {
                walk_expr(e, inside, out);
            }
            written_in_functions(f.block(), inside, out);
        }
        Stmt::LocalFunction(f) => written_in_functions(f.body().block(), true, out),
        Stmt::FunctionDeclaration(f) => {
            if inside && let Some(first) = f.name().names().iter().next() {
                add(out, token_name(first));
            }
            written_in_functions(f.body().block(), true, out);
        }
        _ => {}
    }
}

fn walk_call(c: &FunctionCall, inside: bool, out: &mut Vec<String>) {
    if let Prefix::Expression(e) = c.prefix() {
        walk_expr(e, inside, out);
    }
    for s in c.suffixes() {
        walk_suffix(s, inside, out);
    }
}

fn walk_suffix(s: &Suffix, inside: bool, out: &mut Vec<String>) {
    match s {
        Suffix::Call(Call::AnonymousCall(a)) => walk_args(a, inside, out),
        Suffix::Call(Call::MethodCall(m)) => walk_args(m.args(), inside, out),
        Suffix::Index(Index::Brackets { expression, .. }) => walk_expr(expression, inside, out),
        _ => {}
    }
}

fn walk_args(a: &FunctionArgs, inside: bool, out: &mut Vec<String>) {
    match a {
        FunctionArgs::Parentheses { arguments, .. } => {
            for e in arguments {
                walk_expr(e, inside, out);
            }
        }
        FunctionArgs::TableConstructor(t) => walk_table(t, inside, out),
        _ => {}
    }
}

fn walk_table(t: &full_moon::ast::TableConstructor, inside: bool, out: &mut Vec<String>) {
    for f in t.fields() {
        match f {
            Field::ExpressionKey { key, value, .. } => {
                walk_expr(key, inside, out);
                walk_expr(value, inside, out);
            }
            Field::NameKey { value, .. } => walk_expr(value, inside, out),
            Field::NoKey(value) => walk_expr(value, inside, out),
            _ => {}
        }
    }
}

fn walk_expr(e: &Expression, inside: bool, out: &mut Vec<String>) {
    match e {
        Expression::BinaryOperator { lhs, rhs, .. } => {
            walk_expr(lhs, inside, out);
            walk_expr(rhs, inside, out);
        }
        Expression::Parentheses { expression, .. }
        | Expression::UnaryOperator { expression, .. } => walk_expr(expression, inside, out),
        Expression::Function(f) => written_in_functions(f.body().block(), true, out),
        Expression::FunctionCall(c) => walk_call(c, inside, out),
        Expression::TableConstructor(t) => walk_table(t, inside, out),
        Expression::Var(Var::Expression(ve)) => {
            if let Prefix::Expression(p) = ve.prefix() {
                walk_expr(p, inside, out);
            }
            for s in ve.suffixes() {
                walk_suffix(s, inside, out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
#[path = "returns_tests.rs"]
mod tests;
