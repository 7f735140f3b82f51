// The same script as `pass/servers_redis_8_2.rs`, in a folder whose
// script-cache.toml targets Redis 7.0: `HSETEX` and `os` are
// `server-support` errors. The variant still exists.
script_cache::include_scripts!("fixtures/servers_redis_7_0");

fn main() {
    let _ = Scripts::HashTtl;
}
