// A folder whose script-cache.toml targets Redis 8.2: `HSETEX` and
// `os.clock` are accepted, with no warning.
#![deny(deprecated)]
use script_cache::EmbeddedScript;
script_cache::include_scripts!("fixtures/servers_redis_8_2");

fn main() {
    assert_eq!(Scripts::ALL.len(), 1);
    assert_eq!(Scripts::HashTtl.name(), "hash_ttl");
}
