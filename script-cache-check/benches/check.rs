//! How long the checker takes on large scripts: `cargo bench -p
//! script-cache-check --bench check` (release build; the macros run it in
//! the profile of the build that uses them, see the test
//! `large_inputs_are_fast` of script-cache-macros for a debug build).
//!
//! Prints, for a 1 MB and a 10 MB script (the workspace's scripts repeated
//! as functions), the median of 5 runs of each stage: the Lua
//! 5.1.5 verdict (`check_syntax`), the lexer and the `KEYS`/`ARGV` usage.
//! Then the lint (`lint::lint`) on 200 scripts (the workspace's `lua/`
//! scripts round-robin, as the suite's build-cost benchmark generates
//! them), against `check_syntax` on the same 200: what the lint adds to a
//! build, per script.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

fn script(bytes: usize) -> Vec<u8> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/lua");
    let mut parts = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("tests/lua")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for path in entries {
        let mut text = std::fs::read(&path).expect("read");
        if text.starts_with(b"#!") {
            text.splice(..2, *b"--"); // the shebang, as a comment
        }
        // Each script is wrapped in a function, so `return` ends a block
        // (and no local of the main chunk piles up: Lua allows 32767).
        let mut part = b"fns[#fns + 1] = function()\n".to_vec();
        part.extend_from_slice(&text);
        part.extend_from_slice(b"\nend\n");
        parts.push(part);
    }
    let mut out = Vec::new();
    let mut i = 0;
    while out.len() < bytes {
        out.extend_from_slice(&parts[i % parts.len()]);
        i += 1;
    }
    out.extend_from_slice(b"return KEYS[1]\n");
    out
}

fn median(mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..5)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[2]
}

fn main() {
    for (label, size) in [("1 MB", 1 << 20), ("10 MB", 10 << 20)] {
        let src = script(size);
        assert_eq!(script_cache_check::check_syntax(&src), Ok(()));
        let verdict = median(|| {
            script_cache_check::check_syntax(&src).unwrap();
        });
        let lexed = script_cache_check::lex::lex(&src);
        let lex = median(|| {
            std::hint::black_box(script_cache_check::lex::lex(&src));
        });
        let usage = median(|| {
            std::hint::black_box(script_cache_check::usage::usage(&src, &lexed).unwrap());
        });
        println!(
            "{label} script ({} bytes, {} lines): check_syntax {verdict:.2?}, lex {lex:.2?}, \
             usage {usage:.2?}, total {:.2?}",
            src.len(),
            lexed.line_starts.len(),
            verdict + lex + usage
        );
    }
    lint_200();
}

fn lint_200() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../lua");
    let mut originals: Vec<String> = std::fs::read_dir(dir)
        .expect("lua/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "lua"))
        .map(|p| std::fs::read_to_string(p).expect("read"))
        .filter(|t| !t.contains("@include"))
        .collect();
    originals.sort();
    let scripts: Vec<(String, Vec<String>)> = (0..200)
        .map(|i| {
            let text = format!("{}\n-- copy {i}\n", originals[i % originals.len()]);
            // The flags as the macros have them: read once, before the lint.
            let flags = script_cache_check::shebang::parse(text.as_bytes())
                .ok()
                .flatten()
                .map(|s| s.flags)
                .unwrap_or_default();
            (text, flags)
        })
        .collect();
    let bytes: usize = scripts.iter().map(|(t, _)| t.len()).sum();
    let lint = median(|| {
        for (text, flags) in &scripts {
            assert!(script_cache_check::lint::lint(text, flags).is_empty());
        }
    });
    let verdict = median(|| {
        for (text, _) in &scripts {
            script_cache_check::check_syntax(text.as_bytes()).unwrap();
        }
    });
    println!(
        "200 scripts ({bytes} bytes): lint {lint:.2?} ({:.0} µs a script), check_syntax \
         {verdict:.2?} ({:.0} µs a script)",
        lint.as_secs_f64() * 1e6 / 200.0,
        verdict.as_secs_f64() * 1e6 / 200.0,
    );
}
