//! One problem in a script file, as data, and its one renderer.
//!
//! Every check of the crate (the folder reader, the include expansion, the
//! shebang, Lua's verdict, the header, the typed call's signature and the
//! lint) reports a [`Diagnostic`]: where (file, line, column in
//! characters, and the end when known), how bad ([`Severity`]), which lint
//! rule when it is one, what, how to fix it and notes. The macros render
//! it as a `compile_error!`, the command line as text, JSON, SARIF or
//! GitHub annotations, all from the same fields.

use std::fmt;

/// Whether a problem fails the build.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// Fails the build: certain to fail when the script is loaded or the
    /// line runs.
    Error,
    /// A hazard: reported, the build goes on.
    Warning,
}

impl Severity {
    /// `error` or `warning`, as the command line's JSON writes it.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A problem in a script file: where it is, what it is, how to fix it.
///
/// Rendered (by `Display`) as the message (with `[lint: rule]` for a lint
/// finding), then `--> file:line:col`, the offending line with a caret
/// under the column, and the note and help lines, like the compiler's own
/// diagnostics (a problem with a whole file, line 0, names the file in its
/// message and has no `-->` line):
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
    /// 1-based column in characters (not bytes), when known.
    pub column: Option<u32>,
    /// The 1-based line where the problem ends, when known.
    pub end_line: Option<u32>,
    /// The 1-based column in characters just after the problem's last
    /// character (exclusive, as SARIF counts it), when known.
    pub end_column: Option<u32>,
    /// Whether it fails the build.
    pub severity: Severity,
    /// The lint rule (`unknown-command`, ...) for a lint finding, the name
    /// allow comments use; `None` for the checker's own problems (syntax,
    /// shebang, includes, header, file names), which cannot be silenced.
    pub rule: Option<&'static str>,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub help: Option<String>,
    /// Context, e.g. the include chain that brought a snippet in.
    pub notes: Vec<String>,
    /// The text of the offending line, when known (for the renderer).
    pub source_line: Option<String>,
}

impl Diagnostic {
    /// An error at `line:column` of `file`.
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
            end_line: None,
            end_column: None,
            severity: Severity::Error,
            rule: None,
            message: message.into(),
            help: None,
            notes: Vec::new(),
            source_line: None,
        }
    }

    /// An error with the file (or folder) as a whole: it cannot be read,
    /// its name.
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
        self.notes.push(note.into());
        self
    }

    /// Sets the help line.
    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Sets the severity.
    #[must_use]
    pub fn with_severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }

    /// Marks it as a finding of the lint rule named `rule`.
    #[must_use]
    pub fn with_rule(mut self, rule: &'static str) -> Self {
        self.rule = Some(rule);
        self
    }

    /// Sets where the problem ends (line, and the column after its last
    /// character).
    #[must_use]
    pub fn with_end(mut self, line: u32, column: u32) -> Self {
        self.end_line = Some(line);
        self.end_column = Some(column);
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

    /// The message with the lint rule's name, e.g. ``unknown Redis command
    /// `GETT` [lint: unknown-command]``; the message alone for the
    /// checker's own problems.
    pub fn title(&self) -> String {
        match self.rule {
            Some(rule) => format!("{} [lint: {rule}]", self.message),
            None => self.message.clone(),
        }
    }

    /// Whether `other` is the same problem at the same place, whatever
    /// its notes: a snippet's problem reached through two include chains
    /// is one problem.
    pub fn same_problem(&self, other: &Diagnostic) -> bool {
        self.file == other.file
            && self.line == other.line
            && self.column == other.column
            && self.severity == other.severity
            && self.rule == other.rule
            && self.message == other.message
    }
}

/// Drops the diagnostics that repeat an earlier one
/// ([`Diagnostic::same_problem`]), keeping the first (with its notes).
pub fn dedup(list: &mut Vec<Diagnostic>) {
    let mut kept: Vec<Diagnostic> = Vec::with_capacity(list.len());
    for d in list.drain(..) {
        if !kept.iter().any(|k| k.same_problem(&d)) {
            kept.push(d);
        }
    }
    *list = kept;
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.title())?;
        // A problem with a whole file (or the folder) names it in its
        // message: no `-->` line to repeat it.
        if self.line > 0 {
            write!(f, "\n  --> {}", self.location())?;
        }
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
        for note in &self.notes {
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
        let d = Diagnostic::file("lua/b.lua", "`lua/b.lua` is not UTF-8");
        assert_eq!(d.to_string(), "`lua/b.lua` is not UTF-8");
        assert_eq!(d.location(), "lua/b.lua");
        let d = Diagnostic::new("s.lua", 1, None, "m")
            .with_source(b"a\rb")
            .with_note("via x");
        assert_eq!(
            d.to_string(),
            "m\n  --> s.lua:1\n   |\n 1 | a\n  = note: via x"
        );
        let d = Diagnostic::new("s.lua", 1, Some(1), "m")
            .with_rule("unknown-command")
            .with_severity(Severity::Warning);
        assert_eq!(d.title(), "m [lint: unknown-command]");
        assert_eq!(d.severity.name(), "warning");
    }

    #[test]
    fn dedup_ignores_notes_only() {
        let a = Diagnostic::new("lib/x.lua", 3, Some(1), "m").with_note("included as a.lua");
        let b = Diagnostic::new("lib/x.lua", 3, Some(1), "m").with_note("included as b.lua");
        let c = Diagnostic::new("lib/x.lua", 3, Some(2), "m");
        let mut list = vec![a.clone(), b, c.clone()];
        dedup(&mut list);
        assert_eq!(list, [a, c]);
    }
}
