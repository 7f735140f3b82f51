//! What the macros learn from a script's text, through the shared
//! checker (`script_cache_check`): the Lua 5.1 verdict of the servers, the
//! `#!lua` shebang, the `KEYS`/`ARGV` arity, and the `---` docs.

pub(crate) use script_cache_check::shebang::{legacy_source, parse as shebang};
pub(crate) use script_cache_check::usage::{Arity, Position, Usage, Uses};

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

/// A Lua syntax error: 1-based line and column and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub(crate) line: u32,
    pub(crate) column: u32,
    pub(crate) message: String,
}

/// Compiles `source` with Lua 5.1.5 as the servers do (a shebang line is
/// not Lua; line numbers stay those of the file), then works out its
/// `KEYS`/`ARGV` arity from tokens split exactly where Lua splits them.
/// The analysis only ever sees text Lua accepted, and has no recursion.
pub(crate) fn analyze(source: &str) -> Result<Usage, SyntaxError> {
    let bytes = source.as_bytes();
    if let Err(e) = script_cache_check::check_syntax(bytes) {
        return Err(SyntaxError {
            line: e.line,
            column: e.column.unwrap_or(1),
            message: format!("Lua 5.1 syntax error: {}", e.message),
        });
    }
    let body = script_cache_check::lua_body(bytes).unwrap_or_default();
    let lexed = script_cache_check::lex::lex(body);
    script_cache_check::usage::usage(body, &lexed).map_err(|e| SyntaxError {
        line: e.at.0,
        column: e.at.1,
        message: format!(
            "`{}[{}]`: literal indices above {} are not supported (a typed call takes one \
             parameter per entry); index with a variable (`{0}[i]`) or declare `{3}` in the \
             header to take a slice",
            e.table,
            e.written,
            script_cache_check::usage::MAX_LITERAL_INDEX,
            if e.table == "KEYS" {
                "-- @key keys..."
            } else {
                "-- @arg args..."
            },
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!((e.line, e.column), (2, 1), "{e:?}"); // the unclosed `if`
        let e = analyze("if x then\n  return )\nend").unwrap_err();
        assert_eq!((e.line, e.column), (2, 10), "{e:?}");
        let e = analyze("#!lua flags=no-writes\nreturn )").unwrap_err();
        assert_eq!((e.line, e.column), (2, 8), "{e:?}");
        assert!(analyze("goto done\n::done::").is_err());
        assert!(analyze("return 7 // 2").is_err());
        assert!(analyze("return 1 & 2").is_err());
        assert!(analyze("").is_ok());
        let e = analyze("return KEYS[20000]").unwrap_err();
        assert!(e.message.contains("`KEYS[20000]`"), "{e:?}");
        // A bare CR ends a comment: the SET below is code, and counted.
        let u = analyze("-- note\rreturn redis.call('SET', KEYS[2], 'x')").unwrap();
        assert_eq!(u.keys, Arity::Exact(2));
    }
}
