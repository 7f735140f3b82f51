// A folder with a function library: `Functions` and its typed calls, from
// `include_scripts!` and `#[scripts]` (in another module), in a crate with no
// `redis` dependency of its own.
use script_cache::prelude::*;

script_cache::include_scripts!("fixtures/functions_ok");

mod other {
    #[script_cache::scripts(dir = "fixtures/functions_ok")]
    pub enum Lua {}
}

fn main() {
    let _: script_cache::TypedInvocation<i64> = Functions::bump("c", 1);
    let _: script_cache::TypedInvocation<Option<String>> = other::Functions::peek("c");
    assert_eq!(Functions::ALL.len(), 4);
    assert!(Functions::Peek.read_only());
    let _ = Functions::MoveBy.key("a").key("b").arg(1);
}
