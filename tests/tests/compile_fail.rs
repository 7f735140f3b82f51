//! Compile-fail cases of the script macros (`ui/*.rs`, each with the
//! expected `.stderr`) and one pass case using all three forms
//! (`ui/pass/all_forms.rs`). Regenerate the `.stderr` files with
//! `TRYBUILD=overwrite cargo test -p script-cache-tests --test compile_fail`.
//!
//! trybuild compiles the cases in a generated crate under
//! `<target>/tests/trybuild/script-cache-tests/`, which is the
//! `CARGO_MANIFEST_DIR` the macros see. So that a case can write
//! `include_scripts!("fixtures/bom")`, this test links that crate's
//! `fixtures` to `ui/fixtures` before running trybuild, and creates the
//! fixtures git cannot hold (a file name that is not UTF-8).

use std::fs;
use std::path::{Path, PathBuf};

/// The crate trybuild generates, under the target directory cargo uses.
fn trybuild_crate() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let target = tmp.parent().unwrap_or(tmp);
    target.join("tests/trybuild").join(env!("CARGO_PKG_NAME"))
}

fn link_fixtures(fixtures: &Path) {
    let dir = trybuild_crate();
    fs::create_dir_all(&dir).unwrap();
    let link = dir.join("fixtures");
    if fs::read_link(&link).is_ok_and(|to| to == fixtures) {
        return;
    }
    if link.symlink_metadata().is_ok() {
        fs::remove_file(&link)
            .or_else(|_| fs::remove_dir_all(&link))
            .unwrap();
    }
    #[cfg(unix)]
    std::os::unix::fs::symlink(fixtures, &link).unwrap();
    #[cfg(windows)]
    std::os::windows::fs::symlink_dir(fixtures, &link).unwrap();
}

#[cfg(unix)]
fn make_non_utf8_name(fixtures: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let dir = fixtures.join("non_utf8_name");
    fs::create_dir_all(&dir).unwrap();
    let name = std::ffi::OsStr::from_bytes(b"caf\xE9.lua");
    fs::write(dir.join(name), "return 1\n").unwrap();
}

#[test]
fn ui() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("ui/fixtures");
    link_fixtures(&fixtures);
    #[cfg(unix)]
    make_non_utf8_name(&fixtures);

    let t = trybuild::TestCases::new();
    t.pass("ui/pass/*.rs");
    t.compile_fail("ui/*.rs");
}
