//! The fault harness itself, with plain redis-rs commands: each fault
//! produces the server condition the guarantee tests rely on.

use std::time::Duration;

use script_cache_tests::faults::{SPIN_SCRIPT, counter, preload, scripts_exist};
use script_cache_tests::{
    AclUser, BusyScript, Flavor, FlushStorm, TestServer, fill_memory, matrix, start_replica,
};

fn code_of<T: std::fmt::Debug>(result: redis::RedisResult<T>) -> String {
    match result {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.code().unwrap_or("<none>").to_owned(),
    }
}

matrix! {
    fn flush_storm_flushes_and_stops(server) {
        let sha = preload(server, &["return 1"]).remove(0);
        let storm = FlushStorm::start(server, Duration::from_secs(30));
        assert!(storm.wait_for(20, Duration::from_secs(10)), "20 flushes within 10 s");
        let end = storm.stop();
        assert!(end.flushes >= 20 && !end.timed_out, "{end:?}");
        let stats = server.commandstats();
        let flushes = if server.flavor() == Flavor::Redis62 {
            stats.calls("script") - 1 // the preload
        } else {
            stats.calls("script|flush")
        };
        assert_eq!(flushes, end.flushes, "every flush counted, none after stop");
        assert_eq!(scripts_exist(server, &[&sha]), vec![false]);
    }

    fn acl_user_may_call_but_not_load(server) {
        let user = AclUser::without_script_load(server, "noload");
        let mut con = user.connection();
        assert_eq!(code_of(redis::cmd("SCRIPT").arg("LOAD").arg("return 1").query::<String>(&mut con)), "NOPERM");
        let sha = preload(server, &["return redis.call('INCR', KEYS[1])"]).remove(0);
        let n: i64 = redis::cmd("EVALSHA").arg(&sha).arg(1).arg("k").query(&mut con).expect("EVALSHA");
        assert_eq!(n, 1);
        assert_eq!(counter(server, "k"), 1);
    }

    fn replica_replicates_and_refuses_writes(server) {
        let replica = start_replica(server).expect("replica");
        let mut primary = server.connection();
        redis::cmd("SET").arg("k").arg("v").query::<()>(&mut primary).expect("SET");
        assert!(script_cache_tests::faults::wait_replicated(server), "WAIT 1");
        let mut con = replica.connection();
        // Seen once on a loaded machine right after Redis 7.0's delayed
        // diskless sync: WAIT counted the replica and its first GET still
        // answered nil. Read again for a bounded time.
        let deadline = std::time::Instant::now() + Duration::from_secs(3);
        let v = loop {
            let v: Option<String> = redis::cmd("GET").arg("k").query(&mut con).expect("GET on the replica");
            if v.is_some() || std::time::Instant::now() >= deadline {
                break v;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(v.as_deref(), Some("v"));
        assert_eq!(code_of(redis::cmd("SET").arg("k").arg("w").query::<()>(&mut con)), "READONLY");
    }

    fn busy_script_makes_the_server_busy_until_killed(server) {
        let busy = BusyScript::start(server, Duration::from_secs(5));
        let mut con = server.connection();
        assert_eq!(code_of(redis::cmd("GET").arg("k").query::<Option<String>>(&mut con)), "BUSY");
        let result = busy.kill();
        assert!(result.is_err(), "the killed script reports an error: {result:?}");
        let pong: String = redis::cmd("PING").query(&mut con).expect("PING after SCRIPT KILL");
        assert_eq!(pong, "PONG");
        let spin_ok: i64 = redis::cmd("EVAL").arg(SPIN_SCRIPT).arg(0).arg(1).query(&mut con).expect("short spin");
        assert_eq!(spin_ok, 1);
    }

    fn full_memory_refuses_writes(server) {
        let full = fill_memory(server);
        let mut con = server.connection();
        assert_eq!(code_of(redis::cmd("SET").arg("more").arg("x").query::<()>(&mut con)), "OOM");
        full.release();
        redis::cmd("SET").arg("more").arg("x").query::<()>(&mut con).expect("SET after release");
    }

    fn another_flavor_on_the_same_port(server) {
        let port = server.port();
        // Another installed flavor (Redis 6.2 first): the test needs two.
        let other = [Flavor::Redis62, Flavor::Redis7, Flavor::Valkey9]
            .into_iter()
            .find(|f| *f != server.flavor() && f.binary().is_ok())
            .unwrap_or_else(|| panic!("this test needs a second server flavor besides {}", server.flavor()));
        server.kill();
        let replacement = TestServer::builder(other).start_on_port(port).expect("start on the port");
        assert_eq!(replacement.port(), port);
        assert_eq!(replacement.flavor(), other);
        let mut con = replacement.connection();
        let info: String = redis::cmd("INFO").arg("server").query(&mut con).expect("INFO");
        let prefix = match other {
            Flavor::Redis62 => "redis_version:6.2.",
            Flavor::Redis7 => "redis_version:7.0.",
            Flavor::Valkey9 => "valkey_version:9.",
            Flavor::Redis82 => "redis_version:8.2.",
            Flavor::Valkey81 => "valkey_version:8.1.",
        };
        assert!(info.lines().any(|l| l.starts_with(prefix)), "{info}");
    }
}
