//! The parameters of a typed call: the header's `@key`/`@arg` lines checked
//! against what the body reads, or names inferred from the body.
//!
//! Per table (`KEYS`, then `ARGV`):
//!
//! * **No `@key`/`@arg` at all**: `key1`, `key2`, ... up to the highest
//!   literal index (`KEYS[3]` -> three keys); a table that is also indexed
//!   dynamically (`KEYS[i]`, `#KEYS`, `unpack(KEYS)`) gets one more
//!   parameter, the slice `keys` (resp. `args`) with the rest.
//! * **With a header**, it is the contract, and the body must agree:
//!   - a literal index above the declared count (`KEYS[3]` with two `@key`)
//!     is an error at that index;
//!   - a declared entry the body never reads (two `@arg`, only `ARGV[1]`
//!     used) is an error at its header line: headers must not go stale;
//!   - a dynamically indexed table needs the last declaration to take the
//!     rest (`-- @key counters...`), and a rest needs a dynamic use.

use crate::header::{Header, Param};
use crate::usage::{Arity, Position, Usage, Uses};

/// One parameter of the typed call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameter {
    /// As written in the header (or inferred), for docs.
    pub name: String,
    /// The Rust identifier.
    pub ident: String,
    /// Takes the rest of the table, as a slice.
    pub rest: bool,
    /// From the header; empty when inferred.
    pub doc: String,
}

/// The parameters: keys first, then args.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Signature {
    /// The keys' parameters, in order.
    pub keys: Vec<Parameter>,
    /// The args' parameters, in order.
    pub args: Vec<Parameter>,
}

/// A disagreement between the header and the body. `at` is either a header
/// line of the script (`Header`) or a position in the expanded source
/// (`Body`), which the caller maps to the original file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum At {
    /// A 1-based line of the script's header.
    Header(usize),
    /// A line and column of the expanded source.
    Body(Position),
}

/// A problem and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where.
    pub at: At,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// Works out the parameters; every problem is returned.
pub fn signature(header: &Header, usage: &Usage) -> Result<Signature, Vec<Problem>> {
    let mut problems = Vec::new();
    let declared = header.declares_params();
    let keys = part(
        Table::Keys,
        declared.then_some(header.keys.as_slice()),
        usage.keys,
        &usage.key_uses,
        &mut problems,
    );
    let args = part(
        Table::Args,
        declared.then_some(header.args.as_slice()),
        usage.args,
        &usage.arg_uses,
        &mut problems,
    );
    if problems.is_empty() {
        Ok(Signature { keys, args })
    } else {
        Err(problems)
    }
}

#[derive(Clone, Copy)]
enum Table {
    Keys,
    Args,
}

impl Table {
    fn lua(self) -> &'static str {
        match self {
            Table::Keys => "KEYS",
            Table::Args => "ARGV",
        }
    }
    fn tag(self) -> &'static str {
        match self {
            Table::Keys => "@key",
            Table::Args => "@arg",
        }
    }
    fn word(self) -> &'static str {
        match self {
            Table::Keys => "key",
            Table::Args => "arg",
        }
    }
}

fn count(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn part(
    table: Table,
    declared: Option<&[Param]>,
    arity: Arity,
    uses: &Uses,
    problems: &mut Vec<Problem>,
) -> Vec<Parameter> {
    let (lua, tag, word) = (table.lua(), table.tag(), table.word());
    let Some(declared) = declared else {
        let mut params: Vec<Parameter> = (1..=arity.min())
            .map(|i| Parameter {
                name: format!("{word}{i}"),
                ident: format!("{word}{i}"),
                rest: false,
                doc: String::new(),
            })
            .collect();
        if arity.is_variadic() {
            params.push(Parameter {
                name: format!("{word}s"),
                ident: format!("{word}s"),
                rest: true,
                doc: String::new(),
            });
        }
        return params;
    };
    let rest = declared.last().filter(|p| p.rest);
    let fixed = declared.len() - usize::from(rest.is_some());
    match (rest, arity) {
        (Some(p), Arity::Exact(_)) => problems.push(Problem {
            at: At::Header(p.line),
            message: format!(
                "`{tag} {}...` takes any number of {word}s, but the script only reads \
                 literal indices of {lua}; remove the `...`, or read the rest (`#{lua}`, \
                 `{lua}[i]`, `unpack({lua})`)",
                p.name
            ),
        }),
        (None, Arity::Variadic { .. }) => problems.push(Problem {
            at: uses.dynamic.map_or(At::Header(1), At::Body),
            message: format!(
                "the script indexes {lua} dynamically, so it takes any number of {word}s, \
                 but its header declares exactly {}; mark the last `{tag}` as taking the \
                 rest (`-- {tag} name...`) or add one, or read only literal indices",
                count(fixed, word)
            ),
        }),
        (None, Arity::Exact(max)) => {
            if let Some((n, at)) = uses.first_above(fixed) {
                problems.push(Problem {
                    at: At::Body(at),
                    message: format!(
                        "the script reads {lua}[{n}] but its header declares {} \
                         (`-- {tag}` lines); add `-- {tag} <name>` lines up to the {n}{}, or \
                         fix the index",
                        count(fixed, word),
                        ordinal(n)
                    ),
                });
            } else if let Some((index, unused)) = declared
                .iter()
                .enumerate()
                .take(fixed)
                .skip(max)
                .find(|(_, p)| !p.routing)
            {
                // Routing-only keys need not be read.
                problems.push(Problem {
                    at: At::Header(unused.line),
                    message: format!(
                        "`{tag} {}` declares {lua}[{}], but the script never reads it (the \
                         highest index it reads is {max}); remove the line, or use the \
                         {word}{}",
                        unused.name,
                        index + 1,
                        if word == "key" {
                            ", or mark it `(routing)` if it is passed only to route the call \
                             in a cluster (`-- @key name (routing)`)"
                        } else {
                            ""
                        }
                    ),
                });
            }
        }
        (Some(_), Arity::Variadic { .. }) => {}
    }
    declared
        .iter()
        .map(|p| Parameter {
            name: p.name.clone(),
            ident: p.ident.clone(),
            rest: p.rest,
            doc: p.doc.clone(),
        })
        .collect()
}

fn ordinal(n: usize) -> &'static str {
    match (n % 10, n % 100) {
        (1, 11) | (2, 12) | (3, 13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header;

    fn sig(src: &str) -> Result<(Vec<String>, Vec<String>), Vec<String>> {
        let (h, problems) = header::parse(src);
        assert!(problems.is_empty(), "{problems:?}");
        let body = crate::lua_body(src.as_bytes()).unwrap();
        let usage = crate::usage::usage(body, &crate::lex::lex(body)).unwrap();
        let show = |ps: &[Parameter]| {
            ps.iter()
                .map(|p| format!("{}{}", p.ident, if p.rest { "..." } else { "" }))
                .collect()
        };
        signature(&h, &usage)
            .map(|s| (show(&s.keys), show(&s.args)))
            .map_err(|ps| {
                ps.iter()
                    .map(|p| match p.at {
                        At::Header(line) => format!("header {line}: {}", p.message),
                        At::Body((line, col)) => format!("{line}:{col}: {}", p.message),
                    })
                    .collect()
            })
    }

    #[test]
    fn unread_keys_must_be_routing() {
        let e = sig("-- @key k\n-- @key a (routing)\n-- @key b\nreturn KEYS[1]").unwrap_err();
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].contains("`@key b` declares KEYS[3]"), "{e:?}");
        assert!(e[0].contains("(routing)"), "{e:?}");
    }

    #[test]
    fn inferred_without_a_header() {
        let table: &[(&str, &[&str], &[&str])] = &[
            ("return 1", &[], &[]),
            ("return KEYS[2] .. ARGV[1]", &["key1", "key2"], &["arg1"]),
            ("return redis.call('MGET', unpack(KEYS))", &["keys..."], &[]),
            ("return ARGV[2], #ARGV", &[], &["arg1", "arg2", "args..."]),
            ("-- @return integer\nreturn KEYS[1]", &["key1"], &[]),
        ];
        for (src, keys, args) in table {
            let (k, a) = sig(src).unwrap_or_else(|e| panic!("{src:?}: {e:?}"));
            assert_eq!(k, *keys, "{src:?}");
            assert_eq!(a, *args, "{src:?}");
        }
    }

    #[test]
    fn header_agreement() {
        let ok: &[(&str, &[&str], &[&str])] = &[
            (
                "-- @key bucket\n-- @arg capacity\nreturn KEYS[1] .. ARGV[1]",
                &["bucket"],
                &["capacity"],
            ),
            (
                "-- @key counters...\nfor i = 1, #KEYS do end",
                &["counters..."],
                &[],
            ),
            (
                "-- @key dest\n-- @key sources...\nreturn KEYS[1], unpack(KEYS, 2)",
                &["dest", "sources..."],
                &[],
            ),
            // Reading into the rest with a literal index is fine.
            ("-- @key all...\nreturn KEYS[3], #KEYS", &["all..."], &[]),
            // Keys only: ARGV unused.
            ("-- @key k\nreturn KEYS[1]", &["k"], &[]),
            // A routing-only key the body never reads.
            (
                "-- @key k\n-- @key shard (routing) the slot owner\nreturn KEYS[1]",
                &["k", "shard"],
                &[],
            ),
            (
                "--[[\n  @key a (routing)\n  @key b\n]]\nreturn KEYS[2]",
                &["a", "b"],
                &[],
            ),
        ];
        for (src, keys, args) in ok {
            let (k, a) = sig(src).unwrap_or_else(|e| panic!("{src:?}: {e:?}"));
            assert_eq!(k, *keys, "{src:?}");
            assert_eq!(a, *args, "{src:?}");
        }
        let bad: &[(&str, &[&str])] = &[
            (
                "-- @key a\n-- @key b\nreturn KEYS[1],\n  KEYS[3]",
                &[
                    "4:3: the script reads KEYS[3] but its header declares 2 keys (`-- @key` lines); add `-- @key <name>` lines up to the 3rd",
                ],
            ),
            (
                "-- @key a\nreturn KEYS[1] .. ARGV[1]",
                &["2:19: the script reads ARGV[1] but its header declares 0 args"],
            ),
            (
                "-- @key a\n-- @arg x\n-- @arg y\nreturn KEYS[1] .. ARGV[1]",
                &[
                    "header 3: `@arg y` declares ARGV[2], but the script never reads it (the highest index it reads is 1); remove the line",
                ],
            ),
            (
                "-- @key counters\nfor i = 1, #KEYS do end",
                &[
                    "2:13: the script indexes KEYS dynamically, so it takes any number of keys, but its header declares exactly 1 key; mark the last `@key` as taking the rest (`-- @key name...`)",
                ],
            ),
            (
                "-- @arg all...\nreturn ARGV[1]",
                &[
                    "header 1: `@arg all...` takes any number of args, but the script only reads literal indices of ARGV",
                ],
            ),
            (
                "-- @key a\n-- @arg b\nreturn KEYS[2] .. ARGV[2]",
                &[
                    "3:8: the script reads KEYS[2]",
                    "3:19: the script reads ARGV[2]",
                ],
            ),
        ];
        for (src, want) in bad {
            let got = sig(src).unwrap_err();
            assert_eq!(got.len(), want.len(), "{src:?}: {got:?}");
            for (g, w) in got.iter().zip(want.iter()) {
                assert!(g.starts_with(w), "{src:?}: {g:?} does not start with {w:?}");
            }
        }
    }

    #[test]
    fn ordinals() {
        let got: Vec<String> = [1, 2, 3, 4, 11, 12, 13, 21, 22, 101]
            .iter()
            .map(|n| format!("{n}{}", ordinal(*n)))
            .collect();
        assert_eq!(
            got,
            [
                "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st"
            ]
        );
    }
}
