//! Unit tests of the three macro forms, end to end on temporary folders.

use super::*;
use std::fs;

use quote::quote;

use super::codegen::{rule_name, sha1_hex};

/// Whether `out` (macro output as a string) holds the rendered diagnostic
/// `message` at `loc` (`file:line:col`): the message, then `--> loc`.
fn reports(out: &str, message: &str, loc: &str) -> bool {
    out.split("compile_error ! {")
        .skip(1)
        .any(|e| e.contains(message) && e.contains(&format!("\\n  --> {loc}\\n")))
}

fn crate_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("lua")).unwrap();
    for (name, body) in files {
        fs::write(dir.path().join("lua").join(name), body).unwrap();
    }
    dir
}

/// No input crashes or hangs the macro: each hostile file gives an
/// error naming `file:line:col` (or compiles), quickly. Timings are
/// printed (`cargo test -p script-cache-macros large -- --nocapture`);
/// the bound is loose, to catch a quadratic blow-up, not to benchmark:
/// each file within 20 s, or (on a machine so loaded that a linear pass
/// is slow too) within 4 times the 1 MB file's time scaled linearly to its
/// own size (a quadratic pass over 10 MB takes about 10 times that).
#[test]
fn large_and_hostile_inputs_are_errors_not_crashes() {
    // Globals only: Lua refuses a function that declares more than
    // 32767 locals in all, as the servers do.
    let big: String = {
        let unit = "x = redis.call('GET', KEYS[1]) .. ARGV[2]\n\
                    if x then y = { x, #x } end -- and a comment\n";
        unit.repeat((1 << 20) / unit.len() + 1)
    };
    let many_locals = "do local function f() return KEYS[1] end end\n".repeat(40_000);
    let cases: Vec<(&str, String, Option<&str>)> = vec![
        ("one_mb.lua", big.clone(), None),
        ("ten_mb.lua", big.repeat(10), None),
        ("locals.lua", many_locals, Some("too many local variables")),
        (
            "parens.lua",
            format!("return {}1{}", "(".repeat(100_000), ")".repeat(100_000)),
            Some("--> lua/parens.lua:1:"),
        ),
        (
            "ifs.lua",
            "if x then ".repeat(100_000),
            Some("--> lua/ifs.lua:1:"),
        ),
        (
            "tables.lua",
            format!("return {}", "{".repeat(100_000)),
            Some("--> lua/tables.lua:1:"),
        ),
        (
            "nots.lua",
            format!("return {}x", "not ".repeat(100_000)),
            Some("--> lua/nots.lua:1:"),
        ),
        (
            "minus.lua",
            format!("return {}x", "- ".repeat(100_000)),
            Some("--> lua/minus.lua:1:"),
        ),
        (
            "concat.lua",
            format!("return x{}", " .. x".repeat(100_000)),
            Some("--> lua/concat.lua:1:"),
        ),
        (
            "index.lua",
            "return KEYS[1000000]".to_owned(),
            Some(
                "`KEYS[1000000]`: literal indices above 256 are not supported (a typed call takes one parameter per entry); index with a variable (`KEYS[i]`), and the typed call takes a slice\\n  --> lua/index.lua:1:8",
            ),
        ),
        (
            "junk.lua",
            (0..200_000u32)
                .map(|i| char::from_u32(i % 0x7F + 1).unwrap_or('x'))
                .collect(),
            Some("--> lua/junk.lua:"),
        ),
        (
            "backtick.lua",
            "return `x`".to_owned(),
            Some("--> lua/backtick.lua:1:8"),
        ),
        (
            "cr.lua",
            "-- note\rredis.call('SET', 'hidden', 'ran') return 1".to_owned(),
            None,
        ),
    ];
    let mut per_mb: Option<std::time::Duration> = None;
    for (name, body, want) in cases {
        let dir = crate_with(&[(name, &body)]);
        let start = std::time::Instant::now();
        let out = include_scripts(quote!("lua/"), Some(dir.path())).to_string();
        let took = start.elapsed();
        println!("{name}: {} bytes in {took:.2?}", body.len());
        let mbs = u32::try_from(body.len() >> 20).unwrap_or(u32::MAX).max(1);
        let linear_bound = per_mb.map(|t| t * 4 * mbs);
        assert!(
            took < std::time::Duration::from_secs(20) || linear_bound.is_some_and(|b| took < b),
            "{name} took {took:?} (1 MB took {per_mb:?} per MB)"
        );
        if name == "one_mb.lua" {
            per_mb = Some(took);
        }
        match want {
            Some(want) => assert!(
                out.contains(want),
                "{name}: {}",
                &out[out.len().saturating_sub(600)..]
            ),
            None => assert!(
                !out.contains("compile_error"),
                "{name}: {}",
                &out[out.len().saturating_sub(600)..]
            ),
        }
    }
}

#[test]
fn include_emits_enum_and_impls() {
    let dir = crate_with(&[
        ("b_two.lua", "--- Second.\nreturn ARGV[2]"),
        ("a.lua", "#!lua flags=no-writes\nreturn KEYS[1]"),
    ]);
    let out = include_scripts(quote!("lua/"), Some(dir.path())).to_string();
    assert!(!out.contains("compile_error"), "{out}");
    assert!(out.contains("pub enum Scripts"), "{out}");
    let a = out.find(" A ,").unwrap();
    let b = out.find(" BTwo ,").unwrap();
    assert!(a < b, "sorted by file: {out}");
    assert!(out.contains("\" Second.\""), "{out}");
    assert!(out.contains(&sha1_hex("--!lua flags=no-writes\nreturn KEYS[1]")));
    assert!(out.contains("include_bytes !"), "{out}");
    assert!(out.contains("\"no-writes\""), "{out}");
    // Only ::script_cache::__private and ::core paths.
    assert!(!out.contains("redis"), "{out}");
}

#[test]
fn all_errors_in_one_pass() {
    let dir = crate_with(&[
        ("1st.lua", "return 1"),
        ("self.lua", "return 1"),
        ("a_b.lua", "return 1"),
        ("a-b.lua", "return 1"),
        ("broken.lua", "return )"),
        ("flags.lua", "#!lua flags=nope\nreturn 1"),
        ("fine.lua", "return 1"),
    ]);
    let out = include_scripts(quote!("lua/"), Some(dir.path())).to_string();
    for want in [
        "lua/1st.lua",
        "lua/self.lua",
        "`lua/a-b.lua` and `lua/a_b.lua` both map to the variant `AB`",
    ] {
        assert!(out.contains(want), "{want}: {out}");
    }
    assert!(
        reports(
            &out,
            "Lua 5.1 syntax error: unexpected symbol near ')'",
            "lua/broken.lua:1:8"
        ),
        "{out}"
    );
    assert!(
        reports(&out, "unknown shebang flag `nope`", "lua/flags.lua:1:13"),
        "{out}"
    );
    // The skeleton keeps the good scripts, and the first of the clashing
    // ones (`a-b.lua`): its variant exists, so uses of it get no
    // follow-on error.
    assert!(out.contains(" Fine ,"), "{out}");
    assert!(out.contains(" Broken ,"), "{out}");
    assert!(out.contains(" AB ,"), "{out}");
    assert!(out.contains("\"a-b\" =>"), "{out}");
    assert!(!out.contains("\"a_b\" =>"), "{out}");
}

#[test]
fn warnings_are_named_after_their_rule_and_lead_with_the_finding() {
    let dir = crate_with(&[
        ("k.lua", "return redis.call('GET', 'fixed')"),
        ("Rate.LUA", "return 1"),
    ]);
    let out = include_scripts(quote!("lua/"), Some(dir.path())).to_string();
    assert!(!out.contains("compile_error"), "{out}");
    assert!(out.contains("fn script_cache_lint"), "{out}");
    assert!(out.contains("const key_not_in_keys"), "{out}");
    assert!(
        out.contains("# [deprecated (note = \"a key of `GET` is a string literal"),
        "{out}"
    );
    assert!(out.contains("const lua_extension_case"), "{out}");
    assert!(out.contains("\"`lua/Rate.LUA` is not a script"), "{out}");
    let d = script_cache_check::Diagnostic::new("a", 1, Some(1), "x");
    assert_eq!(
        rule_name(&d.clone().with_rule("global-write")),
        "global_write"
    );
    assert_eq!(rule_name(&d), "lint_warning");
}

#[test]
fn attribute_keeps_user_items_and_adds_missing_derives() {
    let dir = crate_with(&[("x.lua", "return 1")]);
    let out = attribute(
        quote!(dir = "lua"),
        quote!(
            /// Mine.
            #[derive(Debug, core::hash::Hash)]
            pub(crate) enum Lua {}
        ),
        Some(dir.path()),
    )
    .to_string();
    assert!(!out.contains("compile_error"), "{out}");
    assert!(out.contains("pub (crate) enum Lua"), "{out}");
    assert!(out.contains("\" Mine.\""), "{out}");
    assert!(out.contains(":: core :: clone :: Clone"), "{out}");
    assert!(!out.contains(":: core :: fmt :: Debug"), "{out}");
    assert!(!out.contains(":: core :: hash :: Hash"), "{out}");
}

#[test]
fn derive_finds_files_and_reports_missing() {
    let dir = crate_with(&[("rate_limit.lua", "return KEYS[1]")]);
    fs::create_dir(dir.path().join("lua/locks")).unwrap();
    fs::write(dir.path().join("lua/locks/release.lua"), "return 1").unwrap();
    let ok = derive(
        quote!(
            #[scripts(dir = "lua/")]
            enum Lua {
                RateLimit,
                #[script(file = "locks/release.lua")]
                Release,
            }
        ),
        Some(dir.path()),
    )
    .to_string();
    assert!(!ok.contains("compile_error"), "{ok}");
    assert!(ok.contains("\"locks/release.lua\""), "{ok}");
    let bad = derive(
        quote!(
            #[scripts(dir = "lua/")]
            enum Lua {
                RateLimit,
                GetMany,
            }
        ),
        Some(dir.path()),
    )
    .to_string();
    assert!(
        bad.contains("variant `GetMany` has no script: expected `lua/get_many.lua`"),
        "{bad}"
    );
    // The impls are still there (thiserror's fallback): no follow-on
    // errors at each use of the enum.
    assert!(
        bad.contains("const ALL : & 'static [Self] = & [Self :: RateLimit , Self :: GetMany]"),
        "{bad}"
    );
    assert!(
        bad.contains("Self :: GetMany => :: core :: unreachable ! ()"),
        "{bad}"
    );
    let no_dir = derive(
        quote!(
            enum Lua {
                RateLimit,
            }
        ),
        Some(dir.path()),
    )
    .to_string();
    assert!(no_dir.contains("EmbeddedScript for Lua"), "{no_dir}");
}

#[test]
fn a_snippet_error_is_reported_once() {
    let mut files: Vec<(String, String)> = (0..17)
        .map(|i| {
            (
                format!("s{i}.lua"),
                "-- @include \"lib/bad.lua\"\nreturn f()\n".to_owned(),
            )
        })
        .collect();
    files.push(("lib_dummy.lua".to_owned(), "return 1".to_owned()));
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let dir = crate_with(&refs);
    fs::create_dir(dir.path().join("lua/lib")).unwrap();
    fs::write(
        dir.path().join("lua/lib/bad.lua"),
        "local function f()\n  if x then\n  return 1\nend\n",
    )
    .unwrap();
    let out = include_scripts(quote!("lua/"), Some(dir.path())).to_string();
    assert_eq!(out.matches("compile_error").count(), 1, "{out}");
    assert!(
        reports(
            &out,
            "Lua 5.1 syntax error: `function` is not closed: 'end' expected near '<eof>'",
            "lua/lib/bad.lua:1:7"
        ),
        "{out}"
    );
    assert!(
        out.contains("= note: in a snippet, included as s0.lua -> lib/bad.lua"),
        "{out}"
    );
}

#[test]
fn block_headers_and_routing_keys() {
    let dir = crate_with(&[(
        "move_job.lua",
        "--[[\n  Moves a job.\n\n    Input:\n      KEYS[1] source\n  @key source the list\n  \
         @key shard (routing) owner of the slot\n  @arg id\n]]\n\n-- @return integer\n\
         return redis.call('LREM', KEYS[1], 0, ARGV[1])\n",
    )]);
    let out = include_scripts(quote!("lua/"), Some(dir.path())).to_string();
    assert!(!out.contains("compile_error"), "{out}");
    assert!(
        out.contains(
            "pub fn move_job (source : impl :: script_cache :: __private :: ToSingleRedisArg , \
             shard : impl :: script_cache :: __private :: ToSingleRedisArg , id : impl :: \
             script_cache :: __private :: ToSingleRedisArg)"
        ),
        "{out}"
    );
    // The metadata gives the typed call's counts (the routing key the
    // body never reads included), which the runtime holds untyped calls to.
    assert!(
        out.contains("Arity :: Exact (2) , :: script_cache :: __private :: Arity :: Exact (1)"),
        "{out}"
    );
    assert!(out.contains("2 keys, 1 arg"), "{out}");
    // The block is the variant's doc, as preformatted text.
    assert!(
        out.contains("```text\\nMoves a job.\\n\\n  Input:\\n    KEYS[1] source\\n```"),
        "{out}"
    );
}

#[test]
fn typed_calls_are_emitted() {
    let dir = crate_with(&[
        (
            "rate-limit.lua",
            "--- Doc.\n-- @key bucket the hash\n-- @arg cost\n-- @return nil-or-integer left\n\
             return tonumber(KEYS[1] .. ARGV[1])",
        ),
        (
            "loop.lua",
            "return redis.call('MGET', unpack(KEYS)) .. ARGV[2]",
        ),
        ("name.lua", "return 1"),
    ]);
    let out = include_scripts(quote!("lua/"), Some(dir.path())).to_string();
    assert!(!out.contains("compile_error"), "{out}");
    for want in [
        "pub fn rate_limit (bucket : impl :: script_cache :: __private :: ToSingleRedisArg , \
         cost : impl :: script_cache :: __private :: ToSingleRedisArg) -> :: script_cache :: \
         __private :: TypedInvocation < :: core :: option :: Option < :: core :: primitive :: i64 > >",
        ". key (bucket) . arg (cost)",
        "pub fn r#loop (keys : & [impl :: script_cache :: __private :: ToRedisArgs] , arg1 : \
         impl :: script_cache :: __private :: ToSingleRedisArg , arg2 : impl :: script_cache \
         :: __private :: ToSingleRedisArg) -> :: script_cache :: __private :: Invocation",
        "pub fn name () -> :: script_cache :: __private :: Invocation",
        "\" * `bucket` (`KEYS[1]`): the hash\"",
        "\" * `keys` (`KEYS[1..]`, any number)\"",
        "\" `Option<i64>` (`@return nil-or-integer`): left. `invoke_as::<T>` converts to another type.\"",
        "& []",
    ] {
        assert!(out.contains(want), "{want}: {out}");
    }
    assert!(!out.contains("redis ::"), "{out}");
}

#[test]
fn includes_are_expanded_tracked_and_mapped() {
    let dir = crate_with(&[(
        "main.lua",
        "-- @key k\n-- @include \"lib/util.lua\"\nreturn f(KEYS[1])\n",
    )]);
    fs::create_dir(dir.path().join("lua/lib")).unwrap();
    fs::write(
        dir.path().join("lua/lib/util.lua"),
        "local function f(k)\n  return k\nend\n",
    )
    .unwrap();
    let out = include_scripts(quote!("lua/"), Some(dir.path())).to_string();
    assert!(!out.contains("compile_error"), "{out}");
    let expanded = "-- @key k\nlocal function f(k)\n  return k\nend\nreturn f(KEYS[1])\n";
    assert!(out.contains(&sha1_hex(expanded)), "{out}");
    assert!(
        out.contains("lua/lib/util.lua\")"),
        "include_bytes! of the snippet: {out}"
    );
    for span in [
        "LineSpan { start : 1 , len : 1 , file : \"main.lua\" , first : 1 }",
        "LineSpan { start : 2 , len : 3 , file : \"lib/util.lua\" , first : 1 }",
        "LineSpan { start : 5 , len : 1 , file : \"main.lua\" , first : 3 }",
    ] {
        assert!(out.contains(span), "{span}: {out}");
    }
    // A syntax error and a header mismatch inside the snippet name it.
    fs::write(
        dir.path().join("lua/lib/util.lua"),
        "local function f(k)\n  return )\nend\n",
    )
    .unwrap();
    let out = include_scripts(quote!("lua/"), Some(dir.path())).to_string();
    assert!(
        reports(
            &out,
            "Lua 5.1 syntax error: unexpected symbol near ')'",
            "lua/lib/util.lua:2:10"
        ) && out.contains("= note: in a snippet, included as main.lua -> lib/util.lua"),
        "{out}"
    );
    fs::write(
        dir.path().join("lua/lib/util.lua"),
        "local function f(k)\n  return KEYS[2]\nend\n",
    )
    .unwrap();
    let out = include_scripts(quote!("lua/"), Some(dir.path())).to_string();
    assert!(
        reports(
            &out,
            "the script reads KEYS[2] but its header declares 1 key",
            "lua/lib/util.lua:2:10"
        ),
        "{out}"
    );
}

#[test]
fn typed_problems_are_reported_once_each() {
    let dir = crate_with(&[
        ("super.lua", "return 1"),
        ("HTTPGet.lua", "return 1"),
        ("http_get.lua", "return 1"),
        ("bad_return.lua", "-- @return int\nreturn 1"),
        ("stale.lua", "-- @key a\n-- @key b\nreturn KEYS[1]"),
        ("cycle.lua", "-- @include \"cycle.lua\"\nreturn 1"),
    ]);
    let out = include_scripts(quote!("lua/"), Some(dir.path())).to_string();
    for want in [
        "`lua/super.lua`: the name of its typed call function, `super`, is the keyword",
        "`lua/HTTPGet.lua` and `lua/http_get.lua` both get the typed call function `http_get`",
    ] {
        assert!(out.contains(want), "{want}: {out}");
    }
    for (want, loc) in [
        (
            "`@return int`: unknown type `int`",
            "lua/bad_return.lua:1:4",
        ),
        (
            "`@key b` declares KEYS[2], but the script never reads it",
            "lua/stale.lua:2",
        ),
        ("include cycle: cycle.lua -> cycle.lua", "lua/cycle.lua:1:1"),
    ] {
        assert!(reports(&out, want, loc), "{want}: {out}");
    }
    // The variants stay; the functions with problems are not emitted.
    assert!(
        out.contains(" HttpGet ,") && out.contains(" Stale ,"),
        "{out}"
    );
    assert!(
        !out.contains("fn http_get") && !out.contains("fn stale"),
        "{out}"
    );
}

#[test]
fn return_types_name_only_private_paths() {
    let ty = script_cache_check::header::ReturnType::parse("nil-or-array<string>").unwrap();
    assert_eq!(
        super::codegen::return_type_tokens(&ty).to_string(),
        ":: core :: option :: Option < :: script_cache :: __private :: Vec < :: script_cache :: __private :: String > >"
    );
}
