//! The luacheck-class rules, all warnings: what runs, but not as the
//! script's author meant.
//!
//! * `unused-local`, `unused-parameter`, `unused-loop-variable`: a name
//!   nothing reads (names starting with `_` are not reported, as luacheck
//!   and selene do);
//! * `shadowed-local`: a local hiding a local of an enclosing scope;
//! * `unreachable-code`: a statement after one that always leaves the block
//!   (`return`, `break`, `error(...)`, a `do` block or an `if` whose every
//!   branch does);
//! * `loop-runs-once`: a loop whose body always leaves it;
//! * `unbalanced-assignment`: more names than values (the last value not a
//!   call or `...`: the extra names are `nil`), or more values than names;
//! * `index-zero`: `KEYS[0]`, `ARGV[0]` (Lua arrays start at 1: `nil`);
//! * `nil-compare-reply`: a `redis.call` / `redis.pcall` reply compared with
//!   `nil` (the servers give a script a nil reply as `false`, so `== nil`
//!   is never true), unless the script switches to RESP3
//!   (`redis.setresp(3)`), where a null reply is `nil`;
//! * `keyspace-scan`: `KEYS` or `SCAN` called from a script.

use full_moon::ast::{
    Block, Call, Expression, FunctionCall, Index, LastStmt, Prefix, Stmt, Suffix, Var,
    VarExpression,
};
use full_moon::node::Node;
use full_moon::tokenizer::{Position, Symbol, TokenReference, TokenType};

use super::{Rule, Walker, at, first_token, is_call_table, multiple, token_name};

fn position(p: Option<Position>) -> Option<(u32, u32)> {
    p.map(|p| (super::pos(p.line()), super::pos(p.character())))
}

fn is_nil(e: &Expression) -> bool {
    match e {
        Expression::Symbol(s) => s.is_symbol(Symbol::Nil),
        Expression::Parentheses { expression, .. } => is_nil(expression),
        _ => false,
    }
}

impl Walker {
    /// Where `stmt` leaves its block for good (`error(...)`, a `do` block
    /// or an `if` with an `else` whose every branch leaves), if it does.
    pub(super) fn leaves(&self, stmt: &Stmt) -> Option<(u32, u32)> {
        match stmt {
            Stmt::FunctionCall(call) if self.is_error_call(call) => position(call.start_position()),
            Stmt::Do(d) => self.block_leaves(d.block()),
            Stmt::If(i) => {
                let last = self.block_leaves(i.else_block()?)?;
                self.block_leaves(i.block())?;
                for elseif in i.else_if().into_iter().flatten() {
                    self.block_leaves(elseif.block())?;
                }
                Some(last)
            }
            _ => None,
        }
    }

    /// Where `block` always ends in `return`, `break` or a statement that
    /// leaves it.
    fn block_leaves(&self, block: &Block) -> Option<(u32, u32)> {
        if let Some(found) = block.stmts().find_map(|s| self.leaves(s)) {
            return Some(found);
        }
        match block.last_stmt()? {
            LastStmt::Return(r) => position(r.start_position()),
            LastStmt::Break(b) => Some(at(b)),
            _ => None,
        }
    }

    /// `error(...)`, the global one.
    fn is_error_call(&self, call: &FunctionCall) -> bool {
        let suffixes: Vec<&Suffix> = call.suffixes().collect();
        matches!(
            (call.prefix(), &suffixes[..]),
            (Prefix::Name(n), [Suffix::Call(Call::AnonymousCall(_))])
                if token_name(n) == "error" && self.local("error").is_none()
        )
    }

    pub(super) fn unreachable(&mut self, stmt: Option<Position>, (line, _): (u32, u32)) {
        let Some(position) = position(stmt) else {
            return;
        };
        self.push(
            Rule::UnreachableCode,
            position,
            format!(
                "unreachable code: this statement never runs, as the block is always left on \
                 line {line} (`return`, `break` or `error(...)`)"
            ),
            "remove it, or move it before the statement that leaves".to_owned(),
        );
    }

    /// `loop-runs-once`: `body`, a loop's, always leaves the loop.
    pub(super) fn runs_once(&mut self, stmt: &Stmt, body: &Block) {
        let Some((line, _)) = self.block_leaves(body) else {
            return;
        };
        let Some(position) = position(stmt.start_position()) else {
            return;
        };
        self.push(
            Rule::LoopRunsOnce,
            position,
            format!(
                "this loop runs at most once: its body always leaves it (line {line}: \
                 `return`, `break` or `error(...)`)"
            ),
            "write an `if`, or leave the loop only on a condition".to_owned(),
        );
    }

    /// `unbalanced-assignment`: `targets` (what each is, where it is)
    /// assigned `values`.
    pub(super) fn unbalanced(
        &mut self,
        targets: &[(String, (u32, u32))],
        values: &[&Expression],
        local: bool,
    ) {
        let (n, m) = (targets.len(), values.len());
        if m == 0 {
            return;
        }
        let subject = if local {
            "the `local`"
        } else {
            "the assignment"
        };
        let plural = |k: usize| if k == 1 { "" } else { "s" };
        if n > m && !values.last().is_some_and(|e| multiple(e)) {
            let extra: Vec<&str> = targets[m..].iter().map(|(t, _)| t.as_str()).collect();
            self.push(
                Rule::UnbalancedAssignment,
                targets[m].1,
                format!(
                    "{subject} has {n} names for {m} value{}: {} {} `nil`",
                    plural(m),
                    extra.join(", "),
                    if extra.len() == 1 { "is" } else { "are" }
                ),
                "give every name its value (`nil` if that is meant)".to_owned(),
            );
        } else if m > n
            && let Some(first_extra) = values.get(n).and_then(|e| first_token(e))
        {
            self.push(
                Rule::UnbalancedAssignment,
                at(first_extra),
                format!(
                    "{subject} has {m} values for {n} name{}: the extra values are evaluated \
                     and dropped",
                    plural(n)
                ),
                "remove the extra values, or add the names they are for".to_owned(),
            );
        }
    }

    /// A `redis.call` / `redis.pcall` (or alias) reply, as is.
    pub(super) fn is_reply(&self, e: &Expression) -> bool {
        let call = match e {
            Expression::Parentheses { expression, .. } => return self.is_reply(expression),
            Expression::FunctionCall(call) => call,
            _ => return false,
        };
        let Prefix::Name(head) = call.prefix() else {
            return false;
        };
        let suffixes: Vec<&Suffix> = call.suffixes().collect();
        let name = token_name(head);
        match &suffixes[..] {
            [Suffix::Call(Call::AnonymousCall(_))] => {
                self.local(name).is_some_and(|l| l.alias.is_some())
            }
            [
                Suffix::Index(Index::Dot { name: field, .. }),
                Suffix::Call(Call::AnonymousCall(_)),
            ] => {
                is_call_table(name)
                    && self.local(name).is_none()
                    && matches!(token_name(field), "call" | "pcall")
            }
            _ => false,
        }
    }

    /// `lhs == rhs` or `lhs ~= rhs`: a reply compared with `nil`.
    pub(super) fn compared_with_nil(&mut self, lhs: &Expression, rhs: &Expression) {
        if self.resp3 {
            return;
        }
        let other = match (is_nil(lhs), is_nil(rhs)) {
            (true, false) => rhs,
            (false, true) => lhs,
            _ => return,
        };
        let Some(position) = first_token(other).map(at) else {
            return;
        };
        if self.is_reply(other) {
            self.nil_compare(position, None);
            return;
        }
        let Expression::Var(Var::Name(token)) = other else {
            return;
        };
        let name = token_name(token);
        let depth = self.depth();
        let Some(local) = self.local_mut(name) else {
            return;
        };
        if !local.reply {
            return;
        }
        if local.depth == depth {
            // Only the assignments above reach the comparison, and they
            // are all replies.
            self.nil_compare(position, Some(name));
        } else {
            // In a loop or function the local's scope holds, a later
            // assignment may reach it too: reported when the scope ends,
            // if the local never holds anything but a reply.
            local.nil_compares.push(position);
        }
    }

    pub(super) fn nil_compare(&mut self, position: (u32, u32), local: Option<&str>) {
        let what = match local {
            Some(name) => format!("`{name}` holds a `redis.call` reply and"),
            None => "a `redis.call` reply".to_owned(),
        };
        self.push(
            Rule::NilCompareReply,
            position,
            format!(
                "{what} is compared with `nil`: the servers give a script a nil reply as \
                 `false` (and any other reply as a value), so `== nil` is never true and \
                 `~= nil` always is"
            ),
            "test the reply itself (`if not reply then`) or compare it with `false`".to_owned(),
        );
    }

    /// `KEYS[0]`, `ARGV[0]`.
    pub(super) fn index_zero(&mut self, ve: &VarExpression) {
        let Prefix::Name(table) = ve.prefix() else {
            return;
        };
        let name = token_name(table);
        if !matches!(name, "KEYS" | "ARGV") || self.local(name).is_some() {
            return;
        }
        let Some(Suffix::Index(Index::Brackets { expression, .. })) = ve.suffixes().next() else {
            return;
        };
        let zero = match &**expression {
            Expression::Number(n) => match n.token_type() {
                TokenType::Number { text } => text.parse::<f64>().is_ok_and(|v| v == 0.0),
                _ => false,
            },
            _ => false,
        };
        if zero {
            self.push(
                Rule::IndexZero,
                at(table),
                format!("`{name}[0]` is always `nil`: Lua arrays start at 1"),
                format!("the first entry is `{name}[1]`"),
            );
        }
    }

    /// `KEYS` or `SCAN` called from a script.
    pub(super) fn keyspace_scan(&mut self, token: &TokenReference, command: &str) {
        self.push(
            Rule::KeyspaceScan,
            at(token),
            format!(
                "`{command}` scans the keyspace from a script: the server runs nothing else \
                 until the script ends, and in a Redis Cluster it sees only the keys of the \
                 node the script runs on"
            ),
            "pass the keys the script needs in KEYS, or scan from the client".to_owned(),
        );
    }
}
