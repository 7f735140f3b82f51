// A typed call with the wrong number of arguments does not compile.
script_cache::include_scripts!("fixtures/typed");

fn main() {
    let _ = Scripts::name();
    let _ = Scripts::key("k", "a1");
}
