//! The script lint's tables (`script-cache-check/src/lint/tables.rs`) are
//! what the servers say: `COMMAND`, `COMMAND DOCS` and the Lua environment
//! of Redis 6.2, 7.0, 8.2 and Valkey 8.1, 9.1, generated again here and
//! compared byte for byte with the committed file.

use script_cache_tests::in_ci;
use script_cache_tests::lint_tables::{SERVERS, diff_summary, generate, tables_path};

#[test]
fn committed_lint_tables_are_what_the_servers_say() {
    // The tables need all five servers; outside CI a missing one is a
    // reported skip, like the rest of the matrix.
    for flavor in SERVERS {
        if let Err(missing) = flavor.binary() {
            if in_ci() {
                panic!("{missing}");
            }
            eprintln!("SKIPPED: {missing}");
            return;
        }
    }
    let generated = generate();
    let path = tables_path();
    let committed = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => panic!(
            "cannot read {}: {e}; run `cargo run -p script-cache-tests --bin lint-tables`",
            path.display()
        ),
    };
    assert!(
        committed == generated,
        "{} is not what the servers say; run \
         `cargo run -p script-cache-tests --bin lint-tables` and commit the result\n{}",
        path.display(),
        diff_summary(&committed, &generated)
    );
}
