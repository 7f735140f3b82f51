// Lua ends a `--` comment at a bare CR: the `redis.call` after it is code,
// so the script reads KEYS[2], which its header does not declare.
script_cache::include_scripts!("fixtures/cr_in_comment");

fn main() {}
