// All three forms over one fixture folder: `a_script.lua`, `name.lua`,
// `read_only.lua`; `.hidden.lua`, `notes.txt` and `lib/` are not scripts.
use script_cache::prelude::*;

script_cache::include_scripts!("fixtures/ok");

/// The user's docs and attributes are kept.
#[script_cache::scripts(dir = "fixtures/ok/")]
#[derive(PartialOrd, Ord)]
pub(crate) enum Lua {}

#[derive(Clone, Copy, Debug, PartialEq, Eq, script_cache::Scripts)]
#[scripts(dir = "fixtures/ok")]
enum Picked {
    ReadOnly,
    #[script(file = "lib/extra.lua")]
    Extra,
}

fn main() {
    let names: Vec<&str> = Scripts::ALL.iter().map(|s| s.name()).collect();
    assert_eq!(names, ["a_script", "name", "read_only"]);
    assert!(Scripts::ReadOnly.read_only());
    assert_eq!(Scripts::ReadOnly.keys(), Arity::Variadic { min: 0 });
    assert_eq!(Scripts::AScript.keys(), Arity::Exact(1));
    assert_eq!(Scripts::Name.args(), Arity::Exact(2));
    assert_eq!("name".parse::<Scripts>(), Ok(Scripts::Name));
    assert_eq!(Scripts::AScript.to_string(), "a_script");

    assert_eq!(Lua::ALL.len(), 3);
    assert!(Lua::AScript < Lua::ReadOnly);
    assert_eq!(Lua::ReadOnly.sha1(), Scripts::ReadOnly.sha1());

    assert_eq!(Picked::ALL, [Picked::ReadOnly, Picked::Extra]);
    assert_eq!(Picked::Extra.file(), "lib/extra.lua");
    assert_eq!(Picked::Extra.name(), "extra");
    assert_eq!(Picked::from_name("read_only"), Some(Picked::ReadOnly));
}
