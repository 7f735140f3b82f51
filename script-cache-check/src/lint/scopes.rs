//! Scopes: the locals the walk declares (with what declared them, what
//! they may hold and whether anything reads them), name lookup through the
//! enclosing scopes, and what is reported when a scope ends
//! (`unused-local`, `unused-parameter`, `unused-loop-variable`,
//! `shadowed-local`, and `nil-compare-reply` for a local that only held
//! replies).

use full_moon::ast::Block;
use full_moon::tokenizer::TokenReference;

use super::{Alias, Origin, Rule, Walker, at, token_name};

/// What declared a local, for the `unused-*` rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Local,
    Parameter,
    LoopVariable,
    /// `self` of a method, `arg` of a vararg function: never reported.
    Implicit,
}

#[derive(Clone)]
pub(super) struct Local {
    pub(super) name: String,
    pub(super) alias: Option<Alias>,
    pub(super) origin: Origin,
    pub(super) kind: Kind,
    /// Where it is declared (none for an implicit one).
    pub(super) at: Option<(u32, u32)>,
    /// Whether anything reads it.
    pub(super) read: bool,
    /// Whether every value assigned to it so far is a `redis.call` /
    /// `redis.pcall` reply, for `nil-compare-reply`.
    pub(super) reply: bool,
    /// Where it is compared with `nil`: reported when its scope ends, if
    /// it never held anything but a reply.
    pub(super) nil_compares: Vec<(u32, u32)>,
    /// The loops and functions around its declaration, for
    /// `nil-compare-reply`.
    pub(super) depth: usize,
}

impl Local {
    pub(super) fn new(name: &str, kind: Kind, at: Option<(u32, u32)>) -> Local {
        Local {
            name: name.to_owned(),
            alias: None,
            origin: Origin::Unknown,
            kind,
            at,
            read: false,
            reply: false,
            nil_compares: Vec::new(),
            depth: 0,
        }
    }
}

impl Walker {
    pub(super) fn local(&self, name: &str) -> Option<&Local> {
        self.scopes
            .iter()
            .rev()
            .flat_map(|s| s.iter().rev())
            .find(|l| l.name == name)
    }

    pub(super) fn local_mut(&mut self, name: &str) -> Option<&mut Local> {
        self.scopes
            .iter_mut()
            .rev()
            .flat_map(|s| s.iter_mut().rev())
            .find(|l| l.name == name)
    }

    pub(super) fn declare(&mut self, mut local: Local) {
        local.depth = self.depth();
        if matches!(local.kind, Kind::Local | Kind::LoopVariable)
            && !local.name.starts_with('_')
            && let Some(at) = local.at
        {
            let outer = self.scopes.len().saturating_sub(1);
            let base = self.functions.last().copied().unwrap_or(0).min(outer);
            let shadowed = self.scopes[base..outer]
                .iter()
                .rev()
                .flat_map(|s| s.iter().rev())
                .find(|l| l.name == local.name)
                .map(|l| (l.kind, l.at));
            if let Some((kind, Some((line, _)))) = shadowed
                && kind != Kind::Implicit
            {
                let what = match kind {
                    Kind::Parameter => "parameter",
                    Kind::LoopVariable => "loop variable",
                    _ => "local",
                };
                self.push(
                    Rule::ShadowedLocal,
                    at,
                    format!(
                        "`{}` shadows the {what} `{}` of line {line}: in this scope the name \
                         means the new local",
                        local.name, local.name
                    ),
                    "give the inner local another name".to_owned(),
                );
            }
        }
        match self.scopes.last_mut() {
            Some(scope) => scope.push(local),
            None => self.scopes.push(vec![local]),
        }
    }

    /// The loops and functions being walked: a value compared at a deeper
    /// depth than its local's may come from an assignment further down.
    pub(super) fn depth(&self) -> usize {
        self.functions.len() + self.loops
    }

    /// Declares the local of `token`.
    pub(super) fn declare_token(&mut self, token: &TokenReference, kind: Kind) -> &mut Local {
        self.declare(Local::new(token_name(token), kind, Some(at(token))));
        let scope = self.scopes.len() - 1;
        let last = self.scopes[scope].len() - 1;
        &mut self.scopes[scope][last]
    }

    /// A block in a new scope holding `names` (parameters, loop variables).
    pub(super) fn block(&mut self, block: &Block, names: &[Local]) {
        self.scopes.push(Vec::new());
        for local in names {
            self.declare(local.clone());
        }
        self.block_body(block);
        self.pop_scope();
    }

    /// Ends the innermost scope: its unused locals, and its locals that
    /// held nothing but replies and were compared with `nil`.
    pub(super) fn pop_scope(&mut self) {
        let Some(scope) = self.scopes.pop() else {
            return;
        };
        for local in scope {
            if local.reply && !self.resp3 {
                for &position in &local.nil_compares {
                    self.nil_compare(position, Some(&local.name));
                }
            }
            let Some(position) = local.at else {
                continue;
            };
            if local.read || local.name.starts_with('_') {
                continue;
            }
            let (rule, what) = match local.kind {
                Kind::Local => (Rule::UnusedLocal, "local"),
                Kind::Parameter => (Rule::UnusedParameter, "parameter"),
                Kind::LoopVariable => (Rule::UnusedLoopVariable, "loop variable"),
                Kind::Implicit => continue,
            };
            self.push(
                rule,
                position,
                format!("unused {what} `{}`: nothing reads it", local.name),
                format!(
                    "remove it, or name it `_{}` (names starting with `_` are not reported)",
                    local.name
                ),
            );
        }
    }
}
