// Every problem of a folder is reported in one pass.
script_cache::include_scripts!("fixtures/many_errors");

fn main() {
    let _ = Scripts::Fine;
}
