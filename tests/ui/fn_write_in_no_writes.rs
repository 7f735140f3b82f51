// A write in a `no-writes` function: the servers refuse it when it runs
// (`FCALL_RO`); the write in the other function is fine.
script_cache::include_scripts!("fixtures/fn_write_in_no_writes");

fn main() {}
