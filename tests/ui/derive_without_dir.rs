// The derive needs `#[scripts(dir = "...")]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, script_cache::Scripts)]
enum Lua {
    AScript,
}

fn main() {}
