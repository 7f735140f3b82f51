//! The lint against the servers: each error it reports fails at run time on
//! the servers it names, with the servers' own message, and what it leaves
//! alone runs. Every case is run with `EVAL` on every flavor (Redis 6.2 gets
//! the `--!` body the runtime sends it), so a rule that disagreed with a
//! server would fail here, not in production.
//!
//! Also: the lint finds nothing in the workspace's scripts (`lua/`, the
//! test fixtures the suite embeds, the benchmark scripts).

use redis::Value;
use script_cache_check::lint::{self, Rule, Severity};
use script_cache_tests::{Flavor, TestServer, matrix};

/// One case: a script, the rule the lint must report (or none), and what
/// each server does with it: `Ok(())` runs, `Err(text)` fails with an error
/// containing `text`. Order: Redis 6.2, Redis 7.0, Valkey 9.1, Redis 8.2,
/// Valkey 8.1.
struct Case {
    source: &'static str,
    rule: Option<Rule>,
    outcome: [Result<(), &'static str>; 5],
}

const NONEXISTENT: &str = "Script attempted to access nonexistent global variable";
const READONLY: &str = "Attempt to modify a readonly table";
// "Unknown Redis command called from (Lua) script" (Redis), "Unknown command
// called from script" (Valkey).
const UNKNOWN: &str = "command called from";
const NOT_ALLOWED: &str = "not allowed from script";
const ARITY: &str = "Wrong number of args";
const NO_WRITES: &str = "Write commands are not allowed from read-only scripts";

fn cases() -> Vec<Case> {
    use Rule::*;
    let all = |e: &'static str| [Err(e), Err(e), Err(e), Err(e), Err(e)];
    vec![
        Case {
            source: "local count = redis.call('INCR', KEYS[1])\nreturn cuont",
            rule: Some(UndefinedGlobal),
            outcome: all(NONEXISTENT),
        },
        Case {
            source: "return redis.calll('GET', KEYS[1])",
            rule: Some(UndefinedGlobal),
            outcome: all("attempt to call field 'calll'"),
        },
        Case {
            source: "return string.fromat('%d', 1)",
            rule: Some(UndefinedGlobal),
            outcome: all("attempt to call field 'fromat'"),
        },
        Case {
            source: "total = redis.call('INCR', KEYS[1])\nreturn total",
            rule: Some(GlobalWrite),
            outcome: all(READONLY),
        },
        Case {
            source: "function helper() return 1 end\nreturn helper()",
            rule: Some(GlobalWrite),
            outcome: all(READONLY),
        },
        Case {
            source: "redis.helper = 1\nreturn 1",
            rule: Some(GlobalWrite),
            outcome: all(READONLY),
        },
        Case {
            source: "tostring = nil\nreturn 1",
            rule: Some(GlobalWrite),
            outcome: all(READONLY),
        },
        Case {
            source: "return redis.call('GETT', KEYS[1])",
            rule: Some(UnknownCommand),
            outcome: all(UNKNOWN),
        },
        Case {
            source: "local rcall = redis.call\nreturn rcall('HGETT', KEYS[1], 'f')",
            rule: Some(UnknownCommand),
            outcome: all(UNKNOWN),
        },
        Case {
            source: "return redis.call('LMPOP', 1, KEYS[1], 'LEFT')",
            rule: Some(ServerSupport),
            outcome: [Err(UNKNOWN), Ok(()), Ok(()), Ok(()), Ok(())],
        },
        Case {
            source: "return redis.call('HSETEX', KEYS[1], 'FIELDS', 1, 'f', 'v')",
            rule: Some(ServerSupport),
            outcome: [Err(UNKNOWN), Err(UNKNOWN), Ok(()), Ok(()), Err(UNKNOWN)],
        },
        Case {
            source: "return redis.call('HGETDEL', KEYS[1], 'FIELDS', 1, 'f')",
            rule: Some(ServerSupport),
            outcome: [Err(UNKNOWN), Err(UNKNOWN), Ok(()), Ok(()), Err(UNKNOWN)],
        },
        Case {
            source: "return redis.call('HGETEX', KEYS[1], 'EX', 60, 'FIELDS', 1, 'f')",
            rule: Some(ServerSupport),
            outcome: [Err(UNKNOWN), Err(UNKNOWN), Ok(()), Ok(()), Err(UNKNOWN)],
        },
        Case {
            source: "return os.clock()",
            rule: Some(ServerSupport),
            outcome: [Err(NONEXISTENT), Err(NONEXISTENT), Ok(()), Ok(()), Ok(())],
        },
        Case {
            source: "return server.call('GET', KEYS[1])",
            rule: Some(ServerSupport),
            outcome: [
                Err(NONEXISTENT),
                Err(NONEXISTENT),
                Ok(()),
                Err(NONEXISTENT),
                Ok(()),
            ],
        },
        Case {
            source: "return print",
            rule: Some(ServerSupport),
            outcome: [
                Ok(()),
                Err(NONEXISTENT),
                Err(NONEXISTENT),
                Err(NONEXISTENT),
                Err(NONEXISTENT),
            ],
        },
        Case {
            source: "redis.call('WATCH', KEYS[1])\nreturn 1",
            rule: Some(CommandNotAllowed),
            outcome: all(NOT_ALLOWED),
        },
        Case {
            source: "return redis.call('BLPOP', KEYS[1], 0)",
            rule: Some(CommandNotAllowed),
            outcome: [Err(NOT_ALLOWED), Err(NOT_ALLOWED), Ok(()), Ok(()), Ok(())],
        },
        Case {
            source: "return redis.call('HGET', KEYS[1])",
            rule: Some(CommandArity),
            outcome: all(ARITY),
        },
        Case {
            source: "return redis.call('GET', KEYS[1], 'extra')",
            rule: Some(CommandArity),
            outcome: all(ARITY),
        },
        Case {
            source: "return redis.call('CONFIG', 'GET', 'maxmemory')",
            rule: Some(CommandNotAllowed),
            outcome: all(NOT_ALLOWED),
        },
        // Redis 6.2 does not enforce `no-writes`: the write runs there.
        Case {
            source: "#!lua flags=no-writes\nredis.call('SET', KEYS[1], 'x')\nreturn 1",
            rule: Some(WriteInNoWrites),
            outcome: [
                Ok(()),
                Err(NO_WRITES),
                Err(NO_WRITES),
                Err(NO_WRITES),
                Err(NO_WRITES),
            ],
        },
        Case {
            source: "#!lua flags=no-writes\nreturn redis.call('PUBLISH', 'channel', 'm')",
            rule: Some(WriteInNoWrites),
            outcome: [
                Ok(()),
                Err(NO_WRITES),
                Err(NO_WRITES),
                Err(NO_WRITES),
                Err(NO_WRITES),
            ],
        },
        // What the lint leaves alone runs everywhere.
        Case {
            source: "local rcall = redis.call\nlocal n = rcall('INCR', KEYS[1])\n\
                     rcall('SET', KEYS[1] .. ':copy', n, 'EX', 10)\nreturn n",
            rule: None,
            outcome: [Ok(()), Ok(()), Ok(()), Ok(()), Ok(())],
        },
        Case {
            source: "KEYS[1] = 'other'\nlocal t = {}\nt.x = 1\nreturn redis.call('GET', KEYS[1])",
            rule: None,
            outcome: [Ok(()), Ok(()), Ok(()), Ok(()), Ok(())],
        },
        Case {
            // `arg` is a local of a vararg function (Lua 5.1's
            // LUA_COMPAT_VARARG; nil when `...` is used), not a global.
            source: "local function f(...) local a = arg return select('#', ...) end\n\
                     return f(unpack(ARGV))",
            rule: None,
            outcome: [Ok(()), Ok(()), Ok(()), Ok(()), Ok(())],
        },
        Case {
            source: "#!lua flags=no-writes\nreturn redis.call('GET', KEYS[1])",
            rule: None,
            outcome: [Ok(()), Ok(()), Ok(()), Ok(()), Ok(())],
        },
        Case {
            source: "return redis.call('SET', KEYS[1], 'v', unpack(ARGV, 2))",
            rule: None,
            outcome: [Ok(()), Ok(()), Ok(()), Ok(()), Ok(())],
        },
        Case {
            source: "if redis.REDIS_VERSION then return 1 end\nreturn 0",
            rule: None,
            outcome: [Ok(()), Ok(()), Ok(()), Ok(()), Ok(())],
        },
    ]
}

fn index(flavor: Flavor) -> usize {
    match flavor {
        Flavor::Redis62 => 0,
        Flavor::Redis7 => 1,
        Flavor::Valkey9 => 2,
        Flavor::Redis82 => 3,
        Flavor::Valkey81 => 4,
    }
}

fn run(server: &TestServer, source: &str, key: &str) -> Result<(), String> {
    let body = match server.flavor() {
        Flavor::Redis62 => {
            script_cache_check::shebang::legacy_source(source).unwrap_or_else(|| source.to_owned())
        }
        _ => source.to_owned(),
    };
    let mut con = server.connection();
    redis::cmd("EVAL")
        .arg(body)
        .arg(1)
        .arg(key)
        .arg("1")
        .query::<Value>(&mut con)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

matrix! {
    fn lint_errors_fail_on_the_servers_they_name(server) {
        let i = index(server.flavor());
        let mut checked = 0;
        for (n, case) in cases().into_iter().enumerate() {
            assert!(script_cache_check::check_syntax(case.source.as_bytes()).is_ok(), "{}", case.source);
            let findings: Vec<lint::Finding> = lint::lint_script(case.source)
                .into_iter()
                .filter(|f| f.severity() == Severity::Error)
                .collect();
            assert_eq!(
                findings.first().map(|f| f.rule),
                case.rule,
                "lint of {:?}: {findings:#?}",
                case.source
            );
            let got = run(server, case.source, &format!("lint:case:{n}"));
            match (case.outcome[i], &got) {
                (Ok(()), Ok(())) => {}
                (Err(want), Err(e)) => assert!(e.contains(want), "{:?} on {}: {e}", case.source, server.flavor()),
                (want, got) => panic!("{:?} on {}: expected {want:?}, got {got:?}", case.source, server.flavor()),
            }
            // The lint's claim for this server, with only this server
            // targeted: an error exactly where the server fails.
            let only = server.flavor().label();
            let targeted = format!("-- script-cache: servers({only})\n{}", case.source);
            let targeted = if case.source.starts_with("#!") {
                // Keep the shebang first.
                let (first, rest) = case.source.split_once('\n').unwrap_or((case.source, ""));
                format!("{first}\n-- script-cache: servers({only})\n{rest}")
            } else {
                targeted
            };
            let errors_here = lint::lint_script(&targeted)
                .into_iter()
                .filter(|f| f.severity() == Severity::Error)
                .count();
            // Redis 6.2 does not enforce `no-writes`; the lint holds it there too.
            let lenient = i == 0 && case.rule == Some(Rule::WriteInNoWrites);
            assert_eq!(
                errors_here > 0,
                case.outcome[i].is_err() || lenient,
                "lint for {only} of {:?}",
                case.source
            );
            checked += 1;
        }
        assert_eq!(checked, cases().len());
    }
}

/// A warning that says what a value is at run time, and what the servers
/// make of it: the script returns a string, the same on every flavor.
struct Shown {
    source: &'static str,
    rule: Rule,
    returns: &'static str,
}

fn shown() -> Vec<Shown> {
    use Rule::*;
    vec![
        // A nil bulk reply is `false` in a script: `== nil` is never true.
        Shown {
            source: "redis.call('DEL', KEYS[1])\n\
                     return tostring(redis.call('GET', KEYS[1]) == nil)",
            rule: NilCompareReply,
            returns: "false",
        },
        Shown {
            source: "redis.call('DEL', KEYS[1])\nlocal v = redis.call('GET', KEYS[1])\n\
                     return table.concat({tostring(v == nil), tostring(v ~= nil), type(v)}, ',')",
            rule: NilCompareReply,
            returns: "false,true,boolean",
        },
        // The usual mistake: the default is never taken.
        Shown {
            source: "redis.call('DEL', KEYS[1])\nlocal v = redis.call('GET', KEYS[1])\n\
                     if v == nil then v = 'default' end\nreturn tostring(v)",
            rule: NilCompareReply,
            returns: "false",
        },
        Shown {
            source: "redis.call('DEL', KEYS[1])\nlocal rcall = redis.pcall\n\
                     local v = rcall('HGET', KEYS[1], 'f')\n\
                     if v == nil then return 'nil' end\nreturn type(v)",
            rule: NilCompareReply,
            returns: "boolean",
        },
        // Lua arrays start at 1.
        Shown {
            source: "return tostring(KEYS[0]) .. ',' .. tostring(ARGV[0]) .. ',' .. KEYS[1]",
            rule: IndexZero,
            returns: "nil,nil,lint:shown",
        },
        Shown {
            source: "local a, b = ARGV[1]\nreturn a .. ',' .. tostring(b)",
            rule: UnbalancedAssignment,
            returns: "1,nil",
        },
        Shown {
            source: "do return 'first' end\nreturn 'second'",
            rule: UnreachableCode,
            returns: "first",
        },
        Shown {
            source: "local n = 0\nfor _, k in ipairs(KEYS) do n = n + 1 break end\n\
                     return tostring(n)",
            rule: LoopRunsOnce,
            returns: "1",
        },
        // A warning, not an error: KEYS runs in a script on every server.
        Shown {
            source: "return tostring(#redis.call('KEYS', 'lint:none:*'))",
            rule: KeyspaceScan,
            returns: "0",
        },
    ]
}

matrix! {
    fn lint_warnings_show_on_the_servers(server) {
        for case in shown() {
            assert!(script_cache_check::check_syntax(case.source.as_bytes()).is_ok(), "{}", case.source);
            let findings = lint::lint_script(case.source);
            assert!(
                findings.iter().all(|f| f.severity() == Severity::Warning),
                "{:?}: {findings:#?}",
                case.source
            );
            assert!(
                findings.iter().any(|f| f.rule == case.rule),
                "{:?}: {findings:#?}",
                case.source
            );
            let mut con = server.connection();
            let got: String = redis::cmd("EVAL")
                .arg(case.source)
                .arg(1)
                .arg("lint:shown")
                .arg("1")
                .query(&mut con)
                .unwrap_or_else(|e| panic!("{:?} on {}: {e}", case.source, server.flavor()));
            assert_eq!(got, case.returns, "{:?} on {}", case.source, server.flavor());
        }
    }
}

/// The workspace's own scripts are clean: no error, no warning (through
/// the macros' own analysis, so with their includes expanded).
#[test]
fn workspace_scripts_have_no_findings() {
    use script_cache_check::analysis;
    use script_cache_check::folder::{self, Folder};
    let root = script_cache_tests::workspace_root();
    let mut files = 0;
    for dir in [
        "lua",
        "tests/fixtures/guarantees",
        "tests/fixtures/includes",
        "tests/bench-lua",
    ] {
        let folder = Folder {
            written: dir.to_owned(),
            abs: root.join(dir),
            relative_to: "the workspace".to_owned(),
            config: Default::default(),
        };
        let mut errors = Vec::new();
        for file in folder::list(&folder, &mut errors) {
            let Some(lua) = folder::read(&folder, &file, &mut errors) else {
                continue;
            };
            let a = analysis::analyze(&folder, &lua, &mut errors);
            assert!(a.warnings.is_empty(), "{}: {:#?}", a.shown, a.warnings);
            files += 1;
        }
        assert!(errors.is_empty(), "{dir}: {errors:#?}");
    }
    assert!(files >= 12, "only {files} scripts linted");
}
