//! The harness itself: every flavor starts and is the version it claims,
//! restarts keep the port, servers die on drop and on panic, and the
//! command statistics are read correctly.

use script_cache_tests::{CommandStats, Flavor, TestServer, matrix, server_for};
use std::path::Path;
use std::time::{Duration, Instant};

fn process_gone(pid: u32) -> bool {
    // The harness reaps its children, so a dead server has no /proc entry.
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if !Path::new(&format!("/proc/{pid}")).exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn info_field(con: &mut redis::Connection, field: &str) -> Option<String> {
    let info: String = redis::cmd("INFO").arg("server").query(con).ok()?;
    info.lines().find_map(|l| {
        l.strip_prefix(&format!("{field}:"))
            .map(|v| v.trim().to_owned())
    })
}

matrix! {
    fn answers_and_is_the_right_version(server) {
        let mut con = server.connection();
        let pong: String = redis::cmd("PING").query(&mut con).expect("PING");
        assert_eq!(pong, "PONG");
        match server.flavor() {
            Flavor::Redis7 => {
                let v = info_field(&mut con, "redis_version").expect("redis_version");
                assert!(v.starts_with("7.0."), "{v}");
                assert!(info_field(&mut con, "valkey_version").is_none());
            }
            Flavor::Redis62 => {
                let v = info_field(&mut con, "redis_version").expect("redis_version");
                assert_eq!(v, "6.2.14");
            }
            Flavor::Valkey9 => {
                let v = info_field(&mut con, "valkey_version").expect("valkey_version");
                assert!(v.starts_with("9.1."), "{v}");
            }
            Flavor::Redis82 => {
                let v = info_field(&mut con, "redis_version").expect("redis_version");
                assert!(v.starts_with("8.2."), "{v}");
                assert!(info_field(&mut con, "valkey_version").is_none());
                // The plain server: the wheel's module (FalkorDB's `graph`)
                // is never loaded; Redis 8 builds `vectorset` in.
                let modules: Vec<std::collections::HashMap<String, redis::Value>> =
                    redis::cmd("MODULE").arg("LIST").query(&mut con).expect("MODULE LIST");
                let names: Vec<String> = modules
                    .iter()
                    .filter_map(|m| redis::from_redis_value(m.get("name")?.clone()).ok())
                    .collect();
                assert_eq!(names, ["vectorset"], "{modules:?}");
            }
            Flavor::Valkey81 => {
                let v = info_field(&mut con, "valkey_version").expect("valkey_version");
                assert!(v.starts_with("8.1."), "{v}");
            }
        }
        let port: u16 = info_field(&mut con, "tcp_port").expect("tcp_port").parse().expect("port");
        assert_eq!(port, server.port());
        assert_eq!(server.url(), format!("redis://127.0.0.1:{}/", server.port()));
    }

    fn restart_keeps_the_port_and_forgets_everything(server) {
        let port = server.port();
        let mut con = server.connection();
        let sha: String = redis::cmd("SCRIPT").arg("LOAD").arg("return 1").query(&mut con).expect("load");
        redis::cmd("SET").arg("k").arg("v").query::<()>(&mut con).expect("SET");
        let old_pid = server.pid().expect("running");

        server.restart().expect("restart");

        assert_eq!(server.port(), port);
        assert!(server.is_running());
        assert_ne!(server.pid(), Some(old_pid));
        assert!(process_gone(old_pid), "old process {old_pid} still alive");
        // The old connection is dead; a new one on the same URL works.
        assert!(redis::cmd("PING").query::<String>(&mut con).is_err());
        let mut con = server.connection();
        let v: Option<String> = redis::cmd("GET").arg("k").query(&mut con).expect("GET");
        assert_eq!(v, None, "persistence must be off");
        let exists: Vec<bool> = redis::cmd("SCRIPT").arg("EXISTS").arg(&sha).query(&mut con).expect("EXISTS");
        assert_eq!(exists, vec![false], "script cache must be empty after restart");
    }

    fn commandstats_count_and_reset(server) {
        let mut con = server.connection();
        server.reset_stats();
        let sha: String = redis::cmd("SCRIPT").arg("LOAD").arg("return 1").query(&mut con).expect("load");
        for _ in 0..3 {
            let v: i64 = redis::cmd("EVALSHA").arg(&sha).arg(0).query(&mut con).expect("evalsha");
            assert_eq!(v, 1);
        }
        let err = redis::cmd("EVALSHA")
            .arg("0000000000000000000000000000000000000000")
            .arg(0)
            .query::<i64>(&mut con)
            .expect_err("unknown sha");
        assert_eq!(err.code(), Some("NOSCRIPT"));
        let stats = server.commandstats();
        assert_eq!(stats.calls("script|load"), 1);
        assert_eq!(stats.calls("evalsha"), 4);
        assert_eq!(stats.get("evalsha").failed_calls, 1);
        server.reset_stats();
        let stats = server.commandstats();
        assert_eq!(stats.calls("evalsha"), 0);
        assert_eq!(stats.calls("script|load"), 0);
    }
}

#[test]
fn servers_die_on_drop() {
    for flavor in Flavor::ALL {
        let Some(server) = server_for(flavor) else {
            continue;
        };
        let pid = server.pid().expect("running");
        assert!(Path::new(&format!("/proc/{pid}")).exists());
        drop(server);
        assert!(process_gone(pid), "{flavor} server {pid} survived its drop");
    }
}

#[test]
fn servers_die_when_the_test_panics() {
    let (tx, rx) = std::sync::mpsc::channel();
    let result = std::thread::spawn(move || {
        let server = TestServer::start(Flavor::Redis7);
        tx.send(server.pid().expect("running")).expect("send");
        panic!("deliberate panic with a live server");
    })
    .join();
    assert!(result.is_err(), "the thread must have panicked");
    let pid = rx.recv().expect("pid");
    assert!(process_gone(pid), "server {pid} survived a panicking test");
}

#[test]
fn failed_start_shows_the_server_complaint() {
    let err = TestServer::builder(Flavor::Redis7)
        .config("no-such-option", "x")
        .start()
        .expect_err("an unknown option must fail the start");
    let msg = err.to_string();
    assert!(msg.contains("did not start"), "{msg}");
    assert!(
        msg.contains("no-such-option"),
        "the server's complaint must be shown: {msg}"
    );
}

#[test]
fn commandstats_parse_both_spellings() {
    let redis62 = "# Commandstats\r\ncmdstat_script:calls=2,usec=10,usec_per_call=5.00,rejected_calls=0,failed_calls=1\r\ncmdstat_evalsha:calls=7,usec=1,usec_per_call=0.1,rejected_calls=2,failed_calls=3\r\n";
    let stats = CommandStats::parse(redis62);
    assert_eq!(
        stats.calls("script|load"),
        2,
        "6.2 counts SCRIPT as one command"
    );
    assert_eq!(stats.get("evalsha").rejected_calls, 2);
    assert_eq!(stats.total_errors(), 6);
    let redis7 = "cmdstat_script|load:calls=1,usec=1,usec_per_call=1.00,rejected_calls=0,failed_calls=0\r\ncmdstat_script|flush:calls=4,usec=1,usec_per_call=1.00,rejected_calls=0,failed_calls=0\r\n";
    let stats = CommandStats::parse(redis7);
    assert_eq!(stats.calls("script|load"), 1);
    assert_eq!(
        stats.calls("script|exists"),
        0,
        "no fallback when subcommands are counted"
    );
    assert_eq!(stats.calls("evalsha"), 0);
}

/// Started by [`servers_die_when_the_test_process_is_killed`] in a child
/// process; not meant to run on its own.
#[test]
#[ignore = "run in a child process by servers_die_when_the_test_process_is_killed"]
fn child_process_holding_servers() {
    let servers: Vec<TestServer> = Flavor::ALL.into_iter().filter_map(server_for).collect();
    for server in &servers {
        println!("SERVER_PID {}", server.pid().expect("running"));
    }
    println!("READY");
    // The parent kills this process long before this ends.
    std::thread::sleep(Duration::from_secs(60));
}

#[test]
fn servers_die_when_the_test_process_is_killed() {
    use std::io::BufRead;
    let exe = std::env::current_exe().expect("test binary");
    let mut child = std::process::Command::new(exe)
        .args([
            "--ignored",
            "--exact",
            "child_process_holding_servers",
            "--nocapture",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("child test process");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut pids = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line == "READY" => break,
            Ok(line) => {
                if let Some(pid) = line.strip_prefix("SERVER_PID ") {
                    pids.push(pid.parse::<u32>().expect("pid"));
                }
            }
            Err(e) => {
                let _ = child.kill();
                panic!("the child process did not get ready: {e}");
            }
        }
    }
    assert!(!pids.is_empty(), "the child started no server");
    // SIGKILL: no destructor runs in the child.
    child.kill().expect("kill -9 the child");
    child.wait().expect("reap the child");
    for pid in pids {
        assert!(
            process_gone(pid),
            "server {pid} outlived its killed test process"
        );
    }
}

#[test]
fn a_server_outlives_the_test_thread_that_started_it() {
    // Shared fixtures (a cluster for a whole test binary) are started by
    // whichever test comes first; they must not die with its thread.
    let server = std::thread::spawn(|| TestServer::start(Flavor::Redis7))
        .join()
        .expect("starter thread");
    std::thread::sleep(Duration::from_millis(300));
    let mut con = server.connection();
    let pong: String = redis::cmd("PING").query(&mut con).expect("still alive");
    assert_eq!(pong, "PONG");
}
