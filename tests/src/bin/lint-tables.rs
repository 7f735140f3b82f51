//! Writes `script-cache-check/src/lint/tables.rs`, the script lint's
//! command and Lua-globals tables, from what Redis 6.2, 7.0, 8.2 and
//! Valkey 8.1, 9.1 say (`COMMAND`, `COMMAND DOCS`, the `EVAL` environment).
//!
//! ```text
//! cargo run -p script-cache-tests --bin lint-tables            # write the file
//! cargo run -p script-cache-tests --bin lint-tables -- --check # compare, exit 1 if it differs
//! ```
//!
//! The servers come from `bash scripts/install-servers.sh`; each runs on a
//! free loopback port and is killed on exit. A summary of the differences
//! between the servers goes to stderr.

use script_cache_tests::lint_tables::{diff_summary, tables_path, try_generate};
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut check = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--check" => check = true,
            "-h" | "--help" => {
                println!("usage: lint-tables [--check]");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("lint-tables: unknown argument {other:?} (usage: lint-tables [--check])");
                return ExitCode::from(2);
            }
        }
    }
    let generated = match try_generate() {
        Ok(g) => g,
        Err(e) => {
            eprintln!("lint-tables: {e}");
            return ExitCode::from(2);
        }
    };
    eprint!("{}", generated.summary);
    let path = tables_path();
    if check {
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed == generated.text {
            eprintln!("lint-tables: {} is up to date", path.display());
            return ExitCode::SUCCESS;
        }
        eprintln!(
            "lint-tables: {} is not what the servers say: run \
             `cargo run -p script-cache-tests --bin lint-tables`\n{}",
            path.display(),
            diff_summary(&committed, &generated.text)
        );
        return ExitCode::FAILURE;
    }
    if let Some(dir) = path.parent()
        && let Err(e) = std::fs::create_dir_all(dir)
    {
        eprintln!("lint-tables: cannot create {}: {e}", dir.display());
        return ExitCode::from(2);
    }
    // The text is already rustfmt's (`try_generate` formats it), so
    // `cargo fmt --all --check` agrees with what is written.
    if let Err(e) = std::fs::write(&path, &generated.text) {
        eprintln!("lint-tables: cannot write {}: {e}", path.display());
        return ExitCode::from(2);
    }
    eprintln!("lint-tables: wrote {}", path.display());
    ExitCode::SUCCESS
}
