// The attribute form fills the enum itself.
#[script_cache::scripts(dir = "fixtures/ok")]
enum Lua {
    AScript,
}

fn main() {}
