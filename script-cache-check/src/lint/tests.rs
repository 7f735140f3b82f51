use super::*;

fn rules(source: &str) -> Vec<(Rule, u32, u32)> {
    lint_script(source)
        .into_iter()
        .map(|f| (f.rule, f.line, f.column))
        .collect()
}

fn messages(source: &str) -> Vec<String> {
    lint_script(source)
        .into_iter()
        .map(|f| f.titled())
        .collect()
}

#[test]
fn clean_scripts_have_no_findings() {
    let clean = "local n = redis.call('INCR', KEYS[1])\n\
                 local function twice(x) return x * 2 end\n\
                 for i = 1, #ARGV do n = n + tonumber(ARGV[i]) end\n\
                 local t = {}\n\
                 table.insert(t, tostring(twice(n)))\n\
                 return t";
    assert_eq!(rules(clean), vec![]);
    // Locals shadow globals; parameters, loop variables and `arg` are locals.
    let shadow = "local function f(a, ...) return a, arg end\n\
                  for k, v in pairs({}) do local _ = k .. v end\n\
                  repeat local done = true until done\n\
                  return f(1)";
    assert_eq!(rules(shadow), vec![]);
}

#[test]
fn undefined_globals_and_writes() {
    assert_eq!(
        rules("return undefined_thing"),
        vec![(Rule::UndefinedGlobal, 1, 8)]
    );
    assert_eq!(rules("count = 1"), vec![(Rule::GlobalWrite, 1, 1)]);
    assert_eq!(
        rules("function helper() end"),
        vec![(Rule::GlobalWrite, 1, 10)]
    );
    assert_eq!(rules("local t = {}\nfunction t.x() end"), vec![]);
    assert_eq!(rules("redis.helper = 1"), vec![(Rule::GlobalWrite, 1, 1)]);
    assert_eq!(rules("string.x = 1"), vec![(Rule::GlobalWrite, 1, 1)]);
    let m = messages("return tostrin(1)");
    assert!(m[0].contains("did you mean `tostring`?"), "{m:?}");
    assert!(m[0].contains("[lint: undefined-global]"), "{m:?}");
    let m = messages("return redis.calll('GET', KEYS[1])");
    assert!(
        m[0].contains("`redis.calll`") && m[0].contains("`redis.call`?"),
        "{m:?}"
    );
}

#[test]
fn commands() {
    let m = messages("return redis.call('GETT', KEYS[1])");
    assert_eq!(m.len(), 1, "{m:?}");
    assert!(m[0].contains("unknown Redis command `GETT`"), "{m:?}");
    assert!(m[0].contains("did you mean `GET`?"), "{m:?}");
    assert_eq!(
        rules("return redis.call('get', KEYS[1], 'x')"),
        vec![(Rule::CommandArity, 1, 19)]
    );
    assert_eq!(
        rules("return redis.call('GET')"),
        vec![(Rule::CommandArity, 1, 19)]
    );
    assert_eq!(
        rules("return redis.call('SET', KEYS[1])"),
        vec![(Rule::CommandArity, 1, 19)]
    );
    assert_eq!(
        rules("return redis.call('SET', KEYS[1], 1, 'EX', 10)"),
        vec![]
    );
    // An open last argument may be any number of values.
    assert_eq!(rules("return redis.call('SET', unpack(KEYS))"), vec![]);
    assert_eq!(
        rules("return redis.call('GET', KEYS[1], unpack(ARGV))"),
        vec![]
    );
    assert_eq!(
        rules("return redis.call('GET', KEYS[1], 1, unpack(ARGV))"),
        vec![(Rule::CommandArity, 1, 19)]
    );
    assert_eq!(
        rules("redis.call('MULTI')"),
        vec![(Rule::CommandNotAllowed, 1, 12)]
    );
    let f = lint("return redis.call('LMPOP', 1, KEYS[1], 'LEFT')", &[]);
    assert!(f[0].message.contains("not a command on Redis 6.2"), "{f:?}");
    assert!(
        f[0].help
            .contains("servers(redis-7.0, valkey-8.1, redis-8.2, valkey-9.1)"),
        "{f:?}"
    );
    assert_eq!(
        rules(
            "-- script-cache: servers(redis-7.0, valkey-9.1)\nreturn redis.call('LMPOP', 1, KEYS[1], 'LEFT')"
        ),
        vec![]
    );
    // Aliases, as BullMQ writes them.
    assert_eq!(
        rules("local rcall = redis.call\nreturn rcall('GETT', KEYS[1])"),
        vec![(Rule::UnknownCommand, 2, 14)]
    );
    // A variable command name is not checked.
    assert_eq!(rules("return redis.call(ARGV[1], KEYS[1])"), vec![]);
}

#[test]
fn subcommands() {
    let m = messages("return redis.call('CONFIG', 'GETT', 'x')");
    assert!(
        m[0].contains("no such subcommand") && m[0].contains("`CONFIG GET`?"),
        "{m:?}"
    );
}

#[test]
fn no_writes() {
    assert_eq!(
        rules("#!lua flags=no-writes\nreturn redis.call('SET', KEYS[1], 'x')"),
        vec![(Rule::WriteInNoWrites, 2, 19)]
    );
    assert_eq!(
        rules("#!lua flags=no-writes\nreturn redis.call('GET', KEYS[1])"),
        vec![]
    );
    assert_eq!(
        rules("#!lua\nreturn redis.call('SET', KEYS[1], 'x')"),
        vec![]
    );
}

#[test]
fn keys_not_in_keys() {
    assert_eq!(
        rules("return redis.call('GET', 'fixed')"),
        vec![(Rule::KeyNotInKeys, 1, 26)]
    );
    assert_eq!(
        rules("local k = ARGV[1]\nreturn redis.call('GET', k)"),
        vec![(Rule::KeyNotInKeys, 2, 26)]
    );
    assert_eq!(
        rules("return redis.call('GET', ARGV[1] .. ':x')"),
        vec![(Rule::KeyNotInKeys, 1, 26)]
    );
    assert_eq!(rules("return redis.call('GET', KEYS[1] .. ':x')"), vec![]);
    assert_eq!(
        rules("local function f(k) return redis.call('GET', k) end return f(KEYS[1])"),
        vec![]
    );
    assert_eq!(
        rules("#!lua flags=allow-cross-slot-keys\nreturn redis.call('GET', 'fixed')"),
        vec![]
    );
    assert_eq!(
        lint("return redis.call('GET', 'x')", &[])[0].severity(),
        Severity::Warning
    );
}

#[test]
fn allows() {
    assert_eq!(rules("x = 1 -- script-cache: allow(global-write)"), vec![]);
    assert_eq!(rules("-- script-cache: allow(global-write)\nx = 1"), vec![]);
    assert_eq!(
        rules("-- script-cache: allow(global-write)\n\nx = 1"),
        vec![(Rule::GlobalWrite, 3, 1)]
    );
    assert_eq!(
        rules("-- script-cache: allow-file(global-write)\n\n\nx = 1\ny = 2"),
        vec![]
    );
    assert_eq!(
        rules("x = 1 -- script-cache: allow(undefined-global)"),
        vec![(Rule::GlobalWrite, 1, 1)]
    );
    let m = messages("-- script-cache: allow(globl-write)\nreturn 1");
    assert!(m[0].contains("did you mean `global-write`?"), "{m:?}");
    assert_eq!(
        rules("-- script-cache: servers(redis-8)\nreturn 1"),
        vec![(Rule::Directive, 1, 1)]
    );
    // Every message names how to silence its rule.
    for f in lint("x = 1\nreturn redis.call('GETT')", &[]) {
        assert!(f.help.contains(&format!("allow({})", f.rule)), "{f:?}");
    }
}

#[test]
fn line_breaks_as_lua_counts_them() {
    // A bare CR ends a line (and a comment) for Lua.
    assert_eq!(rules("-- note\rx = 1"), vec![(Rule::GlobalWrite, 2, 1)]);
    assert_eq!(
        rules("local a = 1\r\nx = 1"),
        vec![(Rule::GlobalWrite, 2, 1)]
    );
    assert_eq!(
        rules("local a = 1\n\rx = 1"),
        vec![(Rule::GlobalWrite, 2, 2)]
    );
}

#[test]
fn deep_input_does_not_crash() {
    // As deep as a linted source can be: two bytes a level.
    let chain = format!("return 1{}", "+1".repeat((MAX_LINTED_BYTES - 8) / 2));
    assert!(chain.len() <= MAX_LINTED_BYTES);
    #[cfg(feature = "lua")]
    assert!(crate::check_syntax(chain.as_bytes()).is_ok());
    assert_eq!(rules(&chain), vec![]);
    let chain = format!("return x{}", "+x".repeat((MAX_LINTED_BYTES - 8) / 2));
    assert_eq!(rules(&chain).len(), (MAX_LINTED_BYTES - 8) / 2 + 1);
}

#[test]
fn the_servers_that_have_a_thing_are_named() {
    let f = lint_script(
        "return redis.call('HSETEX', KEYS[1], 'EX', 60, 'FIELDS', 1, ARGV[1], ARGV[2])",
    );
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].rule, Rule::ServerSupport);
    assert!(
        f[0].message.contains(
            "is not a command on Redis 6.2, Redis 7.0 and Valkey 8.1 (it is on Redis 8.2 and \
             Valkey 9.1, since Redis 8.0.0 and Valkey 9.0.0)"
        ),
        "{f:?}"
    );
    assert!(
        f[0].help.contains("servers(redis-8.2, valkey-9.1)"),
        "{f:?}"
    );
    // `os` (and its `clock`) is reported once, as the global.
    let f = lint_script("return os.clock()");
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(
        f[0].message.contains(
            "the global `os` does not exist on Redis 6.2 and Redis 7.0 (reading it fails \
             there; it exists on Valkey 8.1, Redis 8.2 and Valkey 9.1)"
        ),
        "{f:?}"
    );
    assert!(
        f[0].help
            .contains("servers(valkey-8.1, redis-8.2, valkey-9.1)"),
        "{f:?}"
    );
    let redis_8 = Servers::parse(["redis-8.2"]).unwrap();
    let hgetdel = "return redis.call('HGETDEL', KEYS[1], 'FIELDS', 1, ARGV[1])";
    assert!(lint_script_for(hgetdel, redis_8).is_empty());
    assert!(lint_script_for("return os.clock()", redis_8).is_empty());
}

#[test]
fn valkeys_server_table_is_redis_under_another_name() {
    let valkey = Servers::parse(["valkey-8.1", "valkey-9.1"]).unwrap();
    let call = "return server.call('GET', KEYS[1])";
    assert!(lint_script_for(call, valkey).is_empty());
    // Checked like redis.call.
    let r: Vec<Rule> = lint_script_for("return server.call('GETT', KEYS[1])", valkey)
        .into_iter()
        .map(|f| f.rule)
        .collect();
    assert_eq!(r, vec![Rule::UnknownCommand]);
    // Reported once where a target lacks it.
    assert_eq!(rules(call), vec![(Rule::ServerSupport, 1, 8)]);
    let m = messages(call);
    assert!(
        m[0].contains("does not exist on Redis 6.2, Redis 7.0 and Redis 8.2"),
        "{m:?}"
    );
}

#[test]
fn a_file_narrows_the_folders_servers() {
    let folder = Servers::parse(["redis-8.2", "valkey-9.1"]).unwrap();
    let hsetex = "return redis.call('HSETEX', KEYS[1], 'FIELDS', 1, 'f', 'v')";
    assert!(lint_script_for(hsetex, folder).is_empty());
    let narrowed = format!("-- script-cache: servers(valkey-9.1)\n{hsetex}");
    assert!(lint_script_for(&narrowed, folder).is_empty());
    let outside = format!("-- script-cache: servers(redis-7.0)\n{hsetex}");
    let f = lint_script_for(&outside, folder);
    assert_eq!(f[0].rule, Rule::Directive, "{f:?}");
    assert!(f[0].message.contains("not among the servers"), "{f:?}");
    // A server the tables do not know: what to name instead.
    let f = lint_script("-- script-cache: servers(redis-7.4)\nreturn 1");
    assert!(f[0].message.contains("name `redis-7.0` instead"), "{f:?}");
}

#[test]
fn a_folder_without_a_server_that_has_it_is_told_what_to_declare() {
    let redis_7 = Servers::parse(["redis-7.0"]).unwrap();
    let f = lint_script_for(
        "local t = os.clock()\nreturn redis.call('HSETEX', KEYS[1], 'FIELDS', 1, 'f', t)",
        redis_7,
    );
    let r: Vec<Rule> = f.iter().map(|f| f.rule).collect();
    assert_eq!(r, vec![Rule::ServerSupport, Rule::ServerSupport], "{f:?}");
    assert!(
        f[1].help
            .contains("declare them there: `servers = [\"redis-8.2\", \"valkey-9.1\"]`"),
        "{f:?}"
    );
}
