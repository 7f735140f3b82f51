//! `script-cache check --format sarif` is a valid SARIF 2.1.0 log: checked
//! against the official schema (tests/sarif/, see its README), and
//! `--format github` gives one workflow command per diagnostic.

use std::process::Command;

/// A folder with an error (an unknown command), a warning (a key not in
/// KEYS), a syntax error after a non-ASCII character and a file that is
/// not a script.
fn folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(p.join("typo.lua"), "return redis.call('GETT', KEYS[1])\n").unwrap();
    std::fs::write(p.join("literal.lua"), "return redis.call('GET', 'k')\n").unwrap();
    std::fs::write(p.join("syntax.lua"), "local s = 'é' local = 1\n").unwrap();
    std::fs::write(p.join("Other.LUA"), "return 1\n").unwrap();
    dir
}

fn check(dir: &str, format: &str) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_script-cache"))
        .args(["check", dir, "--format", format])
        .output()
        .unwrap();
    (out.status.code(), String::from_utf8(out.stdout).unwrap())
}

#[test]
fn sarif_output_is_valid_sarif_2_1_0() {
    let schema: serde_json::Value = serde_json::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/sarif/sarif-schema-2.1.0.json"
    )))
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let dir = folder();
    let d = dir.path().to_str().unwrap();
    let (code, stdout) = check(d, "sarif");
    assert_eq!(code, Some(1), "{stdout}");
    let log: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let problems: Vec<String> = validator
        .iter_errors(&log)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(problems.is_empty(), "{problems:#?}\n{stdout}");

    // What the log says, beyond being valid.
    assert_eq!(log["version"], "2.1.0");
    let run = &log["runs"][0];
    assert_eq!(run["columnKind"], "unicodeCodePoints");
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let rule = |id: &str| rules.iter().position(|r| r["id"] == id).unwrap();
    let unknown = &rules[rule("unknown-command")];
    assert!(
        unknown["help"]["text"]
            .as_str()
            .unwrap()
            .contains("allow(unknown-command)"),
        "{unknown}"
    );
    assert_eq!(unknown["defaultConfiguration"]["level"], "error");
    let results = run["results"].as_array().unwrap();
    let find = |rule_id: &str| {
        results
            .iter()
            .find(|r| r["ruleId"] == rule_id)
            .unwrap_or_else(|| panic!("no {rule_id} in {results:#?}"))
    };
    let typo = find("unknown-command");
    assert_eq!(typo["level"], "error");
    assert_eq!(typo["ruleIndex"], rule("unknown-command"));
    let region = &typo["locations"][0]["physicalLocation"]["region"];
    assert_eq!(
        (region["startLine"].as_u64(), region["startColumn"].as_u64()),
        (Some(1), Some(19))
    );
    // The end of the `'GETT'` token (exclusive).
    assert_eq!(
        (region["endLine"].as_u64(), region["endColumn"].as_u64()),
        (Some(1), Some(25))
    );
    assert_eq!(find("key-not-in-keys")["level"], "warning");
    // The syntax error: its column counts the `é` as one character.
    let syntax = results
        .iter()
        .find(|r| {
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                .as_str()
                .is_some_and(|u| u.ends_with("syntax.lua"))
        })
        .unwrap();
    assert_eq!(syntax["ruleId"], "script-check");
    let region = &syntax["locations"][0]["physicalLocation"]["region"];
    assert_eq!(region["startColumn"], 21, "{syntax:#}"); // bytes would say 22
    // A file-level warning has no region.
    let other = results
        .iter()
        .find(|r| {
            r["message"]["text"]
                .as_str()
                .unwrap()
                .contains("is not a script")
        })
        .unwrap();
    assert!(other["locations"][0]["physicalLocation"]["region"].is_null());
}

#[test]
fn an_empty_log_is_valid_too() {
    let schema: serde_json::Value = serde_json::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/sarif/sarif-schema-2.1.0.json"
    )))
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ok.lua"), "return KEYS[1]\n").unwrap();
    let (code, stdout) = check(dir.path().to_str().unwrap(), "sarif");
    assert_eq!(code, Some(0), "{stdout}");
    let log: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(validator.is_valid(&log), "{stdout}");
    assert_eq!(log["runs"][0]["results"].as_array().map(Vec::len), Some(0));
}

#[test]
fn github_annotations_one_per_diagnostic() {
    let dir = folder();
    let d = dir.path().to_str().unwrap();
    let (code, stdout) = check(d, "github");
    assert_eq!(code, Some(1), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    let (_, json) = check(d, "json");
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    let count = doc["errors"].as_array().unwrap().len() + doc["warnings"].as_array().unwrap().len();
    assert_eq!(lines.len(), count, "{stdout}");
    let typo = lines
        .iter()
        .find(|l| l.contains("unknown-command"))
        .unwrap();
    assert!(
        typo.starts_with(&format!(
            "::error file={d}/typo.lua,line=1,col=19,endLine=1,endColumn=25,title="
        )),
        "{typo}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("::warning file=")),
        "{stdout}"
    );
    // `list` has no such format.
    let out = Command::new(env!("CARGO_BIN_EXE_script-cache"))
        .args(["list", d, "--format", "sarif"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
