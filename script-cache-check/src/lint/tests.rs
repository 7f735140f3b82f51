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
        f[0].help.contains("servers(redis-7.0, valkey-9.1)"),
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
    assert!(crate::check_syntax(chain.as_bytes()).is_ok());
    assert_eq!(rules(&chain), vec![]);
    let chain = format!("return x{}", "+x".repeat((MAX_LINTED_BYTES - 8) / 2));
    assert_eq!(rules(&chain).len(), (MAX_LINTED_BYTES - 8) / 2 + 1);
}
