//! The typed-call header: `-- @key`, `-- @arg` and `-- @return` lines in
//! the leading comment block of a script.
//!
//! ```lua
//! --- Take one token from a bucket.
//! -- @key bucket      the bucket's hash
//! -- @arg capacity    tokens when full
//! -- @arg now_ms
//! -- @return integer  tokens left, or -1 when empty
//! ```
//!
//! * `-- @key NAME [description]` and `-- @arg NAME [description]` declare
//!   `KEYS[1]`, `KEYS[2]`, ... and `ARGV[1]`, ... in order. NAME is a Rust
//!   identifier (a keyword becomes a raw one, `type` -> `r#type`); names are
//!   unique across keys and args. `NAME...` (the last `@key` or `@arg`
//!   only) takes all the remaining entries, for scripts that index the
//!   table dynamically.
//! * `-- @key NAME (routing) [description]` declares a key passed only to
//!   route the call in a cluster: the body need not read it, the typed
//!   call still takes it.
//! * `-- @return TYPE [description]` fixes the reply type; see
//!   [`ReturnType::parse`].
//! * `-- @include "path"` is handled by [`crate::include`]; LDoc tags
//!   (`@param`, `@tparam`, `@treturn`, `@usage`, ...) and any other
//!   `-- @tag` are errors that say what to write instead (never silently
//!   misread).
//!
//! The lines come from the one reader of the leading comment block,
//! [`crate::comments`]: `--` and `---` lines, blank lines and `--[[ ]]`
//! blocks before the first line of code (after an optional shebang).

/// One `@key` or `@arg`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// As written, without `...`: used in docs.
    pub name: String,
    /// The Rust identifier (`r#type` for `type`).
    pub ident: String,
    /// `NAME...`: takes the rest of the table.
    pub rest: bool,
    /// The description after the name (may be empty).
    pub doc: String,
    /// `-- @key name (routing)`: a key passed for cluster routing only;
    /// the body need not read it.
    pub routing: bool,
    /// 1-based line of the header line in the script file.
    pub line: usize,
}

/// The `@return` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Returns {
    /// The reply type.
    pub ty: ReturnType,
    /// The type as written, e.g. `nil-or-string`.
    pub written: String,
    /// The description after the type (may be empty).
    pub doc: String,
    /// 1-based line of the `@return` line in the script file.
    pub line: usize,
}

/// What a script's header declares.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Header {
    /// `@key` lines, in order: `KEYS[1]`, `KEYS[2]`, ...
    pub keys: Vec<Param>,
    /// `@arg` lines, in order: `ARGV[1]`, ...
    pub args: Vec<Param>,
    /// The `@return` line, if any.
    pub returns: Option<Returns>,
}

impl Header {
    /// Whether the header names the parameters (any `@key` or `@arg`);
    /// without, they are inferred from the body.
    pub fn declares_params(&self) -> bool {
        !self.keys.is_empty() || !self.args.is_empty()
    }
}

/// A problem in the header: 1-based line and column in the script file,
/// and a message that says how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line in the script file.
    pub line: usize,
    /// 1-based column of the tag's `@`.
    pub column: usize,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// The reply type of a typed call, from `@return`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReturnType {
    /// `integer` / `number` -> `i64` (Lua numbers reply as integers).
    Integer,
    /// `string` -> `String`.
    String,
    /// `status` (`redis.status_reply`, `{ok = ..}`) -> `String`.
    Status,
    /// `boolean` -> `bool` (Lua `true` replies 1, `false` nil).
    Boolean,
    /// `value` -> `Value`, the raw reply.
    Value,
    /// `nil` -> `()`: the reply is ignored.
    Nil,
    /// `array` -> `Vec<Value>`; `array<T>` -> `Vec<T>`.
    Array(Option<Box<ReturnType>>),
    /// `nil-or-T` or `T?` -> `Option<T>`.
    Optional(Box<ReturnType>),
}

/// The accepted `@return` types, for messages.
pub const RETURN_TYPES: &str = "integer (or number), string, status, boolean, value, nil, \
     array, array<T>, nil-or-T (or T?)";

impl ReturnType {
    /// Parses a `@return` type. Grammar (no spaces): `integer`, `number`,
    /// `string`, `status`, `boolean`, `value`, `nil`, `array`, `array<T>`,
    /// `nil-or-T` and `T?`. `nil` only at the top, no option of an option.
    pub fn parse(text: &str) -> Result<ReturnType, String> {
        let ty = Self::parse_inner(text)?;
        Ok(ty)
    }

    fn parse_inner(text: &str) -> Result<ReturnType, String> {
        let optional = text
            .strip_prefix("nil-or-")
            .or_else(|| text.strip_suffix('?'));
        if let Some(inner) = optional {
            return match Self::parse_inner(inner)? {
                ReturnType::Optional(_) | ReturnType::Nil => {
                    Err(format!("`{text}` is optional twice; write `nil-or-T` once"))
                }
                inner => Ok(ReturnType::Optional(Box::new(inner))),
            };
        }
        if let Some(inner) = text
            .strip_prefix("array<")
            .and_then(|rest| rest.strip_suffix('>'))
        {
            return match Self::parse_inner(inner)? {
                ReturnType::Nil => Err(format!(
                    "`{text}`: an array cannot hold `nil` (Lua arrays end at the first nil)"
                )),
                inner => Ok(ReturnType::Array(Some(Box::new(inner)))),
            };
        }
        Ok(match text {
            "integer" | "number" => ReturnType::Integer,
            "string" => ReturnType::String,
            "status" => ReturnType::Status,
            "boolean" => ReturnType::Boolean,
            "value" => ReturnType::Value,
            "nil" => ReturnType::Nil,
            "array" => ReturnType::Array(None),
            _ => {
                return Err(format!(
                    "unknown type `{text}`; the accepted types are: {RETURN_TYPES}"
                ));
            }
        })
    }

    /// The Rust type as users read it in docs, e.g. `Option<String>`.
    pub fn rust(&self) -> String {
        match self {
            ReturnType::Integer => "i64".to_owned(),
            ReturnType::String | ReturnType::Status => "String".to_owned(),
            ReturnType::Boolean => "bool".to_owned(),
            ReturnType::Value => "Value".to_owned(),
            ReturnType::Nil => "()".to_owned(),
            ReturnType::Array(None) => "Vec<Value>".to_owned(),
            ReturnType::Array(Some(inner)) => format!("Vec<{}>", inner.rust()),
            ReturnType::Optional(inner) => format!("Option<{}>", inner.rust()),
        }
    }
}

/// Reads the header of `source` (the script file as written). Every
/// problem is returned, next to what could be read.
pub fn parse(source: &str) -> (Header, Vec<Problem>) {
    let mut header = Header::default();
    let mut problems = Vec::new();
    for comment in crate::comments::leading_comments(source) {
        let Some(tagged) = comment.tag() else {
            continue;
        };
        let line_no = usize::try_from(comment.line).unwrap_or(usize::MAX);
        let column = usize::try_from(comment.tag_column()).unwrap_or(1);
        let (tag, rest) = split_word(tagged);
        let mut problem = |message: String| {
            problems.push(Problem {
                line: line_no,
                column,
                message,
            })
        };
        match tag {
            "key" | "arg" => match param(tag, rest, line_no) {
                Ok(p) if tag == "key" => header.keys.push(p),
                Ok(p) => header.args.push(p),
                Err(message) => problem(message),
            },
            "return" => {
                let (written, doc) = split_word(rest);
                if written.is_empty() {
                    problem(format!(
                        "`@return` needs a type: `-- @return integer tokens left`; the \
                         accepted types are: {RETURN_TYPES}"
                    ));
                } else if header.returns.is_some() {
                    problem("`@return` is given twice; keep one".to_owned());
                } else {
                    match ReturnType::parse(written) {
                        Ok(ty) => {
                            header.returns = Some(Returns {
                                ty,
                                written: written.to_owned(),
                                doc: doc.to_owned(),
                                line: line_no,
                            })
                        }
                        Err(why) => problem(format!("`@return {written}`: {why}")),
                    }
                }
            }
            "include" => {}
            "param" | "tparam" => problem(format!(
                "`@{tag}` is an LDoc tag, which script-cache does not read: declare `KEYS` \
                 entries with `-- @key name` and `ARGV` entries with `-- @arg name` (in \
                 order), or write the line without the `@`"
            )),
            "treturn" => problem(
                "`@treturn` is an LDoc tag, which script-cache does not read: write \
                 `-- @return TYPE` with one of the reply types (integer, string, ...), or \
                 write the line without the `@`"
                    .to_owned(),
            ),
            "usage" | "see" | "raise" | "author" | "module" | "script" | "function" | "local"
            | "table" | "field" | "release" | "license" | "copyright" => problem(format!(
                "`@{tag}` is an LDoc tag, which script-cache does not read; the header \
                     knows `@key`, `@arg`, `@return` and `@include`: write the line \
                     without the `@`"
            )),
            _ => problem(format!(
                "unknown header tag `@{tag}`; the header knows `@key`, `@arg`, `@return` \
                 and `@include` (write other notes without the `@`)"
            )),
        }
    }
    check_params(&mut header, &mut problems);
    (header, problems)
}

/// Every Rust keyword, strict and reserved, of any edition: these need a
/// raw identifier (`r#loop`) as a function or parameter name.
const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate",
    "do", "dyn", "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl",
    "in", "let", "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref",
    "return", "self", "Self", "static", "struct", "super", "trait", "true", "try", "type",
    "typeof", "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// Keywords that cannot be raw identifiers.
const NOT_RAW: &[&str] = &["self", "Self", "super", "crate"];

/// `name` as a Rust identifier: itself, or `r#name` for a keyword. The
/// error says what is wrong; the caller names the file and the fix.
pub fn rust_ident(name: &str) -> Result<String, String> {
    if name.is_empty() {
        return Err("is empty".to_owned());
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_'))
    {
        return Err(format!(
            "contains {bad:?}; use only ASCII letters, digits and `_`"
        ));
    }
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err("starts with a digit".to_owned());
    }
    if name == "_" {
        return Err("is `_`, which cannot name anything".to_owned());
    }
    if NOT_RAW.contains(&name) {
        return Err(format!(
            "is the keyword `{name}`, which cannot be a raw identifier"
        ));
    }
    if KEYWORDS.contains(&name) {
        return Ok(format!("r#{name}"));
    }
    Ok(name.to_owned())
}

/// Splits off the first whitespace-separated word; the rest is trimmed.
fn split_word(text: &str) -> (&str, &str) {
    let text = text.trim_start();
    match text.find(char::is_whitespace) {
        Some(at) => (&text[..at], text[at..].trim()),
        None => (text, ""),
    }
}

fn param(tag: &str, rest: &str, line: usize) -> Result<Param, String> {
    let (written, doc) = split_word(rest);
    let example = if tag == "key" { "bucket" } else { "capacity" };
    if written.is_empty() {
        return Err(format!(
            "`@{tag}` needs a name: `-- @{tag} {example} what it is`"
        ));
    }
    let (name, rest) = match written.strip_suffix("...") {
        Some(name) => (name, true),
        None => (written, false),
    };
    let ident = rust_ident(name).map_err(|why| {
        format!(
            "`@{tag} {written}`: the name {why}; it becomes a Rust parameter, so write an \
             identifier like `{example}`"
        )
    })?;
    let (routing, doc) = match doc.strip_prefix("(routing)") {
        Some(_) if tag != "key" => {
            return Err(format!(
                "`@{tag} {written} (routing)`: only keys route a call in a cluster; remove \
                 `(routing)`"
            ));
        }
        Some(_) if rest => {
            return Err(format!(
                "`@key {written} (routing)`: a routing-only key is one key; remove the `...` \
                 or the `(routing)`"
            ));
        }
        Some(more) => (true, more.trim_start()),
        None => (false, doc),
    };
    Ok(Param {
        name: name.to_owned(),
        ident,
        rest,
        doc: doc.to_owned(),
        routing,
        line,
    })
}

/// Unique names; `...` only on the last key and the last arg.
fn check_params(header: &mut Header, problems: &mut Vec<Problem>) {
    for (tag, params) in [("key", &header.keys), ("arg", &header.args)] {
        let last = params.len().saturating_sub(1);
        for (i, p) in params.iter().enumerate() {
            if p.rest && i != last {
                problems.push(Problem {
                    line: p.line,
                    column: 1,
                    message: format!(
                        "`@{tag} {}...` takes all the remaining entries, so it must be the \
                         last `@{tag}`; move it down or remove the `...`",
                        p.name
                    ),
                });
            }
        }
    }
    let mut seen: Vec<&Param> = Vec::new();
    for p in header.keys.iter().chain(&header.args) {
        if let Some(first) = seen.iter().find(|s| s.ident == p.ident) {
            problems.push(Problem {
                line: p.line,
                column: 1,
                message: format!(
                    "the parameter name `{}` is already used on line {}; give each `@key` \
                     and `@arg` its own name",
                    p.name, first.line
                ),
            });
        } else {
            seen.push(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(params: &[Param]) -> Vec<String> {
        params
            .iter()
            .map(|p| format!("{}{}", p.ident, if p.rest { "..." } else { "" }))
            .collect()
    }

    /// (source, keys, args, return type as Rust, problems)
    type HeaderCase = (
        &'static str,
        &'static [&'static str],
        &'static [&'static str],
        Option<&'static str>,
        &'static [&'static str],
    );

    #[test]
    fn header_table() {
        let table: &[HeaderCase] = &[
            ("return 1", &[], &[], None, &[]),
            (
                "--- Take one token.\n-- @key bucket      the bucket's hash\n\
                 -- @arg capacity    tokens when full\n-- @arg now_ms\n\
                 -- @return integer  tokens left\nreturn 1",
                &["bucket"],
                &["capacity", "now_ms"],
                Some("i64"),
                &[],
            ),
            (
                "#!lua flags=no-writes\n-- @key counters... all of them\n-- @return integer\n",
                &["counters..."],
                &[],
                Some("i64"),
                &[],
            ),
            (
                "-- @arg type\n-- @arg loop",
                &[],
                &["r#type", "r#loop"],
                None,
                &[],
            ),
            // Tags after the leading block are ordinary comments.
            ("return 1\n-- @key late", &[], &[], None, &[]),
            ("-- @key a\n\n-- @key b", &["a", "b"], &[], None, &[]),
            ("--- @key doc\nreturn 1", &["doc"], &[], None, &[]),
            (
                "-- @include \"lib/x.lua\"\n-- @arg a",
                &[],
                &["a"],
                None,
                &[],
            ),
            ("-- @key\n", &[], &[], None, &["1:4: `@key` needs a name"]),
            (
                "-- @key 2fa\n",
                &[],
                &[],
                None,
                &["1:4: `@key 2fa`: the name starts with a digit"],
            ),
            (
                "-- @arg self\n",
                &[],
                &[],
                None,
                &["the name is the keyword `self`, which cannot be a raw identifier"],
            ),
            ("-- @arg a-b\n", &[], &[], None, &["the name contains '-'"]),
            (
                "-- @key a\n-- @arg a\n",
                &["a"],
                &["a"],
                None,
                &["2:1: the parameter name `a` is already used on line 1"],
            ),
            (
                "-- @key all...\n-- @key b\n",
                &["all...", "b"],
                &[],
                None,
                &["1:1: `@key all...` takes all the remaining entries, so it must be the last"],
            ),
            (
                "-- @return int\n",
                &[],
                &[],
                None,
                &["1:4: `@return int`: unknown type `int`; the accepted types are: integer"],
            ),
            ("-- @return\n", &[], &[], None, &["`@return` needs a type"]),
            (
                "-- @return string\n--  @return integer\n",
                &[],
                &[],
                Some("String"),
                &["2:5: `@return` is given twice"],
            ),
            (
                "-- @param x\n-- @see y\n",
                &[],
                &[],
                None,
                &["`@param` is an LDoc tag", "`@see` is an LDoc tag"],
            ),
        ];
        for (src, keys, args, ret, problems) in table {
            let (h, got) = parse(src);
            assert_eq!(names(&h.keys), *keys, "{src:?}");
            assert_eq!(names(&h.args), *args, "{src:?}");
            assert_eq!(
                h.returns.as_ref().map(|r| r.ty.rust()).as_deref(),
                *ret,
                "{src:?}"
            );
            let got: Vec<String> = got
                .iter()
                .map(|p| format!("{}:{}: {}", p.line, p.column, p.message))
                .collect();
            assert_eq!(got.len(), problems.len(), "{src:?}: {got:?}");
            for (g, w) in got.iter().zip(problems.iter()) {
                assert!(g.contains(w), "{src:?}: {g:?} lacks {w:?}");
            }
        }
    }

    #[test]
    fn routing_keys_and_ldoc_tags() {
        let (h, problems) = parse("-- @key k (routing) owner of the slot\n-- @key j\n");
        assert!(problems.is_empty(), "{problems:?}");
        assert!(h.keys[0].routing && !h.keys[1].routing);
        assert_eq!(h.keys[0].doc, "owner of the slot");
        for (src, want) in [
            ("-- @arg a (routing)\n", "only keys route"),
            ("-- @key ks... (routing)\n", "one key"),
            ("-- @param x the x\n", "`@param` is an LDoc tag"),
            ("--- @tparam string x\n", "`@tparam` is an LDoc tag"),
            ("--[[\n  @treturn int\n]]\n", "`@treturn` is an LDoc tag"),
            ("-- @usage f()\n", "`@usage` is an LDoc tag"),
            ("-- @return int\n", "unknown type `int`"),
            ("-- @return {string,...}\n", "unknown type `{string,...}`"),
        ] {
            let (_, problems) = parse(src);
            assert_eq!(problems.len(), 1, "{src:?}: {problems:?}");
            assert!(problems[0].message.contains(want), "{src:?}: {problems:?}");
        }
    }

    #[test]
    fn docs_and_lines_are_kept() {
        let (h, problems) = parse(
            "--- Doc.\n-- @key bucket the bucket's hash\n-- @return nil-or-string the value\n",
        );
        assert!(problems.is_empty());
        assert_eq!(h.keys[0].doc, "the bucket's hash");
        assert_eq!(h.keys[0].line, 2);
        let r = h.returns.unwrap();
        assert_eq!(
            (r.written.as_str(), r.doc.as_str(), r.line),
            ("nil-or-string", "the value", 3)
        );
    }

    #[test]
    fn return_types() {
        let table: &[(&str, Result<&str, &str>)] = &[
            ("integer", Ok("i64")),
            ("number", Ok("i64")),
            ("string", Ok("String")),
            ("status", Ok("String")),
            ("boolean", Ok("bool")),
            ("value", Ok("Value")),
            ("nil", Ok("()")),
            ("array", Ok("Vec<Value>")),
            ("array<integer>", Ok("Vec<i64>")),
            ("array<nil-or-string>", Ok("Vec<Option<String>>")),
            ("array<array<string>>", Ok("Vec<Vec<String>>")),
            ("nil-or-string", Ok("Option<String>")),
            ("string?", Ok("Option<String>")),
            ("nil-or-array<integer>", Ok("Option<Vec<i64>>")),
            ("array<integer>?", Ok("Option<Vec<i64>>")),
            ("int", Err("unknown type `int`")),
            ("Integer", Err("unknown type `Integer`")),
            ("array<int>", Err("unknown type `int`")),
            ("array<integer", Err("unknown type `array<integer`")),
            ("nil-or-nil", Err("optional twice")),
            ("string??", Err("optional twice")),
            ("nil-or-string?", Err("optional twice")),
            ("array<nil>", Err("cannot hold `nil`")),
            ("", Err("unknown type ``")),
        ];
        for (text, want) in table {
            let got = ReturnType::parse(text).map(|t| t.rust());
            match (want, &got) {
                (Ok(w), Ok(g)) => assert_eq!(w, g, "{text:?}"),
                (Err(w), Err(g)) => assert!(g.contains(w), "{text:?}: {g:?} lacks {w:?}"),
                _ => panic!("{text:?}: want {want:?}, got {got:?}"),
            }
        }
    }
}
