// `GetMany` has no get_many.lua (nor any file mapping to it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, script_cache::Scripts)]
#[scripts(dir = "fixtures/ok")]
enum Lua {
    AScript,
    GetMany,
    #[script(file = "lib/missing.lua")]
    Helper,
}

fn main() {}
