//! The runtime without its default `checker` feature.
//!
//! 1. The dependency claim: an application that turns the feature off
//!    links neither `mlua` nor `full_moon` (`cargo tree` of the runtime,
//!    with and without the feature). With the `macros` feature the
//!    proc-macro crate still runs the checker at build time, on the build
//!    machine: it is a build-time dependency, not linked into the
//!    application, and the walk below leaves proc-macro subtrees out.
//! 2. The honest behaviour: in this workspace the tests crate turns the
//!    feature on (cargo unifies features), so a scratch crate that depends
//!    on the runtime with `default-features = false` registers a script
//!    with a Lua syntax error and calls it against each server flavor: the
//!    server is the checker, and the first call fails with
//!    `Error::LoadRejected`, naming the script, `Ran::No`.
//!
//! The scratch crate builds into `<target>/no-checker-scratch` (reruns are
//! incremental), with the workspace's `Cargo.lock` and `--offline`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use script_cache_tests::matrix;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn cargo() -> Command {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    command
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    command
}

/// The packages the runtime links with `features` (`--no-default-features`
/// plus these): `cargo tree -e normal` of the runtime alone, without the
/// subtrees of proc-macro crates (they run in the compiler, at build time).
fn linked(features: Option<&str>) -> Vec<String> {
    let mut command = cargo();
    command
        .current_dir(workspace())
        .args(["tree", "--offline", "-p", "script-cache", "-e", "normal"])
        .args(["--prefix", "depth"]);
    if let Some(features) = features {
        command.args(["--no-default-features", "--features", features]);
    }
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "cargo tree failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut names = Vec::new();
    // The depth of the proc-macro whose subtree is being skipped.
    let mut skipping: Option<usize> = None;
    for line in text.lines() {
        let digits = line.chars().take_while(char::is_ascii_digit).count();
        let Ok(depth) = line[..digits].parse::<usize>() else {
            continue;
        };
        if skipping.is_some_and(|at| depth > at) {
            continue;
        }
        skipping = None;
        let rest = &line[digits..];
        if rest.contains("(proc-macro)") {
            skipping = Some(depth);
            continue;
        }
        names.push(rest.split(' ').next().unwrap_or_default().to_owned());
    }
    names
}

#[test]
fn without_the_checker_the_runtime_links_neither_mlua_nor_full_moon() {
    let default = linked(None);
    for name in ["script-cache-check", "mlua", "full_moon"] {
        assert!(
            default.iter().any(|n| n == name),
            "{name} is not linked with the default features: {default:?}"
        );
    }
    for features in ["", "macros", "macros,tokio-comp"] {
        let without = linked(Some(features));
        assert!(
            without.iter().any(|n| n == "script-cache-check"),
            "{without:?}"
        );
        for name in ["mlua", "full_moon"] {
            assert!(
                !without.iter().any(|n| n == name),
                "{name} is linked without `checker` (features `{features}`): {without:?}"
            );
        }
    }
    // `checker` alone brings them back.
    let checker = linked(Some("checker"));
    assert!(checker.iter().any(|n| n == "mlua") && checker.iter().any(|n| n == "full_moon"));
}

/// What registration refuses without the checker (see the runtime's
/// `registry.rs`) is a syntax error for Lua 5.1 too, and what it lets
/// through here is not.
#[test]
fn what_registration_refuses_without_the_checker_lua_refuses_too() {
    use script_cache_check::check_syntax;
    for refused in [
        "local café = 1",
        "#!lua\nlocal x = 1\nlocal café = 1\n",
        "return “x”",
        "return \"\\195\n",
        "local x = 1\nreturn '\\195",
        "return 'a\\'",
        "return '\\195\\400'",
    ] {
        assert!(check_syntax(refused.as_bytes()).is_err(), "{refused:?}");
    }
    for fine in [
        "-- café\nreturn 'café' -- “x”",
        "return '\\195\\255'",
        "return \"a\\\nb\"",
        "return 'it\\'s', \"\\\"\"",
        "return [[\"unclosed in a long string]]",
        "return '\\0009'",
    ] {
        assert_eq!(check_syntax(fine.as_bytes()), Ok(()), "{fine:?}");
    }
}

const MAIN: &str = r##"
use script_cache::{Error, ScriptCache};

fn report(case: &str, result: Result<redis::Value, Error>) {
    match result {
        Ok(v) => println!("{case}\tok\t{v:?}"),
        Err(e) => {
            let variant = match &e {
                Error::LoadRejected { .. } => "LoadRejected",
                Error::Script { .. } => "Script",
                Error::Redis { .. } => "Redis",
                Error::Syntax { .. } => "Syntax",
                _ => "other",
            };
            let name = e.script().map(|s| s.name.to_string()).unwrap_or_default();
            println!("{case}\t{variant}\t{:?}\t{name}\t{}", e.ran(), e.to_string().replace('\n', " "));
        }
    }
}

fn main() {
    let url = std::env::args().nth(1).expect("a server URL");
    let client = redis::Client::open(url).unwrap();
    let mut con = ScriptCache::new(client.get_connection().unwrap());
    // Registered: only the name and the shebang are checked here.
    let sha = con.register_script("broken", "local x = 1\nlocal = 2\n").unwrap();
    println!("registered\t{sha}");
    let shebang = con.register_script("bad_shebang", "#!lua flags=bogus\nreturn 1\n");
    println!("shebang\t{}", matches!(shebang, Err(Error::Shebang { .. })));
    for case in ["first", "second"] {
        report(case, con.run_script("broken", &["k"], &[] as &[&str]));
    }
    // Code that is not ASCII is refused here: the server's message would
    // quote half a character (`near '\xc3'`), which the client cannot read.
    let accent = con.register_script("accent", "local café = 1\nreturn café\n");
    println!("accent\t{}", matches!(accent, Err(Error::Syntax { line: 1, .. })));
    let escape = con.register_script("escape", "return \"\\195\n");
    println!("escape\t{}", matches!(escape, Err(Error::Syntax { line: 1, .. })));
    // The connection is still good afterwards.
    con.register_script("fine", "return 42").unwrap();
    report("fine", con.run_script("fine", &[] as &[&str], &[] as &[&str]));
    // A user without SCRIPT (the test made it): the call goes out as EVAL,
    // which the server refuses the same way.
    let mut eval_only = ScriptCache::new(client.get_connection().unwrap());
    redis::cmd("AUTH").arg("evalonly").arg("x").query::<()>(eval_only.get_mut()).unwrap();
    eval_only.register_script("broken", "local x = 1\nlocal = 2\n").unwrap();
    for case in ["eval", "eval_again"] {
        report(case, eval_only.run_script("broken", &["k"], &[] as &[&str]));
    }
    // The corner the docs name: a syntax error blamed on a whole string
    // whose escapes are not UTF-8. Last: the connection is lost after it.
    con.register_script("corner", "local \"\\195\"\n").unwrap();
    report("corner", con.run_script("corner", &[] as &[&str], &[] as &[&str]));
}
"##;

/// Builds the scratch crate once per test process; its binary.
fn scratch() -> &'static Path {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| {
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let target = tmp.parent().unwrap_or(tmp).join("no-checker-scratch");
        let dir = target.join("crate");
        fs::create_dir_all(dir.join("src")).unwrap();
        let runtime = workspace().join("script-cache");
        let manifest = format!(
            r#"[package]
name = "no-checker-scratch"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
script-cache = {{ path = {runtime:?}, default-features = false }}
redis = {{ version = "1.8", default-features = false }}

[workspace]
"#
        );
        write_if_changed(&dir.join("Cargo.toml"), &manifest);
        write_if_changed(&dir.join("src/main.rs"), MAIN);
        fs::copy(workspace().join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
        let out = cargo()
            .args(["build", "--quiet", "--offline"])
            .current_dir(&dir)
            .env("CARGO_TARGET_DIR", &target)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "cargo build of the scratch crate failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // What it was built with: no Lua checker.
        let tree = cargo()
            .args(["tree", "--offline", "-e", "normal", "--prefix", "none"])
            .current_dir(&dir)
            .env("CARGO_TARGET_DIR", &target)
            .output()
            .unwrap();
        let tree = String::from_utf8_lossy(&tree.stdout);
        assert!(tree.contains("script-cache-check"), "{tree}");
        assert!(
            !tree.contains("mlua") && !tree.contains("full_moon"),
            "{tree}"
        );
        target.join("debug").join(format!(
            "no-checker-scratch{}",
            std::env::consts::EXE_SUFFIX
        ))
    })
}

/// Leaves the file (and its timestamp) alone when it already says `text`,
/// so reruns do not rebuild.
fn write_if_changed(path: &Path, text: &str) {
    if fs::read_to_string(path).ok().as_deref() != Some(text) {
        fs::write(path, text).unwrap();
    }
}

matrix! {
    fn a_syntax_error_shows_at_the_first_call_typed_and_named(server) {
        let mut admin = server.connection();
        redis::cmd("ACL")
            .arg(&["SETUSER", "evalonly", "on", "nopass", "~*", "+@all", "-script"])
            .query::<()>(&mut admin)
            .unwrap();
        let out = Command::new(scratch()).arg(server.url()).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lines: Vec<Vec<&str>> = stdout.lines().map(|l| l.split('\t').collect()).collect();
        let case = |name: &str| {
            lines
                .iter()
                .find(|l| l[0] == name)
                .unwrap_or_else(|| panic!("no {name} in {stdout}"))
                .clone()
        };
        // The SHA-1 is the source's, computed at registration.
        assert_eq!(
            case("registered")[1],
            script_cache_check::sha1_hex("local x = 1\nlocal = 2\n")
        );
        assert_eq!(case("shebang")[1], "true", "{stdout}");
        for call in ["first", "second", "eval", "eval_again"] {
            let l = case(call);
            assert_eq!(&l[1..4], ["LoadRejected", "No", "broken"], "{stdout}");
            let text = l[4];
            assert!(text.contains("script `broken`"), "{text}");
            assert!(text.contains("the server refused to load it"), "{text}");
            assert!(text.contains("did not run"), "{text}");
            assert!(text.contains("user_script:2"), "{text}");
            assert!(text.contains("Error compiling script"), "{text}");
        }
        assert_eq!(case("accent")[1], "true", "{stdout}");
        assert_eq!(case("escape")[1], "true", "{stdout}");
        assert_eq!(case("fine")[1], "ok", "{stdout}");
        // Documented, not wanted: redis-rs cannot read the reply.
        assert_eq!(&case("corner")[1..4], ["Redis", "Unknown", "corner"], "{stdout}");
    }
}
