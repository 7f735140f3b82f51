//! `-- @include` against real servers: the embedded source is the expanded
//! one (its SHA-1 is what `SCRIPT LOAD` answers), and a Lua error raised
//! inside a snippet names the snippet's file and line.
//!
//! Fixture: `tests/fixtures/includes/main.lua` includes `lib/util.lua`,
//! which includes `lib/strings.lua`; `main.lua` includes `lib/strings.lua`
//! again, which expands to nothing (each file once per script).

use script_cache::prelude::*;
use script_cache::{Error, ScriptCache, SourceLocation};
use script_cache_tests::matrix;

script_cache::include_scripts!("fixtures/includes");

/// The line of `error(..)` in `fixtures/includes/lib/util.lua`.
const ERROR_LINE: u32 = 6;

fn fixture(file: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/includes")
        .join(file);
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn snippets_are_not_scripts_and_the_source_is_expanded() {
    assert_eq!(Scripts::ALL, [Scripts::Main]);
    let source = Scripts::Main.source();
    assert!(source.contains(&fixture("lib/util.lua")[..40]), "{source}");
    assert!(source.contains("local function quote(s)"), "{source}");
    assert!(!source.contains("-- @include \"lib/util.lua\""), "{source}");
    // The second include of strings.lua stays as a comment, once.
    assert_eq!(source.matches("local function quote").count(), 1);
    assert!(
        source.contains("-- @include \"lib/strings.lua\""),
        "{source}"
    );
    let sha = sha1_smol::Sha1::from(source.as_bytes())
        .digest()
        .to_string();
    assert_eq!(Scripts::Main.sha1(), sha);
    assert_ne!(
        Scripts::Main.sha1(),
        sha1_smol::Sha1::from(fixture("main.lua").as_bytes())
            .digest()
            .to_string()
    );
    // Every line of the expanded source maps back to where it came from.
    let meta = Scripts::Main.meta();
    let lines: Vec<&str> = source.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let at = meta.locate(i as u32 + 1).expect("every line is located");
        let original = fixture(&at.file);
        let want = original.lines().nth(at.line as usize - 1).unwrap();
        assert_eq!(*line, want, "expanded line {} from {at}", i + 1);
    }
    assert_eq!(meta.locate(lines.len() as u32 + 1), None);
}

matrix! {
    fn sha1_is_what_script_load_answers(server) {
        let mut con = server.connection();
        let sha: String = redis::cmd("SCRIPT")
            .arg("LOAD")
            .arg(Scripts::Main.source())
            .query(&mut con)
            .unwrap();
        assert_eq!(sha, Scripts::Main.sha1());
    }

    fn included_code_runs(server) {
        let mut con = ScriptCache::new(server.connection());
        let n = Scripts::main("target", "42").invoke(&mut con).expect("a number");
        assert_eq!(n, 42);
        let stored: i64 = redis::cmd("GET").arg("target").query(&mut con).unwrap();
        assert_eq!(stored, 42);
    }

    fn runtime_error_names_the_snippet_and_its_line(server) {
        let mut con = ScriptCache::new(server.connection());
        let err = Scripts::main("target", "forty-two")
            .invoke(&mut con)
            .expect_err("not a number");
        let want = SourceLocation { file: "lib/util.lua".to_owned(), line: ERROR_LINE };
        match &err {
            Error::Script { script, message, location, line, .. } => {
                assert_eq!(location.as_ref(), Some(&want), "{err}");
                assert_eq!(&*script.name, "main");
                assert!(message.contains("not a number: 'forty-two'"), "{message}");
                // The server blamed a line of the expanded source.
                let blamed = line.expect("the server names a line");
                assert_eq!(Scripts::Main.meta().locate(blamed), Some(want.clone()));
                assert_ne!(blamed, ERROR_LINE, "expanded and original lines differ");
            }
            other => panic!("expected Error::Script, got {other:?}"),
        }
        let shown = err.to_string();
        assert!(shown.contains(&format!("lib/util.lua:{ERROR_LINE}")), "{shown}");
    }
}
