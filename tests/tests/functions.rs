//! Function libraries (`#!lua name=<library>` files of the script folder,
//! `tests/functions-lua/`): what the macros generate from them, and their
//! typed `FCALL` / `FCALL_RO` calls against every server that has
//! functions (Redis 7.0, 8.2, Valkey 8.1, 9.1; Redis 6.2 gets a typed
//! error).

use script_cache::prelude::*;
use script_cache::{FunctionMeta, Invocation, TypedInvocation};

script_cache::include_scripts!("functions-lua");

/// The library is no script: `Scripts` has the folder's script only, and
/// `Functions` one variant per registered function, with the library's
/// name, file, code and SHA-1, and each function's flags and arity.
#[test]
fn the_macros_read_the_library() {
    assert_eq!(Scripts::ALL, &[Scripts::Get]);
    assert_eq!(
        Functions::ALL,
        &[
            Functions::Bump,
            Functions::Peek,
            Functions::CountersVersion,
            Functions::MoveBy
        ]
    );
    let bump: &FunctionMeta = Functions::Bump.meta();
    assert_eq!(bump.name(), "bump");
    let lib = bump.library();
    assert_eq!(lib.name(), "counters");
    assert_eq!(lib.file(), "counters.lua");
    let on_disk = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("functions-lua/counters.lua"),
    )
    .unwrap();
    assert_eq!(lib.code(), on_disk);
    assert_eq!(lib.sha1(), script_cache_check::sha1_hex(&on_disk));
    assert!(!Functions::Bump.read_only());
    assert!(Functions::Peek.read_only());
    assert_eq!(Functions::Peek.meta().flags(), &["no-writes"]);
    assert_eq!(
        (Functions::Bump.keys(), Functions::Bump.args()),
        (Arity::Exact(1), Arity::Exact(1))
    );
    assert_eq!(
        (Functions::MoveBy.keys(), Functions::MoveBy.args()),
        (Arity::Exact(2), Arity::Exact(1))
    );
    assert_eq!(Functions::Bump.meta().doc(), "Adds `by` to a counter.");
    assert_eq!(Functions::from_name("move_by"), Some(Functions::MoveBy));
    assert_eq!(Functions::from_name("nope"), None);
    assert_eq!("peek".parse::<Functions>().unwrap(), Functions::Peek);
    assert_eq!(Functions::CountersVersion.to_string(), "counters_version");
}

/// Typed calls: parameters from the comment block above each
/// registration, or inferred from the callback's parameters; the reply
/// type from `-- @return`.
#[test]
fn typed_calls_have_the_header_s_parameters() {
    let bump: TypedInvocation<i64> = Functions::bump("c", 2);
    assert_eq!(bump.invocation().script_name(), "bump");
    assert_eq!(
        (bump.invocation().key_count(), bump.invocation().arg_count()),
        (1, 1)
    );
    let _: TypedInvocation<Option<String>> = Functions::peek("c");
    let _: TypedInvocation<String> = Functions::counters_version();
    // No header: an untyped invocation with inferred parameters.
    let moved: Invocation = Functions::move_by("a", "b", 3);
    assert_eq!((moved.key_count(), moved.arg_count()), (2, 1));
}
