//! What the macros learn from a script's text: the `#!lua` shebang, the
//! `---` header, Lua 5.1 syntax and the `KEYS`/`ARGV` arity.

use full_moon::ast::{Expression, Index, Prefix, Suffix, Var, VarExpression};
use full_moon::tokenizer::{TokenReference, TokenType};
use full_moon::visitors::Visitor;

/// Shebang flags Redis 7 understands for `EVAL` scripts.
pub(crate) const KNOWN_FLAGS: &[&str] = &[
    "no-writes",
    "allow-oom",
    "allow-stale",
    "no-cluster",
    "allow-cross-slot-keys",
];

/// A parsed `#!lua [flags=a,b]` first line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Shebang {
    /// The flags, in the order written.
    pub(crate) flags: Vec<String>,
}

/// Parses the shebang of `source`: `Ok(None)` when the first line does not
/// start with `#!`. The error text follows `file:1: `.
pub(crate) fn shebang(source: &str) -> Result<Option<Shebang>, String> {
    let Some(rest) = source.strip_prefix("#!") else {
        return Ok(None);
    };
    let line = rest.split('\n').next().unwrap_or_default();
    let mut words = line.split_ascii_whitespace();
    match words.next() {
        Some("lua") => {}
        Some(engine) => {
            return Err(format!(
                "unknown script engine `{engine}` in the shebang; only `#!lua` is \
                 supported (e.g. `#!lua flags=no-writes`)"
            ));
        }
        None => {
            return Err(
                "the shebang names no engine; write `#!lua` (optionally followed \
                        by ` flags=no-writes,...`) or remove the line"
                    .to_owned(),
            );
        }
    }
    let mut flags: Option<Vec<String>> = None;
    for word in words {
        let Some(list) = word.strip_prefix("flags=") else {
            let key = word.split('=').next().unwrap_or(word);
            return Err(format!(
                "unknown shebang option `{key}`; scripts accept only `flags=` (with any of: \
                 {})",
                KNOWN_FLAGS.join(", ")
            ));
        };
        if flags.is_some() {
            return Err(
                "`flags=` is given twice in the shebang; list all flags once, \
                        separated by commas"
                    .to_owned(),
            );
        }
        let mut parsed = Vec::new();
        if !list.is_empty() {
            for flag in list.split(',') {
                if !KNOWN_FLAGS.contains(&flag) {
                    return Err(format!(
                        "unknown shebang flag `{flag}`; the flags Redis knows are: {}",
                        KNOWN_FLAGS.join(", ")
                    ));
                }
                parsed.push(flag.to_owned());
            }
        }
        flags = Some(parsed);
    }
    Ok(Some(Shebang {
        flags: flags.unwrap_or_default(),
    }))
}

/// The shebang line made into a Lua comment (`#!lua` -> `--!lua`), for
/// servers without shebang support. Same number of lines.
pub(crate) fn legacy_source(source: &str) -> Option<String> {
    source.strip_prefix("#!").map(|rest| format!("--!{rest}"))
}

/// The `---` lines of the leading comment block (after an optional
/// shebang), without the dashes and one following space.
pub(crate) fn header_doc(source: &str) -> Vec<String> {
    let mut lines = source.lines();
    let mut doc = Vec::new();
    let mut first = true;
    for line in lines.by_ref() {
        if first && line.starts_with("#!") {
            first = false;
            continue;
        }
        first = false;
        let line = line.trim_end();
        let Some(comment) = line.strip_prefix("--") else {
            break;
        };
        if comment.starts_with("[[") || comment.starts_with("[=") {
            break;
        }
        if let Some(text) = comment.strip_prefix('-') {
            doc.push(text.strip_prefix(' ').unwrap_or(text).to_owned());
        }
    }
    doc
}

/// A Lua syntax error: 1-based line and column and the parser's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub(crate) line: usize,
    pub(crate) column: usize,
    pub(crate) message: String,
}

/// How a script uses `KEYS` and `ARGV`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Usage {
    pub(crate) keys: Arity,
    pub(crate) args: Arity,
    /// Where `KEYS` is used, for messages about a header that disagrees.
    pub(crate) key_uses: Uses,
    /// Where `ARGV` is used.
    pub(crate) arg_uses: Uses,
}

/// A 1-based line and column of the analyzed source.
pub(crate) type Position = (usize, usize);

/// Where one of the tables is used.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Uses {
    /// Every literal index (`KEYS[2]`) with where it is, in source order.
    pub(crate) literals: Vec<(usize, Position)>,
    /// The first use that is not a literal index (`KEYS[i]`, `#KEYS`,
    /// `unpack(KEYS)`), if any.
    pub(crate) dynamic: Option<Position>,
}

impl Uses {
    /// The first literal index above `n`, with its position.
    pub(crate) fn first_above(&self, n: usize) -> Option<(usize, Position)> {
        self.literals.iter().copied().find(|(i, _)| *i > n)
    }
}

/// Mirror of `script_cache::Arity`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arity {
    Exact(usize),
    Variadic { min: usize },
}

impl Arity {
    /// The smallest number of entries the script needs.
    pub(crate) fn min(self) -> usize {
        match self {
            Arity::Exact(n) | Arity::Variadic { min: n } => n,
        }
    }

    /// Whether the table is indexed dynamically.
    pub(crate) fn is_variadic(self) -> bool {
        matches!(self, Arity::Variadic { .. })
    }
}

impl Default for Arity {
    fn default() -> Self {
        Arity::Exact(0)
    }
}

/// Parses `source` as Lua 5.1 (a shebang line is blanked first, keeping
/// line numbers) and works out its `KEYS`/`ARGV` arity. On error, the first
/// syntax error (later ones are usually follow-on noise).
pub(crate) fn analyze(source: &str) -> Result<Usage, SyntaxError> {
    let code: std::borrow::Cow<'_, str> = if source.starts_with("#!") {
        match source.find('\n') {
            Some(nl) => source[nl..].into(),
            None => "".into(),
        }
    } else {
        source.into()
    };
    // The parser is not supposed to panic; if it ever does on some input,
    // that is reported as a compile error rather than a macro panic.
    let parsed = std::panic::catch_unwind(|| {
        full_moon::parse_fallible(&code, full_moon::LuaVersion::lua51()).into_result()
    });
    let ast = match parsed {
        Ok(Ok(ast)) => ast,
        Ok(Err(errors)) => {
            let Some(first) = errors.first() else {
                return Ok(Usage::default());
            };
            let (start, end) = first.range();
            let mut message = match first {
                full_moon::Error::AstError(e) => e.error_message().to_owned(),
                full_moon::Error::TokenizerError(e) => e.error().to_string(),
            };
            // Name the offending token when it is short and on one line.
            if let Some(found) = code.get(start.bytes()..end.bytes())
                && !found.trim().is_empty()
                && found.len() <= 20
                && !found.contains('\n')
                && matches!(first, full_moon::Error::AstError(_))
            {
                message.push_str(&format!(" (found `{}`)", found.trim()));
            }
            return Err(SyntaxError {
                line: start.line().max(1),
                column: start.character().max(1),
                message,
            });
        }
        Err(_) => {
            return Err(SyntaxError {
                line: 1,
                column: 1,
                message: "the Lua parser failed on this file; please report it".to_owned(),
            });
        }
    };
    let mut v = ArityVisitor::default();
    v.visit_ast(&ast);
    Ok(Usage {
        keys: v.keys.arity(),
        args: v.args.arity(),
        key_uses: v.keys.uses(),
        arg_uses: v.args.uses(),
    })
}

#[derive(Default)]
struct Table {
    max_literal: usize,
    literal_uses: usize,
    prefix_uses: usize,
    dynamic: bool,
    literals: Vec<(usize, Position)>,
    dynamic_at: Vec<Position>,
}

impl Table {
    fn arity(&self) -> Arity {
        if self.dynamic || self.prefix_uses > self.literal_uses {
            Arity::Variadic {
                min: self.max_literal,
            }
        } else {
            Arity::Exact(self.max_literal)
        }
    }

    fn uses(&self) -> Uses {
        let mut literals = self.literals.clone();
        literals.sort_by_key(|(_, at)| *at);
        let dynamic = match self.arity() {
            Arity::Variadic { .. } => self.dynamic_at.iter().min().copied(),
            Arity::Exact(_) => None,
        };
        Uses { literals, dynamic }
    }
}

fn position(token: &TokenReference) -> Position {
    let at = token.token().start_position();
    (at.line().max(1), at.character().max(1))
}

#[derive(Default)]
struct ArityVisitor {
    keys: Table,
    args: Table,
}

fn identifier(token: &TokenReference) -> Option<&str> {
    match token.token().token_type() {
        TokenType::Identifier { identifier } => Some(identifier.as_str()),
        _ => None,
    }
}

/// `Some(n)` for a decimal integer literal.
fn integer_literal(expr: &Expression) -> Option<usize> {
    let Expression::Number(token) = expr else {
        return None;
    };
    let TokenType::Number { text } = token.token().token_type() else {
        return None;
    };
    let text = text.as_str();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

impl ArityVisitor {
    fn table(&mut self, name: &str) -> Option<&mut Table> {
        match name {
            "KEYS" => Some(&mut self.keys),
            "ARGV" => Some(&mut self.args),
            _ => None,
        }
    }

    /// `KEYS[<literal>]...` counts as a literal use of index n.
    fn prefixed<'a>(&mut self, prefix: &Prefix, mut suffixes: impl Iterator<Item = &'a Suffix>) {
        let Prefix::Name(name) = prefix else {
            return;
        };
        let Some(table) = identifier(name).and_then(|n| self.table(n)) else {
            return;
        };
        if let Some(Suffix::Index(Index::Brackets { expression, .. })) = suffixes.next()
            && let Some(n) = integer_literal(expression)
        {
            table.literal_uses += 1;
            table.max_literal = table.max_literal.max(n);
            table.literals.push((n, position(name)));
        } else {
            table.dynamic_at.push(position(name));
        }
    }
}

impl Visitor for ArityVisitor {
    fn visit_var_expression(&mut self, node: &VarExpression) {
        self.prefixed(node.prefix(), node.suffixes());
    }

    fn visit_function_call(&mut self, node: &full_moon::ast::FunctionCall) {
        self.prefixed(node.prefix(), node.suffixes());
    }

    fn visit_prefix(&mut self, node: &Prefix) {
        if let Prefix::Name(name) = node
            && let Some(table) = identifier(name).and_then(|n| self.table(n))
        {
            table.prefix_uses += 1;
        }
    }

    fn visit_var(&mut self, node: &Var) {
        if let Var::Name(name) = node
            && let Some(table) = identifier(name).and_then(|n| self.table(n))
        {
            table.dynamic = true;
            table.dynamic_at.push(position(name));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebang_table() {
        let ok: &[(&str, Option<&[&str]>)] = &[
            ("return 1", None),
            ("-- #!lua\nreturn 1", None),
            ("#!lua\nreturn 1", Some(&[])),
            ("#!lua", Some(&[])),
            ("#!lua\r\nreturn 1", Some(&[])),
            ("#!lua flags=\nreturn 1", Some(&[])),
            ("#!lua flags=no-writes\n", Some(&["no-writes"])),
            (
                "#!lua  flags=no-writes,allow-stale \n",
                Some(&["no-writes", "allow-stale"]),
            ),
            (
                "#!lua flags=allow-oom,no-cluster,allow-cross-slot-keys\n",
                Some(&["allow-oom", "no-cluster", "allow-cross-slot-keys"]),
            ),
        ];
        for (src, want) in ok {
            let got = shebang(src).unwrap_or_else(|e| panic!("{src:?}: {e}"));
            let got = got.map(|s| s.flags);
            let want = want.map(|w| w.iter().map(|s| s.to_string()).collect::<Vec<_>>());
            assert_eq!(got, want, "{src:?}");
        }
        let bad: &[(&str, &str)] = &[
            ("#!lua flags=no-write\n", "unknown shebang flag `no-write`"),
            (
                "#!lua flags=no-writes,,allow-oom\n",
                "unknown shebang flag ``",
            ),
            ("#!lua name=mylib\n", "unknown shebang option `name`"),
            ("#!lua flags=no-writes flags=allow-oom\n", "given twice"),
            ("#!python\n", "unknown script engine `python`"),
            ("#!/usr/bin/lua\n", "unknown script engine `/usr/bin/lua`"),
            ("#!\nreturn 1", "names no engine"),
            ("#!lua debug\n", "unknown shebang option `debug`"),
        ];
        for (src, want) in bad {
            let e = shebang(src).unwrap_err();
            assert!(e.contains(want), "{src:?}: {e:?} lacks {want:?}");
        }
        assert!(
            shebang("#!lua flags=x")
                .unwrap_err()
                .contains("no-writes, allow-oom")
        );
    }

    #[test]
    fn legacy_keeps_lines() {
        assert_eq!(legacy_source("return 1"), None);
        let src = "#!lua flags=no-writes\nreturn 1\n";
        let legacy = legacy_source(src).unwrap();
        assert_eq!(legacy, "--!lua flags=no-writes\nreturn 1\n");
        assert_eq!(legacy.lines().count(), src.lines().count());
        assert!(analyze(&legacy).is_ok());
    }

    #[test]
    fn header_doc_table() {
        let table: &[(&str, &[&str])] = &[
            ("return 1", &[]),
            ("--- One line.\nreturn 1", &["One line."]),
            (
                "---One.\n---\n---   indented\nreturn 1",
                &["One.", "", "  indented"],
            ),
            (
                "#!lua flags=no-writes\n--- Reads.\n--- More.\nreturn 1",
                &["Reads.", "More."],
            ),
            (
                "--- Doc.\n-- @key bucket the bucket\n-- @arg n count\n--- After.\nreturn 1",
                &["Doc.", "After."],
            ),
            ("-- plain comment\n--- doc\nreturn 1", &["doc"]),
            ("--- doc\n\n--- not doc\nreturn 1", &["doc"]),
            ("--- doc \r\nreturn 1", &["doc"]),
            ("local x = 1\n--- late\nreturn x", &[]),
            ("--[[ block\n--- no\n]]", &[]),
        ];
        for (src, want) in table {
            assert_eq!(header_doc(src), *want, "{src:?}");
        }
    }

    #[test]
    fn syntax_errors_have_positions() {
        let e = analyze("local x = 1\nif x then\n  return x\n").unwrap_err();
        assert_eq!(e.line, 4, "{e:?}"); // at the end of the file
        assert!(!e.message.is_empty());
        let e = analyze("if x then\n  return )\nend").unwrap_err();
        assert_eq!((e.line, e.column), (2, 10), "{e:?}");
        assert!(e.message.ends_with(" (found `)`)"), "{e:?}");
        let e = analyze("return 1 +").unwrap_err();
        assert_eq!((e.line, e.column), (1, 10), "{e:?}"); // the `+`
        let e = analyze("local s = \"abc\nreturn s").unwrap_err();
        assert_eq!(e.line, 1, "{e:?}");
        assert!(e.message.contains("unclosed string"), "{e:?}");
        // Shebang lines are blanked, so positions stay those of the file.
        let e = analyze("#!lua flags=no-writes\nreturn )").unwrap_err();
        assert_eq!((e.line, e.column), (2, 8), "{e:?}");
        // Lua 5.1 only: no goto, no integer division, no bit operators.
        assert!(analyze("goto done\n::done::").is_err());
        assert!(analyze("return 7 // 2").is_err());
        assert!(analyze("return 1 & 2").is_err());
        assert!(analyze("").is_ok());
    }

    #[test]
    fn arity_table() {
        use Arity::{Exact, Variadic};
        let table: &[(&str, Arity, Arity)] = &[
            ("return 1", Exact(0), Exact(0)),
            ("return KEYS[1]", Exact(1), Exact(0)),
            (
                "return redis.call('GET', KEYS[2]) .. ARGV[3]",
                Exact(2),
                Exact(3),
            ),
            (
                "local a, b = KEYS[1], KEYS[1]\nreturn ARGV[1]",
                Exact(1),
                Exact(1),
            ),
            ("return KEYS[1]:upper()", Exact(1), Exact(0)),
            ("return KEYS[2].x", Exact(2), Exact(0)),
            ("return #KEYS", Variadic { min: 0 }, Exact(0)),
            (
                "for i = 1, #KEYS do end return KEYS[2]",
                Variadic { min: 2 },
                Exact(0),
            ),
            ("local i = 1 return KEYS[i]", Variadic { min: 0 }, Exact(0)),
            (
                "return redis.call('MGET', unpack(KEYS))",
                Variadic { min: 0 },
                Exact(0),
            ),
            (
                "for _, k in ipairs(ARGV) do end",
                Exact(0),
                Variadic { min: 0 },
            ),
            ("return ARGV[1 + 1]", Exact(0), Variadic { min: 0 }),
            ("return ARGV['1']", Exact(0), Variadic { min: 0 }),
            ("return ARGV[0x2]", Exact(0), Variadic { min: 0 }),
            ("return ARGV[(1)]", Exact(0), Variadic { min: 0 }),
            ("local k = KEYS return k[1]", Variadic { min: 0 }, Exact(0)),
            ("KEYS = {} return 1", Variadic { min: 0 }, Exact(0)),
            ("return ARGV[4], ARGV[#ARGV]", Exact(0), Variadic { min: 4 }),
            // Not the global tables: field names and table keys.
            (
                "local t = {KEYS = 1} return t.KEYS, t.ARGV",
                Exact(0),
                Exact(0),
            ),
            (
                "local function f() return KEYS[3] end return f()",
                Exact(3),
                Exact(0),
            ),
            ("#!lua flags=no-writes\nreturn KEYS[1]", Exact(1), Exact(0)),
        ];
        for (src, keys, args) in table {
            let got = analyze(src).unwrap_or_else(|e| panic!("{src:?}: {e:?}"));
            assert_eq!(got.keys, *keys, "KEYS of {src:?}");
            assert_eq!(got.args, *args, "ARGV of {src:?}");
        }
    }
}
