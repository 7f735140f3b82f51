//! A stale SHA in a binary is the worst failure of this crate, so this test
//! builds a scratch crate that embeds a `lua/` folder, then edits the folder
//! and rebuilds with plain `cargo build`:
//!
//! 1. changing a script rebuilds the crate and changes its SHA
//!    (the macro emits `include_bytes!` of every script);
//! 2. deleting a script removes its variant (same mechanism);
//! 3. adding a script adds a variant, thanks to the one-line `build.rs`
//!    (`cargo::rerun-if-changed=lua`) the docs ask for;
//! 4. changing a snippet that a script includes with `-- @include`
//!    rebuilds too, and the script's SHA follows the expanded source;
//! 5. changing the folder's `script-cache.toml` rebuilds: a script that
//!    its servers accept compiles, and the same script fails to compile
//!    once the file names a server that lacks its command.
//!
//! The scratch crate builds into `<target>/rebuild-scratch`, so reruns are
//! incremental; it reuses the workspace's `Cargo.lock` so no new versions
//! are resolved (and `--offline` works once the registry cache is warm).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn scratch_target() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).join("rebuild-scratch")
}

use script_cache_check::sha1_hex;

struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Scratch {
        let dir = tempfile::Builder::new()
            .prefix("script-cache-rebuild-")
            .tempdir()
            .unwrap();
        let runtime = workspace().join("script-cache");
        let manifest = format!(
            r#"[package]
name = "rebuild-scratch"
version = "0.0.0"
edition = "2024"
publish = false
build = "build.rs"

[dependencies]
script-cache = {{ path = {runtime:?} }}

[workspace]
"#
        );
        let p = dir.path();
        fs::write(p.join("Cargo.toml"), manifest).unwrap();
        fs::copy(workspace().join("Cargo.lock"), p.join("Cargo.lock")).unwrap();
        // The one line the docs ask for, so that added files are noticed.
        fs::write(
            p.join("build.rs"),
            "fn main() {\n    println!(\"cargo::rerun-if-changed=lua\");\n}\n",
        )
        .unwrap();
        fs::create_dir_all(p.join("src")).unwrap();
        fs::write(
            p.join("src/main.rs"),
            r#"use script_cache::EmbeddedScript;

script_cache::include_scripts!("lua");

fn main() {
    for s in Scripts::ALL {
        println!("{} {}", s.name(), s.sha1());
    }
}
"#,
        )
        .unwrap();
        fs::create_dir_all(p.join("lua")).unwrap();
        Scratch { dir }
    }

    fn lua(&self, file: &str) -> PathBuf {
        self.dir.path().join("lua").join(file)
    }

    /// Writes a script, clearly after the last build (see [`tick`]).
    fn write(&self, file: &str, body: &str) {
        tick();
        fs::write(self.lua(file), body).unwrap();
    }

    fn remove(&self, file: &str) {
        tick();
        fs::remove_file(self.lua(file)).unwrap();
    }

    /// `cargo build` of the scratch crate.
    fn build(&self) -> std::process::Output {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let mut build = Command::new(&cargo);
        build
            .arg("build")
            .arg("--quiet")
            .current_dir(self.dir.path())
            .env("CARGO_TARGET_DIR", scratch_target())
            // Only what is set here: not the outer test's flags for its own crate.
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS");
        build.output().unwrap()
    }

    /// `cargo build` then runs the binary: `(name, sha1)` per script.
    fn build_and_run(&self) -> Vec<(String, String)> {
        let target = scratch_target();
        let out = self.build();
        assert!(
            out.status.success(),
            "cargo build of the scratch crate failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let exe = target
            .join("debug")
            .join(format!("rebuild-scratch{}", std::env::consts::EXE_SUFFIX));
        let out = Command::new(exe).output().unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| {
                let (name, sha) = l.split_once(' ').unwrap();
                (name.to_owned(), sha.to_owned())
            })
            .collect()
    }
}

/// Waits until the clock has moved past the last build by more than any
/// file system's timestamp granularity, so cargo sees the next edit as newer.
fn tick() {
    std::thread::sleep(Duration::from_millis(1100));
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, body)| (n.to_string(), sha1_hex(body)))
        .collect()
}

#[test]
fn change_delete_and_add_all_rebuild() {
    let s = Scratch::new();
    let a1 = "return KEYS[1]\n";
    let b = "return ARGV[1]\n";
    s.write("alpha.lua", a1);
    s.write("beta.lua", b);
    assert_eq!(s.build_and_run(), pairs(&[("alpha", a1), ("beta", b)]));

    // 1. Change: the include_bytes! dependency rebuilds, the SHA follows.
    let a2 = "return KEYS[1] .. 'changed'\n";
    s.write("alpha.lua", a2);
    let after_change = s.build_and_run();
    assert_ne!(sha1_hex(a1), sha1_hex(a2));
    assert_eq!(after_change, pairs(&[("alpha", a2), ("beta", b)]));

    // 2. Delete: the missing dependency rebuilds, the variant is gone.
    s.remove("beta.lua");
    assert_eq!(s.build_and_run(), pairs(&[("alpha", a2)]));

    // 3. Add: only the build.rs line notices a new file in the folder.
    let g = "return 3\n";
    s.write("gamma.lua", g);
    assert_eq!(s.build_and_run(), pairs(&[("alpha", a2), ("gamma", g)]));

    // 4. Includes: the snippet is tracked like a script.
    fs::create_dir_all(s.lua("lib")).unwrap();
    s.write("lib/util.lua", "local x = 1\n");
    s.write("gamma.lua", "-- @include \"lib/util.lua\"\nreturn x\n");
    let g1 = "local x = 1\nreturn x\n";
    assert_eq!(s.build_and_run(), pairs(&[("alpha", a2), ("gamma", g1)]));
    s.write("lib/util.lua", "local x = 2\n");
    let g2 = "local x = 2\nreturn x\n";
    assert_eq!(s.build_and_run(), pairs(&[("alpha", a2), ("gamma", g2)]));

    // 5. script-cache.toml: new (seen through the build.rs line), then
    // edited (tracked like a script).
    s.write("script-cache.toml", "servers = [\"redis-8.2\"]\n");
    let h = "return redis.call('HSETEX', KEYS[1], 'FIELDS', 1, 'f', 'v')\n";
    s.write("gamma.lua", h);
    assert_eq!(s.build_and_run(), pairs(&[("alpha", a2), ("gamma", h)]));
    s.write("script-cache.toml", "servers = [\"redis-7.0\"]\n");
    let out = s.build();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "built with HSETEX for Redis 7.0");
    assert!(
        err.contains("`HSETEX` is not a command on Redis 7.0"),
        "{err}"
    );
}
