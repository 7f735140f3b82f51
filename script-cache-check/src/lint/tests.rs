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
        rules("local _a = 1\r\nx = 1"),
        vec![(Rule::GlobalWrite, 2, 1)]
    );
    assert_eq!(
        rules("local _a = 1\n\rx = 1"),
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

#[test]
fn unused_names() {
    assert_eq!(
        rules("local n = 1\nreturn 2"),
        vec![(Rule::UnusedLocal, 1, 7)]
    );
    // Assigned but never read is unused too.
    assert_eq!(
        rules("local n\nn = 1\nreturn 2"),
        vec![(Rule::UnusedLocal, 1, 7)]
    );
    assert_eq!(
        rules("local function f() end\nreturn 1"),
        vec![(Rule::UnusedLocal, 1, 16)]
    );
    assert_eq!(
        rules("local function f(a, b) return a end\nreturn f(1, 2)"),
        vec![(Rule::UnusedParameter, 1, 21)]
    );
    assert_eq!(
        rules("for i, v in ipairs(KEYS) do redis.call('DEL', v) end"),
        vec![(Rule::UnusedLoopVariable, 1, 5)]
    );
    assert_eq!(
        rules("for i = 1, 3 do redis.call('DEL', KEYS[1]) end"),
        vec![(Rule::UnusedLoopVariable, 1, 5)]
    );
    // `_`-prefixed names, `self` and `arg` are not reported.
    assert_eq!(
        rules(
            "local _unused = 1\nfor _, v in ipairs(KEYS) do redis.call('DEL', v) end\n\
             local t = {}\nfunction t:m(_x, ...) return 1 end\nreturn t"
        ),
        vec![]
    );
    // A read in a nested function counts; `t.x = 1` reads `t`.
    assert_eq!(
        rules("local n = 1\nlocal t = {}\nt.x = 1\nreturn function() return n end"),
        vec![]
    );
    let m = messages("local n = 1\nreturn 2");
    assert!(
        m[0].contains("unused local `n`") && m[0].contains("[lint: unused-local]"),
        "{m:?}"
    );
    assert_eq!(
        rules("local n = 1 -- script-cache: allow(unused-local)\nreturn 2"),
        vec![]
    );
    assert_eq!(lint_script("local n = 1")[0].severity(), Severity::Warning);
}

#[test]
fn shadowed_locals() {
    assert_eq!(
        rules("local v = 1\nif v then local v = 2 return v end\nreturn v"),
        vec![(Rule::ShadowedLocal, 2, 17)]
    );
    assert_eq!(
        rules(
            "local function f(k) for k = 1, 2 do redis.call('DEL', KEYS[k]) end end\nreturn f(1)"
        ),
        vec![(Rule::UnusedParameter, 1, 18), (Rule::ShadowedLocal, 1, 25)]
    );
    let m = messages("local v = 1\ndo local v = 2 return v end");
    assert!(
        m.iter()
            .any(|m| m.contains("`v` shadows the local `v` of line 1")),
        "{m:?}"
    );
    // A function's parameters and locals are its own: a helper may name
    // them like the script's locals (BullMQ's snippets do).
    assert_eq!(
        rules(
            "local jobId = ARGV[1]\nlocal function f(jobId) local k = jobId return k end\n\
             local function g() local jobId = 2 return jobId end\nreturn f(jobId) .. g()"
        ),
        vec![]
    );
    // The same scope redefines, it does not shadow; `_` names are exempt.
    assert_eq!(rules("local v = 1\nlocal v = v + 1\nreturn v"), vec![]);
    assert_eq!(
        rules(
            "for _, a in ipairs(KEYS) do for _, b in ipairs(ARGV) do redis.call('SET', a, b) end end"
        ),
        vec![]
    );
}

#[test]
fn unreachable_code_and_loops_that_run_once() {
    assert_eq!(
        rules("error('stop')\nreturn 1"),
        vec![(Rule::UnreachableCode, 2, 1)]
    );
    assert_eq!(
        rules("do return 1 end\nlocal x = 2\nreturn x"),
        vec![(Rule::UnreachableCode, 2, 1)]
    );
    assert_eq!(
        rules("if KEYS[1] then return 1 else error('no key') end\nreturn 2"),
        vec![(Rule::UnreachableCode, 2, 1)]
    );
    assert_eq!(
        rules(
            "local function f(x)\nif x == 1 then return 1 elseif x == 2 then error('two') \
             else do return 3 end end\nreturn 4\nend\nreturn f(1)"
        ),
        vec![(Rule::UnreachableCode, 3, 1)]
    );
    // Reported once a block.
    assert_eq!(
        rules("error('x')\nlocal a = 1\nreturn a"),
        vec![(Rule::UnreachableCode, 2, 1)]
    );
    // An `if` without `else` may fall through; a local `error` is not Lua's.
    assert_eq!(rules("if KEYS[1] then return 1 end\nreturn 2"), vec![]);
    assert_eq!(
        rules("local function error() end\nerror()\nreturn 1"),
        vec![]
    );
    assert_eq!(
        rules("while true do\nlocal v = redis.call('LPOP', KEYS[1])\nreturn v\nend"),
        vec![(Rule::LoopRunsOnce, 1, 1)]
    );
    assert_eq!(
        rules("for _, k in ipairs(KEYS) do\nredis.call('DEL', k)\nbreak\nend"),
        vec![(Rule::LoopRunsOnce, 1, 1)]
    );
    assert_eq!(
        rules("for _, k in ipairs(KEYS) do\nif k == '' then break end\nredis.call('DEL', k)\nend"),
        vec![]
    );
    let m = messages("repeat\nerror('x')\nuntil false");
    assert!(
        m[0].contains("runs at most once") && m[0].contains("line 2"),
        "{m:?}"
    );
}

#[test]
fn unbalanced_assignments() {
    assert_eq!(
        rules("local a, b = 1\nreturn a, b"),
        vec![(Rule::UnbalancedAssignment, 1, 10)]
    );
    // A call or `...` last may give any number of values.
    assert_eq!(
        rules("local a, b = redis.call('HMGET', KEYS[1], 'x', 'y')\nreturn {a, b}"),
        vec![]
    );
    assert_eq!(rules("local a, b = unpack(ARGV)\nreturn {a, b}"), vec![]);
    // No value at all is a declaration.
    assert_eq!(rules("local a, b\nreturn {a, b}"), vec![]);
    assert_eq!(
        rules("local a = 1, 2\nreturn a"),
        vec![(Rule::UnbalancedAssignment, 1, 14)]
    );
    assert_eq!(
        rules("local a, b = 1, 2\na, b = 3\nreturn {a, b}"),
        vec![(Rule::UnbalancedAssignment, 2, 4)]
    );
    let m = messages("local a, b, c = 1\nreturn {a, b, c}");
    assert!(
        m[0].contains("the `local` has 3 names for 1 value: `b`, `c` are `nil`"),
        "{m:?}"
    );
}

#[test]
fn index_zero() {
    assert_eq!(
        rules("return redis.call('GET', KEYS[0])"),
        vec![(Rule::IndexZero, 1, 26)]
    );
    assert_eq!(rules("return ARGV[0]"), vec![(Rule::IndexZero, 1, 8)]);
    assert_eq!(rules("return KEYS[1], ARGV[1]"), vec![]);
    // A local named KEYS is the script's own table.
    assert_eq!(rules("local KEYS = {}\nreturn KEYS[0]"), vec![]);
}

#[test]
fn nil_compare_reply() {
    assert_eq!(
        rules("if redis.call('GET', KEYS[1]) == nil then return 0 end\nreturn 1"),
        vec![(Rule::NilCompareReply, 1, 4)]
    );
    assert_eq!(
        rules("local v = redis.call('GET', KEYS[1])\nif v ~= nil then return v end\nreturn 0"),
        vec![(Rule::NilCompareReply, 2, 4)]
    );
    assert_eq!(
        rules(
            "local rcall = redis.pcall\nlocal v = rcall('GET', KEYS[1])\nif nil == v then return 0 end\nreturn v"
        ),
        vec![(Rule::NilCompareReply, 3, 11)]
    );
    // The usual mistake: the default is never set.
    assert_eq!(
        rules("local v = redis.call('GET', KEYS[1])\nif v == nil then v = ARGV[1] end\nreturn v"),
        vec![(Rule::NilCompareReply, 2, 4)]
    );
    // A local that may hold something else where it is compared (after
    // another assignment, in a loop or a function that a later assignment
    // reaches), a reply's field, and a RESP3 script (where a null reply is
    // nil) are left alone.
    assert_eq!(
        rules(
            "local v = redis.call('GET', KEYS[1])\nif v == false then v = nil end\n\
             if v == nil then return 0 end\nreturn v"
        ),
        vec![]
    );
    assert_eq!(
        rules("local v = redis.call('LPOP', KEYS[1])\nwhile v ~= nil do\nv = nil\nend\nreturn v"),
        vec![]
    );
    assert_eq!(
        rules(
            "local v = redis.call('LPOP', KEYS[1])\nwhile v ~= nil do\nv = redis.call('LPOP', KEYS[1])\nend\nreturn v"
        ),
        vec![(Rule::NilCompareReply, 2, 7)]
    );
    assert_eq!(
        rules(
            "local r = redis.call('HMGET', KEYS[1], 'a')\nif r[1] == nil then return 0 end\nreturn 1"
        ),
        vec![]
    );
    assert_eq!(
        rules("redis.setresp(3)\nif redis.call('GET', KEYS[1]) == nil then return 0 end\nreturn 1"),
        vec![]
    );
    let m = messages("return redis.call('GET', KEYS[1]) == nil");
    assert!(
        m[0].contains("as `false`") && m[0].contains("never true"),
        "{m:?}"
    );
}

#[test]
fn keyspace_scans() {
    assert_eq!(
        rules("return redis.call('KEYS', ARGV[1])"),
        vec![(Rule::KeyspaceScan, 1, 19)]
    );
    assert_eq!(
        rules("local rcall = redis.call\nreturn rcall('scan', 0, 'MATCH', ARGV[1])"),
        vec![(Rule::KeyspaceScan, 2, 14)]
    );
    let m = messages("return redis.call('KEYS', '*')");
    assert!(m[0].contains("`KEYS` scans the keyspace"), "{m:?}");
}
