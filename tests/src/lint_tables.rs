//! The command table and the Lua-globals table of the script lint
//! (`script-cache-check/src/lint/tables.rs`), generated from the real
//! servers: `COMMAND`, `COMMAND DOCS` and the Lua environment `EVAL` gives
//! a script, on Redis 6.2, Redis 7.0, Valkey 8.1, Redis 8.2 and Valkey 9.1.
//!
//! `cargo run -p script-cache-tests --bin lint-tables` writes the file;
//! `tests/tests/lint_tables.rs` checks that the committed file is what the
//! servers say. The text is deterministic: everything is sorted by name and
//! nothing depends on the time, the ports or the order of replies.

use crate::{Flavor, HarnessError, TestServer, workspace_root};
use redis::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The servers of the tables, in the order of their `[_; 5]` arrays and
/// bitmasks (oldest release first).
pub const SERVERS: [Flavor; 5] = [
    Flavor::Redis62,
    Flavor::Redis7,
    Flavor::Valkey81,
    Flavor::Redis82,
    Flavor::Valkey9,
];

/// How the generated file names the servers (its `SERVERS` constant).
const LABELS: [&str; 5] = [
    "Redis 6.2",
    "Redis 7.0",
    "Valkey 8.1",
    "Redis 8.2",
    "Valkey 9.1",
];

/// Indexes of [`SERVERS`] the generator reads by name.
const REDIS_6_2: usize = 0;
const REDIS_7_0: usize = 1;
const VALKEY_8_1: usize = 2;
const REDIS_8_2: usize = 3;
const VALKEY_9_1: usize = 4;

/// The flags the tables keep, with their bit (the generated constants).
const FLAGS: [(&str, &str, u16); 9] = [
    ("write", "WRITE", 1),
    ("readonly", "READONLY", 2),
    ("noscript", "NOSCRIPT", 4),
    ("may_replicate", "MAY_REPLICATE", 8),
    ("movablekeys", "MOVABLEKEYS", 16),
    ("denyoom", "DENYOOM", 32),
    ("pubsub", "PUBSUB", 64),
    ("admin", "ADMIN", 128),
    ("fast", "FAST", 256),
];

/// The flags the probes set (not `COMMAND` flags), with their bit.
const PROBE_FLAGS: [(&str, u16); 2] = [("REFUSED_IN_NO_WRITES", 512), ("REFUSED_IN_SCRIPTS", 1024)];
const REFUSED_IN_NO_WRITES: u16 = PROBE_FLAGS[0].1;
const REFUSED_IN_SCRIPTS: u16 = PROBE_FLAGS[1].1;
const WRITE: u16 = FLAGS[0].2;
const NOSCRIPT: u16 = FLAGS[2].2;
const MAY_REPLICATE: u16 = FLAGS[3].2;
/// The `COMMAND` flags the lint reads, the only ones the generated file
/// keeps (with the probes' flags): the others are inputs of the probes'
/// flags and of the summary, not of the lint.
const EMITTED_FLAGS: [(&str, u16); 1] = [("MOVABLEKEYS", FLAGS[4].2)];

/// The script of the command probes: calls the command its `ARGV` names
/// (name words, then dummy arguments) and returns `"OK"` or
/// `"ERR:" .. message`. `redis.pcall` hands a refusal back as an error
/// table instead of raising it.
const PROBE_CALL: &str = "local r = redis.pcall(unpack(ARGV)) \
if type(r) == 'table' and r.err then return 'ERR:' .. r.err end return 'OK'";

/// The commands the no-writes probe does not run, because running them
/// (which happens when the server does not refuse them) could hang the
/// connection or the server, kill it, or change its role. Their
/// `REFUSED_IN_NO_WRITES` comes from their `WRITE` flag instead. The
/// scripts probe runs them all: it never lets a command run (see [`probe`]).
const NOT_RUN: [&str; 19] = [
    "blmove",
    "blmpop",
    "blpop",
    "brpop",
    "brpoplpush",
    "bzmpop",
    "bzpopmax",
    "bzpopmin",
    "client|pause",
    "debug",
    "failover",
    "monitor",
    "psync",
    "replicaof",
    "shutdown",
    "slaveof",
    "sync",
    "wait",
    "waitaof",
];

/// How long one probe may take before the server is restarted.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// The scripts whose outcome the generated file records, with what they
/// try. Each runs through `EVAL` with no keys and no arguments.
const PROBES: [(&str, &str); 5] = [
    ("x = 1 return 1", "creating a global"),
    ("return y", "reading a global that does not exist"),
    (
        "redis.x = 1 return 1",
        "writing a field of the `redis` table",
    ),
    (
        "string.x = 1 return 1",
        "writing a field of the `string` table",
    ),
    (
        "KEYS[1] = 'k' return 1",
        "writing an element of `KEYS` (a table made for the call)",
    ),
];

/// Lists every global of the script environment and, for every global
/// table but `_G` itself, its fields: one `name<TAB>type` line each.
/// `pairs` does not go through `_G`'s `__index` (which raises on a missing
/// global on every flavor), so it lists what is there.
const LIST_GLOBALS: &str = r#"
local out = {}
for k, v in pairs(_G) do
  out[#out + 1] = tostring(k) .. "\t" .. type(v)
  if type(v) == "table" and k ~= "_G" then
    for k2, v2 in pairs(v) do
      out[#out + 1] = tostring(k) .. "." .. tostring(k2) .. "\t" .. type(v2)
    end
  end
end
return out
"#;

/// The file the generator writes.
pub fn tables_path() -> PathBuf {
    workspace_root().join("script-cache-check/src/lint/tables.rs")
}

/// One command or subcommand as one server's `COMMAND` describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct CommandInfo {
    arity: i64,
    flags: u16,
    keys: (i64, i64, i64),
    container: bool,
}

/// What one server says.
#[derive(Debug)]
struct ServerFacts {
    /// `redis_version` (`valkey_version` on Valkey) of `INFO server`.
    version: String,
    commands: BTreeMap<String, CommandInfo>,
    /// `COMMAND DOCS` `since`, by command name (empty on Redis 6.2).
    since: BTreeMap<String, String>,
    /// Lua type (`type(v)`) by global name (`tostring`, `redis.call`).
    globals: BTreeMap<String, String>,
    /// The outcome of each of [`PROBES`]: `Ok(reply)` or `Err(message)`.
    probes: Vec<Result<String, String>>,
    /// What the command probes found: `REFUSED_IN_*` bits by command.
    refused: BTreeMap<String, u16>,
    /// Commands whose `REFUSED_IN_NO_WRITES` is not a probe's (sorted):
    /// [`NOT_RUN`] ones, and ones whose probe broke the connection.
    not_probed: Vec<String>,
    /// Replies the probes did not expect, `name: reply`.
    odd: Vec<String>,
}

/// What the servers say, as the generated text and a human summary of
/// where they differ (for the generator's output).
pub struct Generated {
    /// The generated file, formatted by rustfmt.
    pub text: String,
    /// Counts and differences between the servers, for people.
    pub summary: String,
}

/// Starts the five servers, asks them, and returns the generated file
/// (formatted by rustfmt). Panics when a server is missing or a reply is
/// not what `COMMAND`/`EVAL` answer: this is harness code.
pub fn generate() -> String {
    generate_with_summary().text
}

/// [`generate`], with the summary of the differences between servers.
pub fn generate_with_summary() -> Generated {
    match try_generate() {
        Ok(generated) => generated,
        Err(e) => panic!("cannot generate the lint tables: {e}"),
    }
}

/// [`generate_with_summary`], returning the failure.
pub fn try_generate() -> Result<Generated, HarnessError> {
    let mut facts = Vec::new();
    for flavor in SERVERS {
        flavor.binary()?;
        let server = TestServer::builder(flavor).start()?;
        let mut f = collect(&server)?;
        drop(server);
        // The probes run commands: on a server of their own.
        let mut throwaway = TestServer::builder(flavor).start()?;
        probe(&mut throwaway, &mut f)?;
        facts.push(f);
    }
    let facts: [ServerFacts; 5] = facts
        .try_into()
        .map_err(|_| HarnessError::new("expected five servers"))?;
    let raw = render(&facts);
    // The marker goes on after rustfmt, which leaves files marked
    // `@generated` as they are (so `cargo fmt` leaves this one alone too).
    let text = format!("{GENERATED_MARKER}\n{}", rustfmt(&raw)?);
    Ok(Generated {
        text,
        summary: summary(&facts),
    })
}

/// The first line of the generated file: tools (rustfmt, reviews, editors)
/// treat a file marked `@generated` as not written by hand.
pub const GENERATED_MARKER: &str = "// @generated by `cargo run -p script-cache-tests --bin lint-tables` \
     (regenerate with it; do not edit by hand)";

/// Formats Rust source with `rustfmt --edition 2024` (stdin to stdout),
/// as `cargo fmt` would format the committed file.
pub fn rustfmt(source: &str) -> Result<String, HarnessError> {
    let mut child = Command::new("rustfmt")
        .args(["--edition", "2024", "--emit", "stdout"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| HarnessError::new(format!("cannot run rustfmt: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(source.as_bytes())
            .map_err(|e| HarnessError::new(format!("cannot write to rustfmt: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| HarnessError::new(format!("rustfmt failed: {e}")))?;
    if !out.status.success() {
        return Err(HarnessError::new(format!(
            "rustfmt failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    String::from_utf8(out.stdout)
        .map_err(|e| HarnessError::new(format!("rustfmt wrote non-UTF-8: {e}")))
}

fn collect(server: &TestServer) -> Result<ServerFacts, HarnessError> {
    let mut con = server.client().get_connection()?;
    let info: String = redis::cmd("INFO").arg("server").query(&mut con)?;
    let field = |name: &str| {
        info.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
            .map(|v| v.trim().to_owned())
    };
    let version = field("valkey_version")
        .or_else(|| field("redis_version"))
        .ok_or_else(|| HarnessError::new("INFO server has no version"))?;

    let mut commands = BTreeMap::new();
    let reply: Value = redis::cmd("COMMAND").query(&mut con)?;
    for entry in array(&reply, "COMMAND")? {
        command_entry(entry, &mut commands)?;
    }

    let mut since = BTreeMap::new();
    if server.flavor() != Flavor::Redis62 {
        let reply: Value = redis::cmd("COMMAND").arg("DOCS").query(&mut con)?;
        docs(&reply, &mut since)?;
    }

    let mut globals = BTreeMap::new();
    let reply: Value = redis::cmd("EVAL")
        .arg(LIST_GLOBALS)
        .arg(0)
        .query(&mut con)?;
    for line in array(&reply, "the globals script")? {
        let line = string(line, "a global")?;
        let (name, kind) = line
            .split_once('\t')
            .ok_or_else(|| HarnessError::new(format!("bad global line {line:?}")))?;
        globals.insert(name.to_owned(), kind.to_owned());
    }
    // `pairs(_G)` must see the environment: the globals every script uses.
    for name in ["KEYS", "ARGV", "redis", "redis.call", "string", "pairs"] {
        if !globals.contains_key(name) {
            return Err(HarnessError::new(format!(
                "{}: pairs(_G) did not list `{name}`: {globals:?}",
                server.flavor()
            )));
        }
    }

    let mut probes = Vec::new();
    for (script, _) in PROBES {
        let outcome = match redis::cmd("EVAL")
            .arg(script)
            .arg(0)
            .query::<Value>(&mut con)
        {
            Ok(reply) => Ok(format!("{reply:?}")),
            Err(e) => match (e.code(), e.detail()) {
                (Some(code), Some(detail)) => Err(format!("{code} {detail}")),
                (Some(code), None) => Err(code.to_owned()),
                _ => Err(e.to_string()),
            },
        };
        probes.push(outcome);
    }

    Ok(ServerFacts {
        version,
        commands,
        since,
        globals,
        probes,
        refused: BTreeMap::new(),
        not_probed: Vec::new(),
        odd: Vec::new(),
    })
}

/// The `EVAL` arguments that call `name` (`config|get`) with the fewest
/// arguments its arity allows: the name words, then dummy `x`s.
fn call_args(name: &str, arity: i64) -> Vec<String> {
    let mut args: Vec<String> = name.split('|').map(str::to_owned).collect();
    let words = args.len();
    let wanted = usize::try_from(arity.unsigned_abs()).unwrap_or(words);
    args.extend(std::iter::repeat_n(
        "x".to_owned(),
        wanted.saturating_sub(words),
    ));
    args
}

/// A connection to `server` that gives up on a reply after
/// [`PROBE_TIMEOUT`], authenticated as `user` (`None`: the default user).
fn probe_connection(
    server: &TestServer,
    user: Option<&str>,
) -> Result<redis::Connection, HarnessError> {
    let mut con = server.client().get_connection()?;
    con.set_read_timeout(Some(PROBE_TIMEOUT))?;
    if let Some(user) = user {
        redis::cmd("AUTH")
            .arg(user)
            .arg("x")
            .query::<()>(&mut con)?;
    }
    Ok(con)
}

/// Creates the user of the scripts probe: it may run `EVAL` and nothing
/// else, so every command a script calls is refused, by the script check
/// or else by the ACL check, before it runs.
fn create_probe_user(server: &TestServer) -> Result<(), HarnessError> {
    let mut con = probe_connection(server, None)?;
    redis::cmd("ACL")
        .arg(&["SETUSER", "probe", "on", "nopass", "-@all", "+eval"][..])
        .query::<()>(&mut con)?;
    Ok(())
}

/// Runs [`PROBE_CALL`] (after `shebang`) with `args`. `Ok(reply)` is the
/// script's `"OK"`/`"ERR:..."` or `EVAL`'s own error; `Err` means the
/// connection broke (a timeout, or the server went away).
fn probe_call(
    con: &mut redis::Connection,
    shebang: &str,
    args: &[String],
) -> Result<String, redis::RedisError> {
    match redis::cmd("EVAL")
        .arg(format!("{shebang}{PROBE_CALL}"))
        .arg(0)
        .arg(args)
        .query::<Value>(con)
    {
        Ok(reply) => Ok(string(&reply, "a probe's reply").unwrap_or_else(|_| format!("{reply:?}"))),
        Err(e) if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() => Err(e),
        Err(e) => Ok(format!("EVAL failed: {e}")),
    }
}

/// Fills `facts.refused` from probes of `server` (a throwaway: commands
/// run and may change its data). Every command and subcommand with an
/// arity but containers (7.0 and Valkey route a call to a subcommand) is
/// called with the fewest arguments its arity allows:
///
/// 1. `REFUSED_IN_SCRIPTS`: from a plain `EVAL` as a user who may run
///    `EVAL` only. The server checks whether a command may run in a script
///    before its ACL, so each call is refused by one or the other and none
///    runs: every command is probed, `shutdown` included.
/// 2. `REFUSED_IN_NO_WRITES` (Redis 7.0 and Valkey): from a
///    `#!lua flags=no-writes` `EVAL` as the default user, for the commands
///    step 1 allows but [`NOT_RUN`]. The server refuses a write before it
///    runs it, so only the commands it does not refuse run.
///
/// Redis 6.2 has no shebang: its `REFUSED_IN_NO_WRITES` is its
/// `WRITE | MAY_REPLICATE` (6.2's `COMMAND` shows `may_replicate`; that is
/// what 7.0 refuses in a no-writes script).
fn probe(server: &mut TestServer, facts: &mut ServerFacts) -> Result<(), HarnessError> {
    let flavor = server.flavor();
    let targets: Vec<(String, i64, u16)> = facts
        .commands
        .iter()
        .filter(|(_, c)| c.arity != 0 && !c.container)
        .map(|(n, c)| (n.clone(), c.arity, c.flags))
        .collect();

    create_probe_user(server)?;
    let mut con = probe_connection(server, Some("probe"))?;
    for (name, arity, _) in &targets {
        let reply = match probe_call(&mut con, "", &call_args(name, *arity)) {
            Ok(reply) => reply,
            Err(e) => {
                return Err(HarnessError::new(format!(
                    "{flavor}: the scripts probe of {name} broke the connection: {e}"
                )));
            }
        };
        let bits = facts.refused.entry(name.clone()).or_default();
        if reply.contains("not allowed from script") {
            *bits |= REFUSED_IN_SCRIPTS;
        } else if !(reply.contains("ACL failure") || reply.contains("can't run this command")) {
            facts.odd.push(format!("{name} (scripts probe): {reply}"));
        }
    }

    if flavor == Flavor::Redis62 {
        for (name, _, flags) in &targets {
            let bits = facts.refused.entry(name.clone()).or_default();
            if *bits & REFUSED_IN_SCRIPTS == 0 && flags & (WRITE | MAY_REPLICATE) != 0 {
                *bits |= REFUSED_IN_NO_WRITES;
            }
        }
        return Ok(());
    }

    let mut con = probe_connection(server, None)?;
    for (name, arity, flags) in &targets {
        let bits = facts.refused.entry(name.clone()).or_default();
        if *bits & REFUSED_IN_SCRIPTS != 0 {
            continue;
        }
        if NOT_RUN.contains(&name.as_str()) {
            if flags & WRITE != 0 {
                *bits |= REFUSED_IN_NO_WRITES;
            }
            facts.not_probed.push(name.clone());
            continue;
        }
        match probe_call(
            &mut con,
            "#!lua flags=no-writes\n",
            &call_args(name, *arity),
        ) {
            Ok(reply)
                if reply.contains("Write commands are not allowed from read-only scripts") =>
            {
                *bits |= REFUSED_IN_NO_WRITES;
            }
            Ok(reply) if reply.contains("not allowed from script") => {
                facts.odd.push(format!("{name} (no-writes probe): {reply}"));
            }
            Ok(_) => {}
            Err(e) => {
                // A hung or dropped connection: a fresh server, and the
                // flags' verdict for this command.
                facts
                    .odd
                    .push(format!("{name} (no-writes probe): no reply ({e})"));
                facts.not_probed.push(name.clone());
                if flags & WRITE != 0 {
                    *bits |= REFUSED_IN_NO_WRITES;
                }
                server.restart()?;
                con = probe_connection(server, None)?;
            }
        }
    }
    facts.not_probed.sort();
    Ok(())
}

/// One `COMMAND` entry (and its subcommands, the 10th element on 7.0+):
/// name, arity, flags, first key, last key, step, ...
fn command_entry(
    entry: &Value,
    commands: &mut BTreeMap<String, CommandInfo>,
) -> Result<(), HarnessError> {
    let fields = array(entry, "a COMMAND entry")?;
    if fields.len() < 6 {
        return Err(HarnessError::new(format!("short COMMAND entry {entry:?}")));
    }
    let name = string(&fields[0], "a command name")?.to_lowercase();
    let arity = int(&fields[1], "an arity")?;
    let mut flags = 0;
    for flag in array(&fields[2], "flags")? {
        let flag = string(flag, "a flag")?;
        if let Some((_, _, bit)) = FLAGS.iter().find(|(f, _, _)| *f == flag) {
            flags |= bit;
        }
    }
    let keys = (
        int(&fields[3], "first key")?,
        int(&fields[4], "last key")?,
        int(&fields[5], "step")?,
    );
    let subcommands = match fields.get(9) {
        Some(v) => array(v, "subcommands")?,
        None => &[],
    };
    for sub in subcommands {
        command_entry(sub, commands)?;
    }
    commands.insert(
        name,
        CommandInfo {
            arity,
            flags,
            keys,
            container: !subcommands.is_empty(),
        },
    );
    Ok(())
}

/// `COMMAND DOCS`: name -> doc map pairs, `since` and `subcommands` (the
/// same shape again) read from each doc map.
fn docs(reply: &Value, since: &mut BTreeMap<String, String>) -> Result<(), HarnessError> {
    for (name, doc) in pairs(reply, "COMMAND DOCS")? {
        let name = name.to_lowercase();
        for (key, value) in pairs(doc, "a command's docs")? {
            match key.as_str() {
                "since" => {
                    since.insert(name.clone(), string(value, "since")?);
                }
                "subcommands" => docs(value, since)?,
                _ => {}
            }
        }
    }
    Ok(())
}

fn array<'a>(value: &'a Value, what: &str) -> Result<&'a [Value], HarnessError> {
    match value {
        Value::Array(items) | Value::Set(items) => Ok(items),
        other => Err(HarnessError::new(format!(
            "{what}: expected an array, got {other:?}"
        ))),
    }
}

/// A map reply: a RESP3 map, or a RESP2 array of alternating keys and
/// values.
fn pairs<'a>(value: &'a Value, what: &str) -> Result<Vec<(String, &'a Value)>, HarnessError> {
    match value {
        Value::Map(items) => items
            .iter()
            .map(|(k, v)| Ok((string(k, what)?, v)))
            .collect(),
        Value::Array(items) if items.len() % 2 == 0 => items
            .chunks(2)
            .map(|pair| Ok((string(&pair[0], what)?, &pair[1])))
            .collect(),
        other => Err(HarnessError::new(format!(
            "{what}: expected a map, got {other:?}"
        ))),
    }
}

fn string(value: &Value, what: &str) -> Result<String, HarnessError> {
    match value {
        Value::BulkString(bytes) => Ok(String::from_utf8_lossy(bytes).into_owned()),
        Value::SimpleString(s) => Ok(s.clone()),
        Value::VerbatimString { text, .. } => Ok(text.clone()),
        Value::Okay => Ok("OK".to_owned()),
        other => Err(HarnessError::new(format!(
            "{what}: expected a string, got {other:?}"
        ))),
    }
}

fn int(value: &Value, what: &str) -> Result<i64, HarnessError> {
    match value {
        Value::Int(n) => Ok(*n),
        other => Err(HarnessError::new(format!(
            "{what}: expected an integer, got {other:?}"
        ))),
    }
}

/// The flags of `bits` the lint uses, as the generated constants
/// (`MOVABLEKEYS | REFUSED_IN_SCRIPTS`); the others are dropped.
fn flag_expr(bits: u16) -> String {
    let names: Vec<&str> = EMITTED_FLAGS
        .into_iter()
        .chain(PROBE_FLAGS)
        .filter(|(_, bit)| bits & bit != 0)
        .map(|(name, _)| name)
        .collect();
    if names.is_empty() {
        "0".to_owned()
    } else {
        names.join(" | ")
    }
}

/// A Rust string literal (`{:?}` escapes what must be escaped).
fn lit(s: &str) -> String {
    format!("{s:?}")
}

fn kind_const(lua_type: &str) -> &'static str {
    match lua_type {
        "function" => "FUNCTION",
        "table" => "TABLE",
        _ => "OTHER",
    }
}

fn render(facts: &[ServerFacts; 5]) -> String {
    let mut out = String::new();
    let versions: Vec<String> = facts
        .iter()
        .zip(SERVERS)
        .map(|(f, flavor)| {
            let product = match flavor {
                Flavor::Valkey9 | Flavor::Valkey81 => "Valkey",
                Flavor::Redis7 | Flavor::Redis62 | Flavor::Redis82 => "Redis",
            };
            format!("{product} {}", f.version)
        })
        .collect();
    let _ = writeln!(
        out,
        "//! Generated by `cargo run -p script-cache-tests --bin lint-tables` from\n\
         //! the servers' own `COMMAND`, `COMMAND DOCS` and Lua environment:\n\
         //! {}. Do not edit by hand.",
        versions.join(", ")
    );
    out.push_str(
        "//!\n\
         //! `tests/tests/lint_tables.rs` checks that this file is what the servers\n\
         //! say. Where a table holds one value for all servers, it is the newest\n\
         //! server's that has it: `keys` from Valkey 9.1, else Redis 8.2, else\n\
         //! Valkey 8.1, else Redis 7.0, else Redis 6.2; `since` from Redis 8.2's\n\
         //! `COMMAND DOCS`, else Redis 7.0's (a Redis version), `valkey_since`\n\
         //! from Valkey 9.1's, else Valkey 8.1's (a Valkey version). Redis 6.2\n\
         //! lists no subcommands and has no `COMMAND DOCS`. The globals are what\n\
         //! `pairs(_G)` lists in an `EVAL` script (with no keys, so `KEYS` and\n\
         //! `ARGV` are empty tables), and the fields of each global table but\n\
         //! `_G`.\n\
         //!\n\
         //! What a script's writes to the environment do, from `EVAL` on each\n\
         //! server (the error is the server's reply, verbatim):\n",
    );
    for (i, (script, what)) in PROBES.iter().enumerate() {
        let _ = writeln!(out, "//!\n//! * `{script}`, {what}:");
        for (label, f) in LABELS.iter().zip(facts) {
            let outcome = match &f.probes[i] {
                Ok(reply) => format!("succeeds (`{reply}`)"),
                Err(message) => format!("fails: `{message}`"),
            };
            let _ = writeln!(out, "//!   - {label}: {outcome}");
        }
    }
    out.push_str(PROBE_DOC);
    for (label, f) in LABELS.iter().zip(facts) {
        let _ = writeln!(out, "//!\n//! {label}:");
        for (what, names) in disagreements(f) {
            let _ = writeln!(out, "//! * {what} ({}): {}", names.len(), list(&names));
        }
        if !f.odd.is_empty() {
            let _ = writeln!(out, "//! * unexpected probe replies ({}):", f.odd.len());
            for line in &f.odd {
                let _ = writeln!(out, "//!   - `{line}`");
            }
        }
    }
    out.push('\n');

    out.push_str(
        "/// Server i of the tables' bitmasks, in this order.\n\
         pub(crate) const SERVERS: [&str; 5] = [",
    );
    out.push_str(&LABELS.iter().map(|l| lit(l)).collect::<Vec<_>>().join(", "));
    out.push_str("];\n\n");
    for (name, bit) in EMITTED_FLAGS {
        let _ = writeln!(out, "pub(crate) const {name}: u16 = {bit};");
    }
    out.push_str(
        "/// Refused in a `#!lua flags=no-writes` script (\"Write commands are not\n\
         /// allowed from read-only scripts.\"): found by calling the command in one.\n",
    );
    let _ = writeln!(
        out,
        "pub(crate) const REFUSED_IN_NO_WRITES: u16 = {REFUSED_IN_NO_WRITES};"
    );
    out.push_str(
        "/// Refused in any script (\"This ... command is not allowed from script(s)\"):\n\
         /// found by calling the command in one.\n",
    );
    let _ = writeln!(
        out,
        "pub(crate) const REFUSED_IN_SCRIPTS: u16 = {REFUSED_IN_SCRIPTS};"
    );
    out.push_str(
        "\n/// One command or subcommand (`config|get`), lowercase.\n\
         pub(crate) struct Command {\n\
         pub(crate) name: &'static str,\n\
         /// `COMMAND`'s arity per server (index as `SERVERS`), 0 where the server lacks it.\n\
         pub(crate) arity: [i16; 5],\n\
         /// `COMMAND`'s flags and the probes' `REFUSED_IN_*` per server, 0 where absent.\n\
         pub(crate) flags: [u16; 5],\n\
         /// Legacy key spec (first, last, step) from the newest server that has the command.\n\
         pub(crate) keys: (i16, i16, i16),\n\
         /// Redis's `COMMAND DOCS` `since` (a Redis version), \"\" when unknown.\n\
         pub(crate) since: &'static str,\n\
         /// Valkey's `COMMAND DOCS` `since` (a Valkey version), \"\" when unknown.\n\
         pub(crate) valkey_since: &'static str,\n\
         /// Does the command have subcommands (container command) on any server.\n\
         pub(crate) container: bool,\n\
         }\n\n\
         /// Sorted by name (byte order: `binary_search_by_key` finds a name).\n\
         pub(crate) static COMMANDS: &[Command] = &[\n",
    );
    let names: BTreeSet<&String> = facts.iter().flat_map(|f| f.commands.keys()).collect();
    for name in names {
        let per: Vec<Option<&CommandInfo>> = facts.iter().map(|f| f.commands.get(name)).collect();
        let arity: Vec<String> = per
            .iter()
            .map(|c| c.map_or(0, |c| c.arity).to_string())
            .collect();
        let flags: Vec<String> = per
            .iter()
            .zip(facts)
            .map(|(c, f)| {
                let probed = f.refused.get(name).copied().unwrap_or(0);
                flag_expr(c.map_or(0, |c| c.flags | probed))
            })
            .collect();
        let keys = per.iter().rev().flatten().map(|c| c.keys).next();
        let (first, last, step) = keys.unwrap_or((0, 0, 0));
        let since = facts[REDIS_8_2]
            .since
            .get(name)
            .or_else(|| facts[REDIS_7_0].since.get(name))
            .map_or("", String::as_str);
        let valkey_since = facts[VALKEY_9_1]
            .since
            .get(name)
            .or_else(|| facts[VALKEY_8_1].since.get(name))
            .map_or("", String::as_str);
        let container = per.iter().flatten().any(|c| c.container);
        let _ = writeln!(
            out,
            "Command {{ name: {}, arity: [{}], flags: [{}], keys: ({first}, {last}, {step}), \
             since: {}, valkey_since: {}, container: {container} }},",
            lit(name),
            arity.join(", "),
            flags.join(", "),
            lit(since),
            lit(valkey_since),
        );
    }
    out.push_str("];\n\n");

    out.push_str(
        "/// A global (`tostring`) or a field of a global table (`redis.call`).\n\
         pub(crate) struct Global {\n\
         pub(crate) name: &'static str,\n\
         /// Bitmask of the servers that have it (bit i = SERVERS[i]).\n\
         pub(crate) servers: u8,\n\
         /// Whether it is a table (on the newest server that has it).\n\
         pub(crate) table: bool,\n\
         }\n\n\
         /// Sorted by name (byte order: `binary_search_by_key` finds a name). A\n\
         /// comment gives the Lua type of what is neither a function nor a table,\n\
         /// and every type when the servers disagree (the newest server's decides\n\
         /// `table`).\n\
         pub(crate) static GLOBALS: &[Global] = &[\n",
    );
    let names: BTreeSet<&String> = facts.iter().flat_map(|f| f.globals.keys()).collect();
    for name in names {
        let mut servers = 0u8;
        let mut types: Vec<&str> = Vec::new();
        for (i, f) in facts.iter().enumerate() {
            if let Some(t) = f.globals.get(name) {
                servers |= 1 << i;
                if !types.contains(&t.as_str()) {
                    types.push(t);
                }
            }
        }
        // The newest server's kind; the comment says when they differ or
        // what an `OTHER` is.
        let kind = types.last().map_or("OTHER", |t| kind_const(t));
        if types.len() > 1 || kind == "OTHER" {
            let _ = writeln!(out, "// {}", types.join(", then "));
        }
        let _ = writeln!(
            out,
            "Global {{ name: {}, servers: {servers:#07b}, table: {} }},",
            lit(name),
            kind == "TABLE"
        );
    }
    out.push_str("];\n");
    out
}

/// How the header describes the `REFUSED_IN_*` flags (before the lists
/// of [`disagreements`]).
const PROBE_DOC: &str = "//!
//! `REFUSED_IN_SCRIPTS` and `REFUSED_IN_NO_WRITES` are what the servers
//! do, not what `COMMAND` says: each command and subcommand with an arity
//! (containers excepted: a call names a subcommand) is called through
//! `redis.pcall` in an `EVAL` script on a throwaway server, with the fewest
//! arguments its arity allows (each `x`).
//!
//! * `REFUSED_IN_SCRIPTS`: the call, in a plain script of a user who may run
//!   `EVAL` only, fails with \"... command is not allowed from script(s)\".
//!   The server makes that check before the ACL check, so each call is
//!   refused by one or the other and nothing runs: every command is probed.
//! * `REFUSED_IN_NO_WRITES` (every server but Redis 6.2): the call, in a
//!   `#!lua flags=no-writes` script of the default user, fails with \"Write
//!   commands are not allowed from read-only scripts.\" Probed for the
//!   commands a script may call, but `blmove`, `blmpop`, `blpop`, `brpop`,
//!   `brpoplpush`, `bzmpop`, `bzpopmax`, `bzpopmin`, `client|pause`,
//!   `debug`, `failover`, `monitor`, `psync`, `replicaof`, `shutdown`,
//!   `slaveof`, `sync`, `wait` and `waitaof` (not run: they could block or
//!   stop the server); those take it from `WRITE`. A command refused in
//!   scripts does not have it (the server refuses it for that first).
//! * Redis 6.2 has no shebang, so no no-writes scripts: its
//!   `REFUSED_IN_NO_WRITES` is its `WRITE | MAY_REPLICATE` (6.2's `COMMAND`
//!   shows `may_replicate`, which 7.0 hides but refuses in a no-writes
//!   script), for the commands it allows in scripts.
//!
//! Where the probes and `COMMAND`'s `noscript`/`write` flags disagree, and
//! which commands' `REFUSED_IN_NO_WRITES` was not probed:
";

/// Where a server's probes and its `COMMAND` flags disagree, with what
/// each list is.
fn disagreements(f: &ServerFacts) -> Vec<(&'static str, Vec<String>)> {
    let mut groups: [(&str, Vec<String>); 5] = [
        ("`REFUSED_IN_NO_WRITES` without `WRITE`", Vec::new()),
        (
            "`WRITE` without `REFUSED_IN_NO_WRITES` nor `REFUSED_IN_SCRIPTS`",
            Vec::new(),
        ),
        ("`REFUSED_IN_SCRIPTS` without `NOSCRIPT`", Vec::new()),
        ("`NOSCRIPT` without `REFUSED_IN_SCRIPTS`", Vec::new()),
        (
            "`REFUSED_IN_NO_WRITES` from the flags, not probed",
            f.not_probed.clone(),
        ),
    ];
    for (name, refused) in &f.refused {
        let flags = f.commands.get(name).map_or(0, |c| c.flags);
        let checks = [
            refused & REFUSED_IN_NO_WRITES != 0 && flags & WRITE == 0,
            flags & WRITE != 0 && refused & (REFUSED_IN_NO_WRITES | REFUSED_IN_SCRIPTS) == 0,
            refused & REFUSED_IN_SCRIPTS != 0 && flags & NOSCRIPT == 0,
            flags & NOSCRIPT != 0 && refused & REFUSED_IN_SCRIPTS == 0,
        ];
        for (group, hit) in groups.iter_mut().zip(checks) {
            if hit {
                group.1.push(name.clone());
            }
        }
    }
    groups.into()
}

/// `a`, `b`, `c` (or "none").
fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn summary(facts: &[ServerFacts; 5]) -> String {
    let mut out = String::new();
    for (label, f) in LABELS.iter().zip(facts) {
        for (what, names) in disagreements(f) {
            let _ = writeln!(
                out,
                "{label}: {what} ({}): {}",
                names.len(),
                names.join(" ")
            );
        }
        for line in &f.odd {
            let _ = writeln!(out, "{label}: unexpected probe reply: {line}");
        }
    }
    // 6.2's no-writes verdict comes from its flags: how it compares with
    // 7.0's probes, for the commands both have.
    let mut differ = Vec::new();
    for (name, r62) in &facts[REDIS_6_2].refused {
        if let Some(r7) = facts[REDIS_7_0].refused.get(name)
            && r62 != r7
        {
            differ.push(format!(
                "{name} ({} vs {})",
                flag_expr(*r62),
                flag_expr(*r7)
            ));
        }
    }
    let _ = writeln!(
        out,
        "REFUSED_IN_* differ between Redis 6.2 and Redis 7.0 ({}): {}",
        differ.len(),
        differ.join(", ")
    );
    for (label, f) in LABELS.iter().zip(facts) {
        let subs = f.commands.keys().filter(|n| n.contains('|')).count();
        let fields = f.globals.keys().filter(|n| n.contains('.')).count();
        let _ = writeln!(
            out,
            "{label} ({}): {} commands ({} top-level, {subs} subcommands), \
             {} globals ({} top-level, {fields} fields of global tables), {} `since`",
            f.version,
            f.commands.len(),
            f.commands.len() - subs,
            f.globals.len(),
            f.globals.len() - fields,
            f.since.len(),
        );
    }
    let partial = |name: &str, keys: Vec<BTreeSet<&String>>, out: &mut String| {
        let all: BTreeSet<&String> = keys.iter().flatten().copied().collect();
        let mut groups: BTreeMap<Vec<&str>, Vec<&str>> = BTreeMap::new();
        for key in all {
            let on: Vec<&str> = LABELS
                .iter()
                .zip(&keys)
                .filter(|(_, k)| k.contains(key))
                .map(|(l, _)| *l)
                .collect();
            if on.len() < SERVERS.len() {
                groups.entry(on).or_default().push(key);
            }
        }
        for (on, keys) in groups {
            let _ = writeln!(
                out,
                "{name} only on {} ({}): {}",
                on.join(" + "),
                keys.len(),
                keys.join(" ")
            );
        }
    };
    // Subcommands are compared between 7.0 and Valkey only (6.2 has none).
    partial(
        "top-level commands",
        facts
            .iter()
            .map(|f| f.commands.keys().filter(|n| !n.contains('|')).collect())
            .collect(),
        &mut out,
    );
    partial(
        "subcommands",
        facts
            .iter()
            .map(|f| f.commands.keys().filter(|n| n.contains('|')).collect())
            .collect(),
        &mut out,
    );
    partial(
        "globals",
        facts.iter().map(|f| f.globals.keys().collect()).collect(),
        &mut out,
    );
    let mut differ = Vec::new();
    for (name, s8) in &facts[REDIS_8_2].since {
        match facts[VALKEY_9_1].since.get(name) {
            Some(sv) if sv != s8 => differ.push(format!("{name} ({s8} vs {sv})")),
            _ => {}
        }
    }
    let _ = writeln!(
        out,
        "`since` differs between Redis 8.2 and Valkey 9.1 ({}): {}",
        differ.len(),
        differ.join(", ")
    );
    let mut flag_changes = Vec::new();
    for name in facts[REDIS_7_0].commands.keys() {
        let bits: Vec<u16> = facts
            .iter()
            .filter_map(|f| f.commands.get(name).map(|c| c.flags))
            .collect();
        if bits.windows(2).any(|w| w[0] != w[1]) {
            let per: Vec<String> = facts
                .iter()
                .map(|f| {
                    f.commands
                        .get(name)
                        .map_or("-".to_owned(), |c| flag_expr(c.flags))
                })
                .collect();
            flag_changes.push(format!("{name} [{}]", per.join("; ")));
        }
    }
    let _ = writeln!(
        out,
        "kept flags differ between servers ({}):\n  {}",
        flag_changes.len(),
        flag_changes.join("\n  ")
    );
    out
}

/// A short account of how `committed` differs from `generated`, line by
/// line (the lines only one of them has, the first few of each).
pub fn diff_summary(committed: &str, generated: &str) -> String {
    let old: BTreeSet<&str> = committed.lines().collect();
    let new: BTreeSet<&str> = generated.lines().collect();
    let removed: Vec<&str> = committed.lines().filter(|l| !new.contains(l)).collect();
    let added: Vec<&str> = generated.lines().filter(|l| !old.contains(l)).collect();
    let mut out = format!(
        "{} line(s) only in the committed file, {} only in what the servers say",
        removed.len(),
        added.len()
    );
    for line in removed.iter().take(20) {
        let _ = write!(out, "\n- {line}");
    }
    for line in added.iter().take(20) {
        let _ = write!(out, "\n+ {line}");
    }
    if removed.is_empty() && added.is_empty() {
        out.push_str(" (the same lines, in another order or with other line endings)");
    }
    out
}
