//! What the `return-type` rule adds to the lint, side by side in one run:
//! the lint on the 200 scripts of the `check` benchmark (the workspace's
//! `lua/` scripts round-robin, each with a `-- @return` line), and on the
//! same 200 with that line renamed (`-- @result`, which no rule reads),
//! so that `return-type` has nothing to check.
//!
//! ```text
//! cargo run --release -p script-cache-check --example lint_return_cost
//! cargo run --release -p script-cache-check --example lint_return_cost -- with 2
//! ```
//!
//! Without arguments: the median of 9 interleaved runs of each. With
//! `with N` or `without N`: lints the 200 scripts N times and nothing else,
//! for `valgrind --tool=callgrind` (per script = (Ir(N=2) - Ir(N=1)) / 200).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

fn scripts(with_return: bool) -> Vec<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../lua");
    let mut originals: Vec<String> = std::fs::read_dir(dir)
        .expect("lua/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "lua"))
        .map(|p| std::fs::read_to_string(p).expect("read"))
        .filter(|t| !t.contains("@include"))
        .collect();
    originals.sort();
    assert!(originals.iter().all(|t| t.contains("-- @return ")));
    (0..200)
        .map(|i| {
            let text = format!("{}\n-- copy {i}\n", originals[i % originals.len()]);
            if with_return {
                text
            } else {
                text.replace("-- @return ", "-- @result ")
            }
        })
        .collect()
}

fn lint_all(scripts: &[String]) {
    for text in scripts {
        assert!(script_cache_check::lint::lint_script(text).is_empty());
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [mode, n] = &args[..] {
        let s = scripts(mode == "with");
        for _ in 0..n.parse::<usize>().expect("a count") {
            lint_all(&s);
        }
        return;
    }
    let with = scripts(true);
    let without = scripts(false);
    let (mut a, mut b): (Vec<Duration>, Vec<Duration>) = (Vec::new(), Vec::new());
    for _ in 0..9 {
        let t = Instant::now();
        lint_all(&with);
        a.push(t.elapsed());
        let t = Instant::now();
        lint_all(&without);
        b.push(t.elapsed());
    }
    a.sort();
    b.sort();
    let (a, b) = (a[4], b[4]);
    println!(
        "200 scripts: lint with @return {a:.2?} ({:.0} µs a script), without {b:.2?} ({:.0} µs a \
         script), ratio {:.3}",
        a.as_secs_f64() * 1e6 / 200.0,
        b.as_secs_f64() * 1e6 / 200.0,
        a.as_secs_f64() / b.as_secs_f64()
    );
}
