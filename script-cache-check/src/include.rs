//! `-- @include "path"`: expanding snippets into a script at build time.
//!
//! Plain text in, text out: the caller gives the content of other files
//! through a `read` function (the macros read the script folder; a command
//! line or the runtime may read something else).
//!
//! * A line that holds only `-- @include "path"` (leading and trailing
//!   blanks allowed) is a directive, wherever it is in the file. As in
//!   BullMQ's script folders, the comment may start with `---`, the path
//!   may be in single quotes, a `;` may follow, and `.lua` may be left out
//!   (`--- @include "includes/addJob"` includes `includes/addJob.lua` when
//!   `includes/addJob` does not exist). The path is relative to the folder
//!   of the including file, uses `/`, and must stay inside the script
//!   folder.
//! * A line that looks like an include and is not one (`@include` after
//!   code, a malformed path) is an error, never a silent comment. A missing
//!   file gets "did you mean" suggestions.
//! * The directive line is replaced by the lines of the snippet, expanded
//!   recursively. Each file is expanded at most once per script: a later
//!   directive for the same file, and one for an empty snippet, stay as they
//!   are (a comment), so every line of the result still has a known origin.
//! * A missing file, a cycle, a path that leaves the folder, a snippet that
//!   is not UTF-8 or that has a `#!` shebang (only the script's first line
//!   may) are errors that show the include chain (`a.lua -> lib/x.lua`).
//! * A script without directives is returned byte for byte. Otherwise the
//!   result comes with [`Span`]s: which runs of lines come from which file,
//!   so errors in the expanded source can name the original file and line.

use std::collections::BTreeMap;

/// A run of lines of the expanded source and where it comes from; mirror of
/// `script_cache::LineSpan`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// First line in the expanded source (1-based).
    pub start: usize,
    /// Number of lines.
    pub len: usize,
    /// The file, relative to the script folder.
    pub file: String,
    /// The line of `file` that `start` is (1-based).
    pub first: usize,
}

/// A script with its includes expanded.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Expanded {
    /// The source to hash, parse and send.
    pub source: String,
    /// Empty when nothing was included (every line is the script's own).
    pub spans: Vec<Span>,
    /// Every included file, relative to the folder, in the order included.
    pub included: Vec<String>,
    /// The chain that included each file (`["a.lua", "lib/x.lua"]`).
    chains: BTreeMap<String, Vec<String>>,
}

impl Expanded {
    /// The original file and line of line `line` of the expanded source;
    /// `None` when there are no spans (the line is the script's own).
    pub fn locate(&self, line: usize) -> Option<(&str, usize)> {
        self.spans
            .iter()
            .find(|s| line >= s.start && line - s.start < s.len)
            .map(|s| (s.file.as_str(), s.first + (line - s.start)))
    }

    /// How `file` was included, e.g. `a.lua -> lib/x.lua`; `None` for the
    /// script itself.
    pub fn chain(&self, file: &str) -> Option<String> {
        self.chains.get(file).map(|c| c.join(" -> "))
    }
}

/// Why a file could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// It does not exist; the files of the folder with a similar name
    /// (relative to the script folder), best first.
    Missing(Vec<String>),
    /// Anything else; the text continues "cannot include `path`".
    Other(String),
}

/// A problem in some file of the script: its path relative to the folder,
/// 1-based line and column, and a message that says how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file that has the problem, relative to the script folder.
    pub file: String,
    /// 1-based line in that file.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
    /// What is wrong and how to fix it.
    pub message: String,
    /// The include chain that reached the problem (`a.lua -> lib/x.lua`),
    /// when it is about an included file.
    pub chain: Option<String>,
}

/// Expands the includes of `source`, the content of `file` (relative to
/// the folder). `read` gives the content of another file of the folder.
/// Every problem is returned; the directive of a failed include is kept.
pub fn expand(
    file: &str,
    source: &str,
    read: &mut dyn FnMut(&str) -> Result<String, ReadError>,
) -> (Expanded, Vec<Problem>) {
    let mut x = Expander {
        read,
        lines: Vec::new(),
        expanded: Expanded::default(),
        problems: Vec::new(),
    };
    let mut chain = vec![file.to_owned()];
    x.file(file, source, &mut chain);
    let Expander {
        lines,
        mut expanded,
        problems,
        ..
    } = x;
    if expanded.included.is_empty() {
        expanded.source = source.to_owned();
        return (expanded, problems);
    }
    for (text, from, line) in lines {
        expanded.source.push_str(&text);
        let at = expanded.spans.last_mut();
        match at {
            Some(s) if s.file == from && s.first + s.len == line => s.len += 1,
            _ => {
                let start = expanded.spans.last().map_or(1, |s| s.start + s.len);
                expanded.spans.push(Span {
                    start,
                    len: 1,
                    file: from,
                    first: line,
                });
            }
        }
    }
    (expanded, problems)
}

/// `chain -> target`, for messages.
fn via(chain: &[String], target: &str) -> String {
    let mut all = chain.to_vec();
    all.push(target.to_owned());
    all.join(" -> ")
}

/// Reads `target`, or `target.lua` when `target` does not exist and has
/// no `.lua` extension; the path found and its content.
fn read_implied(
    read: &mut dyn FnMut(&str) -> Result<String, ReadError>,
    target: &str,
) -> Result<(String, String), ReadError> {
    match read(target) {
        Ok(content) => Ok((target.to_owned(), content)),
        Err(ReadError::Missing(similar)) if !target.ends_with(".lua") => {
            let with_ext = format!("{target}.lua");
            match read(&with_ext) {
                Ok(content) => Ok((with_ext, content)),
                Err(ReadError::Missing(more)) => {
                    let mut all = more;
                    all.extend(similar.into_iter().filter(|s| s != target));
                    all.dedup();
                    Err(ReadError::Missing(all))
                }
                Err(other) => Err(other),
            }
        }
        Err(e) => Err(e),
    }
}

struct Expander<'r> {
    read: &'r mut dyn FnMut(&str) -> Result<String, ReadError>,
    /// (text with its line ending, file, line in that file)
    lines: Vec<(String, String, usize)>,
    expanded: Expanded,
    problems: Vec<Problem>,
}

impl Expander<'_> {
    fn file(&mut self, file: &str, text: &str, chain: &mut Vec<String>) {
        // Where Lua sees long comments and strings: a directive there is
        // text, not code, and would silently not take effect.
        let long = crate::lex::lex(text.as_bytes()).long;
        let mut offset = 0;
        for (i, segment) in lua_lines(text).into_iter().enumerate() {
            let line = i + 1;
            let at = offset;
            offset += segment.len();
            let keep = |x: &mut Self| x.lines.push((segment.to_owned(), file.to_owned(), line));
            let Some((offset, written)) = directive(segment) else {
                keep(self);
                continue;
            };
            let starts = at + offset;
            let column = segment.get(..offset).map_or(1, |s| s.chars().count() + 1);
            if long.iter().any(|r| r.start <= starts && starts < r.end) {
                self.problems.push(Problem {
                    file: file.to_owned(),
                    line,
                    column,
                    chain: None,
                    message: "this `@include` is inside a `--[[ ]]` comment or a long string, \
                              where Lua reads it as text and it would not take effect: move it \
                              out of the block (on a line of its own)"
                        .to_owned(),
                });
                keep(self);
                continue;
            }
            let problem_via = |x: &mut Self, message: String, chain: Option<String>| {
                x.problems.push(Problem {
                    file: file.to_owned(),
                    line,
                    column,
                    message,
                    chain,
                })
            };
            let problem = |x: &mut Self, message: String| problem_via(x, message, None);
            let written = match written {
                Ok(written) => written,
                Err(message) => {
                    problem(self, message);
                    keep(self);
                    continue;
                }
            };
            let target = match resolve(file, written) {
                Ok(target) => target,
                Err(why) => {
                    problem(self, format!("cannot include \"{written}\": {why}"));
                    keep(self);
                    continue;
                }
            };
            if chain.contains(&target) {
                let shown = via(chain, &target);
                problem(
                    self,
                    format!(
                        "include cycle: {shown}; a snippet cannot include itself, directly or \
                         through others: remove one of these `@include` lines"
                    ),
                );
                keep(self);
                continue;
            }
            let (target, content) = match read_implied(self.read, &target) {
                Ok(found) => found,
                Err(ReadError::Missing(similar)) => {
                    let shown = via(chain, &target);
                    let tried = if target.ends_with(".lua") {
                        format!("`{target}` does not exist")
                    } else {
                        format!("neither `{target}` nor `{target}.lua` exists")
                    };
                    let hint = crate::did_you_mean(&similar)
                        .map(|phrase| format!("{phrase} "))
                        .unwrap_or_default();
                    problem_via(
                        self,
                        format!(
                            "cannot include \"{written}\": {tried}; {hint}paths are relative to \
                             the including file's folder: create the file or fix the path"
                        ),
                        Some(shown),
                    );
                    keep(self);
                    continue;
                }
                Err(ReadError::Other(why)) => {
                    let shown = via(chain, &target);
                    problem_via(self, format!("cannot include `{target}`{why}"), Some(shown));
                    keep(self);
                    continue;
                }
            };
            if chain.contains(&target) {
                let shown = via(chain, &target);
                problem(
                    self,
                    format!(
                        "include cycle: {shown}; a snippet cannot include itself, directly or \
                         through others: remove one of these `@include` lines"
                    ),
                );
                keep(self);
                continue;
            }
            if self.expanded.chains.contains_key(&target) {
                keep(self); // already expanded once in this script
                continue;
            }
            if content.starts_with("#!") {
                let shown = via(chain, &target);
                self.problems.push(Problem {
                    file: target.clone(),
                    line: 1,
                    column: 1,
                    message: "a snippet cannot have a `#!` shebang; only the first line of a \
                              script may: move the flags to the script"
                        .to_owned(),
                    chain: Some(shown),
                });
                keep(self);
                continue;
            }
            chain.push(target.clone());
            self.expanded.chains.insert(target.clone(), chain.clone());
            self.expanded.included.push(target.clone());
            let before = self.lines.len();
            self.file(&target, &content, chain);
            chain.pop();
            if self.lines.len() == before {
                keep(self); // an empty snippet: the directive stays
            } else if let Some((last, _, _)) = self.lines.last_mut()
                && !last.ends_with(['\n', '\r'])
            {
                last.push_str(line_ending(segment));
            }
        }
    }
}

/// `Some((offset, path))` when `line` is an include directive (`offset`:
/// the byte offset of its `--` in the line), `Some((_, Err))` when it
/// looks like one but is malformed or not alone on its line (it would not
/// be expanded).
fn directive(line: &str) -> Option<(usize, Result<&str, String>)> {
    let trimmed = line.trim();
    let column = line.len() - line.trim_start().len();
    let Some(rest) = trimmed
        .strip_prefix("--")
        .map(|r| r.trim_start_matches('-'))
        .and_then(|r| r.trim_start().strip_prefix("@include"))
        .filter(|r| !r.starts_with(|c: char| c.is_alphanumeric() || c == '_'))
    else {
        // `--[[ @include "x" ]]`: a block comment that looks like an include.
        let in_block = trimmed
            .strip_prefix("--[")
            .map(|r| r.trim_start_matches('='))
            .and_then(|r| r.strip_prefix('['))
            .and_then(|r| r.trim_start().strip_prefix("@include"))
            .is_some_and(|r| !r.starts_with(|c: char| c.is_alphanumeric() || c == '_'));
        if in_block {
            return Some((
                column,
                Err(
                    "this `@include` is inside a `--[[ ]]` comment, where it would not be \
                     expanded: write it as `-- @include \"lib/file.lua\"` on a line of its own"
                        .to_owned(),
                ),
            ));
        }
        return stray(line).map(|at| {
            (
                at,
                Err(
                    "`@include` must be alone on its line, as `-- @include \"lib/file.lua\"`; \
                     after code it would not be expanded"
                        .to_owned(),
                ),
            )
        });
    };
    let rest = rest.trim();
    let rest = rest.strip_suffix(';').map_or(rest, str::trim_end);
    let path = ['"', '\''].into_iter().find_map(|q| {
        rest.strip_prefix(q)
            .and_then(|p| p.strip_suffix(q))
            .filter(|p| !p.contains(['"', '\'']))
    });
    Some((
        column,
        path.ok_or_else(|| {
            "malformed include: write `-- @include \"lib/file.lua\"` (one path in quotes, \
             relative to this file's folder, alone on its line)"
                .to_owned()
        }),
    ))
}

/// The byte offset of an `@include` comment after code on `line` (`x = 1
/// -- @include "y"`), outside quotes; `None` if there is none.
fn stray(line: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    let mut chars = line.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), '\\') => {
                chars.next();
            }
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '-') if line[at..].starts_with("--") => {
                let after = line[at..].trim_start_matches('-').trim_start();
                let looks = after
                    .strip_prefix("@include")
                    .is_some_and(|r| !r.starts_with(|c: char| c.is_alphanumeric() || c == '_'));
                return looks.then_some(at);
            }
            (None, _) => {}
        }
    }
    None
}

/// The path of `written`, relative to the folder of `from`, as a path
/// relative to the script folder (`/`-separated, no `.` or `..`).
pub fn resolve(from: &str, written: &str) -> Result<String, String> {
    if written.is_empty() {
        return Err("the path is empty".to_owned());
    }
    if written.starts_with('/') || written.contains('\\') || written.contains(':') {
        return Err(
            "write a relative path with `/` separators (relative to the including file's \
             folder)"
                .to_owned(),
        );
    }
    let mut parts: Vec<&str> = from.split('/').collect();
    parts.pop(); // the file name
    for part in written.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(
                        "the path leaves the script folder; snippets must be inside it (in a \
                         subfolder such as `lib/`)"
                            .to_owned(),
                    );
                }
            }
            part => parts.push(part),
        }
    }
    Ok(parts.join("/"))
}

fn line_ending(segment: &str) -> &str {
    let body = segment.trim_end_matches(['\n', '\r']);
    &segment[body.len()..]
}

/// The lines of `text` as Lua counts them, each with its line break:
/// `\n`, `\r`, `\r\n` or `\n\r` (a bare CR ends a line, and a comment),
/// so that line numbers here are Lua's.
fn lua_lines(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\n' || b == b'\r' {
            let mut end = i + 1;
            if let Some(&next) = bytes.get(end)
                && (next == b'\n' || next == b'\r')
                && next != b
            {
                end += 1;
            }
            out.push(&text[start..end]);
            start = end;
            i = end;
        } else {
            i += 1;
        }
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(files: &[(&str, &str)]) -> impl FnMut(&str) -> Result<String, ReadError> {
        let files: BTreeMap<String, String> = files
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |path| {
            files
                .get(path)
                .cloned()
                .ok_or_else(|| ReadError::Missing(Vec::new()))
        }
    }

    fn spans(e: &Expanded) -> Vec<(usize, usize, &str, usize)> {
        e.spans
            .iter()
            .map(|s| (s.start, s.len, s.file.as_str(), s.first))
            .collect()
    }

    #[test]
    fn no_includes_is_byte_exact() {
        let src = "-- @key k\nreturn KEYS[1]\r\n-- not @include \"x\"";
        let (e, problems) = expand("a.lua", src, &mut with(&[]));
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(e.source, src);
        assert!(e.spans.is_empty() && e.included.is_empty());
    }

    #[test]
    fn expands_recursively_with_exact_spans() {
        let mut read = with(&[
            (
                "lib/util.lua",
                "local function f()\n  -- @include \"strings.lua\"\n  return g()\nend\n",
            ),
            ("lib/strings.lua", "local function g()\n  return 1\nend"),
        ]);
        let src = "#!lua\n-- @include \"lib/util.lua\"\nreturn f()\n";
        let (e, problems) = expand("main.lua", src, &mut read);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            e.source,
            "#!lua\nlocal function f()\nlocal function g()\n  return 1\nend\n  return g()\nend\nreturn f()\n"
        );
        assert_eq!(
            spans(&e),
            [
                (1, 1, "main.lua", 1),
                (2, 1, "lib/util.lua", 1),
                (3, 3, "lib/strings.lua", 1),
                (6, 2, "lib/util.lua", 3),
                (8, 1, "main.lua", 3),
            ]
        );
        assert_eq!(e.included, ["lib/util.lua", "lib/strings.lua"]);
        assert_eq!(e.locate(4), Some(("lib/strings.lua", 2)));
        assert_eq!(e.locate(7), Some(("lib/util.lua", 4)));
        assert_eq!(e.locate(8), Some(("main.lua", 3)));
        assert_eq!(e.locate(9), None);
        assert_eq!(
            e.chain("lib/strings.lua").as_deref(),
            Some("main.lua -> lib/util.lua -> lib/strings.lua")
        );
        assert_eq!(e.chain("main.lua"), None);
        // Every line of the result has exactly one origin.
        let total: usize = e.spans.iter().map(|s| s.len).sum();
        assert_eq!(total, e.source.lines().count());
    }

    #[test]
    fn each_file_once_and_empty_snippets_keep_the_directive() {
        let mut read = with(&[
            ("lib/a.lua", "local a = 1\n-- @include \"b.lua\"\n"),
            ("lib/b.lua", "local b = 2\n"),
            ("lib/empty.lua", ""),
        ]);
        let src = "-- @include \"lib/a.lua\"\n  --   @include   \"lib/b.lua\"  \r\n-- @include \"lib/empty.lua\"\nreturn a + b";
        let (e, problems) = expand("s.lua", src, &mut read);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(
            e.source,
            "local a = 1\nlocal b = 2\n  --   @include   \"lib/b.lua\"  \r\n-- @include \"lib/empty.lua\"\nreturn a + b"
        );
        assert_eq!(
            spans(&e),
            [
                (1, 1, "lib/a.lua", 1),
                (2, 1, "lib/b.lua", 1),
                (3, 3, "s.lua", 2)
            ]
        );
    }

    #[test]
    fn snippet_without_final_newline_gets_the_directive_ending() {
        let mut read = with(&[("lib/x.lua", "local x = 1")]);
        let (e, _) = expand(
            "s.lua",
            "-- @include \"lib/x.lua\"\r\nreturn x\n",
            &mut read,
        );
        assert_eq!(e.source, "local x = 1\r\nreturn x\n");
        let (e, _) = expand("s.lua", "return 1\n-- @include \"lib/x.lua\"", &mut read);
        assert_eq!(e.source, "return 1\nlocal x = 1");
    }

    #[test]
    fn missing_cycle_and_bad_paths_show_the_chain() {
        let mut read = with(&[
            ("lib/x.lua", "-- @include \"y.lua\"\n"),
            (
                "lib/y.lua",
                "\n-- @include \"x.lua\"\n-- @include \"nope.lua\"\n",
            ),
            ("lib/bang.lua", "#!lua\nreturn 1"),
        ]);
        let src = "-- @include \"lib/x.lua\"\n-- @include \"../up.lua\"\n-- @include lib/x.lua\n\
                   -- @include \"lib/bang.lua\"\n-- @include \"/etc/passwd\"\nreturn 1\n";
        let (e, problems) = expand("a.lua", src, &mut read);
        let got: Vec<String> = problems
            .iter()
            .map(|p| match &p.chain {
                Some(chain) => format!(
                    "{}:{}:{}: {} [chain: {chain}]",
                    p.file, p.line, p.column, p.message
                ),
                None => format!("{}:{}:{}: {}", p.file, p.line, p.column, p.message),
            })
            .collect();
        let want = [
            "lib/y.lua:2:1: include cycle: a.lua -> lib/x.lua -> lib/y.lua -> lib/x.lua;",
            "lib/y.lua:3:1: cannot include \"nope.lua\": `lib/nope.lua` does not exist;",
            "a.lua:2:1: cannot include \"../up.lua\": the path leaves the script folder",
            "a.lua:3:1: malformed include: write `-- @include \"lib/file.lua\"`",
            "lib/bang.lua:1:1: a snippet cannot have a `#!` shebang; only the first line of a script may: move the flags to the script [chain: a.lua -> lib/bang.lua]",
            "a.lua:5:1: cannot include \"/etc/passwd\": write a relative path",
        ];
        assert_eq!(got.len(), want.len(), "{got:#?}");
        for (g, w) in got.iter().zip(want) {
            assert!(g.starts_with(w), "{g:?} does not start with {w:?}");
        }
        // Failed directives stay as comments; lines stay accounted for.
        let total: usize = e.spans.iter().map(|s| s.len).sum();
        assert_eq!(total, e.source.lines().count());
    }

    #[test]
    fn lua_extension_is_implied_and_missing_files_get_suggestions() {
        let files = [
            ("includes/addJob.lua", "local function addJob() end\n"),
            ("includes/removeJob.lua", "local function removeJob() end\n"),
        ];
        let mut read = with(&files);
        let src =
            "--- @include \"includes/addJob\"\n--- @include 'includes/addJob.lua';\nreturn 1\n";
        let (e, problems) = expand("add-9.lua", src, &mut read);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(e.included, ["includes/addJob.lua"]);
        assert!(e.source.starts_with("local function addJob() end\n"));
        let mut read = |path: &str| match path {
            "includes/addJob.lua" => Ok(String::new()),
            _ => Err(ReadError::Missing(vec!["includes/addJob.lua".to_owned()])),
        };
        let (_, problems) = expand("a.lua", "-- @include \"includes/adJob\"\n", &mut read);
        assert!(
            problems[0].message.starts_with(
                "cannot include \"includes/adJob\": neither `includes/adJob` nor \
                 `includes/adJob.lua` exists; did you mean `includes/addJob.lua`? paths"
            ),
            "{problems:?}"
        );
        assert_eq!(
            problems[0].chain.as_deref(),
            Some("a.lua -> includes/adJob")
        );
    }

    #[test]
    fn lines_are_counted_as_lua_counts_them() {
        assert_eq!(
            lua_lines("a\r\nb\rc\n\rd\n\ne"),
            ["a\r\n", "b\r", "c\n\r", "d\n", "\n", "e"]
        );
        let mut read = with(&[("lib/x.lua", "local x = 1\r")]);
        let src = "-- a\r-- @include \"lib/x.lua\"\rreturn x\n";
        let (e, problems) = expand("s.lua", src, &mut read);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(e.source, "-- a\rlocal x = 1\rreturn x\n");
        assert_eq!(e.locate(2), Some(("lib/x.lua", 1)));
        assert_eq!(e.locate(3), Some(("s.lua", 3)));
    }

    #[test]
    fn an_include_inside_a_long_comment_is_an_error() {
        let mut read = with(&[("lib/x.lua", "local x = 1\n")]);
        let src = "--[[ docs\n-- @include \"lib/x.lua\"\n]]\nlocal s = [==[\n-- @include \"lib/x.lua\"\n]==]\n";
        let (e, problems) = expand("s.lua", src, &mut read);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert_eq!((problems[0].line, problems[1].line), (2, 5));
        assert!(problems[0].message.contains("inside a `--[[ ]]` comment"));
        assert!(e.included.is_empty());
        let (e, problems) = expand("s.lua", "--[[ x ]]\n-- @include \"lib/x.lua\"\n", &mut read);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(e.included, ["lib/x.lua"]);
    }

    #[test]
    fn self_include_is_a_cycle() {
        let (_, problems) = expand("a.lua", "-- @include \"a.lua\"\n", &mut with(&[]));
        assert!(
            problems[0]
                .message
                .contains("include cycle: a.lua -> a.lua"),
            "{problems:?}"
        );
    }

    #[test]
    fn read_errors_are_reported() {
        let mut read = |_: &str| Err(ReadError::Other(": the file is not valid UTF-8".to_owned()));
        let (_, problems) = expand("a.lua", "-- @include \"lib/x.lua\"\n", &mut read);
        assert_eq!(
            problems[0].message,
            "cannot include `lib/x.lua`: the file is not valid UTF-8"
        );
        assert_eq!(problems[0].chain.as_deref(), Some("a.lua -> lib/x.lua"));
    }

    #[test]
    fn columns_count_characters() {
        let mut read = with(&[]);
        // Two 2-byte characters before a stray include: column 16, not 18.
        let src = "local s = \"éé\" -- @include \"x.lua\"\n\u{a0}-- @include x\n";
        let (_, problems) = expand("a.lua", src, &mut read);
        let at: Vec<(usize, usize)> = problems.iter().map(|p| (p.line, p.column)).collect();
        assert_eq!(at, [(1, 16), (2, 2)], "{problems:?}");
    }

    #[test]
    fn directives_and_paths() {
        assert_eq!(directive("-- @include \"a.lua\"\n"), Some((0, Ok("a.lua"))));
        assert_eq!(
            directive("  --@include\"a.lua\"\r\n"),
            Some((2, Ok("a.lua")))
        );
        assert_eq!(directive("--- @include \"a.lua\""), Some((0, Ok("a.lua"))));
        assert_eq!(directive("---@include 'inc/a';  "), Some((0, Ok("inc/a"))));
        assert_eq!(directive("-- @include \"a\" ;"), Some((0, Ok("a"))));
        assert_eq!(directive("-- @included \"a.lua\""), None);
        assert_eq!(directive("-- see @include docs"), None);
        assert_eq!(directive("local s = \"-- @include x\""), None);
        assert!(matches!(
            directive("local x -- @include \"a.lua\""),
            Some((8, Err(m))) if m.contains("alone on its line")
        ));
        assert!(matches!(
            directive("-- @include \"a.lua'"),
            Some((0, Err(_)))
        ));
        assert!(matches!(directive("-- @include"), Some((0, Err(_)))));
        assert!(matches!(
            directive("--[[ @include \"a.lua\" ]]"),
            Some((0, Err(m))) if m.contains("inside a `--[[ ]]` comment")
        ));
        assert_eq!(directive("--[[ see @include ]]"), None);
        assert!(matches!(
            directive("-- @include \"a.lua\" x"),
            Some((0, Err(_)))
        ));
        assert_eq!(resolve("a.lua", "lib/u.lua").as_deref(), Ok("lib/u.lua"));
        assert_eq!(resolve("lib/u.lua", "v.lua").as_deref(), Ok("lib/v.lua"));
        assert_eq!(resolve("lib/u.lua", "./../w.lua").as_deref(), Ok("w.lua"));
        assert_eq!(
            resolve("lib/deep/u.lua", "../v.lua").as_deref(),
            Ok("lib/v.lua")
        );
        assert!(resolve("lib/u.lua", "../../v.lua").is_err());
        assert!(resolve("a.lua", "C:\\x.lua").is_err());
        assert!(resolve("a.lua", "").is_err());
    }
}
