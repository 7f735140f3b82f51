// A missing file is the only error: the enum keeps its impls, so the uses
// below compile (no E0599 "no method named ...").
use script_cache::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq, script_cache::Scripts)]
#[scripts(dir = "fixtures/ok")]
enum Lua {
    AScript,
    GetMany,
}

fn main() {
    let _ = Lua::GetMany.name();
    let _ = Lua::AScript.sha1();
    let _ = Lua::ALL.len();
    let _ = "a_script".parse::<Lua>();
    let _ = Lua::from_name("get_many");
}
