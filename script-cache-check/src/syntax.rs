//! The Lua 5.1 verdict (feature `lua`): the vendored Lua 5.1.5 compiles
//! a script body without running it, and its error is located in the
//! source.

use crate::{SyntaxError, Target, lex, lua_body};

/// The build-time verdict: compiles `source` so that it loads on every
/// [`Target`] (Redis 7+ and Valkey: a `#!` first line is the shebang and is
/// not Lua; the newline that ends it is kept, so line numbers stay the
/// same; Redis 6.2 gets the same text with `#!` turned into `--!`, a
/// comment) and reports the first syntax error. Nothing is run. The
/// shebang's own content is checked by [`shebang::parse`](crate::shebang::parse).
///
/// Where the servers' builds differ (a `[[` inside a level-0 long string
/// or comment, which Redis 6.2 refuses), the stricter verdict wins.
pub fn check_syntax(source: &[u8]) -> Result<(), SyntaxError> {
    let Some(body) = lua_body(source) else {
        return Err(no_newline(source));
    };
    match compile(body) {
        None => Ok(()),
        Some(text) => Err(locate(body, &text)),
    }
}

/// The verdict of one server build on `source`, the text exactly as sent
/// to it with `SCRIPT LOAD` (for [`Target::Redis6`], a first line `#!...`
/// is Lua and refused: the runtime sends [`shebang::legacy_source`](crate::shebang::legacy_source)).
pub fn check_syntax_for(source: &[u8], target: Target) -> Result<(), SyntaxError> {
    match target {
        Target::Redis6 => match compile(source) {
            None => Ok(()),
            Some(text) => Err(locate(source, &text)),
        },
        Target::Redis7 | Target::Valkey => {
            let Some(body) = lua_body(source) else {
                return Err(no_newline(source));
            };
            let body = servers_view(body);
            match compile(&body) {
                None => Ok(()),
                Some(text) => Err(locate(&body, &text)),
            }
        }
    }
}

fn no_newline(source: &[u8]) -> SyntaxError {
    SyntaxError {
        line: 1,
        message: "the `#!` shebang line must end with a newline".into(),
        column: Some(
            u32::try_from(source.len())
                .unwrap_or(u32::MAX)
                .saturating_add(1),
        ),
    }
}

/// `body` as the Redis 7 and Valkey builds of Lua read it, for the vendored
/// one. They build Lua 5.1.5 without the `LUA_COMPAT_LSTR` check, so a
/// `[[` inside a level-0 long string or comment is plain text there
/// (`[[ [[ x ]]` loads), while the vendored build, like Redis 6.2's,
/// refuses it ("nesting of [[...]] is deprecated"). Every `[` inside such
/// content is replaced by a space: same length, same lines, same verdict.
fn servers_view(body: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let lexed = lex::lex(body);
    let nested = |r: &std::ops::Range<usize>| {
        body.get(r.clone())
            .is_some_and(|content| content.windows(2).any(|w| w == b"[["))
    };
    if !lexed.level0_long.iter().any(nested) {
        return body.into();
    }
    let mut out = body.to_vec();
    for range in lexed.level0_long.iter().filter(|r| nested(r)) {
        if let Some(content) = out.get_mut(range.clone()) {
            for b in content.iter_mut().filter(|b| **b == b'[') {
                *b = b' ';
            }
        }
    }
    out.into()
}

/// Compiles `body` with Lua 5.1.5; the error text when it does not.
fn compile(body: &[u8]) -> Option<String> {
    let lua = mlua::Lua::new();
    match lua.load(body).set_name("=user_script").into_function() {
        Ok(_) => None,
        Err(e) => Some(e.to_string()),
    }
}

/// Splits Lua's `user_script:N: message` into line and message, then finds
/// the column (and, for an unclosed block, the opener).
fn locate(body: &[u8], text: &str) -> SyntaxError {
    let (line, message) = split_error(text);
    let lexed = lex::lex(body);
    if let Some((opener, opener_line)) = unclosed_opener(&message) {
        let column = lexed
            .tokens
            .iter()
            .find(|t| t.line == opener_line && t.text(body) == opener.as_bytes())
            .map(|t| lexed.column(body, t.line, t.start));
        let marker = format!(" (to close '{opener}' at line {opener_line})");
        let said = message.replacen(&marker, "", 1);
        return SyntaxError {
            line: opener_line,
            message: format!("`{opener}` is not closed: {said}"),
            column,
        };
    }
    if message.ends_with("near '<eof>'")
        && let Some(last) = lexed.tokens.last()
        && last.end_line < line
    {
        // Lua blames the line after the last token; point just after it.
        return SyntaxError {
            line: last.end_line,
            column: Some(lexed.column(body, last.end_line, last.end)),
            message: format!("{message} (the file ends here)"),
        };
    }
    let column = near_column(body, &lexed, line, &message, text);
    SyntaxError {
        line,
        message,
        column,
    }
}

fn split_error(text: &str) -> (u32, String) {
    let text = text.lines().next().unwrap_or(text);
    let text = text
        .find("user_script:")
        .map_or(text, |at| &text[at + "user_script:".len()..]);
    let digits = text.chars().take_while(char::is_ascii_digit).count();
    let line = text[..digits].parse().unwrap_or(1);
    let message = text[digits..].trim_start_matches(':').trim().to_owned();
    (line, message)
}

/// `'end' expected (to close 'if' at line 2) near ...` -> `("if", 2)`.
fn unclosed_opener(message: &str) -> Option<(String, u32)> {
    let rest = &message[message.find("(to close '")? + "(to close '".len()..];
    let (opener, rest) = rest.split_once("' at line ")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some((opener.to_owned(), digits.parse().ok()?))
}

/// The column of the token named in `near '...'` on `line`: among the
/// tokens there that match, the first one whose prefix of the body gives
/// Lua's very error (so `x = = 1` blames the second `=`).
fn near_column(
    body: &[u8],
    lexed: &lex::Lexed,
    line: u32,
    message: &str,
    full: &str,
) -> Option<u32> {
    let near = message
        .rfind(" near '")
        .map(|at| &message[at + " near '".len()..])
        .map(|rest| rest.strip_suffix('\'').unwrap_or(rest));
    let near = match near {
        Some("<eof>") => {
            let last = lexed.tokens.last();
            return Some(match last {
                Some(t) if t.end_line == line => lexed.column(body, line, t.end),
                _ => 1,
            });
        }
        Some(near) => near.as_bytes(),
        None => {
            // No `near` (a NUL cut the message short): the first byte Lua
            // does not take on that line.
            return lexed
                .tokens
                .iter()
                .find(|t| t.line == line && t.kind == lex::TokenKind::Other)
                .map(|t| lexed.column(body, line, t.start));
        }
    };
    let candidates: Vec<&lex::Token> = lexed
        .tokens
        .iter()
        .filter(|t| t.line <= line && line <= t.end_line)
        .filter(|t| {
            let text = t.text(body);
            !text.is_empty() && (text.starts_with(near) || near.starts_with(text))
        })
        .take(16)
        .collect();
    let chosen = match candidates.as_slice() {
        [] => None,
        [only] => Some(*only),
        many => many
            .iter()
            .find(|t| {
                body.get(..t.end)
                    .and_then(compile)
                    .is_some_and(|e| e.lines().next() == full.lines().next())
            })
            .or(many.first())
            .copied(),
    };
    chosen.map(|t| lexed.column(body, t.line, t.start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_scripts() {
        assert_eq!(check_syntax(b"return redis.call('GET', KEYS[1])"), Ok(()));
        assert_eq!(check_syntax(b"#!lua flags=no-writes\nreturn 1\n"), Ok(()));
        assert_eq!(check_syntax(b"-- comment only"), Ok(()));
        // What the servers accept, measured with SCRIPT LOAD.
        assert_eq!(check_syntax(b"return 0x1p4"), Ok(()));
        assert_eq!(check_syntax(b"return 1\0"), Ok(()));
        assert_eq!(check_syntax(b"return ..."), Ok(()));
    }

    #[test]
    fn nested_long_brackets_differ_per_server() {
        for src in [&b"return [[ [[ nested ]]"[..], b"--[[ [[ ]] return 1"] {
            assert!(check_syntax(src).is_err());
            assert!(check_syntax_for(src, Target::Redis6).is_err());
            assert_eq!(check_syntax_for(src, Target::Redis7), Ok(()));
            assert_eq!(check_syntax_for(src, Target::Valkey), Ok(()));
        }
        assert!(check_syntax_for(b"#!lua\nreturn 1", Target::Redis6).is_err());
        assert_eq!(
            check_syntax_for(b"--!lua\nreturn 1", Target::Redis6),
            Ok(())
        );
    }

    #[test]
    fn reports_line_column_and_message() {
        let e = check_syntax(b"local x = 1\nlocal = 2\n").unwrap_err();
        assert_eq!((e.line, e.column), (2, Some(7)), "{e}");
        assert!(e.message.contains("near '='"), "{e}");
        let e = check_syntax(b"x = = 1").unwrap_err();
        assert_eq!((e.line, e.column), (1, Some(5)), "{e}");
        let e = check_syntax("local café = 1\nreturn café\n".as_bytes()).unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.message.contains("unexpected symbol"), "{e}");
        let e = check_syntax(b"#!lua flags=no-writes\nreturn +\n").unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        let e = check_syntax(b"#!lua").unwrap_err();
        assert_eq!((e.line, e.column), (1, Some(6)), "{e}");
        let e = check_syntax(b"return 1\nreturn 2").unwrap_err();
        assert_eq!((e.line, e.column), (2, Some(1)), "{e}");
        let e = check_syntax(b"return 1 +\n\n").unwrap_err();
        assert_eq!((e.line, e.column), (1, Some(11)), "{e}");
        let e = check_syntax(b"return '\\400'").unwrap_err();
        assert!(e.message.contains("escape sequence too large"), "{e}");
        assert_eq!(e.column, Some(8), "{e}");
    }

    #[test]
    fn unclosed_block_points_at_its_opener() {
        let e = check_syntax(b"local x = 1\n  if x then\n  return x\n\n").unwrap_err();
        assert_eq!((e.line, e.column), (2, Some(3)), "{e}");
        assert_eq!(e.message, "`if` is not closed: 'end' expected near '<eof>'");
    }

    #[test]
    fn a_bare_cr_ends_a_comment() {
        let e = check_syntax(b"-- note\rthis is not a comment").unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        assert_eq!(check_syntax(b"-- note\rreturn 1"), Ok(()));
    }

    #[test]
    fn lua_limits_are_errors_not_crashes() {
        let deep = format!("return {}1{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(check_syntax(deep.as_bytes()).is_err());
        let deep = "if x then ".repeat(5_000);
        assert!(check_syntax(deep.as_bytes()).is_err());
        let locals: String = (0..201).map(|i| format!("local v{i} = {i}\n")).collect();
        let e = check_syntax(locals.as_bytes()).unwrap_err();
        assert!(e.message.contains("more than 200 local variables"), "{e}");
        assert!(check_syntax(b"break").is_err());
        assert!(check_syntax(b"return `x`").is_err());
    }
}
