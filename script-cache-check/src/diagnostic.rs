//! One problem in a script file, and its one renderer.

use std::fmt;

/// A problem in a script file: where it is, what it is, how to fix it.
///
/// Rendered (by `Display`) as the message, then `--> file:line:col`, the
/// offending line with a caret under the column, and the note and help
/// lines, like the compiler's own diagnostics:
///
/// ```text
/// Lua 5.1 syntax error: '=' expected near 'x'
///   --> lua/rate_limit.lua:3:7
///    |
///  3 | local y x = 1
///    |         ^
///    = help: ...
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file as the user knows it, e.g. `lua/rate_limit.lua`.
    pub file: String,
    /// 1-based line; 0 when the problem is about the whole file.
    pub line: u32,
    /// 1-based column in characters, when known.
    pub column: Option<u32>,
    /// What is wrong.
    pub message: String,
    /// The text of the offending line, when known.
    pub source_line: Option<String>,
    /// Context, e.g. the include chain that brought a snippet in.
    pub note: Option<String>,
    /// How to fix it.
    pub help: Option<String>,
}

impl Diagnostic {
    /// A problem at `line:column` of `file`.
    pub fn new(
        file: impl Into<String>,
        line: u32,
        column: Option<u32>,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            file: file.into(),
            line,
            column,
            message: message.into(),
            source_line: None,
            note: None,
            help: None,
        }
    }

    /// A problem with the file as a whole (it cannot be read, its name).
    pub fn file(file: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic::new(file, 0, None, message)
    }

    /// Shows line `self.line` of `source` (the file's text) under the
    /// location. Lines are counted as Lua counts them (`\r` ends one).
    #[must_use]
    pub fn with_source(mut self, source: &[u8]) -> Self {
        if self.line > 0 {
            self.source_line = crate::lex::lex(source).line_text(source, self.line);
        }
        self
    }

    /// Adds a note (context).
    #[must_use]
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }

    /// Adds a help line.
    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// `file:line:col` (or `file:line`, or `file`).
    pub fn location(&self) -> String {
        match (self.line, self.column) {
            (0, _) => self.file.clone(),
            (line, Some(col)) => format!("{}:{line}:{col}", self.file),
            (line, None) => format!("{}:{line}", self.file),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}\n  --> {}", self.message, self.location())?;
        if let Some(text) = &self.source_line {
            // Tabs would misplace the caret; control bytes would garble it.
            let shown: String = text
                .chars()
                .filter(|c| *c != '\u{feff}')
                .map(|c| if c.is_control() { ' ' } else { c })
                .take(200)
                .collect();
            let gutter = self.line.to_string().len();
            let pad = " ".repeat(gutter);
            write!(f, "\n {pad} |\n {} | {}", self.line, shown.trim_end())?;
            if let Some(col) = self.column {
                let col = usize::try_from(col).unwrap_or(1).max(1);
                if col <= 201 {
                    write!(f, "\n {pad} | {}^", " ".repeat(col - 1))?;
                }
            }
        }
        if let Some(note) = &self.note {
            write!(f, "\n  = note: {note}")?;
        }
        if let Some(help) = &self.help {
            write!(f, "\n  = help: {help}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostic {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_location_line_and_caret() {
        let src = b"local x = 1\nlocal y x = 1\n";
        let d = Diagnostic::new("lua/a.lua", 2, Some(9), "'=' expected near 'x'")
            .with_source(src)
            .with_help("write `local y = 1`");
        assert_eq!(
            d.to_string(),
            "'=' expected near 'x'\n  --> lua/a.lua:2:9\n   |\n 2 | local y x = 1\n   |         ^\n  = help: write `local y = 1`"
        );
        let d = Diagnostic::file("lua/b.lua", "not UTF-8");
        assert_eq!(d.to_string(), "not UTF-8\n  --> lua/b.lua");
        let d = Diagnostic::new("s.lua", 1, None, "m")
            .with_source(b"a\rb")
            .with_note("via x");
        assert_eq!(
            d.to_string(),
            "m\n  --> s.lua:1\n   |\n 1 | a\n  = note: via x"
        );
    }
}
