//! Real Redis Cluster deployments for tests: [`TestCluster`].
//!
//! Three primaries (and optionally one replica each) of one [`Flavor`] on
//! loopback ports whose bus ports (`port + 10000`) are free too,
//! bootstrapped with plain redis-crate commands (`CLUSTER ADDSLOTS`,
//! `SET-CONFIG-EPOCH`, `MEET`, `REPLICATE`; no `redis-cli`, which the
//! Valkey wheel does not ship). Every node is a [`TestServer`], killed when
//! the cluster is dropped. Every wait is bounded.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, TcpListener};
use std::time::{Duration, Instant};

use crate::server::{CommandStats, Flavor, HarnessError, TestServer};

/// How long a cluster may take to become ready (Redis 7.0 lists a replica
/// in `CLUSTER SLOTS` only after its first replication ping).
const READY_TIMEOUT: Duration = Duration::from_secs(40);

/// The node timeout the nodes run with, in milliseconds: small, so that a
/// killed primary is replaced in about two seconds.
pub const NODE_TIMEOUT_MS: u64 = 1000;

/// One node of a [`TestCluster`].
#[derive(Debug)]
pub struct ClusterNode {
    /// The server process.
    pub server: TestServer,
    /// Its cluster node id.
    pub id: String,
    alive: bool,
}

impl ClusterNode {
    /// Its port.
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// `127.0.0.1:<port>`, as `CLUSTER SLOTS` names it.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port())
    }

    /// Whether it was not killed.
    pub fn is_alive(&self) -> bool {
        self.alive
    }
}

/// A running Redis Cluster.
#[derive(Debug)]
pub struct TestCluster {
    flavor: Flavor,
    nodes: Vec<ClusterNode>,
}

fn query<T: redis::FromRedisValue>(
    node: &ClusterNode,
    cmd: &redis::Cmd,
) -> Result<T, HarnessError> {
    let mut con = node.server.client().get_connection()?;
    Ok(cmd.query(&mut con)?)
}

fn cmd(args: &[&str]) -> redis::Cmd {
    let mut c = redis::cmd(args[0]);
    for a in &args[1..] {
        c.arg(*a);
    }
    c
}

/// Which port serves each slot range, as one node sees it.
type SlotOwners = BTreeMap<(u16, u16), (u16, usize)>;

fn slot_owners(node: &ClusterNode) -> Result<SlotOwners, HarnessError> {
    let value: redis::Value = query(node, &cmd(&["CLUSTER", "SLOTS"]))?;
    let mut out = BTreeMap::new();
    let redis::Value::Array(ranges) = value else {
        return Err(HarnessError::from(redis::RedisError::from((
            redis::ErrorKind::UnexpectedReturnType,
            "CLUSTER SLOTS",
        ))));
    };
    for range in ranges {
        let redis::Value::Array(fields) = range else {
            continue;
        };
        let int = |v: &redis::Value| match v {
            redis::Value::Int(i) => *i,
            _ => -1,
        };
        let port = |v: &redis::Value| match v {
            redis::Value::Array(f) => f.get(1).map(int).unwrap_or(-1),
            _ => -1,
        };
        if fields.len() < 3 {
            continue;
        }
        let start = int(&fields[0]) as u16;
        let end = int(&fields[1]) as u16;
        out.insert((start, end), (port(&fields[2]) as u16, fields.len() - 3));
    }
    Ok(out)
}

fn free_cluster_port() -> Result<u16, HarnessError> {
    for _ in 0..200 {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(|e| HarnessError::from(redis::RedisError::from(e)))?;
        let port = listener
            .local_addr()
            .map_err(|e| HarnessError::from(redis::RedisError::from(e)))?
            .port();
        if !(1024..55535).contains(&port) {
            continue;
        }
        if TcpListener::bind((Ipv4Addr::LOCALHOST, port + 10000)).is_ok() {
            return Ok(port);
        }
    }
    Err(HarnessError::from(redis::RedisError::from((
        redis::ErrorKind::Io,
        "no free port pair (port, port + 10000) below 55535",
    ))))
}

/// Starts one empty cluster-enabled node of `flavor`.
fn spawn_node(flavor: Flavor) -> Result<ClusterNode, HarnessError> {
    let mut last = None;
    for _ in 0..5 {
        let port = free_cluster_port()?;
        match TestServer::builder(flavor)
            .port(port)
            .config("cluster-enabled", "yes")
            .config("cluster-config-file", "nodes.conf")
            .config("cluster-node-timeout", &NODE_TIMEOUT_MS.to_string())
            .config("repl-diskless-sync-delay", "0")
            .config("repl-ping-replica-period", "1")
            .start()
        {
            Ok(server) => {
                let mut node = ClusterNode {
                    server,
                    id: String::new(),
                    alive: true,
                };
                node.id = query(&node, &cmd(&["CLUSTER", "MYID"]))?;
                return Ok(node);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| harness_error("no node started".into())))
}

fn harness_error(msg: String) -> HarnessError {
    HarnessError::from(redis::RedisError::from((
        redis::ErrorKind::Client,
        "test cluster",
        msg,
    )))
}

impl TestCluster {
    /// Starts 3 primaries with `replicas` (0 or 1) replicas each and waits
    /// until it is ready; panics if it cannot.
    pub fn start(flavor: Flavor, replicas: usize) -> TestCluster {
        match Self::try_start(flavor, replicas) {
            Ok(c) => c,
            Err(e) => panic!("cannot start a {flavor} cluster: {e}"),
        }
    }

    /// [`start`](Self::start), returning the error.
    pub fn try_start(flavor: Flavor, replicas: usize) -> Result<TestCluster, HarnessError> {
        let primaries = 3;
        let total = primaries * (1 + replicas);
        let mut nodes = Vec::with_capacity(total);
        for _ in 0..total {
            nodes.push(spawn_node(flavor)?);
        }
        let per = 16384 / primaries;
        for (i, node) in nodes.iter().take(primaries).enumerate() {
            let start = i * per;
            let end = if i + 1 == primaries {
                16383
            } else {
                (i + 1) * per - 1
            };
            let mut add = redis::cmd("CLUSTER");
            add.arg("ADDSLOTS");
            for slot in start..=end {
                add.arg(slot);
            }
            query::<()>(node, &add)?;
            query::<()>(
                node,
                &cmd(&["CLUSTER", "SET-CONFIG-EPOCH", &(i + 1).to_string()]),
            )?;
        }
        let first = nodes[0].port().to_string();
        for node in &nodes[1..] {
            query::<()>(node, &cmd(&["CLUSTER", "MEET", "127.0.0.1", &first]))?;
        }
        let cluster = TestCluster { flavor, nodes };
        cluster.wait_until("every node knows every node", |c| {
            for node in c.live() {
                let info: String = query(node, &cmd(&["CLUSTER", "INFO"]))?;
                if !info.contains(&format!("cluster_known_nodes:{}", c.nodes.len())) {
                    return Ok(false);
                }
            }
            Ok(true)
        })?;
        for r in 0..primaries * replicas {
            let replica = &cluster.nodes[primaries + r];
            let primary = &cluster.nodes[r % primaries];
            query::<()>(replica, &cmd(&["CLUSTER", "REPLICATE", &primary.id]))?;
        }
        cluster.wait_ready()?;
        Ok(cluster)
    }

    /// The flavor of every node.
    pub fn flavor(&self) -> Flavor {
        self.flavor
    }

    /// Every node, killed ones included.
    pub fn nodes(&self) -> &[ClusterNode] {
        &self.nodes
    }

    /// The nodes not killed.
    pub fn live(&self) -> impl Iterator<Item = &ClusterNode> {
        self.nodes.iter().filter(|n| n.alive)
    }

    /// `redis://127.0.0.1:<port>/` of every live node.
    pub fn urls(&self) -> Vec<String> {
        self.live().map(|n| n.server.url()).collect()
    }

    /// A client builder for this cluster with test-friendly retries
    /// (5 retries, 10..200 ms apart, instead of redis-rs's 1.28 s minimum).
    ///
    /// With a response timeout of 5 s: redis-rs's cluster connection has
    /// none by default, and a request it loses never completes (seen once
    /// in this suite: redis-rs 1.8.1 sent `ASKING` to the importing node
    /// during a live migration and never sent the command after it), so
    /// without one a test could hang instead of failing.
    pub fn client_builder(&self) -> redis::cluster::ClusterClientBuilder {
        redis::cluster::ClusterClient::builder(self.urls())
            .retries(5)
            .min_retry_wait(10)
            .max_retry_wait(200)
            .response_timeout(Duration::from_secs(5))
    }

    /// A client built by [`client_builder`](Self::client_builder).
    pub fn client(&self) -> redis::cluster::ClusterClient {
        match self.client_builder().build() {
            Ok(c) => c,
            Err(e) => panic!("cannot build a cluster client: {e}"),
        }
    }

    /// The index of the node with this port.
    pub fn index_of_port(&self, port: u16) -> Option<usize> {
        self.nodes.iter().position(|n| n.port() == port)
    }

    /// The slot map as a live primary sees it: each range's primary index.
    pub fn slot_map(&self) -> BTreeMap<(u16, u16), usize> {
        let node = match self.live().find(|n| self.is_primary(n)) {
            Some(n) => n,
            None => panic!("no live primary"),
        };
        match slot_owners(node) {
            Ok(owners) => owners
                .into_iter()
                .filter_map(|(range, (port, _))| Some((range, self.index_of_port(port)?)))
                .collect(),
            Err(e) => panic!("CLUSTER SLOTS: {e}"),
        }
    }

    /// The index of the primary serving `slot`.
    pub fn slot_owner(&self, slot: u16) -> usize {
        match self
            .slot_map()
            .into_iter()
            .find(|((s, e), _)| (*s..=*e).contains(&slot))
        {
            Some((_, i)) => i,
            None => panic!("slot {slot} is not served"),
        }
    }

    /// The index of the primary serving `key`.
    pub fn key_owner(&self, key: &str) -> usize {
        self.slot_owner(script_cache::cluster::key_slot(key.as_bytes()))
    }

    fn is_primary(&self, node: &ClusterNode) -> bool {
        query::<String>(node, &cmd(&["INFO", "replication"]))
            .map(|i| i.contains("role:master"))
            .unwrap_or(false)
    }

    /// The indexes of the live primaries that serve slots.
    pub fn primaries(&self) -> Vec<usize> {
        let set: BTreeSet<usize> = self.slot_map().into_values().collect();
        set.into_iter().collect()
    }

    /// The indexes of the live replicas.
    pub fn replicas(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|i| self.nodes[*i].alive && !self.is_primary(&self.nodes[*i]))
            .collect()
    }

    /// The live replica of primary `primary`, if any.
    pub fn replica_of(&self, primary: usize) -> Option<usize> {
        let id = &self.nodes[primary].id;
        self.replicas().into_iter().find(|r| {
            query::<String>(&self.nodes[*r], &cmd(&["CLUSTER", "NODES"]))
                .map(|text| {
                    text.lines().any(|l| {
                        l.contains("myself") && l.split_whitespace().nth(3) == Some(id.as_str())
                    })
                })
                .unwrap_or(false)
        })
    }

    /// `INFO commandstats` of node `i`.
    pub fn commandstats(&self, i: usize) -> CommandStats {
        self.nodes[i].server.commandstats()
    }

    /// `INFO commandstats` of every live node, by index.
    pub fn all_commandstats(&self) -> BTreeMap<usize, CommandStats> {
        (0..self.nodes.len())
            .filter(|i| self.nodes[*i].alive)
            .map(|i| (i, self.commandstats(i)))
            .collect()
    }

    /// `CONFIG RESETSTAT` on every live node.
    pub fn reset_stats(&self) {
        for node in self.live() {
            node.server.reset_stats();
        }
    }

    /// `SCRIPT FLUSH` on node `i` only.
    pub fn flush_scripts_on(&self, i: usize) {
        if let Err(e) = query::<()>(&self.nodes[i], &cmd(&["SCRIPT", "FLUSH"])) {
            panic!("SCRIPT FLUSH on node {i}: {e}");
        }
    }

    /// Polls `ready` every 50 ms until it holds, for at most
    /// [`READY_TIMEOUT`].
    fn wait_until(
        &self,
        what: &str,
        mut ready: impl FnMut(&TestCluster) -> Result<bool, HarnessError>,
    ) -> Result<(), HarnessError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut last = String::from("not checked");
        while Instant::now() < deadline {
            match ready(self) {
                Ok(true) => return Ok(()),
                Ok(false) => last = "not yet".into(),
                Err(e) => last = e.to_string(),
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(harness_error(format!(
            "{} cluster: {what}: not within {READY_TIMEOUT:?} ({last})",
            self.flavor
        )))
    }

    /// Waits until every live node reports `cluster_state:ok` and the same
    /// slot map covering all 16384 slots, every replica's link is up, and
    /// every live node lists the live replicas in `CLUSTER SLOTS`.
    pub fn wait_ready(&self) -> Result<(), HarnessError> {
        self.wait_until("ready", |c| {
            // The primary port of each live replica, once its link is up.
            let mut replicas_of: BTreeMap<u16, usize> = BTreeMap::new();
            for node in c.live() {
                let info: String = query(node, &cmd(&["INFO", "replication"]))?;
                if info.contains("role:master") {
                    continue;
                }
                if !info.contains("master_link_status:up") {
                    return Ok(false);
                }
                let port = info
                    .lines()
                    .find_map(|l| l.trim().strip_prefix("master_port:"))
                    .and_then(|p| p.parse::<u16>().ok());
                if let Some(port) = port {
                    *replicas_of.entry(port).or_default() += 1;
                }
            }
            let mut seen: Option<SlotOwners> = None;
            for node in c.live() {
                let info: String = query(node, &cmd(&["CLUSTER", "INFO"]))?;
                if !info.contains("cluster_state:ok") {
                    return Ok(false);
                }
                let owners = slot_owners(node)?;
                let covered: u32 = owners.keys().map(|(s, e)| u32::from(*e - *s) + 1).sum();
                if covered != 16384 {
                    return Ok(false);
                }
                for (port, listed) in owners.values() {
                    match c.index_of_port(*port) {
                        Some(i) if c.nodes[i].alive => {}
                        _ => return Ok(false),
                    }
                    if *listed != replicas_of.get(port).copied().unwrap_or(0) {
                        return Ok(false);
                    }
                }
                if seen.as_ref().is_some_and(|prev| prev != &owners) {
                    return Ok(false);
                }
                seen = Some(owners);
            }
            Ok(true)
        })
    }

    /// `CLUSTER FAILOVER` on the replica of primary `primary`: waits until
    /// the replica serves the slots and the cluster is ready again.
    /// Returns the index of the new primary.
    pub fn failover(&self, primary: usize) -> usize {
        let Some(replica) = self.replica_of(primary) else {
            panic!("node {primary} has no replica");
        };
        if let Err(e) = query::<()>(&self.nodes[replica], &cmd(&["CLUSTER", "FAILOVER"])) {
            panic!("CLUSTER FAILOVER: {e}");
        }
        let result = self.wait_until("the failover", |c| {
            Ok(c.is_primary(&c.nodes[replica]) && c.slot_map().values().any(|p| *p == replica))
        });
        if let Err(e) = result.and_then(|()| self.wait_ready()) {
            panic!("{e}");
        }
        replica
    }

    /// Kills primary `primary` (SIGKILL) and waits until its replica took
    /// over and every live node reports the cluster ready. Returns the
    /// index of the new primary.
    pub fn kill_primary(&mut self, primary: usize) -> usize {
        let Some(replica) = self.replica_of(primary) else {
            panic!("node {primary} has no replica");
        };
        self.nodes[primary].server.kill();
        self.nodes[primary].alive = false;
        let result = self.wait_until("the replica's promotion", |c| {
            Ok(c.is_primary(&c.nodes[replica]) && c.slot_map().values().any(|p| *p == replica))
        });
        if let Err(e) = result.and_then(|()| self.wait_ready()) {
            panic!("{e}");
        }
        replica
    }

    /// Moves `slot` and its keys to primary `to` the legacy way
    /// (`SETSLOT IMPORTING` / `MIGRATING`, `MIGRATE` in batches of `batch`
    /// keys with `pause` between batches so that traffic meets the
    /// migration, then `SETSLOT NODE` everywhere), and waits until every
    /// node agrees.
    pub fn move_slot(&self, slot: u16, to: usize, batch: usize, pause: Duration) {
        if let Err(e) = self.try_move_slot(slot, to, batch, pause) {
            panic!("moving slot {slot}: {e}");
        }
    }

    /// Adds an empty primary (no slots) to the cluster and waits until
    /// every node knows it and it reports the cluster ready. Returns its
    /// index.
    pub fn add_primary(&mut self) -> usize {
        let node = match spawn_node(self.flavor) {
            Ok(node) => node,
            Err(e) => panic!("cannot start a new node: {e}"),
        };
        let first = self.live().next().map(|n| n.port().to_string());
        let Some(first) = first else {
            panic!("no live node to meet");
        };
        if let Err(e) = query::<()>(&node, &cmd(&["CLUSTER", "MEET", "127.0.0.1", &first])) {
            panic!("CLUSTER MEET: {e}");
        }
        self.nodes.push(node);
        let known = self.nodes.len();
        let result = self.wait_until("every node knows the new node", |c| {
            for node in c.live() {
                let info: String = query(node, &cmd(&["CLUSTER", "INFO"]))?;
                if !info.contains(&format!("cluster_known_nodes:{known}")) {
                    return Ok(false);
                }
            }
            Ok(true)
        });
        if let Err(e) = result.and_then(|()| self.wait_ready()) {
            panic!("{e}");
        }
        self.nodes.len() - 1
    }

    /// Moves `slot` with its keys to primary `to` with Valkey 9's atomic
    /// slot migration (`CLUSTER MIGRATESLOTS SLOTSRANGE s s NODE <id>` on
    /// the source), and waits until every node agrees. Valkey only.
    pub fn migrate_slot_atomic(&self, slot: u16, to: usize) {
        let from = self.slot_owner(slot);
        let s = slot.to_string();
        let to_id = self.nodes[to].id.clone();
        if let Err(e) = query::<redis::Value>(
            &self.nodes[from],
            &cmd(&[
                "CLUSTER",
                "MIGRATESLOTS",
                "SLOTSRANGE",
                &s,
                &s,
                "NODE",
                &to_id,
            ]),
        ) {
            panic!("CLUSTER MIGRATESLOTS: {e}");
        }
        let port = self.nodes[to].port();
        let result = self.wait_until("every node agrees on the migrated slot", |c| {
            for node in c.live() {
                let owners = slot_owners(node)?;
                let owner = owners
                    .iter()
                    .find(|((a, b), _)| (*a..=*b).contains(&slot))
                    .map(|(_, (p, _))| *p);
                if owner != Some(port) {
                    return Ok(false);
                }
            }
            Ok(true)
        });
        if let Err(e) = result.and_then(|()| self.wait_ready()) {
            panic!("{e}");
        }
    }

    fn try_move_slot(
        &self,
        slot: u16,
        to: usize,
        batch: usize,
        pause: Duration,
    ) -> Result<(), HarnessError> {
        let from = self.slot_owner(slot);
        let s = slot.to_string();
        let (src, dst) = (&self.nodes[from], &self.nodes[to]);
        query::<()>(dst, &cmd(&["CLUSTER", "SETSLOT", &s, "IMPORTING", &src.id]))?;
        query::<()>(src, &cmd(&["CLUSTER", "SETSLOT", &s, "MIGRATING", &dst.id]))?;
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let keys: Vec<String> = query(
                src,
                &cmd(&["CLUSTER", "GETKEYSINSLOT", &s, &batch.max(1).to_string()]),
            )?;
            if keys.is_empty() {
                break;
            }
            if Instant::now() > deadline {
                return Err(harness_error("migration did not finish".into()));
            }
            let mut migrate = redis::cmd("MIGRATE");
            migrate
                .arg("127.0.0.1")
                .arg(dst.port())
                .arg("")
                .arg(0)
                .arg(5000)
                .arg("KEYS")
                .arg(&keys);
            query::<()>(src, &migrate)?;
            std::thread::sleep(pause);
        }
        query::<()>(dst, &cmd(&["CLUSTER", "SETSLOT", &s, "NODE", &dst.id]))?;
        query::<()>(src, &cmd(&["CLUSTER", "SETSLOT", &s, "NODE", &dst.id]))?;
        for node in self.live() {
            if node.port() != src.port() && node.port() != dst.port() {
                let _ = query::<()>(node, &cmd(&["CLUSTER", "SETSLOT", &s, "NODE", &dst.id]));
            }
        }
        self.wait_until("every node agrees on the moved slot", |c| {
            for node in c.live() {
                let owners = slot_owners(node)?;
                let owner = owners
                    .iter()
                    .find(|((a, b), _)| (*a..=*b).contains(&slot))
                    .map(|(_, (p, _))| *p);
                if owner != Some(dst.port()) {
                    return Ok(false);
                }
            }
            Ok(true)
        })?;
        self.wait_ready()
    }
}
