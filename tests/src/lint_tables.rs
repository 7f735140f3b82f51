//! The command table and the Lua-globals table of the script lint
//! (`script-cache-check/src/lint/tables.rs`), generated from the real
//! servers: `COMMAND`, `COMMAND DOCS` and the Lua environment `EVAL` gives
//! a script, on Redis 6.2, Redis 7.0 and Valkey 9.1.
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

/// The servers of the tables, in the order of their `[_; 3]` arrays and
/// bitmasks (oldest first).
pub const SERVERS: [Flavor; 3] = [Flavor::Redis62, Flavor::Redis7, Flavor::Valkey9];

/// How the generated file names the servers (its `SERVERS` constant).
const LABELS: [&str; 3] = ["Redis 6.2", "Redis 7.0", "Valkey 9.1"];

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
}

/// What the servers say, as the generated text and a human summary of
/// where they differ (for the generator's output).
pub struct Generated {
    /// The generated file, formatted by rustfmt.
    pub text: String,
    /// Counts and differences between the servers, for people.
    pub summary: String,
}

/// Starts the three servers, asks them, and returns the generated file
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
        facts.push(collect(&server)?);
    }
    let facts: [ServerFacts; 3] = facts
        .try_into()
        .map_err(|_| HarnessError::new("expected three servers"))?;
    let raw = render(&facts);
    let text = rustfmt(&raw)?;
    Ok(Generated {
        text,
        summary: summary(&facts),
    })
}

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
    })
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

/// The flags of `bits` as the generated constants (`WRITE | DENYOOM`).
fn flag_expr(bits: u16) -> String {
    let names: Vec<&str> = FLAGS
        .iter()
        .filter(|(_, _, bit)| bits & bit != 0)
        .map(|(_, name, _)| *name)
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

fn render(facts: &[ServerFacts; 3]) -> String {
    let mut out = String::new();
    let versions: Vec<String> = facts
        .iter()
        .zip(SERVERS)
        .map(|(f, flavor)| {
            let product = match flavor {
                Flavor::Valkey9 => "Valkey",
                Flavor::Redis7 | Flavor::Redis62 => "Redis",
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
         //! server's: `keys` from Valkey 9.1, else Redis 7.0, else Redis 6.2;\n\
         //! `since` from Redis 7.0's `COMMAND DOCS`, else Valkey 9.1's (a Valkey\n\
         //! version for the commands only Valkey has). Redis 6.2 lists no\n\
         //! subcommands and has no `COMMAND DOCS`. The globals are what\n\
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
    out.push('\n');

    out.push_str(
        "/// Server i of the tables' bitmasks, in this order.\n\
         pub(crate) const SERVERS: [&str; 3] = [",
    );
    out.push_str(&LABELS.iter().map(|l| lit(l)).collect::<Vec<_>>().join(", "));
    out.push_str("];\n\n");
    for (_, name, bit) in FLAGS {
        let _ = writeln!(out, "pub(crate) const {name}: u16 = {bit};");
    }
    out.push_str(
        "\n/// One command or subcommand (`config|get`), lowercase.\n\
         pub(crate) struct Command {\n\
         pub(crate) name: &'static str,\n\
         /// `COMMAND`'s arity per server (index as `SERVERS`), 0 where the server lacks it.\n\
         pub(crate) arity: [i16; 3],\n\
         /// Flags per server, 0 where absent.\n\
         pub(crate) flags: [u16; 3],\n\
         /// Legacy key spec (first, last, step) from the newest server that has the command.\n\
         pub(crate) keys: (i16, i16, i16),\n\
         /// `COMMAND DOCS` `since`, \"\" when unknown.\n\
         pub(crate) since: &'static str,\n\
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
            .map(|c| flag_expr(c.map_or(0, |c| c.flags)))
            .collect();
        let keys = per.iter().rev().flatten().map(|c| c.keys).next();
        let (first, last, step) = keys.unwrap_or((0, 0, 0));
        let since = facts[1]
            .since
            .get(name)
            .or_else(|| facts[2].since.get(name))
            .map_or("", String::as_str);
        let container = per.iter().flatten().any(|c| c.container);
        let _ = writeln!(
            out,
            "Command {{ name: {}, arity: [{}], flags: [{}], keys: ({first}, {last}, {step}), \
             since: {}, container: {container} }},",
            lit(name),
            arity.join(", "),
            flags.join(", "),
            lit(since),
        );
    }
    out.push_str("];\n\n");

    out.push_str(
        "/// A Lua value kind in the scripts' environment.\n\
         pub(crate) const FUNCTION: u8 = 1;\n\
         pub(crate) const TABLE: u8 = 2;\n\
         pub(crate) const OTHER: u8 = 3;\n\n\
         /// A global (`tostring`) or a field of a global table (`redis.call`).\n\
         pub(crate) struct Global {\n\
         pub(crate) name: &'static str,\n\
         /// Bitmask of the servers that have it (bit i = SERVERS[i]).\n\
         pub(crate) servers: u8,\n\
         pub(crate) kind: u8,\n\
         }\n\n\
         /// Sorted by name (byte order: `binary_search_by_key` finds a name). A\n\
         /// comment gives the Lua type of an `OTHER`, and every type when the\n\
         /// servers disagree (the newest server's is the `kind`).\n\
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
            "Global {{ name: {}, servers: {servers:#05b}, kind: {kind} }},",
            lit(name)
        );
    }
    out.push_str("];\n");
    out
}

fn summary(facts: &[ServerFacts; 3]) -> String {
    let mut out = String::new();
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
            if on.len() < 3 {
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
    for (name, s7) in &facts[1].since {
        match facts[2].since.get(name) {
            Some(sv) if sv != s7 => differ.push(format!("{name} ({s7} vs {sv})")),
            _ => {}
        }
    }
    let _ = writeln!(
        out,
        "`since` differs between Redis 7.0 and Valkey 9.1 ({}): {}",
        differ.len(),
        differ.join(", ")
    );
    let mut flag_changes = Vec::new();
    for name in facts[1].commands.keys() {
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
