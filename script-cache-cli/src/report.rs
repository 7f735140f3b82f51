//! A folder's diagnostics as `check` reports them: JSON (the fields of
//! `script_cache_check::Diagnostic`), SARIF 2.1.0 for code-scanning
//! uploads, and GitHub workflow commands (annotations). docs/cli.md
//! documents each; the fields are stable.

use script_cache_check::lint::Rule;
use script_cache_check::{Diagnostic, Severity};

/// The rule id of the checker's own problems (syntax, shebang, includes,
/// header, file names) in SARIF: they belong to no lint rule.
pub(crate) const CHECK_RULE: &str = "script-check";

/// One diagnostic as JSON: where (file, line, column in characters, end),
/// severity, rule, message, help, notes; `location` (`file:line:col`) and
/// `rendered` (the text the macros show) for convenience.
pub(crate) fn diagnostic_json(d: &Diagnostic) -> serde_json::Value {
    let line = (d.line > 0).then_some(d.line);
    serde_json::json!({
        "file": d.file,
        "line": line,
        "column": line.and(d.column),
        "end_line": d.end_line,
        "end_column": d.end_column,
        "severity": d.severity.name(),
        "rule": d.rule,
        "message": d.message,
        "help": d.help,
        "notes": d.notes,
        "location": d.location(),
        "rendered": d.to_string(),
    })
}

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// A relative path as a URI reference: `/`-separated, with the characters
/// a URI cannot hold percent-encoded.
fn uri(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        match c {
            'A'..='Z' | 'a'..='z' | '0'..='9' | '-' | '.' | '_' | '~' | '/' => out.push(c),
            '\\' => out.push('/'),
            c => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
        }
    }
    out
}

/// The SARIF 2.1.0 log of one `check` run: one run whose tool lists every
/// lint rule (its help, its default level) and the checker's own
/// problems as `script-check`; one result per diagnostic, columns in
/// Unicode code points (characters).
pub(crate) fn sarif(errors: &[Diagnostic], warnings: &[Diagnostic]) -> serde_json::Value {
    let mut rules: Vec<serde_json::Value> = Rule::ALL
        .iter()
        .map(|r| {
            serde_json::json!({
                "id": r.name(),
                "shortDescription": { "text": r.help() },
                "help": {
                    "text": format!(
                        "{} To accept a finding, add `-- script-cache: allow({})` on its line \
                         or the one above (`allow-file(...)` for the whole file).",
                        r.help(),
                        r.name()
                    )
                },
                "defaultConfiguration": { "level": level(r.severity()) },
            })
        })
        .collect();
    rules.push(serde_json::json!({
        "id": CHECK_RULE,
        "shortDescription": {
            "text": "What the servers would refuse when loading the script, or what the \
                     embedded enum cannot be generated from: Lua 5.1 syntax, the shebang, \
                     includes, the header, file names."
        },
        "help": {
            "text": "Each result says how to fix it; these problems cannot be silenced."
        },
        "defaultConfiguration": { "level": "error" },
    }));
    let index = |rule: &str| {
        Rule::ALL
            .iter()
            .position(|r| r.name() == rule)
            .unwrap_or(Rule::ALL.len())
    };
    let results: Vec<serde_json::Value> = errors
        .iter()
        .chain(warnings)
        .map(|d| {
            let rule = d.rule.unwrap_or(CHECK_RULE);
            let mut text = d.message.clone();
            if let Some(help) = &d.help {
                text.push_str("\nhelp: ");
                text.push_str(help);
            }
            for note in &d.notes {
                text.push_str("\nnote: ");
                text.push_str(note);
            }
            let mut physical = serde_json::json!({
                "artifactLocation": { "uri": uri(&d.file) },
            });
            if d.line > 0 {
                let mut region = serde_json::json!({ "startLine": d.line });
                if let Some(c) = d.column {
                    region["startColumn"] = c.into();
                }
                if let Some(l) = d.end_line {
                    region["endLine"] = l.into();
                }
                if let Some(c) = d.end_column {
                    region["endColumn"] = c.into();
                }
                physical["region"] = region;
            }
            serde_json::json!({
                "ruleId": rule,
                "ruleIndex": index(rule),
                "level": level(d.severity),
                "message": { "text": text },
                "locations": [{ "physicalLocation": physical }],
            })
        })
        .collect();
    serde_json::json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "script-cache",
                    "version": env!("CARGO_PKG_VERSION"),
                    "informationUri": env!("CARGO_PKG_REPOSITORY"),
                    "rules": rules,
                }
            },
            "columnKind": "unicodeCodePoints",
            "results": results,
        }]
    })
}

/// A workflow command's message: `%`, CR and LF escaped.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow command's property value: also `:` and `,`.
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// One diagnostic as a GitHub workflow command, an annotation on the
/// file and line: `::error file=lua/x.lua,line=3,col=7,title=...::message`
/// (help and notes on the following lines of the message).
pub(crate) fn github(d: &Diagnostic) -> String {
    let kind = match d.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let mut props = vec![format!("file={}", escape_property(&d.file))];
    if d.line > 0 {
        props.push(format!("line={}", d.line));
        if let Some(c) = d.column {
            props.push(format!("col={c}"));
        }
        if let Some(l) = d.end_line {
            props.push(format!("endLine={l}"));
        }
        if let Some(c) = d.end_column {
            props.push(format!("endColumn={c}"));
        }
    }
    let title = match d.rule {
        Some(rule) => format!("script-cache lint: {rule}"),
        None => "script-cache".to_owned(),
    };
    props.push(format!("title={}", escape_property(&title)));
    let mut message = d.message.clone();
    if let Some(help) = &d.help {
        message.push_str("\nhelp: ");
        message.push_str(help);
    }
    for note in &d.notes {
        message.push_str("\nnote: ");
        message.push_str(note);
    }
    format!("::{kind} {}::{}", props.join(","), escape_data(&message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_commands_escape_what_they_must() {
        let d = Diagnostic::new("lua/a,b.lua", 3, Some(7), "100% wrong\nreally")
            .with_rule("unknown-command")
            .with_help("fix: it");
        assert_eq!(
            github(&d),
            "::error file=lua/a%2Cb.lua,line=3,col=7,title=script-cache lint%3A \
             unknown-command::100%25 wrong%0Areally%0Ahelp: fix: it"
        );
        let w = Diagnostic::file("lua/x.LUA", "not a script").with_severity(Severity::Warning);
        assert_eq!(
            github(&w),
            "::warning file=lua/x.LUA,title=script-cache::not a script"
        );
    }

    #[test]
    fn json_fields() {
        let d = Diagnostic::new("lua/é.lua", 2, Some(4), "m")
            .with_rule("index-zero")
            .with_severity(Severity::Warning)
            .with_note("n")
            .with_end(2, 11);
        let j = diagnostic_json(&d);
        assert_eq!(j["file"], "lua/é.lua");
        assert_eq!(
            (j["line"].as_u64(), j["column"].as_u64()),
            (Some(2), Some(4))
        );
        assert_eq!(
            (j["end_line"].as_u64(), j["end_column"].as_u64()),
            (Some(2), Some(11))
        );
        assert_eq!(j["severity"], "warning");
        assert_eq!(j["rule"], "index-zero");
        assert_eq!(j["notes"][0], "n");
        assert_eq!(j["location"], "lua/é.lua:2:4");
        assert!(j["help"].is_null());
        assert_eq!(uri("lua/é x.lua"), "lua/%C3%A9%20x.lua");
    }
}
