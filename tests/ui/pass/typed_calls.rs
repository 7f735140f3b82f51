// Typed calls next to the trait's metadata: `name.lua`, `read_only.lua` and
// `key.lua` get `Scripts::name(..)`, `Scripts::read_only(..)` and
// `Scripts::key(..)` while `.name()`, `.read_only()` and `.key(..)` still
// work; `loop.lua` gets the raw identifier `Scripts::r#loop`.
use script_cache::prelude::*;
use script_cache::{Invocation, TypedInvocation};

script_cache::include_scripts!("fixtures/typed");

#[derive(Clone, Copy, Debug, PartialEq, Eq, script_cache::Scripts)]
#[scripts(dir = "fixtures/typed")]
enum Private {
    Name,
}

fn main() {
    let name: TypedInvocation<Option<String>> = Scripts::name("user:1");
    let ro: TypedInvocation<Vec<Option<String>>> = Scripts::read_only(&["a", "b"]);
    let lp: TypedInvocation<String> = Scripts::r#loop(42);
    let key: Invocation = Scripts::key("k", 1, "two");
    assert_eq!(name.invocation().key_count(), 1);
    assert_eq!(ro.invocation().key_count(), 2);
    assert_eq!(lp.invocation().arg_count(), 1);
    assert_eq!((key.key_count(), key.arg_count()), (1, 2));

    // The trait's methods are untouched.
    assert_eq!(Scripts::Name.name(), "name");
    assert!(Scripts::ReadOnly.read_only());
    assert_eq!(Scripts::Key.key("x").key_count(), 1);
    assert_eq!(Scripts::Loop.name(), "loop");

    let _: TypedInvocation<Option<String>> = Private::name("user:2");
}
