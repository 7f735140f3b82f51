//! The workspace's real `lua/` folder, embedded with all three macro forms.
//! (`tests/build.rs` reruns the build when a script is added.)

use script_cache::prelude::*;
use script_cache::{EmbeddedScript, UnknownScriptName};

script_cache::include_scripts!("../lua");

mod attribute_form {
    /// The user's docs, visibility and attributes are kept.
    #[script_cache::scripts(dir = "../lua/")]
    #[derive(PartialOrd, Ord)]
    pub(crate) enum Lua {}
}
use attribute_form::Lua;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, script_cache::Scripts)]
#[scripts(dir = "../lua")]
enum Locks {
    LockAcquire,
    #[script(file = "lock_release.lua")]
    Release,
}

use script_cache_check::sha1_hex;

fn lua_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../lua")
}

#[test]
fn one_variant_per_file_in_file_order() {
    let mut files: Vec<String> = std::fs::read_dir(lua_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|f| f.ends_with(".lua") && !f.starts_with('.'))
        .collect();
    files.sort();
    let embedded: Vec<&str> = Scripts::ALL.iter().map(|s| s.file()).collect();
    assert_eq!(embedded, files);
    assert_eq!(
        Scripts::ALL,
        [
            Scripts::CompareAndSet,
            Scripts::EnqueueOnce,
            Scripts::LockAcquire,
            Scripts::LockRelease,
            Scripts::RateLimit,
            Scripts::SumCounters,
        ]
    );
    assert_eq!(Scripts::RateLimit.name(), "rate_limit");
    assert_eq!(Scripts::RateLimit.file(), "rate_limit.lua");
}

#[test]
fn source_is_the_file_and_sha1_matches() {
    for s in Scripts::ALL {
        let on_disk = std::fs::read_to_string(lua_dir().join(s.file())).unwrap();
        assert_eq!(s.source(), on_disk, "{s}");
        let sha = s.sha1();
        assert_eq!(sha, sha1_hex(s.source()), "{s}");
        assert_eq!(sha.len(), 40);
        assert!(
            sha.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        assert!(!s.meta().doc().is_empty(), "{s} has a --- header");
    }
}

#[test]
fn shebang_scripts_have_a_legacy_source() {
    let s = Scripts::SumCounters;
    assert!(s.read_only());
    assert_eq!(s.meta().flags(), ["no-writes"]);
    let legacy = s.meta().legacy().unwrap();
    assert!(s.source().starts_with("#!lua flags=no-writes\n"));
    assert_eq!(legacy.source, format!("--{}", &s.source()[1..]));
    assert_eq!(legacy.source.lines().count(), s.source().lines().count());
    assert_eq!(legacy.sha1, sha1_hex(legacy.source));
    for s in Scripts::ALL.iter().filter(|s| **s != Scripts::SumCounters) {
        assert!(!s.read_only(), "{s}");
        assert!(s.meta().legacy().is_none(), "{s}");
        assert!(s.meta().flags().is_empty(), "{s}");
    }
}

#[test]
fn arity() {
    use Arity::{Exact, Variadic};
    let table = [
        (Scripts::CompareAndSet, Exact(1), Exact(2)),
        (Scripts::EnqueueOnce, Exact(2), Exact(2)),
        (Scripts::LockAcquire, Exact(1), Exact(2)),
        (Scripts::LockRelease, Exact(1), Exact(1)),
        (Scripts::RateLimit, Exact(1), Exact(4)),
        (Scripts::SumCounters, Variadic { min: 0 }, Exact(0)),
    ];
    assert_eq!(table.len(), Scripts::ALL.len());
    for (s, keys, args) in table {
        assert_eq!((s.keys(), s.args()), (keys, args), "{s}");
    }
}

#[test]
fn names_round_trip() {
    for s in Scripts::ALL {
        assert_eq!(s.to_string(), s.name());
        assert_eq!(s.name().parse::<Scripts>(), Ok(*s));
        assert_eq!(Scripts::from_name(s.name()), Some(*s));
    }
    let err: UnknownScriptName = "rate-limit".parse::<Scripts>().unwrap_err();
    assert_eq!(err.name(), "rate-limit");
    assert_eq!(err.known().len(), Scripts::ALL.len());
    assert!(err.to_string().contains("rate_limit"), "{err}");
    assert_eq!(Scripts::from_name("RateLimit"), None);
}

#[test]
fn header_becomes_docs() {
    let doc = Scripts::RateLimit.meta().doc();
    assert!(
        doc.starts_with("Token-bucket rate limit.\n\nThe bucket"),
        "{doc}"
    );
    // `-- @key`/`-- @arg` lines are not docs.
    assert!(!doc.contains("@key"), "{doc}");
    let doc = Scripts::SumCounters.meta().doc();
    assert!(doc.starts_with("Sums integer counters"), "{doc}");
    assert!(!doc.contains("#!lua"), "{doc}");
}

#[test]
fn attribute_form_matches() {
    assert_eq!(Lua::ALL.len(), Scripts::ALL.len());
    for (l, s) in Lua::ALL.iter().zip(Scripts::ALL) {
        assert_eq!(l.name(), s.name());
        assert_eq!(l.sha1(), s.sha1());
    }
    // The user's extra derive is kept next to the generated ones.
    assert!(Lua::CompareAndSet < Lua::SumCounters);
}

#[test]
fn derive_form() {
    assert_eq!(Locks::ALL, [Locks::LockAcquire, Locks::Release]);
    assert_eq!(Locks::Release.name(), "lock_release");
    assert_eq!(Locks::Release.sha1(), Scripts::LockRelease.sha1());
    assert_eq!(Locks::LockAcquire.source(), Scripts::LockAcquire.source());
    assert_eq!("lock_release".parse::<Locks>(), Ok(Locks::Release));
    assert_eq!(Locks::Release.to_string(), "lock_release");
}

fn assert_embedded<T: EmbeddedScript + core::str::FromStr + core::fmt::Display>() {}

#[test]
fn all_forms_implement_the_traits() {
    assert_embedded::<Scripts>();
    assert_embedded::<Lua>();
    assert_embedded::<Locks>();
}
