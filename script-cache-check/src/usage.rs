//! How a script uses `KEYS` and `ARGV`, read from its tokens.
//!
//! Runs on the tokens of [`crate::lex`], so it sees the text exactly as
//! Lua does and needs no syntax tree: no recursion, linear time, any size.
//! It is meant for chunks Lua accepted (`check_syntax`).

use crate::lex::{Lexed, Token, TokenKind};

/// The largest literal index (`KEYS[n]`, `ARGV[n]`) a script may use: a
/// typed call takes one parameter per entry, so larger literal indices are
/// refused with a message that says to index with a variable instead.
pub const MAX_LITERAL_INDEX: usize = 256;

/// How many entries of a table a script needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arity {
    /// Exactly this many (the highest literal index used).
    Exact(usize),
    /// At least `min`; the table is also indexed dynamically.
    Variadic {
        /// The highest literal index used.
        min: usize,
    },
}

impl Arity {
    /// The smallest number of entries the script needs.
    pub fn min(self) -> usize {
        match self {
            Arity::Exact(n) | Arity::Variadic { min: n } => n,
        }
    }

    /// Whether the table is indexed dynamically.
    pub fn is_variadic(self) -> bool {
        matches!(self, Arity::Variadic { .. })
    }
}

impl Default for Arity {
    fn default() -> Self {
        Arity::Exact(0)
    }
}

/// A 1-based line and column (in characters) of the analysed source.
pub type Position = (u32, u32);

/// Where one of the tables is used.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Uses {
    /// Every literal index (`KEYS[2]`) with where it is, in source order.
    pub literals: Vec<(usize, Position)>,
    /// The first use that is not a literal index (`KEYS[i]`, `#KEYS`,
    /// `unpack(KEYS)`), if any.
    pub dynamic: Option<Position>,
}

impl Uses {
    /// The first literal index above `n`, with its position.
    pub fn first_above(&self, n: usize) -> Option<(usize, Position)> {
        self.literals.iter().copied().find(|(i, _)| *i > n)
    }

    /// The arity these uses give.
    pub fn arity(&self) -> Arity {
        let max = self.literals.iter().map(|(i, _)| *i).max().unwrap_or(0);
        if self.dynamic.is_some() {
            Arity::Variadic { min: max }
        } else {
            Arity::Exact(max)
        }
    }
}

/// How a script uses `KEYS` and `ARGV`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Usage {
    /// `KEYS` arity.
    pub keys: Arity,
    /// `ARGV` arity.
    pub args: Arity,
    /// Where `KEYS` is used.
    pub key_uses: Uses,
    /// Where `ARGV` is used.
    pub arg_uses: Uses,
}

/// A literal index above [`MAX_LITERAL_INDEX`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexTooLarge {
    /// `KEYS` or `ARGV`.
    pub table: &'static str,
    /// The index as written.
    pub written: String,
    /// Where the table name is.
    pub at: Position,
}

/// Works out the `KEYS`/`ARGV` usage of `source`, already lexed.
///
/// A name `KEYS` (or `ARGV`) counts unless it is a field (`t.KEYS`,
/// `t:KEYS`), a table-constructor key (`{KEYS = 1}`) or a local being
/// declared (`local KEYS`). `KEYS[<decimal literal>]` is a literal use;
/// any other use (`KEYS[i]`, `#KEYS`, `unpack(KEYS)`, `KEYS = {}`) makes
/// the table dynamic.
pub fn usage(source: &[u8], lexed: &Lexed) -> Result<Usage, IndexTooLarge> {
    usage_of(source, lexed, &lexed.tokens, ("KEYS", "ARGV"))
}

/// [`usage`] of a part of a chunk (`tokens`, a run of `lexed.tokens`)
/// where the tables are named `names` (keys, args): a function library's
/// callback reads its keys and arguments from its parameters
/// (`function(keys, args)`). Errors name the tables `KEYS` and `ARGV`
/// after what they hold.
pub fn usage_of(
    source: &[u8],
    lexed: &Lexed,
    tokens: &[Token],
    names: (&str, &str),
) -> Result<Usage, IndexTooLarge> {
    let mut keys = Uses::default();
    let mut args = Uses::default();
    // The open brackets, to tell `{KEYS = 1}` from `KEYS = 1`.
    let mut open: Vec<u8> = Vec::new();
    let text = |t: &Token| t.text(source);
    for (i, t) in tokens.iter().enumerate() {
        match (t.kind, text(t)) {
            (TokenKind::Symbol, [b @ (b'(' | b'[' | b'{')]) => open.push(*b),
            (TokenKind::Symbol, [b')' | b']' | b'}']) => {
                open.pop();
            }
            (TokenKind::Name, b"function" | b"do" | b"then" | b"repeat") => open.push(b'b'),
            (TokenKind::Name, b"end" | b"until") => {
                open.pop();
            }
            (TokenKind::Name, b"elseif" | b"else") => {
                // Closes the `then` block; the `then` or `else` reopens.
                if open.last() == Some(&b'b') {
                    open.pop();
                }
                if text(t) == b"else" {
                    open.push(b'b');
                }
            }
            _ => {}
        }
        let (name, uses) = match (t.kind, text(t)) {
            (TokenKind::Name, n) if n == names.0.as_bytes() => ("KEYS", &mut keys),
            (TokenKind::Name, n) if n == names.1.as_bytes() => ("ARGV", &mut args),
            _ => continue,
        };
        let prev = i.checked_sub(1).and_then(|p| tokens.get(p)).map(text);
        let next = |n: usize| tokens.get(i + n).map(|t| (t.kind, text(t)));
        if matches!(prev, Some(b"." | b":" | b"local")) {
            continue;
        }
        if next(1).is_some_and(|(_, s)| s == b"=") && open.last() == Some(&b'{') {
            continue;
        }
        let at = (t.line, lexed.column(source, t.line, t.start));
        match (next(1), next(2), next(3)) {
            (Some((_, b"[")), Some((TokenKind::Number, digits)), Some((_, b"]")))
                if digits.iter().all(u8::is_ascii_digit) =>
            {
                let written = String::from_utf8_lossy(digits).into_owned();
                match written.parse::<usize>() {
                    Ok(n) if n <= MAX_LITERAL_INDEX => uses.literals.push((n, at)),
                    _ => {
                        return Err(IndexTooLarge {
                            table: name,
                            written,
                            at,
                        });
                    }
                }
            }
            _ => {
                if uses.dynamic.is_none() {
                    uses.dynamic = Some(at);
                }
            }
        }
    }
    Ok(Usage {
        keys: keys.arity(),
        args: args.arity(),
        key_uses: keys,
        arg_uses: args,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lex::lex;

    fn of(src: &str) -> Result<Usage, IndexTooLarge> {
        usage(src.as_bytes(), &lex(src.as_bytes()))
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
            (
                "local t = {KEYS = 1} return t.KEYS, t.ARGV",
                Exact(0),
                Exact(0),
            ),
            ("local t = {a = 1, ARGV = 2}", Exact(0), Exact(0)),
            (
                "local t = {function() KEYS = 1 end}",
                Variadic { min: 0 },
                Exact(0),
            ),
            (
                "if x then KEYS = 1 else ARGV = 2 end",
                Variadic { min: 0 },
                Variadic { min: 0 },
            ),
            (
                "local function f() return KEYS[3] end return f()",
                Exact(3),
                Exact(0),
            ),
            ("#!lua flags=no-writes\nreturn KEYS[1]", Exact(1), Exact(0)),
            ("-- KEYS[9]\rreturn KEYS[1]", Exact(1), Exact(0)),
            (
                "--[[ KEYS[9] ]] return 'KEYS[8]', [[ARGV[7]]]",
                Exact(0),
                Exact(0),
            ),
        ];
        for (src, keys, args) in table {
            let got = of(src).unwrap_or_else(|e| panic!("{src:?}: {e:?}"));
            assert_eq!(got.keys, *keys, "KEYS of {src:?}");
            assert_eq!(got.args, *args, "ARGV of {src:?}");
        }
    }

    #[test]
    fn huge_indices_are_refused_fast() {
        let e = of("return KEYS[20000]").unwrap_err();
        assert_eq!(
            (e.table, e.written.as_str(), e.at),
            ("KEYS", "20000", (1, 8))
        );
        assert!(of("return ARGV[99999999999999999999999999]").is_err());
        assert!(of(&format!("return ARGV[{MAX_LITERAL_INDEX}]")).is_ok());
    }
}
