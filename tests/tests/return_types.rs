//! The lint's `return-type` rule: its figures on the seeded corpus of
//! `tests/return-types/` (`mismatch/`: a `return` its `@return` type cannot
//! take; `correct/`: none), nothing on the workspace's scripts, and the
//! reply table it uses (`script-cache-check/src/lint/replies.rs`, generated
//! from Redis's command files) against what the servers answer; and the
//! corpus run on the servers, its replies converted as a typed call does.

use std::fs;
use std::path::{Path, PathBuf};

use redis::Value;
use script_cache_check::header::ReturnType;
use script_cache_check::lint::{self, Rule};
use script_cache_tests::{matrix, workspace_root};

/// The `.lua` files under `dir`, recursively, sorted.
fn lua_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else if path.extension().is_some_and(|e| e == "lua") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The `return-type` findings of a script, rendered `line:col message`.
fn findings(source: &str) -> Vec<String> {
    lint::lint_script(source)
        .into_iter()
        .filter(|f| f.rule == Rule::ReturnType)
        .map(|f| format!("{}:{} {}", f.line, f.column, f.message))
        .collect()
}

/// Reads a corpus folder: every script must be Lua the servers accept (a
/// script the lint could not parse would get no finding for that reason).
fn corpus(kind: &str) -> Vec<(String, String)> {
    let dir = workspace_root().join("tests/return-types").join(kind);
    lua_files(&dir)
        .into_iter()
        .map(|path| {
            let source = fs::read_to_string(&path).unwrap();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            script_cache_check::check_syntax(source.as_bytes())
                .unwrap_or_else(|e| panic!("{kind}/{name}: {e}"));
            assert!(
                source.starts_with("-- @return "),
                "{kind}/{name} declares no @return"
            );
            (name, source)
        })
        .collect()
}

#[test]
fn corpus_figures() {
    let mismatches = corpus("mismatch");
    let correct = corpus("correct");
    assert!(mismatches.len() >= 50, "{} mismatches", mismatches.len());
    assert!(correct.len() >= 50, "{} correct scripts", correct.len());
    let mut missed = Vec::new();
    for (name, source) in &mismatches {
        if findings(source).is_empty() {
            missed.push(name.as_str());
        }
    }
    let mut false_positives = Vec::new();
    for (name, source) in &correct {
        for f in findings(source) {
            false_positives.push(format!("{name}: {f}"));
        }
    }
    let caught = mismatches.len() - missed.len();
    let percent = caught * 100 / mismatches.len();
    println!(
        "return-type corpus: {caught}/{} mismatches caught ({percent}%), missed: {missed:?}; \
         {} false positives on {} correct scripts",
        mismatches.len(),
        false_positives.len(),
        correct.len()
    );
    assert!(caught * 10 >= mismatches.len() * 9, "missed: {missed:?}");
    assert!(false_positives.is_empty(), "{false_positives:#?}");
}

/// The workspace's scripts (all of them, the compile-fail fixtures too,
/// but for the one that shows this rule) have no `return-type` finding.
#[test]
fn workspace_scripts_have_no_return_type_finding() {
    let root = workspace_root();
    let mut files = 0;
    for dir in [
        "lua",
        "quickstart/lua",
        "tests/lua",
        "tests/bench-lua",
        "tests/fixtures",
        "tests/ui/fixtures",
    ] {
        for path in lua_files(&root.join(dir)) {
            if path
                .components()
                .any(|c| c.as_os_str() == "lint_return_type")
            {
                continue;
            }
            let Ok(source) = fs::read_to_string(&path) else {
                continue; // the non-UTF-8 fixtures
            };
            assert_eq!(
                findings(&source),
                Vec::<String>::new(),
                "{}",
                path.display()
            );
            files += 1;
        }
    }
    assert!(files >= 100, "only {files} scripts linted");
}

/// One kind of reply: `Int`, `Bulk`, `Status`, `Nil` or `Array(...)`, as
/// the generated table writes them.
#[derive(Debug)]
enum Kind {
    Int,
    Bulk,
    Status(Option<String>),
    Nil,
    /// Element kinds, `None` when the table does not say.
    Array(Option<Vec<Kind>>),
}

/// Parses `Bulk, Nil, Array(Some(&[Bulk]))` (the generated table's Rust).
fn parse_kinds(text: &str) -> Vec<Kind> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    let bytes = text.as_bytes();
    for i in 0..=bytes.len() {
        let b = bytes.get(i).copied().unwrap_or(b',');
        match b {
            b'(' | b'[' => depth += 1,
            b')' | b']' => depth -= 1,
            b',' if depth == 0 => {
                let item = text[start..i].trim();
                start = i + 1;
                if item.is_empty() {
                    continue;
                }
                out.push(match item {
                    "Int" => Kind::Int,
                    "Bulk" => Kind::Bulk,
                    "Nil" => Kind::Nil,
                    "Array(None)" => Kind::Array(None),
                    "Status(None)" => Kind::Status(None),
                    _ if item.starts_with("Status(Some(\"") => Kind::Status(Some(
                        item["Status(Some(\"".len()..item.len() - "\"))".len()].to_owned(),
                    )),
                    _ if item.starts_with("Array(Some(&[") => Kind::Array(Some(parse_kinds(
                        &item["Array(Some(&[".len()..item.len() - "]))".len()],
                    ))),
                    _ => panic!("cannot read the reply kind `{item}`"),
                });
            }
            _ => {}
        }
    }
    out
}

/// The generated table, read from its source: command -> kinds.
fn reply_table() -> Vec<(String, Vec<Kind>)> {
    let path = workspace_root().join("script-cache-check/src/lint/replies.rs");
    let text = fs::read_to_string(path).unwrap();
    assert!(
        text.starts_with("//! @generated"),
        "replies.rs is not marked @generated"
    );
    text.lines()
        .filter_map(|line| {
            let rest = line.trim().strip_prefix("(\"")?;
            let (name, rest) = rest.split_once("\", &[")?;
            let kinds = rest.strip_suffix("]),")?;
            Some((name.to_owned(), parse_kinds(kinds)))
        })
        .collect()
}

/// Whether the table's `kinds` hold `reply` (a schema's `string` is a bulk
/// or a status reply: the schemas do not tell them apart).
fn holds(kinds: &[Kind], reply: &Value) -> bool {
    kinds.iter().any(|k| match (k, reply) {
        (Kind::Int, Value::Int(_)) => true,
        (Kind::Bulk, Value::BulkString(_) | Value::SimpleString(_) | Value::Okay) => true,
        (Kind::Status(None), Value::SimpleString(_) | Value::Okay) => true,
        (Kind::Status(Some(s)), Value::SimpleString(t)) => s == t,
        (Kind::Status(Some(s)), Value::Okay) => s == "OK",
        (Kind::Nil, Value::Nil) => true,
        (Kind::Array(None), Value::Array(_)) => true,
        (Kind::Array(Some(elems)), Value::Array(items)) => items.iter().all(|i| holds(elems, i)),
        _ => false,
    })
}

/// A sample of commands, each run by a script after its setup: (command as
/// the table names it, the setup, the script's call).
const SAMPLE: &[(&str, &[&str], &str)] = &[
    ("GET", &["SET k v"], "redis.call('GET', KEYS[1])"),
    ("GET", &[], "redis.call('GET', KEYS[1])"),
    ("SET", &[], "redis.call('SET', KEYS[1], 'v')"),
    ("SET", &["SET k v"], "redis.call('SET', KEYS[1], 'w', 'NX')"),
    ("INCR", &[], "redis.call('INCR', KEYS[1])"),
    (
        "INCRBYFLOAT",
        &[],
        "redis.call('INCRBYFLOAT', KEYS[1], '1.5')",
    ),
    ("EXISTS", &[], "redis.call('EXISTS', KEYS[1])"),
    ("DEL", &["SET k v"], "redis.call('DEL', KEYS[1])"),
    ("TYPE", &["SET k v"], "redis.call('TYPE', KEYS[1])"),
    ("APPEND", &[], "redis.call('APPEND', KEYS[1], 'abc')"),
    ("STRLEN", &["SET k abc"], "redis.call('STRLEN', KEYS[1])"),
    ("HSET", &[], "redis.call('HSET', KEYS[1], 'f', 'v')"),
    ("HGET", &["HSET k f v"], "redis.call('HGET', KEYS[1], 'f')"),
    ("HGET", &[], "redis.call('HGET', KEYS[1], 'f')"),
    ("HGETALL", &["HSET k f v"], "redis.call('HGETALL', KEYS[1])"),
    (
        "HMGET",
        &["HSET k f v"],
        "redis.call('HMGET', KEYS[1], 'f', 'g')",
    ),
    ("LPUSH", &[], "redis.call('LPUSH', KEYS[1], 'a', 'b')"),
    ("LPOP", &["RPUSH k a"], "redis.call('LPOP', KEYS[1])"),
    ("LPOP", &[], "redis.call('LPOP', KEYS[1])"),
    ("LPOP", &["RPUSH k a b"], "redis.call('LPOP', KEYS[1], 2)"),
    (
        "LRANGE",
        &["RPUSH k a b"],
        "redis.call('LRANGE', KEYS[1], 0, -1)",
    ),
    ("LLEN", &["RPUSH k a b"], "redis.call('LLEN', KEYS[1])"),
    ("SADD", &[], "redis.call('SADD', KEYS[1], 'a')"),
    (
        "SMEMBERS",
        &["SADD k a b"],
        "redis.call('SMEMBERS', KEYS[1])",
    ),
    (
        "SISMEMBER",
        &["SADD k a"],
        "redis.call('SISMEMBER', KEYS[1], 'a')",
    ),
    ("SCARD", &["SADD k a"], "redis.call('SCARD', KEYS[1])"),
    ("ZADD", &[], "redis.call('ZADD', KEYS[1], 1, 'a')"),
    (
        "ZSCORE",
        &["ZADD k 1.5 a"],
        "redis.call('ZSCORE', KEYS[1], 'a')",
    ),
    ("ZSCORE", &[], "redis.call('ZSCORE', KEYS[1], 'a')"),
    (
        "ZRANGE",
        &["ZADD k 1 a 2 b"],
        "redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')",
    ),
    ("ZCARD", &["ZADD k 1 a"], "redis.call('ZCARD', KEYS[1])"),
    ("TTL", &["SET k v EX 100"], "redis.call('TTL', KEYS[1])"),
    ("EXPIRE", &["SET k v"], "redis.call('EXPIRE', KEYS[1], 100)"),
    ("PING", &[], "redis.call('PING')"),
    ("ECHO", &[], "redis.call('ECHO', 'hi')"),
    ("GETDEL", &["SET k v"], "redis.call('GETDEL', KEYS[1])"),
    ("PFADD", &[], "redis.call('PFADD', KEYS[1], 'a')"),
    (
        "LMPOP",
        &["RPUSH k a"],
        "redis.call('LMPOP', 1, KEYS[1], 'LEFT')",
    ),
    ("LMPOP", &[], "redis.call('LMPOP', 1, KEYS[1], 'LEFT')"),
    (
        "HRANDFIELD",
        &["HSET k f v"],
        "redis.call('HRANDFIELD', KEYS[1])",
    ),
];

matrix! {
    fn reply_table_matches_the_servers(server) {
        let table = reply_table();
        assert!(table.len() > 300, "{} commands in the table", table.len());
        let mut con = server.connection();
        let mut checked = Vec::new();
        for (command, setup, call) in SAMPLE {
            let kinds = &table
                .iter()
                .find(|(name, _)| name == command)
                .unwrap_or_else(|| panic!("`{command}` is not in the reply table"))
                .1;
            let info: Value = redis::cmd("COMMAND")
                .arg("INFO")
                .arg(*command)
                .query(&mut con)
                .unwrap();
            if matches!(&info, Value::Array(items) if items.first().is_none_or(|i| *i == Value::Nil))
            {
                println!("{}: no {command}", server.flavor());
                continue;
            }
            let _: () = redis::cmd("FLUSHALL").query(&mut con).unwrap();
            for line in *setup {
                let mut cmd = redis::Cmd::new();
                for word in line.split(' ') {
                    cmd.arg(word);
                }
                let _: Value = cmd.query(&mut con).unwrap();
            }
            let reply: Value = redis::cmd("EVAL")
                .arg(format!("return {call}"))
                .arg(1)
                .arg("k")
                .query(&mut con)
                .unwrap_or_else(|e| panic!("{}: {call}: {e}", server.flavor()));
            assert!(
                holds(kinds, &reply),
                "{}: `{call}` replied {reply:?}, which the table's {kinds:?} for {command} \
                 does not hold",
                server.flavor()
            );
            if !checked.contains(command) {
                checked.push(*command);
            }
        }
        println!("{}: {} commands checked", server.flavor(), checked.len());
        assert!(checked.len() >= 20, "{} commands checked", checked.len());
    }
}

#[test]
fn the_table_reader_reads_every_line() {
    let path = workspace_root().join("script-cache-check/src/lint/replies.rs");
    let text = fs::read_to_string(path).unwrap();
    let rows = text.lines().filter(|l| l.trim().starts_with("(\"")).count();
    assert_eq!(reply_table().len(), rows);
    // A kind the reader parses the way the lint means it.
    let get = reply_table()
        .into_iter()
        .find(|(n, _)| n == "GET")
        .unwrap()
        .1;
    assert!(holds(&get, &Value::Nil));
    assert!(holds(&get, &Value::BulkString(b"v".to_vec())));
    assert!(!holds(&get, &Value::Int(1)));
}

/// Whether `reply` converts to the Rust type of `ty` (what the typed call
/// does: redis-rs's `FromRedisValue`, the leaves by redis-rs itself).
fn converts(ty: &ReturnType, reply: &Value) -> bool {
    use redis::FromRedisValue;
    if matches!(reply, Value::ServerError(_)) {
        return false;
    }
    match ty {
        ReturnType::Integer => i64::from_redis_value(reply.clone()).is_ok(),
        ReturnType::String | ReturnType::Status => String::from_redis_value(reply.clone()).is_ok(),
        ReturnType::Boolean => bool::from_redis_value(reply.clone()).is_ok(),
        ReturnType::Value | ReturnType::Nil => true,
        ReturnType::Optional(inner) => *reply == Value::Nil || converts(inner, reply),
        ReturnType::Array(None) => Vec::<Value>::from_redis_value(reply.clone()).is_ok(),
        ReturnType::Array(Some(inner)) => match reply {
            Value::Nil => true,
            Value::Array(items) => items.iter().all(|i| converts(inner, i)),
            Value::BulkString(_) => converts(inner, reply),
            _ => false,
        },
    }
}

matrix! {
    /// Each corpus script run once (two keys, `ARGV` `a` and `b`, an empty
    /// database): no correct script's reply fails its conversion, and the
    /// mismatches' replies that fail it are counted (a mismatch in a branch
    /// these inputs do not take converts).
    fn corpus_on_the_servers(server) {
        let mut con = server.connection();
        let mut run = |source: &str| -> Option<Value> {
            let _: () = redis::cmd("FLUSHALL").query(&mut con).unwrap();
            redis::cmd("EVAL")
                .arg(source)
                .arg(2)
                .arg("k1")
                .arg("k2")
                .arg("a")
                .arg("b")
                .query::<Value>(&mut con)
                .ok()
        };
        let declared = |source: &str| {
            let (header, _) = script_cache_check::header::parse(source);
            header.returns.unwrap().ty
        };
        let (mut ran, mut failed, mut errors) = (0, Vec::new(), 0);
        let mut converted = Vec::new();
        for (name, source) in corpus("mismatch") {
            match run(&source) {
                Some(reply) => {
                    ran += 1;
                    if converts(&declared(&source), &reply) {
                        converted.push(name);
                    } else {
                        failed.push(name);
                    }
                }
                None => errors += 1,
            }
        }
        let mut correct_ran = 0;
        for (name, source) in corpus("correct") {
            if let Some(reply) = run(&source) {
                correct_ran += 1;
                assert!(
                    converts(&declared(&source), &reply),
                    "{}: correct/{name} replied {reply:?}",
                    server.flavor()
                );
            }
        }
        println!(
            "{}: mismatches: {} of {ran} replies fail their conversion ({errors} scripts failed \
             on the server; converted: {converted:?}); correct: {correct_ran} replies, all convert",
            server.flavor(),
            failed.len()
        );
        assert!(failed.len() * 10 >= ran * 8, "{} of {ran}", failed.len());
        assert!(correct_ran >= 50, "{correct_ran}");
    }
}
