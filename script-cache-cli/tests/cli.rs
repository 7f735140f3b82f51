//! The `script-cache` binary against real servers started by the harness
//! (loopback only): every subcommand, a bad folder, preload then verify,
//! ACL users in the URL, and a real cluster where one node lost its
//! scripts.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use script_cache_tests::cluster::TestCluster;
use script_cache_tests::{AclUser, Flavor, free_port, functions_matrix, matrix, workspace_root};

/// Runs the binary with `args`.
fn run(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_script-cache"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run script-cache: {e}"));
    eprintln!(
        "$ script-cache {}\n-- status {:?}\n-- stdout\n{}-- stderr\n{}",
        args.join(" "),
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The workspace's script folder.
fn lua_dir() -> String {
    workspace_root().join("lua").to_string_lossy().into_owned()
}

fn sha1(text: &str) -> String {
    sha1_smol::Sha1::from(text.as_bytes()).digest().to_string()
}

/// `6.2.14` of `INFO server`.
fn version_of(con: &mut redis::Connection) -> String {
    let info: String = redis::cmd("INFO").arg("server").query(con).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("redis_version:"))
        .unwrap()
        .trim()
        .to_owned()
}

/// name -> the SHA-1 a server of `version` has for it (the legacy body's
/// for a `#!` script on Redis before 7), from the folder's files.
fn expected_shas(dir: &Path, version: &str) -> Vec<(String, String)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "lua"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    let old = version.starts_with('6');
    files
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).unwrap();
            let body = match text.strip_prefix("#!") {
                Some(rest) if old => format!("--!{rest}"),
                _ => text,
            };
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            (name, sha1(&body))
        })
        .collect()
}

fn exists(con: &mut redis::Connection, shas: &[(String, String)]) -> Vec<bool> {
    let mut cmd = redis::cmd("SCRIPT");
    cmd.arg("EXISTS");
    for (_, sha) in shas {
        cmd.arg(sha);
    }
    cmd.query(con).unwrap()
}

#[test]
fn check_a_good_folder() {
    let out = run(&["check", &lua_dir()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stdout(&out).contains("6 scripts, no errors"),
        "{}",
        stdout(&out)
    );
}

/// A folder with a syntax error, a broken snippet and a bad shebang.
fn bad_folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::create_dir(p.join("lib")).unwrap();
    std::fs::write(p.join("ok.lua"), "return 1").unwrap();
    std::fs::write(
        p.join("unclosed.lua"),
        "local x = 1\nif x then\n  return x\n",
    )
    .unwrap();
    std::fs::write(
        p.join("inc.lua"),
        "-- @include \"lib/u.lua\"\nreturn f(KEYS[1])\n",
    )
    .unwrap();
    std::fs::write(
        p.join("lib/u.lua"),
        "local function f(k)\n  return k +\nend\n",
    )
    .unwrap();
    std::fs::write(p.join("flags.lua"), "#!lua flags=bogus\nreturn 1").unwrap();
    dir
}

#[test]
fn check_a_bad_folder_names_file_line_col() {
    let dir = bad_folder();
    let d = dir.path().to_string_lossy().into_owned();
    let out = run(&["check", &d]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains(&format!("{d}/unclosed.lua:2:1")), "{err}");
    assert!(err.contains("'end' expected"), "{err}");
    assert!(err.contains(&format!("{d}/lib/u.lua:3:1")), "{err}");
    assert!(err.contains("included as inc.lua -> lib/u.lua"), "{err}");
    assert!(err.contains(&format!("{d}/flags.lua:1:13")), "{err}");
    assert!(err.contains("3 errors"), "{err}");
    // The commands that need good scripts refuse too, with the same errors.
    let out = run(&["list", &d]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains(&format!("{d}/unclosed.lua:2:1")));
}

#[test]
fn check_json() {
    let dir = bad_folder();
    let d = dir.path().to_string_lossy().into_owned();
    let out = run(&["check", &d, "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["exit_code"], 1);
    let locations: Vec<&str> = doc["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["location"].as_str().unwrap())
        .collect();
    assert!(
        locations.contains(&format!("{d}/unclosed.lua:2:1").as_str()),
        "{locations:?}"
    );
    let out = run(&["check", &lua_dir(), "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["exit_code"], 0);
    assert_eq!(doc["scripts"].as_array().unwrap().len(), 6);
}

/// `check` reads the folder's `script-cache.toml`; `--servers` replaces it,
/// and an unknown name there is a usage error.
#[test]
fn check_takes_the_folders_servers() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("hash_ttl.lua"),
        "return redis.call('HSETEX', KEYS[1], 'FIELDS', 1, 'f', 'v')\n",
    )
    .unwrap();
    let d = dir.path().to_string_lossy().into_owned();
    // Every known server: Redis 6.2, 7.0 and Valkey 8.1 lack HSETEX.
    let out = run(&["check", &d]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("[lint: server-support]"), "{err}");
    assert!(err.contains("servers(redis-8.2, valkey-9.1)"), "{err}");
    std::fs::write(
        dir.path().join("script-cache.toml"),
        "servers = [\"redis-8.2\", \"valkey-9.1\"]\n",
    )
    .unwrap();
    let out = run(&["check", &d]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = run(&["check", &d, "--servers", "redis-7.0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("is not a command on Redis 7.0"));
    let out = run(&["check", &d, "--servers", "redis-7.4"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("name `redis-7.0` instead"),
        "{}",
        stderr(&out)
    );
    std::fs::write(dir.path().join("script-cache.toml"), "server = []\n").unwrap();
    let out = run(&["check", &d]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("did you mean `servers`?"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn check_runs_the_lint() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("typo.lua"),
        "return redis.call('GETT', KEYS[1])\n",
    )
    .unwrap();
    let d = dir.path().to_string_lossy().into_owned();
    let out = run(&["check", &d]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("unknown Redis command `GETT`"), "{err}");
    assert!(err.contains(&format!("{d}/typo.lua:1:19")), "{err}");
    assert!(err.contains("[lint: unknown-command]"), "{err}");
    // A warning passes, unless warnings are denied.
    std::fs::write(
        dir.path().join("typo.lua"),
        "return redis.call('GET', 'fixed')\n",
    )
    .unwrap();
    let out = run(&["check", &d]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stdout(&out).contains("1 script, no errors, 1 warning"),
        "{}",
        stdout(&out)
    );
    assert!(stderr(&out).contains("warning: a key of `GET` is a string literal"));
    let out = run(&["check", &d, "--deny-warnings"]);
    assert_eq!(out.status.code(), Some(1));
    let out = run(&["check", &d, "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["errors"].as_array().unwrap().len(), 0);
    let warnings = doc["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0]["location"], format!("{d}/typo.lua:1:26"));
}

#[test]
fn missing_folder_and_bad_usage() {
    let out = run(&["check", "/nonexistent/script-cache-cli"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("does not exist"));
    let out = run(&["preload", &lua_dir()]);
    assert_eq!(out.status.code(), Some(2), "--url is required");
    let out = run(&["verify", &lua_dir(), "--url", "not a url"]);
    assert_eq!(out.status.code(), Some(2), "a bad URL is a usage error");
    assert!(stderr(&out).contains("invalid URL"), "{}", stderr(&out));
    // A bare `host:port` gets the URL it meant.
    let out = run(&["verify", &lua_dir(), "--url", "localhost:6390"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("`redis://localhost:6390/`"),
        "{}",
        stderr(&out)
    );
    let out = run(&[
        "preload",
        &lua_dir(),
        "--url",
        "localhost:6390",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["exit_code"], 2);
    assert!(
        doc["error"]
            .as_str()
            .unwrap()
            .contains("redis://localhost:6390/")
    );
    // A timeout that is not a duration.
    let out = run(&[
        "verify",
        &lua_dir(),
        "--url",
        "redis://127.0.0.1:1/",
        "--timeout",
        "soon",
    ]);
    assert_eq!(out.status.code(), Some(2));
    // Every --help lists the exit codes.
    for args in [&["--help"][..], &["verify", "--help"], &["flush", "--help"]] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(0));
        let text = stdout(&out);
        assert!(text.contains("Exit codes:"), "{text}");
        assert!(text.contains("3  a server could not be reached"), "{text}");
    }
}

#[test]
fn list_and_manifest() {
    let dir = workspace_root().join("lua");
    let shas = expected_shas(&dir, "7.0");
    let out = run(&["list", &lua_dir()]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(text.starts_with("NAME"), "{text}");
    for (name, sha) in &shas {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} missing: {text}"));
        assert!(line.contains(sha.as_str()), "{line}");
    }
    let sum = text
        .lines()
        .find(|l| l.starts_with("sum_counters"))
        .unwrap();
    assert!(
        sum.contains("0+") && sum.contains("no-writes") && sum.ends_with("yes"),
        "{sum}"
    );

    let out_dir = tempfile::tempdir().unwrap();
    let file = out_dir.path().join("manifest.json");
    let out = run(&["manifest", &lua_dir(), "-o", &file.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(0));
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    for (name, sha) in &shas {
        assert_eq!(doc[name]["sha1"], sha.as_str(), "{name}");
    }
    assert_eq!(doc["rate_limit"]["keys"]["min"], 1);
    assert_eq!(doc["rate_limit"]["keys"]["variadic"], false);
    assert_eq!(doc["sum_counters"]["keys"]["variadic"], true);
    assert_eq!(doc["sum_counters"]["read_only"], true);
    let legacy = doc["sum_counters"]["legacy_sha1"].as_str().unwrap();
    assert_eq!(legacy, expected_shas(&dir, "6.2")[5].1);
    // Same document on stdout.
    let out = run(&["manifest", &lua_dir()]);
    let stdout_doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(stdout_doc, doc);
}

/// A closed port: exit code 3, the node named, in both formats.
#[test]
fn unreachable_server_is_named() {
    let port = free_port().unwrap();
    let url = format!("redis://127.0.0.1:{port}/");
    for cmd in ["preload", "verify"] {
        let out = run(&[cmd, &lua_dir(), "--url", &url]);
        assert_eq!(out.status.code(), Some(3), "{cmd}");
        assert!(stderr(&out).contains(&format!("127.0.0.1:{port}")), "{cmd}");
        assert!(stderr(&out).contains("(1 problem)"), "{cmd}");
        assert!(stdout(&out).contains("UNREACHABLE"), "{cmd}");
        let out = run(&[cmd, &lua_dir(), "--url", &url, "--format", "json"]);
        assert_eq!(out.status.code(), Some(3), "{cmd}");
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(doc["ok"], false);
        assert_eq!(doc["exit_code"], 3);
        assert_eq!(doc["nodes"][0]["addr"], format!("127.0.0.1:{port}"));
        assert_eq!(doc["nodes"][0]["result"], "unreachable");
        assert_eq!(doc["problems"].as_array().unwrap().len(), 1);
    }
    let out = run(&["flush", "--url", &url, "--yes"]);
    assert_eq!(out.status.code(), Some(3));
}

/// A server that accepts and never answers: each command gives up after
/// `--timeout` with exit code 3, instead of hanging.
#[test]
fn a_silent_server_times_out() {
    use std::time::{Duration, Instant};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accepts up to four connections and holds each, unanswered, for 20 s
    // at most (the thread ends with the test process).
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for _ in 0..4 {
            match listener.accept() {
                Ok((stream, _)) => held.push(stream),
                Err(_) => break,
            }
        }
        std::thread::sleep(Duration::from_secs(20));
        drop(held);
    });
    let url = format!("redis://127.0.0.1:{port}/");
    for args in [
        &["verify", &lua_dir(), "--url", &url, "--timeout", "1"][..],
        &["preload", &lua_dir(), "--url", &url, "--timeout", "500ms"],
        &["flush", "--url", &url, "--timeout", "1s", "--yes"],
    ] {
        let started = Instant::now();
        let out = run(args);
        let took = started.elapsed();
        assert_eq!(out.status.code(), Some(3), "{args:?}");
        assert!(took < Duration::from_secs(4), "{args:?} took {took:?}");
        assert!(
            stderr(&out).contains("no answer within the timeout"),
            "{}",
            stderr(&out)
        );
    }
}

/// `list` and `manifest` with `--format json`, and a bad folder's errors
/// as a JSON document.
#[test]
fn list_json_and_folder_errors_json() {
    let out = run(&["list", &lua_dir(), "--format", "json"]);
    assert_eq!(out.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["ok"], true);
    let scripts = doc["scripts"].as_array().unwrap();
    assert_eq!(scripts.len(), 6);
    let sum = scripts
        .iter()
        .find(|s| s["name"] == "sum_counters")
        .unwrap();
    assert_eq!(sum["read_only"], true);
    assert_eq!(sum["keys"]["variadic"], true);
    let dir = bad_folder();
    let d = dir.path().to_string_lossy().into_owned();
    for cmd in ["list", "manifest"] {
        let out = run(&[cmd, &d, "--format", "json"]);
        assert_eq!(out.status.code(), Some(1), "{cmd}");
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(doc["ok"], false);
        assert_eq!(doc["errors"].as_array().unwrap().len(), 3, "{cmd}");
    }
    // One script: singular.
    let one = tempfile::tempdir().unwrap();
    std::fs::write(one.path().join("a.lua"), "return 1\n").unwrap();
    let out = run(&["check", &one.path().to_string_lossy()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stdout(&out).contains(": 1 script, no errors"),
        "{}",
        stdout(&out)
    );
}

matrix! {
    fn preload_verify_flush(server) {
        let url = server.url();
        let dir = workspace_root().join("lua");
        let mut con = server.connection();
        let shas = expected_shas(&dir, &version_of(&mut con));
        let _: () = redis::cmd("SCRIPT").arg("FLUSH").query(&mut con).unwrap();

        let addr = format!("127.0.0.1:{}", server.port());

        let out = run(&["verify", &lua_dir(), "--url", &url]);
        assert_eq!(out.status.code(), Some(1));
        assert!(stdout(&out).contains("0/6"), "{}", stdout(&out));
        assert!(stderr(&out).contains("6 missing"), "{}", stderr(&out));
        assert!(stderr(&out).contains("(1 problem)"), "{}", stderr(&out));
        let out = run(&["verify", &lua_dir(), "--url", &url, "--format", "json"]);
        assert_eq!(out.status.code(), Some(1));
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(doc["ok"], false);
        assert_eq!(doc["exit_code"], 1);
        assert_eq!(doc["nodes"][0]["addr"], addr.as_str());
        assert_eq!(doc["nodes"][0]["result"], "missing");
        assert_eq!(doc["nodes"][0]["present"], 0);
        assert_eq!(doc["nodes"][0]["missing"].as_array().unwrap().len(), 6);

        let out = run(&["preload", &lua_dir(), "--url", &url]);
        assert_eq!(out.status.code(), Some(0));
        assert!(stdout(&out).contains(&addr));
        assert!(exists(&mut con, &shas).iter().all(|e| *e), "every script loaded");
        let out = run(&["preload", &lua_dir(), "--url", &url, "--format", "json"]);
        assert_eq!(out.status.code(), Some(0));
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(doc["ok"], true);
        assert_eq!(doc["exit_code"], 0);
        assert_eq!(doc["nodes"][0]["result"], "ok");
        assert_eq!(doc["nodes"][0]["loaded"], 6);
        assert_eq!(doc["problems"].as_array().unwrap().len(), 0);

        let out = run(&["verify", &lua_dir(), "--url", &url]);
        assert_eq!(out.status.code(), Some(0));
        assert!(stdout(&out).contains("6/6"), "{}", stdout(&out));
        let out = run(&["verify", &lua_dir(), "--url", &url, "--format", "json"]);
        assert_eq!(out.status.code(), Some(0));
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(doc["nodes"][0]["result"], "ok");
        assert_eq!(doc["nodes"][0]["present"], 6);

        // Without a terminal, flush needs --yes: a usage error, nothing flushed.
        let out = run(&["flush", "--url", &url]);
        assert_eq!(out.status.code(), Some(2));
        assert!(stderr(&out).contains("--yes"), "{}", stderr(&out));
        assert!(exists(&mut con, &shas).iter().all(|e| *e), "nothing flushed");

        let out = run(&["flush", "--url", &url, "--yes"]);
        assert_eq!(out.status.code(), Some(0));
        assert!(stdout(&out).contains("flushed"));
        assert!(exists(&mut con, &shas).iter().all(|e| !*e), "every script flushed");
        let out = run(&["verify", &lua_dir(), "--url", &url]);
        assert_eq!(out.status.code(), Some(1));
        let out = run(&["flush", "--url", &url, "--yes", "--format", "json"]);
        assert_eq!(out.status.code(), Some(0));
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(doc["ok"], true);
        assert_eq!(doc["nodes"][0]["result"], "flushed");
    }

    fn acl_users_in_the_url(server) {
        let mut admin = server.connection();
        let _: () = redis::cmd("ACL")
            .arg(&["SETUSER", "deployer", "reset", "on", ">deploy-pw", "~*", "+@all"][..])
            .query(&mut admin)
            .unwrap();
        let port = server.port();
        let url = format!("redis://deployer:deploy-pw@127.0.0.1:{port}/");
        let out = run(&["preload", &lua_dir(), "--url", &url]);
        assert_eq!(out.status.code(), Some(0));
        let shas = expected_shas(&workspace_root().join("lua"), &version_of(&mut admin));
        assert!(exists(&mut admin, &shas).iter().all(|e| *e));

        // The URL from the environment: the password stays off the command line.
        let out = Command::new(env!("CARGO_BIN_EXE_script-cache"))
            .args(["verify", &lua_dir()])
            .env("SCRIPT_CACHE_URL", &url)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(stdout(&out).contains("6/6"));

        let wrong = format!("redis://deployer:nope@127.0.0.1:{port}/");
        let out = run(&["verify", &lua_dir(), "--url", &wrong]);
        assert_eq!(out.status.code(), Some(1));
        assert!(stderr(&out).contains(&format!("127.0.0.1:{port}")), "{}", stderr(&out));

        // A user who may not SCRIPT LOAD: preload fails, named per script.
        let _: () = redis::cmd("SCRIPT").arg("FLUSH").query(&mut admin).unwrap();
        let user = AclUser::without_script_load(server, "app");
        let url = format!("redis://{}:{}@127.0.0.1:{port}/", user.name, user.password);
        let out = run(&["preload", &lua_dir(), "--url", &url]);
        assert_eq!(out.status.code(), Some(1));
        let err = stderr(&out);
        assert!(err.contains(&format!("127.0.0.1:{port}: rate_limit:")), "{err}");
        assert!(stdout(&out).contains("FAILED"));
        assert!(exists(&mut admin, &shas).iter().all(|e| !*e));
    }
}

/// Preload on every node of a real cluster (3 primaries, 3 replicas), a
/// SCRIPT FLUSH of one node, verify names it, flush --cluster empties all.
fn cluster_round_trip(flavor: Flavor) {
    // Declared with `flavor_test!`: ignored when the flavor was missing at
    // build time; a missing binary here is a failure.
    if let Err(missing) = flavor.binary() {
        panic!("{missing}");
    }
    let cluster = TestCluster::start(flavor, 1);
    let seed = cluster.urls()[0].clone();
    let version = version_of(&mut cluster.nodes()[0].server.connection());
    let shas = expected_shas(&workspace_root().join("lua"), &version);

    let out = run(&["preload", &lua_dir(), "--url", &seed, "--cluster"]);
    assert_eq!(out.status.code(), Some(0));
    let table = stdout(&out);
    assert_eq!(table.lines().count(), 1 + cluster.nodes().len(), "{table}");
    assert_eq!(table.matches("primary").count(), 3, "{table}");
    assert_eq!(table.matches("replica").count(), 3, "{table}");
    for node in cluster.nodes() {
        assert!(table.contains(&node.addr()), "{table}");
        let mut con = node.server.connection();
        assert!(
            exists(&mut con, &shas).iter().all(|e| *e),
            "{}",
            node.addr()
        );
    }

    let out = run(&["verify", &lua_dir(), "--url", &seed, "--cluster"]);
    assert_eq!(out.status.code(), Some(0));

    // One replica loses its scripts.
    let lost = &cluster.nodes()[4];
    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query(&mut lost.server.connection())
        .unwrap();
    let out = run(&["verify", &lua_dir(), "--url", &seed, "--cluster"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("{}: 6 missing", lost.addr())),
        "{err}"
    );
    let text = stdout(&out);
    let missing_rows: Vec<&str> = text.lines().filter(|l| l.contains("rate_limit")).collect();
    assert_eq!(
        missing_rows.len(),
        1,
        "only the flushed node misses scripts"
    );
    assert!(missing_rows[0].starts_with(&lost.addr()));

    let out = run(&["flush", "--url", &seed, "--cluster", "--yes"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stdout(&out).matches("flushed").count(),
        cluster.nodes().len()
    );
    for node in cluster.nodes() {
        let mut con = node.server.connection();
        assert!(
            exists(&mut con, &shas).iter().all(|e| !*e),
            "{}",
            node.addr()
        );
    }
}

script_cache_tests::flavor_test! { Redis7,
    fn cluster_redis_7_0() {
        cluster_round_trip(Flavor::Redis7);
    }
}

script_cache_tests::flavor_test! { Redis62,
    fn cluster_redis_6_2() {
        cluster_round_trip(Flavor::Redis62);
    }
}

script_cache_tests::flavor_test! { Valkey9,
    fn cluster_valkey_9_1() {
        cluster_round_trip(Flavor::Valkey9);
    }
}

script_cache_tests::flavor_test! { Redis82,
    fn cluster_redis_8_2() {
        cluster_round_trip(Flavor::Redis82);
    }
}

script_cache_tests::flavor_test! { Valkey81,
    fn cluster_valkey_8_1() {
        cluster_round_trip(Flavor::Valkey81);
    }
}

/// `check` reports what the macros report: for every compile-fail case of
/// the workspace that embeds a folder (`tests/ui`), run from the same
/// directory, the same messages at the same `file:line:col`, and exit
/// code 0 exactly when the macros accept the folder.
#[test]
fn check_agrees_with_the_macros() {
    let ui = workspace_root().join("tests/ui");
    let mut cases = 0;
    for entry in std::fs::read_dir(&ui).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let code = std::fs::read_to_string(&path).unwrap();
        let Some(dir) = code
            .split("include_scripts!(\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
        else {
            continue;
        };
        // The CLI takes any path; its folder is relative to the current
        // directory, not a manifest directory.
        if !dir.starts_with("fixtures/") || dir.ends_with("does_not_exist") {
            continue;
        }
        if !ui.join(dir).is_dir() {
            continue;
        }
        let expected = std::fs::read_to_string(path.with_extension("stderr")).unwrap();
        // A case that denies the lint's warnings (`#![deny(deprecated)]`)
        // gets them as errors: `check --deny-warnings`, and the warning's
        // own text.
        let deny = code.contains("#![deny(deprecated)]");
        // `error: use of deprecated constant `_::script_cache_lint::rule`: finding`
        let marker = "error: use of deprecated constant `";
        let macro_errors: Vec<String> = expected
            .lines()
            .filter(|l| l.starts_with("error: ") && !l.starts_with("error: aborting"))
            .map(|l| {
                match l
                    .strip_prefix(marker)
                    .and_then(|rest| rest.split_once("`: "))
                {
                    Some((_, finding)) => format!("warning: {finding}"),
                    None => l.to_owned(),
                }
            })
            .collect();
        let mut args = vec!["check", dir];
        if deny {
            args.push("--deny-warnings");
        }
        let out = Command::new(env!("CARGO_BIN_EXE_script-cache"))
            .args(&args)
            .current_dir(&ui)
            .output()
            .unwrap();
        let err = stderr(&out);
        let name = path.file_name().unwrap().to_string_lossy();
        if macro_errors.is_empty() {
            assert_eq!(out.status.code(), Some(0), "{name}: {err}");
            continue;
        }
        assert_eq!(out.status.code(), Some(1), "{name}");
        for line in &macro_errors {
            assert!(
                err.contains(line.as_str()),
                "{name}: {line:?} missing from:\n{err}"
            );
        }
        for location in expected
            .lines()
            .filter_map(|l| l.trim().strip_prefix("--> fixtures/"))
        {
            assert!(
                err.contains(&format!("--> fixtures/{location}")),
                "{name}: {location}\n{err}"
            );
        }
        let cli_errors = err
            .lines()
            .filter(|l| l.starts_with("error: ") || (deny && l.starts_with("warning: ")))
            .count();
        assert_eq!(cli_errors, macro_errors.len(), "{name}:\n{err}");
        cases += 1;
    }
    assert!(cases >= 15, "only {cases} cases compared");
}

#[cfg(feature = "tls")]
script_cache_tests::flavor_test! { Redis7,
    /// `rediss://` with `--tls-ca`: preload and verify over TLS (Redis 7.0,
    /// the flavor of the matrix built with TLS).
    fn tls_with_a_ca_file() {
        use script_cache_tests::{TestServer, TlsFiles, supports_tls};
        let flavor = Flavor::Redis7;
        // Declared with `flavor_test!`: ignored when Redis 7.0 was missing at
        // build time; a missing binary or a build without TLS here is a failure.
        assert!(supports_tls(flavor), "{flavor} has no TLS build");
        if let Err(missing) = flavor.binary() {
            panic!("{missing}");
        }
        let files = TlsFiles::generate().unwrap();
        let tls_port = free_port().unwrap();
        let server = TestServer::builder(flavor)
            .config("tls-port", &tls_port.to_string())
            .config("tls-cert-file", &files.cert.display().to_string())
            .config("tls-key-file", &files.key.display().to_string())
            .config("tls-ca-cert-file", &files.ca.display().to_string())
            .config("tls-auth-clients", "no")
            .start()
            .unwrap();
        let url = format!("rediss://127.0.0.1:{tls_port}/");
        let ca = files.ca.display().to_string();
        let out = run(&["preload", &lua_dir(), "--url", &url, "--tls-ca", &ca]);
        assert_eq!(out.status.code(), Some(0));
        let mut con = server.connection();
        let shas = expected_shas(&workspace_root().join("lua"), &version_of(&mut con));
        assert!(exists(&mut con, &shas).iter().all(|e| *e));
        let out = run(&["verify", &lua_dir(), "--url", &url, "--tls-ca", &ca]);
        assert_eq!(out.status.code(), Some(0));
        // Without the CA, the server's certificate is not trusted: named;
        // the TLS handshake fails, the server is not reached: exit 3.
        let out = run(&["verify", &lua_dir(), "--url", &url]);
        assert_eq!(out.status.code(), Some(3));
        assert!(stderr(&out).contains(&format!("127.0.0.1:{tls_port}")));
    }
}

/// The test folder with a function library (`counters.lua`) and a script.
fn functions_dir() -> String {
    workspace_root()
        .join("tests/functions-lua")
        .to_string_lossy()
        .into_owned()
}

fn libraries_on(con: &mut redis::Connection) -> Vec<String> {
    let list: Vec<redis::Value> = redis::cmd("FUNCTION").arg("LIST").query(con).unwrap();
    list.iter()
        .filter_map(|entry| match entry {
            redis::Value::Array(flat) => flat
                .chunks(2)
                .find(|p| {
                    redis::from_redis_value_ref::<String>(&p[0]).ok().as_deref()
                        == Some("library_name")
                })
                .and_then(|p| redis::from_redis_value_ref::<String>(&p[1]).ok()),
            _ => None,
        })
        .collect()
}

functions_matrix! {
    /// `list`, `check`, `preload` (FUNCTION LOAD, REPLACE only when asked),
    /// `verify` (a missing library and other code are findings), and
    /// `flush`, which leaves libraries alone.
    fn libraries_through_the_command_line(server) {
        let url = server.url();
        let dir = functions_dir();
        let mut con = server.connection();

        let out = run(&["check", &dir]);
        assert_eq!(out.status.code(), Some(0));
        assert!(stdout(&out).contains("1 script, 1 function library, no errors"), "{}", stdout(&out));
        let out = run(&["list", &dir]);
        assert_eq!(out.status.code(), Some(0));
        let text = stdout(&out);
        assert!(text.contains("LIBRARY"), "{text}");
        assert!(text.lines().any(|l| l.starts_with("counters") && l.contains(" peek ") && l.contains("no-writes")), "{text}");
        let out = run(&["list", &dir, "--format", "json"]);
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(doc["scripts"].as_array().unwrap().len(), 1);
        assert_eq!(doc["libraries"][0]["name"], "counters");
        assert_eq!(doc["libraries"][0]["functions"][0]["name"], "bump");

        let out = run(&["verify", &dir, "--url", &url]);
        assert_eq!(out.status.code(), Some(1));
        assert!(stderr(&out).contains("library `counters`"), "{}", stderr(&out));
        assert!(stderr(&out).contains("is missing"), "{}", stderr(&out));

        let out = run(&["preload", &dir, "--url", &url]);
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(libraries_on(&mut con), ["counters"]);
        let out = run(&["verify", &dir, "--url", &url, "--format", "json"]);
        assert_eq!(out.status.code(), Some(0));
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(doc["libraries"][0]["result"], "present");
        // Preloading again: the same code is fine without --replace.
        let out = run(&["preload", &dir, "--url", &url]);
        assert_eq!(out.status.code(), Some(0));

        // Other code under the library's name: drift; preload refuses it
        // without --replace, replaces it with.
        let other = "#!lua name=counters\nredis.register_function('counters_version', function() return 'other' end)\n";
        let _: String = redis::cmd("FUNCTION").arg("LOAD").arg("REPLACE").arg(other).query(&mut con).unwrap();
        let out = run(&["verify", &dir, "--url", &url]);
        assert_eq!(out.status.code(), Some(1));
        assert!(stderr(&out).contains("has other code"), "{}", stderr(&out));
        let out = run(&["preload", &dir, "--url", &url]);
        assert_eq!(out.status.code(), Some(1));
        assert!(stderr(&out).contains("--replace"), "{}", stderr(&out));
        let out = run(&["preload", &dir, "--url", &url, "--replace"]);
        assert_eq!(out.status.code(), Some(0));
        let out = run(&["verify", &dir, "--url", &url]);
        assert_eq!(out.status.code(), Some(0));

        // flush: scripts only.
        let out = run(&["flush", "--url", &url, "--yes"]);
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(libraries_on(&mut con), ["counters"], "libraries are left alone");
    }
}

/// A folder of the versioned fixtures (`functions = "versioned"`): `v1`
/// or `v2` of the library `counters`.
fn versioned_dir(version: &str) -> String {
    workspace_root()
        .join("tests/functions-versioned")
        .join(version)
        .to_string_lossy()
        .into_owned()
}

/// The name `counters` of a versioned fixture has on the server.
fn versioned_name(version: &str) -> String {
    let code =
        std::fs::read_to_string(Path::new(&versioned_dir(version)).join("counters.lua")).unwrap();
    format!("counters_v{}", &sha1(&code)[..12])
}

fn load_library(con: &mut redis::Connection, code: &str) {
    let _: String = redis::cmd("FUNCTION")
        .arg("LOAD")
        .arg(code)
        .query(con)
        .unwrap();
}

functions_matrix! {
    /// Versioned mode through the command line: `list` and `manifest`
    /// show the names on the server, `preload` and `verify` use them, and
    /// `prune` deletes the versions of the folder's libraries that
    /// neither the folder nor a `--keep` manifest names (only with
    /// `--yes`), never another library.
    fn versioned_libraries_and_prune(server) {
        let url = server.url();
        let (v1, v2) = (versioned_dir("v1"), versioned_dir("v2"));
        let (n1, n2) = (versioned_name("v1"), versioned_name("v2"));
        let hash1 = n1.trim_start_matches("counters_v").to_owned();
        let mut con = server.connection();

        let out = run(&["list", &v1]);
        assert_eq!(out.status.code(), Some(0));
        let text = stdout(&out);
        assert!(text.contains("LIBRARY ON SERVER") && text.contains("FUNCTION ON SERVER"), "{text}");
        assert!(
            text.lines().any(|l| l.starts_with("counters ") && l.contains(" tick ")
                && l.contains(&n1) && l.contains(&format!("tick_v{hash1}"))),
            "{text}"
        );
        let dir = tempfile::tempdir().unwrap();
        let m1 = dir.path().join("v1.json");
        let out = run(&["manifest", &v1, "-o", &m1.to_string_lossy()]);
        assert_eq!(out.status.code(), Some(0));
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&m1).unwrap()).unwrap();
        let lib = &doc["libraries"][0];
        assert_eq!(lib["name"], "counters");
        assert_eq!(lib["server_name"], n1.as_str());
        assert_eq!(lib["file"], format!("{v1}/counters.lua"));
        assert_eq!(lib["functions"][0]["name"], "tick");
        assert_eq!(lib["functions"][0]["server_name"], format!("tick_v{hash1}"));
        assert_eq!(lib["functions"][0]["keys"]["min"], 1);
        assert_eq!(lib["functions"][1]["read_only"], true);
        assert_eq!(lib["functions"][1]["flags"][0], "no-writes");
        assert_eq!(lib["sha1"].as_str().unwrap().len(), 40);

        // verify and preload use the versioned name.
        let out = run(&["verify", &v1, "--url", &url]);
        assert_eq!(out.status.code(), Some(1));
        assert!(stderr(&out).contains(&format!("library `{n1}`")), "{}", stderr(&out));
        for dir in [&v1, &v2] {
            let out = run(&["preload", dir, "--url", &url]);
            assert_eq!(out.status.code(), Some(0));
        }
        let out = run(&["verify", &v1, "--url", &url]);
        assert_eq!(out.status.code(), Some(0));
        assert!(stdout(&out).contains(&n1), "{}", stdout(&out));
        let fcall: String = redis::cmd("FCALL").arg(format!("which_v{hash1}")).arg(0).query(&mut con).unwrap();
        assert_eq!(fcall, "v1");

        // Libraries prune never touches: not `counters_v<12 hex>`.
        load_library(&mut con, "#!lua name=counters\nredis.register_function('plain_fn', function() return 1 end)\n");
        load_library(&mut con, "#!lua name=counters_vzzzzzzzzzzzz\nredis.register_function('z_fn', function() return 1 end)\n");
        load_library(&mut con, "#!lua name=other_v0123456789ab\nredis.register_function('other_fn', function() return 1 end)\n");
        let mut all = vec!["counters".to_owned(), n1.clone(), n2.clone(),
            "counters_vzzzzzzzzzzzz".into(), "other_v0123456789ab".into()];
        all.sort();
        let held = |con: &mut redis::Connection| {
            let mut l = libraries_on(con);
            l.sort();
            l
        };
        assert_eq!(held(&mut con), all);

        // Without --yes: what it would delete, nothing deleted, exit 0.
        let out = run(&["prune", &v2, "--url", &url]);
        assert_eq!(out.status.code(), Some(0));
        let text = stdout(&out);
        assert!(text.lines().any(|l| l.contains(&n1) && l.ends_with("would delete")), "{text}");
        assert!(text.lines().any(|l| l.contains(&n2) && l.ends_with("kept (this folder)")), "{text}");
        assert!(!text.contains("zzzz") && !text.contains("other_v") && !text.contains(" counters "), "{text}");
        assert!(stderr(&out).contains("pass --yes"), "{}", stderr(&out));
        assert_eq!(held(&mut con), all);

        // A manifest that lists no libraries, or no manifest: a usage
        // error, nothing deleted.
        let scripts_only = dir.path().join("scripts.json");
        std::fs::write(&scripts_only, "{\"get\": {\"sha1\": \"x\"}}").unwrap();
        for bad in [scripts_only.clone(), dir.path().join("nope.json")] {
            let out = run(&["prune", &v2, "--url", &url, "--keep", &bad.to_string_lossy(), "--yes"]);
            assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
            assert!(stderr(&out).contains("--keep"), "{}", stderr(&out));
        }
        assert_eq!(held(&mut con), all);

        // --keep the manifest of v1: nothing to delete.
        let out = run(&["prune", &v2, "--url", &url, "--keep", &m1.to_string_lossy(), "--yes", "--format", "json"]);
        assert_eq!(out.status.code(), Some(0));
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let results: Vec<(String, String)> = doc["libraries"].as_array().unwrap().iter()
            .map(|l| (l["library"].as_str().unwrap().to_owned(), l["result"].as_str().unwrap().to_owned()))
            .collect();
        let mut want = vec![(n1.clone(), "kept (--keep)".to_owned()), (n2.clone(), "kept (this folder)".to_owned())];
        want.sort();
        assert_eq!(results, want);
        assert_eq!(held(&mut con), all);

        // --yes: v1 goes, the rest stays; v2 still runs.
        let out = run(&["prune", &v2, "--url", &url, "--yes"]);
        assert_eq!(out.status.code(), Some(0));
        assert!(stdout(&out).lines().any(|l| l.contains(&n1) && l.ends_with("deleted")), "{}", stdout(&out));
        all.retain(|l| *l != n1);
        assert_eq!(held(&mut con), all);
        let out = run(&["verify", &v2, "--url", &url]);
        assert_eq!(out.status.code(), Some(0));
        let out = run(&["verify", &v1, "--url", &url]);
        assert_eq!(out.status.code(), Some(1));
    }
}

/// `prune --cluster` on a real cluster (3 primaries, 3 replicas): the old
/// version goes from every primary (and by replication from every
/// replica), the folder's own stays everywhere; replicas are not asked.
fn cluster_prune(flavor: Flavor) {
    // Declared with `functions_per_flavor!`: ignored when the flavor was missing at
    // build time; a missing binary here is a failure.
    if let Err(missing) = flavor.binary() {
        panic!("{missing}");
    }
    let cluster = TestCluster::start(flavor, 1);
    let seed = cluster.urls()[0].clone();
    let (v1, v2) = (versioned_dir("v1"), versioned_dir("v2"));
    let (n1, n2) = (versioned_name("v1"), versioned_name("v2"));
    for dir in [&v1, &v2] {
        let out = run(&["preload", dir, "--url", &seed, "--cluster"]);
        assert_eq!(out.status.code(), Some(0));
    }
    let primaries = cluster.primaries();
    assert_eq!(primaries.len(), 3);
    let held = |i: usize| {
        let mut l = libraries_on(&mut cluster.nodes()[i].server.connection());
        l.sort();
        l
    };
    let mut both = vec![n1.clone(), n2.clone()];
    both.sort();
    for &p in &primaries {
        assert_eq!(held(p), both, "primary {p}");
    }

    let out = run(&["prune", &v2, "--url", &seed, "--cluster"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert_eq!(text.matches("would delete").count(), 3, "{text}");
    assert_eq!(text.matches("kept (this folder)").count(), 3, "{text}");
    assert!(!text.contains("replica"), "{text}");
    for &p in &primaries {
        assert_eq!(held(p), both, "nothing deleted on {p}");
    }

    let out = run(&["prune", &v2, "--url", &seed, "--cluster", "--yes"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stdout(&out).matches("deleted").count(),
        3,
        "{}",
        stdout(&out)
    );
    for &p in &primaries {
        assert_eq!(held(p), vec![n2.clone()], "primary {p}");
        // The replica has what its primary has once it caught up.
        let _: i64 = redis::cmd("WAIT")
            .arg(1)
            .arg(5000)
            .query(&mut cluster.nodes()[p].server.connection())
            .unwrap();
        let r = cluster.replica_of(p).unwrap();
        assert_eq!(held(r), vec![n2.clone()], "replica {r} of {p}");
    }
    let out = run(&["verify", &v2, "--url", &seed, "--cluster"]);
    assert_eq!(out.status.code(), Some(0));
}

script_cache_tests::functions_per_flavor!(cluster_prune_each_primary, cluster_prune);

/// A folder with a library on a real cluster (3 primaries, 3 replicas):
/// `preload --cluster` loads the library on every primary (the replicas
/// get it by replication), `verify --cluster` passes; after a `FUNCTION
/// FLUSH` on one primary (replicated to its replica), `verify` exits 1
/// naming the library and that primary.
fn cluster_libraries(flavor: Flavor) {
    if let Err(missing) = flavor.binary() {
        panic!("{missing}");
    }
    let cluster = TestCluster::start(flavor, 1);
    let seed = cluster.urls()[0].clone();
    let dir = functions_dir();

    let out = run(&["preload", &dir, "--url", &seed, "--cluster"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{flavor}: {}{}",
        stdout(&out),
        stderr(&out)
    );
    for p in cluster.primaries() {
        let node = &cluster.nodes()[p];
        assert_eq!(
            libraries_on(&mut node.server.connection()),
            ["counters"],
            "{flavor}: primary {}",
            node.addr()
        );
    }
    let out = run(&["verify", &dir, "--url", &seed, "--cluster"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{flavor}: {}{}",
        stdout(&out),
        stderr(&out)
    );

    let lost = &cluster.nodes()[cluster.primaries()[1]];
    let _: () = redis::cmd("FUNCTION")
        .arg("FLUSH")
        .query(&mut lost.server.connection())
        .unwrap();
    let out = run(&["verify", &dir, "--url", &seed, "--cluster"]);
    assert_eq!(out.status.code(), Some(1), "{flavor}: {}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("library `counters`"), "{flavor}: {err}");
    assert!(err.contains(&lost.addr()), "{flavor}: {err}");
    for p in cluster.primaries() {
        let addr = cluster.nodes()[p].addr();
        if addr != lost.addr() {
            assert!(!err.contains(&addr), "{flavor}: {addr} still has it: {err}");
        }
    }
}

script_cache_tests::functions_per_flavor!(cluster_libraries_each_primary, cluster_libraries);
