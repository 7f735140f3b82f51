//! Bounded property tests of the checker, in CI (`cargo test`): the
//! per-file analysis the macros and the command line share (shebang,
//! include expansion, Lua 5.1 verdict, arity, header, typed call), include
//! expansion alone, the header reader, and the syntax verdict. Inputs are
//! built from Lua's own tokens, header tags, include directives and hostile
//! bytes, bounded in size (at most 48 pieces), so no case can hang; every
//! case must return without panicking and keep the invariants below.
//!
//! Each property runs a fixed number of cases (its `Config`, whatever
//! `PROPTEST_CASES` says) and prints it with its time:
//! `cargo test -p script-cache-check --test properties -- --nocapture`.

use std::path::Path;
use std::time::Instant;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use script_cache_check::analysis::{analyze, syntax_and_usage};
use script_cache_check::folder::{Folder, LuaFile, MANIFEST_DIR};
use script_cache_check::include::{self, ReadError};
use script_cache_check::{Diagnostic, Target, check_syntax, check_syntax_for, header};

/// Cases per property (explicit: `PROPTEST_CASES` does not change them).
const ANALYSIS_CASES: u32 = 20_000;
const INCLUDE_CASES: u32 = 20_000;
const HEADER_CASES: u32 = 20_000;
const SYNTAX_CASES: u32 = 15_000;

/// Pieces a script is made of: Lua tokens, header tags, include directives
/// (of snippets that exist, that do not, that include themselves, that
/// leave the folder), shebangs and hostile bytes.
const PIECES: &[&str] = &[
    "local ",
    "x",
    " = ",
    "KEYS",
    "ARGV",
    "[",
    "]",
    "1",
    "2",
    "99999999999999999999",
    "(",
    ")",
    "{",
    "}",
    "if ",
    " then ",
    "end",
    "function ",
    "return ",
    "redis.call('SET', KEYS[1], ARGV[1])",
    "redis.call('GET', KEYS[i])",
    "--",
    "--[[",
    "]]",
    "[=[",
    "]=]",
    "\"",
    "'",
    "\\",
    "\r",
    "\n",
    "\n",
    "\0",
    "#!lua",
    "#!lua flags=no-writes\n",
    " flags=",
    "no-writes",
    ",",
    "--- A doc line.\n",
    "-- @key ",
    "-- @key counter the counter\n",
    "-- @key route (routing)\n",
    "-- @arg ",
    "-- @arg by how much\n",
    "-- @arg rest...\n",
    "-- @arg type\n",
    "-- @return ",
    "-- @return integer\n",
    "-- @return nil-or-string\n",
    "-- @return table\n",
    "-- @include \"",
    "-- @include \"lib/ok.lua\"\n",
    "-- @include \"lib/nested.lua\"\n",
    "-- @include \"lib/cycle.lua\"\n",
    "-- @include \"lib/missing.lua\"\n",
    "-- @include \"../outside.lua\"\n",
    "-- @include \"lib\"\n",
    "...",
    "..",
    "0x1p4",
    "`",
    "é",
    "\u{FEFF}",
    "@",
    " ",
    "\t",
];

/// A script: up to 48 pieces.
fn script() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(PIECES), 0..48).prop_map(|p| p.concat())
}

/// Raw bytes: pieces, or arbitrary bytes (up to 200).
fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        script().prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..200),
    ]
}

/// Runs `cases` cases of `test` on `strategy` and prints the count and
/// the time; fails on the first counterexample (after shrinking) or panic.
fn run<S: Strategy>(
    name: &str,
    cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let started = Instant::now();
    let mut runner = TestRunner::new(config);
    if let Err(e) = runner.run(&strategy, test) {
        panic!("{name}: {e}");
    }
    eprintln!(
        "PROPERTY {name}: {cases} cases in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// A script folder on disk with the snippets the pieces include.
fn folder() -> (tempfile::TempDir, Folder) {
    let dir = tempfile::tempdir().expect("tempdir");
    let lua = dir.path().join("lua");
    std::fs::create_dir_all(lua.join("lib")).expect("mkdir");
    let write = |rel: &str, text: &str| std::fs::write(lua.join(rel), text).expect("write");
    write(
        "lib/ok.lua",
        "local function helper(k) return redis.call('GET', k) end\n",
    );
    write(
        "lib/nested.lua",
        "-- @include \"lib/ok.lua\"\nlocal y = 2\n",
    );
    write("lib/cycle.lua", "-- @include \"lib/cycle.lua\"\n");
    std::fs::write(dir.path().join("outside.lua"), "return 1\n").expect("write");
    let folder = Folder {
        written: "lua/".to_owned(),
        abs: lua,
        relative_to: MANIFEST_DIR.to_owned(),
        config: Default::default(),
    };
    (dir, folder)
}

/// Lines as Lua counts them: `\n`, `\r`, `\r\n` and `\n\r` each end one.
fn lines(text: &[u8]) -> usize {
    let mut n = 1;
    let mut i = 0;
    while i < text.len() {
        if let b @ (b'\n' | b'\r') = text[i] {
            n += 1;
            if matches!(text.get(i + 1), Some(&c) if (c == b'\n' || c == b'\r') && c != b) {
                i += 1;
            }
        }
        i += 1;
    }
    n
}

/// The per-file analysis: any text is analyzed without panicking; a file
/// with no problem has a Lua-valid expanded source, an arity, a typed
/// call name and signature; every problem is rendered with its file.
#[test]
fn analysis_is_total() {
    let (_dir, folder) = folder();
    run("analysis", ANALYSIS_CASES, script(), |text| {
        let file = LuaFile {
            file: "x.lua".to_owned(),
            stem: "x".to_owned(),
            abs: folder.abs.join("x.lua"),
            source: Some(text.clone()),
        };
        let mut errors = Vec::new();
        let a = analyze(&folder, &file, &mut errors);
        prop_assert_eq!(&a.original, &text);
        for e in &errors {
            prop_assert!(e.file.starts_with("lua/"), "names the file: {}", e);
        }
        if errors.is_empty() {
            prop_assert!(check_syntax(a.expanded.source.as_bytes()).is_ok());
            prop_assert!(a.usage.is_some());
            prop_assert!(a.fn_name.is_some());
            prop_assert!(a.signature.is_some());
        }
        // Every line of the expanded source maps back to a file and line.
        for line in 1..=lines(a.expanded.source.as_bytes()) {
            if let Some((file, at)) = a.expanded.locate(line) {
                prop_assert!(at >= 1 && !file.is_empty());
            }
        }
        Ok(())
    });
}

/// Include expansion with an in-memory folder: never panics, problems have
/// 1-based positions, an expansion without problems has no directive left
/// of a file it included, and each included file is listed once.
#[test]
fn include_expansion_is_total() {
    let snippets = ["lib/ok.lua", "lib/nested.lua", "lib/cycle.lua"];
    run(
        "include expansion",
        INCLUDE_CASES,
        (script(), script()),
        |(text, snippet)| {
            let mut read = |rel: &str| -> Result<String, ReadError> {
                match rel {
                    "lib/ok.lua" => Ok(snippet.clone()),
                    "lib/nested.lua" => Ok(format!("-- @include \"lib/ok.lua\"\n{snippet}")),
                    "lib/cycle.lua" => Ok("-- @include \"lib/cycle.lua\"\n".to_owned()),
                    _ => Err(ReadError::Missing(vec!["lib/ok.lua".to_owned()])),
                }
            };
            let (expanded, problems) = include::expand("x.lua", &text, &mut read);
            for p in &problems {
                prop_assert!(p.line >= 1 && p.column >= 1, "{:?}", p);
                prop_assert!(!p.message.is_empty());
            }
            let mut seen = expanded.included.clone();
            seen.sort();
            seen.dedup();
            prop_assert_eq!(seen.len(), expanded.included.len(), "listed once");
            for file in &expanded.included {
                prop_assert!(snippets.contains(&file.as_str()), "{}", file);
                prop_assert!(expanded.chain(file).is_some());
            }
            if expanded.included.is_empty() {
                prop_assert_eq!(&expanded.source, &text);
            }
            Ok(())
        },
    );
}

/// The header reader: never panics; problems point into the file at a
/// 1-based column; every parameter has a name, an identifier and a line
/// of the file.
#[test]
fn header_is_total() {
    run("header", HEADER_CASES, script(), |text| {
        let (h, problems) = header::parse(&text);
        let n = lines(text.as_bytes());
        for p in &problems {
            prop_assert!(
                p.line >= 1 && p.line <= n && p.column >= 1,
                "{:?} in {:?}",
                p,
                text
            );
        }
        for param in h.keys.iter().chain(&h.args) {
            prop_assert!(!param.name.is_empty() && !param.ident.is_empty());
            prop_assert!(param.line >= 1 && param.line <= n);
        }
        if let Some(r) = &h.returns {
            prop_assert!(r.line >= 1 && r.line <= n);
            let _ = r.ty.rust();
        }
        Ok(())
    });
}

/// The syntax verdict on any bytes: never panics; an error has a line of
/// the input and renders with its file; the per-target verdicts and
/// `syntax_and_usage` agree with it on valid UTF-8 without a shebang.
#[test]
fn syntax_verdict_is_total() {
    run("syntax verdict", SYNTAX_CASES, bytes(), |input| {
        let verdict = check_syntax(&input);
        let lines = lines(&input);
        if let Err(e) = &verdict {
            prop_assert!(e.line >= 1 && e.line as usize <= lines, "{e}");
            let shown = Diagnostic::new("lua/x.lua", e.line, e.column, e.message.clone())
                .with_source(&input)
                .to_string();
            prop_assert!(shown.contains("--> lua/x.lua:"), "{}", shown);
        }
        for target in [Target::Redis6, Target::Redis7, Target::Valkey] {
            let _ = check_syntax_for(&input, target);
        }
        if let Ok(text) = std::str::from_utf8(&input)
            && !text.starts_with("#!")
            && let Err((at, _)) = syntax_and_usage(text)
        {
            prop_assert!(at.0 >= 1);
        }
        Ok(())
    });
}

#[test]
fn the_folder_helper_is_where_it_says() {
    let (_dir, folder) = folder();
    assert!(Path::new(&folder.abs).join("lib/ok.lua").is_file());
    assert_eq!(folder.show("x.lua"), "lua/x.lua");
}
