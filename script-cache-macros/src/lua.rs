//! What the macros learn from a script's text, through the shared
//! checker (`script_cache_check`): the Lua 5.1 verdict of the servers, the
//! `#!lua` shebang, the `KEYS`/`ARGV` arity, and the `---` docs.

pub(crate) use script_cache_check::shebang::legacy_source;
pub(crate) use script_cache_check::usage::{Arity, Usage};

/// The docs of a script, from its leading comment block (the one reader,
/// `script_cache_check::comments`): `---` lines as written (without the
/// dashes and one space), and the text of `--[[ ... ]]` blocks as a
/// preformatted `text` block (their indentation would otherwise turn into
/// Markdown code blocks, which rustdoc would test as Rust). Tag lines are
/// not docs.
pub(crate) fn header_doc(source: &str) -> Vec<String> {
    use script_cache_check::comments::{CommentKind, leading_comments};
    let lines = leading_comments(source);
    let mut doc: Vec<String> = Vec::new();
    let mut i = 0;
    while let Some(line) = lines.get(i) {
        i += 1;
        if line.tag().is_some() {
            continue;
        }
        match line.kind {
            CommentKind::Doc => doc.push(line.text.to_owned()),
            CommentKind::Blank => {
                if doc.last().is_some_and(|l| !l.is_empty()) {
                    doc.push(String::new());
                }
            }
            CommentKind::Plain => {}
            CommentKind::Block => {
                // The run of block lines (blank ones included), dedented.
                let mut run = vec![line.text];
                while let Some(next) = lines.get(i) {
                    match next.kind {
                        CommentKind::Block if next.tag().is_none() => run.push(next.text),
                        CommentKind::Blank => run.push(""),
                        _ => break,
                    }
                    i += 1;
                }
                while run.last().is_some_and(|l| l.trim().is_empty()) {
                    run.pop();
                }
                let indent = run
                    .iter()
                    .filter(|l| !l.trim().is_empty())
                    .map(|l| l.len() - l.trim_start().len())
                    .min()
                    .unwrap_or(0);
                if doc.last().is_some_and(|l| !l.is_empty()) {
                    doc.push(String::new());
                }
                doc.push("```text".to_owned());
                for l in run {
                    let l = l.trim_end();
                    doc.push(l.get(indent..).unwrap_or(l.trim_start()).to_owned());
                }
                doc.push("```".to_owned());
            }
        }
    }
    while doc.last().is_some_and(String::is_empty) {
        doc.pop();
    }
    doc
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
            ("--- doc\n\n--- more\nreturn 1", &["doc", "", "more"]),
            ("--- doc \r\nreturn 1", &["doc"]),
            ("local x = 1\n--- late\nreturn x", &[]),
            (
                "--[[ block\n--- no\n]]",
                &["```text", "block", "--- no", "```"],
            ),
            (
                "--[[\n  Adds a job.\n\n    Input:\n      KEYS[1] 'wait'\n]]\n--- More.\n-- @key k\n",
                &[
                    "```text",
                    "Adds a job.",
                    "",
                    "  Input:",
                    "    KEYS[1] 'wait'",
                    "```",
                    "More.",
                ],
            ),
            ("--- @return integer\n--- Doc.", &["Doc."]),
        ];
        for (src, want) in table {
            assert_eq!(header_doc(src), *want, "{src:?}");
        }
    }
}
