// A folder whose script-cache.toml targets Valkey only: `server.call`
// (Valkey's alias of `redis.call`) is accepted.
#![deny(deprecated)]
use script_cache::EmbeddedScript;
script_cache::include_scripts!("fixtures/servers_valkey");

fn main() {
    assert_eq!(Scripts::ServerCall.name(), "server_call");
}
