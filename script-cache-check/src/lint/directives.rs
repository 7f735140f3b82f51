//! The `-- script-cache:` directives (`allow`, `allow-file`, `servers`),
//! read from the comments the lexer (`crate::lex`) finds: the same comments
//! Lua skips, never text inside a string.

use super::{ALL_SERVERS, Finding, Rule, did_you_mean, same, servers_list_names};

/// What the `-- script-cache:` comments of a file say.
pub(super) struct Directives {
    pub(super) servers: u8,
    /// The folder's targets, which `servers(...)` narrows.
    pub(super) project: u8,
    /// (line, rule) silenced on that line and the next.
    lines: Vec<(u32, Rule)>,
    file: Vec<Rule>,
    pub(super) problems: Vec<Finding>,
}

impl Directives {
    pub(super) fn read(text: &str, project: u8) -> Directives {
        let project = if project & ALL_SERVERS == 0 {
            ALL_SERVERS
        } else {
            project & ALL_SERVERS
        };
        let mut d = Directives {
            servers: project,
            project,
            lines: Vec::new(),
            file: Vec::new(),
            problems: Vec::new(),
        };
        for (line, column, comment) in comments(text) {
            d.comment(comment, line, column);
        }
        d
    }

    fn comment(&mut self, text: &str, line: u32, column: u32) {
        let Some(rest) = text.trim().strip_prefix("script-cache:") else {
            return;
        };
        let rest = rest.trim();
        let problem = |message: String| Finding {
            rule: Rule::Directive,
            line,
            column,
            message,
            help: "write `-- script-cache: allow(rule)`, `-- script-cache: allow-file(rule)` \
                   or `-- script-cache: servers(redis-8.2, valkey-9.1)`"
                .to_owned(),
        };
        let Some((verb, list)) = rest
            .strip_suffix(')')
            .and_then(|r| r.split_once('('))
            .map(|(v, l)| (v.trim(), l))
        else {
            self.problems
                .push(problem(format!("cannot read the directive `{rest}`")));
            return;
        };
        let items: Vec<&str> = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        match verb {
            "allow" | "allow-file" => {
                for item in items {
                    match Rule::from_name(item).filter(|r| *r != Rule::Directive) {
                        Some(rule) if verb == "allow" => self.lines.push((line, rule)),
                        Some(rule) => self.file.push(rule),
                        None => {
                            let names: Vec<&str> = Rule::ALL
                                .iter()
                                .filter(|r| **r != Rule::Directive)
                                .map(|r| r.name())
                                .collect();
                            self.problems.push(problem(format!(
                                "unknown lint rule `{item}`{}; the rules are {}",
                                did_you_mean(item, names.iter().copied(), same),
                                names.join(", ")
                            )));
                        }
                    }
                }
            }
            "servers" => {
                let mut mask = 0;
                for item in items {
                    match crate::servers::index_of(item) {
                        Ok(i) if self.project & (1 << i) == 0 => {
                            self.problems.push(problem(format!(
                                "`{item}` is not among the servers the folder's \
                                 script-cache.toml declares ({}): a file can only narrow them",
                                servers_list_names(self.project)
                            )));
                        }
                        Ok(i) => mask |= 1 << i,
                        Err(e) => self.problems.push(problem(e)),
                    }
                }
                if mask != 0 {
                    self.servers = mask;
                }
            }
            other => self.problems.push(problem(format!(
                "unknown directive `{other}`; the directives are allow, allow-file and servers"
            ))),
        }
    }

    pub(super) fn allows(&self, f: &Finding) -> bool {
        f.rule != Rule::Directive
            && (self.file.contains(&f.rule)
                || self
                    .lines
                    .iter()
                    .any(|(line, rule)| *rule == f.rule && (f.line == *line || f.line == line + 1)))
    }
}

/// The comments of `text` (line, column in characters, text after `--`
/// without the brackets of a long comment), as the lexer found them.
fn comments(text: &str) -> Vec<(u32, u32, &str)> {
    let bytes = text.as_bytes();
    let lexed = crate::lex::lex(bytes);
    lexed
        .comments
        .iter()
        .map(|c| {
            (
                c.line,
                lexed.column(bytes, c.line, c.start),
                text.get(c.text.clone()).unwrap_or(""),
            )
        })
        .collect()
}
