// Script enums cannot be generic.
#[script_cache::scripts(dir = "fixtures/ok")]
enum Lua<T> {}

fn main() {}
