//! A Lua 5.1 lexer that splits a chunk where Lua 5.1.5's `llex.c` does.
//!
//! It never fails and never recurses: bytes Lua would refuse become
//! [`TokenKind::Other`] tokens, an unfinished string or long bracket runs
//! to the end of the input. The verdict on a chunk comes from Lua itself
//! (`check_syntax`); this lexer only gives the analysis and the
//! diagnostics the same view of the text that Lua has: a bare `\r` ends a
//! line (and so a `--` comment), `\r\n` and `\n\r` count as one line break,
//! `0x1p4` is one numeral.

/// What a token is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// A name or a reserved word (`KEYS`, `local`, `end`).
    Name,
    /// A numeral as Lua reads it: digits, `.`, an exponent sign, then any
    /// letters, digits and `_` (`0x1p4`, `3e-2`, `1abc`).
    Number,
    /// A quoted or long-bracket string.
    String,
    /// Punctuation and operators (`[`, `==`, `...`).
    Symbol,
    /// A byte Lua does not accept outside strings and comments.
    Other,
}

/// One token: where it is and what it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token {
    /// What it is.
    pub kind: TokenKind,
    /// Byte offset of its first byte.
    pub start: usize,
    /// Byte offset just past its last byte.
    pub end: usize,
    /// 1-based line of its first byte, counted as Lua counts lines.
    pub line: u32,
    /// 1-based line of its last byte (differs for long strings).
    pub end_line: u32,
}

impl Token {
    /// The token's bytes in `source`.
    pub fn text<'s>(&self, source: &'s [u8]) -> &'s [u8] {
        source.get(self.start..self.end).unwrap_or_default()
    }
}

/// The tokens of `source` (comments and blanks dropped), and the byte
/// offset where each line starts (`line_starts[0]` is line 1).
#[derive(Clone, Debug, Default)]
pub struct Lexed {
    /// Tokens in source order.
    pub tokens: Vec<Token>,
    /// Byte offset of the first byte of each line, as Lua counts lines.
    pub line_starts: Vec<usize>,
    /// The content (between the brackets) of every `[[...]]` string and
    /// `--[[...]]` comment of level 0, which is where Lua 5.1.5 as
    /// vendored refuses a nested `[[` that the servers' build accepts.
    pub level0_long: Vec<std::ops::Range<usize>>,
    /// The content of every long string and long comment, any level.
    pub long: Vec<std::ops::Range<usize>>,
    /// Every comment, in source order.
    pub comments: Vec<Comment>,
}

/// One comment: where its `--` is and its text (after `--`, without the
/// brackets of a long comment).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Comment {
    /// Byte offset of its `--`.
    pub start: usize,
    /// 1-based line of its `--`.
    pub line: u32,
    /// Byte range of its text in the source.
    pub text: std::ops::Range<usize>,
}

impl Lexed {
    /// 1-based column (in characters) of byte offset `at` on `line`.
    pub fn column(&self, source: &[u8], line: u32, at: usize) -> u32 {
        let start = self.line_start(line).min(at);
        let prefix = source.get(start..at).unwrap_or_default();
        let chars = String::from_utf8_lossy(prefix).chars().count();
        u32::try_from(chars).unwrap_or(u32::MAX).saturating_add(1)
    }

    /// Byte offset where `line` (1-based) starts.
    pub fn line_start(&self, line: u32) -> usize {
        let index = usize::try_from(line.saturating_sub(1)).unwrap_or(usize::MAX);
        self.line_starts.get(index).copied().unwrap_or(0)
    }

    /// The text of `line` (1-based) without its line break, lossily
    /// decoded; `None` past the end.
    pub fn line_text(&self, source: &[u8], line: u32) -> Option<String> {
        let index = usize::try_from(line.checked_sub(1)?).ok()?;
        let start = *self.line_starts.get(index)?;
        let end = self
            .line_starts
            .get(index + 1)
            .copied()
            .unwrap_or(source.len());
        let text = source.get(start..end)?;
        let text = text
            .iter()
            .position(|&b| b == b'\n' || b == b'\r')
            .map_or(text, |cut| &text[..cut]);
        Some(String::from_utf8_lossy(text).into_owned())
    }
}

/// Splits `source` into tokens as Lua 5.1.5 does.
pub fn lex(source: &[u8]) -> Lexed {
    let mut l = Lexer {
        src: source,
        at: 0,
        line: 1,
        out: Lexed {
            tokens: Vec::new(),
            line_starts: vec![0],
            level0_long: Vec::new(),
            long: Vec::new(),
            comments: Vec::new(),
        },
    };
    l.run();
    l.out
}

struct Lexer<'s> {
    src: &'s [u8],
    at: usize,
    line: u32,
    out: Lexed,
}

fn is_newline(b: u8) -> bool {
    b == b'\n' || b == b'\r'
}

/// `isspace` in the C locale, without the line breaks.
fn is_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | 0x0B | 0x0C)
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

impl Lexer<'_> {
    fn peek(&self, ahead: usize) -> Option<u8> {
        self.src.get(self.at + ahead).copied()
    }

    /// Consumes one line break (`\n`, `\r`, `\r\n` or `\n\r`), as Lua's
    /// `inclinenumber`.
    fn newline(&mut self) {
        let first = self.peek(0);
        self.at += 1;
        if let (Some(a), Some(b)) = (first, self.peek(0))
            && is_newline(b)
            && a != b
        {
            self.at += 1;
        }
        self.line = self.line.saturating_add(1);
        self.out.line_starts.push(self.at);
    }

    fn push(&mut self, kind: TokenKind, start: usize, line: u32) {
        self.out.tokens.push(Token {
            kind,
            start,
            end: self.at,
            line,
            end_line: self.line,
        });
    }

    /// After a `[`: counts `=` and returns the level when another `[`
    /// follows (`[[` is 0, `[=[` is 1); `None` otherwise. Consumes the
    /// `=`s but not the closing bracket, like `skip_sep`.
    fn long_open(&mut self) -> Option<usize> {
        let mut n = 0;
        while self.peek(n) == Some(b'=') {
            n += 1;
        }
        if self.peek(n) == Some(b'[') {
            self.at += n + 1;
            Some(n)
        } else {
            self.at += n;
            None
        }
    }

    /// Reads up to and including the `]=*]` of `level`, or to the end.
    fn long_body(&mut self, level: usize) {
        let start = self.at;
        self.long_content(level);
        let closer = level + 2;
        let closed = self.at >= start + closer
            && self
                .src
                .get(self.at - closer..self.at)
                .is_some_and(|c| c.first() == Some(&b']') && c.last() == Some(&b']'));
        let end = if closed { self.at - closer } else { self.at };
        self.out.long.push(start..end.max(start));
        if level == 0 {
            self.out.level0_long.push(start..end.max(start));
        }
    }

    fn long_content(&mut self, level: usize) {
        while let Some(b) = self.peek(0) {
            if is_newline(b) {
                self.newline();
            } else if b == b']' {
                let mut n = 0;
                while self.peek(1 + n) == Some(b'=') {
                    n += 1;
                }
                if n == level && self.peek(1 + n) == Some(b']') {
                    self.at += n + 2;
                    return;
                }
                self.at += 1 + n;
            } else {
                self.at += 1;
            }
        }
    }

    fn quoted(&mut self, quote: u8) {
        self.at += 1;
        while let Some(b) = self.peek(0) {
            if b == quote {
                self.at += 1;
                return;
            }
            if is_newline(b) {
                return; // unfinished string: Lua refuses it
            }
            if b == b'\\' {
                self.at += 1;
                match self.peek(0) {
                    Some(n) if is_newline(n) => self.newline(),
                    Some(_) => self.at += 1,
                    None => return,
                }
            } else {
                self.at += 1;
            }
        }
    }

    fn numeral(&mut self) {
        while let Some(b) = self.peek(0) {
            if b.is_ascii_digit() || b == b'.' {
                self.at += 1;
            } else {
                break;
            }
        }
        if matches!(self.peek(0), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(0), Some(b'+' | b'-')) {
                self.at += 1;
            }
        }
        while self.peek(0).is_some_and(is_name_byte) {
            self.at += 1;
        }
    }

    fn run(&mut self) {
        while let Some(b) = self.peek(0) {
            let start = self.at;
            let line = self.line;
            match b {
                b'\n' | b'\r' => self.newline(),
                _ if is_blank(b) => self.at += 1,
                b'-' if self.peek(1) == Some(b'-') => {
                    self.at += 2;
                    let body = self.at;
                    if self.peek(0) == Some(b'[') {
                        self.at += 1;
                        if let Some(level) = self.long_open() {
                            self.long_body(level);
                            let text = self.out.long.last().cloned().unwrap_or(body..body);
                            self.out.comments.push(Comment { start, line, text });
                            continue;
                        }
                    }
                    while self.peek(0).is_some_and(|b| !is_newline(b)) {
                        self.at += 1;
                    }
                    self.out.comments.push(Comment {
                        start,
                        line,
                        text: body..self.at,
                    });
                }
                b'[' => {
                    self.at += 1;
                    let before = self.at;
                    match self.long_open() {
                        Some(level) => {
                            self.long_body(level);
                            self.push(TokenKind::String, start, line);
                        }
                        None => {
                            self.at = before;
                            self.push(TokenKind::Symbol, start, line);
                        }
                    }
                }
                b'=' | b'<' | b'>' | b'~' => {
                    self.at += 1;
                    if self.peek(0) == Some(b'=') {
                        self.at += 1;
                    }
                    self.push(TokenKind::Symbol, start, line);
                }
                b'"' | b'\'' => {
                    self.quoted(b);
                    self.push(TokenKind::String, start, line);
                }
                b'.' => {
                    if self.peek(1) == Some(b'.') {
                        self.at += if self.peek(2) == Some(b'.') { 3 } else { 2 };
                        self.push(TokenKind::Symbol, start, line);
                    } else if self.peek(1).is_some_and(|d| d.is_ascii_digit()) {
                        self.numeral();
                        self.push(TokenKind::Number, start, line);
                    } else {
                        self.at += 1;
                        self.push(TokenKind::Symbol, start, line);
                    }
                }
                _ if b.is_ascii_digit() => {
                    self.numeral();
                    self.push(TokenKind::Number, start, line);
                }
                _ if b.is_ascii_alphabetic() || b == b'_' => {
                    while self.peek(0).is_some_and(is_name_byte) {
                        self.at += 1;
                    }
                    self.push(TokenKind::Name, start, line);
                }
                _ if b.is_ascii_punctuation() && b != b'`' && b != b'$' && b != b'@' => {
                    self.at += 1;
                    self.push(TokenKind::Symbol, start, line);
                }
                _ => {
                    self.at += 1;
                    self.push(TokenKind::Other, start, line);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(src: &str) -> Vec<String> {
        let lexed = lex(src.as_bytes());
        lexed
            .tokens
            .iter()
            .map(|t| String::from_utf8_lossy(t.text(src.as_bytes())).into_owned())
            .collect()
    }

    #[test]
    fn splits_like_lua() {
        assert_eq!(
            texts("local x=KEYS[1]"),
            ["local", "x", "=", "KEYS", "[", "1", "]"]
        );
        assert_eq!(
            texts("return 0x1p4..1e-3"),
            ["return", "0x1p4", "..", "1e-3"]
        );
        assert_eq!(
            texts("a~=b==c...d"),
            ["a", "~=", "b", "==", "c", "...", "d"]
        );
        assert_eq!(texts("-- c\rreturn 1"), ["return", "1"]);
        assert_eq!(texts("--[==[ x ]] ]==]y"), ["y"]);
        assert_eq!(texts("--[ x\ny"), ["y"]);
        assert_eq!(
            texts("s=[[a]]..'b\\'c'"),
            ["s", "=", "[[a]]", "..", "'b\\'c'"]
        );
        assert_eq!(texts("t[ [=[x]=] ]"), ["t", "[", "[=[x]=]", "]"]);
    }

    #[test]
    fn counts_lines_like_lua() {
        let src = b"a\r\nb\n\rc\rd\n\ne";
        let lexed = lex(src);
        let lines: Vec<u32> = lexed.tokens.iter().map(|t| t.line).collect();
        assert_eq!(lines, [1, 2, 3, 4, 6]);
        assert_eq!(lexed.line_text(src, 4).as_deref(), Some("d"));
        let lexed = lex(b"x = [[\n\n]] y");
        assert_eq!(lexed.tokens[2].end_line, 3);
        assert_eq!(lexed.tokens[3].line, 3);
    }

    #[test]
    fn finds_level0_long_brackets() {
        let src = b"x = [[ a [[ b ]] --[[ c ]] --[=[ d ]=] [[e";
        let lexed = lex(src);
        let parts: Vec<&[u8]> = lexed.level0_long.iter().map(|r| &src[r.clone()]).collect();
        assert_eq!(parts, [&b" a [[ b "[..], b" c ", b"e"]);
    }

    #[test]
    fn never_fails() {
        for src in [&b"\"abc"[..], b"[==[ x", b"`\0\xff", b"--[[", b"\\", b"'\\"] {
            let lexed = lex(src);
            assert!(lexed.tokens.iter().all(|t| t.end <= src.len()));
        }
        let lexed = lex("x = `y".as_bytes());
        assert_eq!(lexed.tokens[2].kind, TokenKind::Other);
        assert_eq!(lexed.column(b"x = `y", 1, 4), 5);
    }
}
