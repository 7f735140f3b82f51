//! A Sentinel deployment for tests: a primary, a replica and three
//! sentinels (quorum 2, `down-after-milliseconds` 1000), all on free
//! loopback ports, killed on drop.

use std::time::{Duration, Instant};

use crate::server::{Flavor, HarnessError, TestServer};

/// The service name the sentinels monitor.
pub const SERVICE: &str = "script-cache";

/// A primary, its replica and three sentinels.
pub struct SentinelSetup {
    /// The primary at start.
    pub primary: TestServer,
    /// Its replica (promoted by a failover).
    pub replica: TestServer,
    /// The sentinels.
    pub sentinels: Vec<TestServer>,
}

fn info_field(server: &TestServer, section: &str, field: &str) -> Option<String> {
    let mut con = server.client().get_connection().ok()?;
    let text: String = redis::cmd("INFO").arg(section).query(&mut con).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().to_owned())
}

fn wait_until(
    what: &str,
    bound: Duration,
    mut ok: impl FnMut() -> bool,
) -> Result<(), HarnessError> {
    let deadline = Instant::now() + bound;
    while Instant::now() < deadline {
        if ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(HarnessError::new(format!("{what} not within {bound:?}")))
}

impl SentinelSetup {
    /// Starts everything and waits until the replica is linked and every
    /// sentinel sees the replica and the two other sentinels.
    pub fn start(flavor: Flavor) -> Result<SentinelSetup, HarnessError> {
        let primary = TestServer::builder(flavor).start()?;
        // A config file line: Redis 6.2 does not take `--replicaof "h p"`.
        let replica = TestServer::builder(flavor)
            .config_file(&format!("replicaof 127.0.0.1 {}\n", primary.port()))
            .start()?;
        wait_until("replica link", Duration::from_secs(10), || {
            info_field(&replica, "replication", "master_link_status").as_deref() == Some("up")
        })?;
        let conf = format!(
            "sentinel monitor {SERVICE} 127.0.0.1 {} 2\n\
             sentinel down-after-milliseconds {SERVICE} 1000\n\
             sentinel failover-timeout {SERVICE} 5000\n\
             sentinel parallel-syncs {SERVICE} 1\n",
            primary.port()
        );
        let mut sentinels = Vec::new();
        for _ in 0..3 {
            sentinels.push(
                TestServer::builder(flavor)
                    .config_file(&conf)
                    .sentinel()
                    .start()?,
            );
        }
        for s in &sentinels {
            wait_until("sentinels to meet", Duration::from_secs(20), || {
                let Ok(mut con) = s.client().get_connection() else {
                    return false;
                };
                let others: redis::RedisResult<Vec<redis::Value>> = redis::cmd("SENTINEL")
                    .arg("SENTINELS")
                    .arg(SERVICE)
                    .query(&mut con);
                let replicas: redis::RedisResult<Vec<redis::Value>> = redis::cmd("SENTINEL")
                    .arg("REPLICAS")
                    .arg(SERVICE)
                    .query(&mut con);
                matches!((others, replicas), (Ok(o), Ok(r)) if o.len() == 2 && r.len() == 1)
            })?;
        }
        Ok(SentinelSetup {
            primary,
            replica,
            sentinels,
        })
    }

    /// `redis://127.0.0.1:PORT/` of each sentinel.
    pub fn sentinel_urls(&self) -> Vec<String> {
        self.sentinels.iter().map(TestServer::url).collect()
    }

    /// The primary's port as the sentinels report it.
    pub fn reported_primary_port(&self) -> Option<u16> {
        let mut con = self.sentinels[0].client().get_connection().ok()?;
        let addr: Vec<String> = redis::cmd("SENTINEL")
            .arg("GET-MASTER-ADDR-BY-NAME")
            .arg(SERVICE)
            .query(&mut con)
            .ok()?;
        addr.get(1)?.parse().ok()
    }

    /// Kills the primary (SIGKILL) and waits until the sentinels report
    /// the replica as the new primary and it accepts writes.
    pub fn fail_over(&mut self) -> Result<Duration, HarnessError> {
        let start = Instant::now();
        self.primary.kill();
        let new = self.replica.port();
        wait_until("failover", Duration::from_secs(30), || {
            self.reported_primary_port() == Some(new)
                && info_field(&self.replica, "replication", "role").as_deref() == Some("master")
        })?;
        Ok(start.elapsed())
    }
}
