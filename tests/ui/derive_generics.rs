// Script enums cannot be generic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, script_cache::Scripts)]
#[scripts(dir = "fixtures/ok")]
enum Lua<T> {
    AScript,
    #[script(file = "name.lua")]
    Name(T),
}

fn main() {}
