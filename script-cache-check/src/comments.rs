//! The leading comment block of a script: the one reader behind its docs
//! and its header tags.
//!
//! The block is everything before the first line of code (after an
//! optional `#!` first line): `---` doc lines, `--` lines, blank lines,
//! and `--[[ ... ]]` / `--[==[ ... ]==]` block comments, as BullMQ and
//! bee-queue document their scripts. Lines are counted as Lua counts them
//! (a bare `\r` ends a line), so a tag's line is the line Lua sees.

use crate::lex::lex;

/// What kind of comment a line of the leading block is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommentKind {
    /// `--- text`: documentation.
    Doc,
    /// `-- text`: a tag line (`-- @key bucket`) or a note.
    Plain,
    /// A line inside a `--[[ ... ]]` block comment.
    Block,
    /// A blank line inside the block.
    Blank,
}

/// One line of the leading comment block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommentLine<'s> {
    /// 1-based line in the file.
    pub line: u32,
    /// 1-based column (in characters) where `text` starts.
    pub column: u32,
    /// The text: after `---` and one space (docs), after `--` (plain), the
    /// line as is (inside a block; the opener and closer removed).
    pub text: &'s str,
    /// What kind of line it is.
    pub kind: CommentKind,
}

impl CommentLine<'_> {
    /// `Some("tag rest")` when the text is a tag (`@key bucket`), with the
    /// `@` removed; `--- @tag` and tags inside a block count too.
    pub fn tag(&self) -> Option<&str> {
        match self.kind {
            CommentKind::Blank => None,
            _ => self.text.trim_start().strip_prefix('@'),
        }
    }

    /// The column of the tag's `@`, when [`CommentLine::tag`] is some.
    pub fn tag_column(&self) -> u32 {
        let blanks = self.text.len() - self.text.trim_start().len();
        self.column + u32::try_from(blanks).unwrap_or(0)
    }
}

/// `Some(level)` when `text` (after `--`) opens a long bracket: `[[` is 0,
/// `[=[` is 1; the rest after the opener.
fn long_open(text: &str) -> Option<(usize, &str)> {
    let rest = text.strip_prefix('[')?;
    let level = rest.bytes().take_while(|&b| b == b'=').count();
    let rest = rest[level..].strip_prefix('[')?;
    Some((level, rest))
}

fn chars(text: &str) -> u32 {
    u32::try_from(text.chars().count()).unwrap_or(u32::MAX)
}

/// The lines of the leading comment block of `source`, in order.
pub fn leading_comments(source: &str) -> Vec<CommentLine<'_>> {
    let lexed = lex(source.as_bytes());
    let mut out = Vec::new();
    let mut block: Option<String> = None; // the closer we are inside
    for (i, &start) in lexed.line_starts.iter().enumerate() {
        let end = lexed
            .line_starts
            .get(i + 1)
            .copied()
            .unwrap_or(source.len());
        let Some(raw) = source.get(start..end) else {
            break;
        };
        let text = raw.trim_end_matches(['\n', '\r']);
        let line = u32::try_from(i + 1).unwrap_or(u32::MAX);
        if i == 0 && text.starts_with("#!") {
            continue;
        }
        if let Some(closer) = &block {
            let (inside, after) = match text.find(closer.as_str()) {
                Some(at) => (&text[..at], Some(&text[at + closer.len()..])),
                None => (text, None),
            };
            out.push(CommentLine {
                line,
                column: 1,
                text: inside,
                kind: if inside.trim().is_empty() {
                    CommentKind::Blank
                } else {
                    CommentKind::Block
                },
            });
            match after {
                None => continue,
                Some(after) if after.trim().is_empty() => {
                    block = None;
                    continue;
                }
                Some(_) => break, // code after the block on this line
            }
        }
        let trimmed = text.trim_start();
        let indent = chars(&text[..text.len() - trimmed.len()]);
        if trimmed.is_empty() {
            out.push(CommentLine {
                line,
                column: 1,
                text: "",
                kind: CommentKind::Blank,
            });
            continue;
        }
        let Some(comment) = trimmed.strip_prefix("--") else {
            break;
        };
        if let Some((level, rest)) = long_open(comment) {
            let closer = format!("]{}]", "=".repeat(level));
            // The text after the opener starts where its first non-blank is.
            let opened = rest.trim_start();
            let column = indent
                + 5
                + u32::try_from(level).unwrap_or(0)
                + chars(&rest[..rest.len() - opened.len()]);
            let rest = opened;
            match rest.find(&closer) {
                Some(at) => {
                    out.push(CommentLine {
                        line,
                        column,
                        text: &rest[..at],
                        kind: CommentKind::Block,
                    });
                    if !rest[at + closer.len()..].trim().is_empty() {
                        break;
                    }
                }
                None => {
                    if !rest.trim().is_empty() {
                        out.push(CommentLine {
                            line,
                            column,
                            text: rest,
                            kind: CommentKind::Block,
                        });
                    }
                    block = Some(closer);
                }
            }
            continue;
        }
        let (kind, text, skipped) = match comment.strip_prefix('-') {
            Some(doc) => match doc.strip_prefix(' ') {
                Some(doc) => (CommentKind::Doc, doc, 4),
                None => (CommentKind::Doc, doc, 3),
            },
            None => (CommentKind::Plain, comment, 2),
        };
        out.push(CommentLine {
            line,
            column: indent + 1 + skipped,
            text: text.trim_end(),
            kind,
        });
    }
    // Trailing blank lines belong to nothing.
    while out.last().is_some_and(|l| l.kind == CommentKind::Blank) {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use CommentKind::{Blank, Block, Doc, Plain};

    fn read(src: &str) -> Vec<(u32, u32, &str, CommentKind)> {
        leading_comments(src)
            .into_iter()
            .map(|l| (l.line, l.column, l.text, l.kind))
            .collect()
    }

    #[test]
    fn reads_docs_tags_and_blocks() {
        assert_eq!(
            read("#!lua\n--- Doc.\n-- @key k\n\n--[[\n  Block\n]]\n-- @arg a\nreturn 1\n-- late"),
            [
                (2, 5, "Doc.", Doc),
                (3, 3, " @key k", Plain),
                (4, 1, "", Blank),
                (6, 1, "  Block", Block),
                (7, 1, "", Blank),
                (8, 3, " @arg a", Plain),
            ]
        );
        assert_eq!(
            read("--[==[ one ]] ]==]\nx = 1"),
            [(1, 8, "one ]] ", Block)]
        );
        assert_eq!(read("--[[ x ]] return 1\n-- no"), [(1, 6, "x ", Block)]);
        assert_eq!(read("--[[ @key k\n]]")[0].1, 6);
        assert_eq!(read("-- a\rreturn 1\n-- b"), [(1, 3, " a", Plain)]);
        assert_eq!(read("return 1"), []);
    }

    #[test]
    fn tags_anywhere_in_the_block() {
        let lines = leading_comments("--- @return integer\n--[[\n  @key wait\n]]\n-- note");
        let tags: Vec<_> = lines.iter().filter_map(|l| l.tag()).collect();
        assert_eq!(tags, ["return integer", "key wait"]);
        assert_eq!(lines[0].tag_column(), 5);
        assert_eq!(lines[1].tag_column(), 3);
    }
}
