//! The Lua checker shared by script-cache's macros, its runtime
//! registration and its command line.
//!
//! Redis and Valkey run Lua 5.1.5. [`check_syntax`] compiles a script body
//! with a vendored Lua 5.1.5 (through `mlua`), the way the servers do on
//! `SCRIPT LOAD`, without running it, so its verdict is the server's.
#![warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use std::fmt;

/// Why a script body does not compile as Lua 5.1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyntaxError {
    /// The line Lua blamed (1-based).
    pub line: u32,
    /// Lua's message without the `user_script:N:` prefix, e.g.
    /// `'=' expected near 'x'`. Always valid UTF-8 (bytes that are not are
    /// shown escaped, as `<\195>`).
    pub message: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for SyntaxError {}

/// Compiles `source` as the servers do on `SCRIPT LOAD` (Redis 7+ and
/// Valkey: a `#!` first line is the shebang and is not Lua; the newline
/// that ends it is kept, so line numbers stay the same) and reports the
/// first syntax error. Nothing is run.
pub fn check_syntax(source: &[u8]) -> Result<(), SyntaxError> {
    let body = match source.strip_prefix(b"#!") {
        Some(rest) => match rest.iter().position(|&b| b == b'\n') {
            Some(end) => &rest[end..],
            None => {
                return Err(SyntaxError {
                    line: 1,
                    message: "the `#!` shebang line must end with a newline".into(),
                });
            }
        },
        None => source,
    };
    let lua = mlua::Lua::new();
    match lua.load(body).set_name("=user_script").into_function() {
        Ok(_) => Ok(()),
        Err(e) => Err(parse_error(&e.to_string())),
    }
}

/// Splits Lua's `user_script:N: message` into line and message.
fn parse_error(text: &str) -> SyntaxError {
    let text = text.lines().next().unwrap_or(text);
    let text = text
        .find("user_script:")
        .map_or(text, |at| &text[at + "user_script:".len()..]);
    let digits = text.chars().take_while(char::is_ascii_digit).count();
    let line = text[..digits].parse().unwrap_or(1);
    let message = text[digits..].trim_start_matches(':').trim().to_owned();
    SyntaxError { line, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_scripts() {
        assert_eq!(check_syntax(b"return redis.call('GET', KEYS[1])"), Ok(()));
        assert_eq!(check_syntax(b"#!lua flags=no-writes\nreturn 1\n"), Ok(()));
        assert_eq!(check_syntax(b"-- comment only"), Ok(()));
    }

    #[test]
    fn reports_line_and_message() {
        let e = check_syntax(b"local x = 1\nlocal = 2\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("near '='"), "{e}");
        let e = check_syntax("local café = 1\nreturn café\n".as_bytes()).unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.message.contains("unexpected symbol"), "{e}");
        let e = check_syntax(b"#!lua flags=no-writes\nreturn +\n").unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        assert!(check_syntax(b"#!lua").is_err());
    }

    #[test]
    fn lua_limits_are_errors_not_crashes() {
        let deep = format!("return {}1{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(check_syntax(deep.as_bytes()).is_err());
        assert!(check_syntax(b"return 1\nreturn 2").is_err());
        assert!(check_syntax(b"break").is_err());
    }
}
