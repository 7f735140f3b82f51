//! The servers a command talks to: the one of `--url`, or with
//! `--cluster` every primary and replica the seed node knows
//! (`CLUSTER NODES`), each reached with the credentials and TLS settings
//! of the URL.

use std::time::Duration;

use redis::{ConnectionAddr, ConnectionInfo};

use crate::{Failure, Outcome};

/// One server to talk to.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    /// `host:port`, as `CLUSTER NODES` names it.
    pub(crate) addr: String,
    /// `primary`, `replica` or `server`.
    pub(crate) role: &'static str,
    info: ConnectionInfo,
    /// How long connecting, and each reply, may take (`--timeout`).
    timeout: Duration,
}

/// Why a node failed: it could not be reached (exit code 3), or it
/// answered with a refusal (exit code 1).
#[derive(Debug, Clone)]
pub(crate) struct NodeError {
    pub(crate) unreachable: bool,
    pub(crate) message: String,
}

impl NodeError {
    /// The node's result in a report: `unreachable`, or `failed` (reached,
    /// and it said no).
    pub(crate) fn result(&self) -> &'static str {
        if self.unreachable {
            "unreachable"
        } else {
            "failed"
        }
    }

    /// A redis-rs error, classified: I/O, refused, timed out, dropped.
    pub(crate) fn from_redis(what: &str, e: &redis::RedisError) -> Self {
        NodeError {
            unreachable: unreachable(e),
            message: format!("{what}{}", describe(e)),
        }
    }

    /// A runtime error, classified by [`script_cache::Error::is_connection_error`].
    pub(crate) fn from_runtime(e: &script_cache::Error) -> Self {
        let timed_out = std::error::Error::source(e)
            .and_then(|s| s.downcast_ref::<redis::RedisError>())
            .is_some_and(redis::RedisError::is_timeout);
        NodeError {
            unreachable: e.is_connection_error(),
            message: if timed_out {
                format!("no answer within the timeout ({e})")
            } else {
                e.to_string()
            },
        }
    }

    pub(crate) fn outcome(&self) -> Outcome {
        if self.unreachable {
            Outcome::Unreachable
        } else {
            Outcome::Findings
        }
    }
}

/// Whether an error means the server could not be reached or stopped
/// answering.
fn unreachable(e: &redis::RedisError) -> bool {
    e.is_io_error() || e.is_timeout() || e.is_connection_refusal() || e.is_connection_dropped()
}

/// A redis-rs error with a timeout said as one.
fn describe(e: &redis::RedisError) -> String {
    if e.is_timeout() {
        format!("no answer within the timeout ({e})")
    } else {
        e.to_string()
    }
}

impl Node {
    /// A connection, with read and write timeouts. Without `CLIENT
    /// SETINFO` at connect time: each setup command waits up to the
    /// timeout, and a server that never answers would make `--timeout 5`
    /// take 10 s.
    pub(crate) fn connect(&self) -> Result<redis::Connection, NodeError> {
        let settings = self.info.redis_settings().clone().set_skip_set_lib_name();
        let info = self.info.clone().set_redis_settings(settings);
        let client = redis::Client::open(info).map_err(|e| NodeError::from_redis("", &e))?;
        let con = client
            .get_connection_with_timeout(self.timeout)
            .map_err(|e| NodeError::from_redis("cannot connect: ", &e))?;
        con.set_read_timeout(Some(self.timeout))
            .and_then(|()| con.set_write_timeout(Some(self.timeout)))
            .map_err(|e| NodeError::from_redis("", &e))?;
        Ok(con)
    }
}

/// The nodes of `info`: itself, or every node of its cluster (reached
/// with its credentials and TLS settings).
pub(crate) fn discover(
    info: ConnectionInfo,
    cluster: bool,
    timeout: Duration,
) -> Result<Vec<Node>, Failure> {
    let seed = Node {
        addr: info.addr().to_string(),
        role: "server",
        info,
        timeout,
    };
    if !cluster {
        return Ok(vec![seed]);
    }
    let fail = |e: NodeError| Failure {
        outcome: e.outcome(),
        message: format!("{}: {}", seed.addr, e.message),
    };
    let mut con = seed.connect().map_err(fail)?;
    let text: String = redis::cmd("CLUSTER")
        .arg("NODES")
        .query(&mut con)
        .map_err(|e| fail(NodeError::from_redis("CLUSTER NODES: ", &e)))?;
    let (seed_host, seed_port) = match seed.info.addr() {
        ConnectionAddr::Tcp(host, port) | ConnectionAddr::TcpTls { host, port, .. } => {
            (host.clone(), *port)
        }
        _ => {
            return Err(Failure::usage(
                "--cluster needs a TCP URL (redis:// or rediss://)",
            ));
        }
    };
    let mut nodes = Vec::new();
    for line in text.lines() {
        let Some(NodeLine {
            host,
            port,
            role,
            hostname,
        }) = parse_node_line(line)
        else {
            // Say which known nodes are left out, and why.
            let mut fields = line.split_whitespace().skip(1);
            if let (Some(addr), Some(flags)) = (fields.next(), fields.next()) {
                eprintln!("note: skipping {addr} (CLUSTER NODES flags: {flags})");
            }
            continue;
        };
        // A node that does not know its own address yet (`:0@0`): the seed.
        let (host, port) = match (host.is_empty(), port) {
            (true, _) | (_, 0) if line.contains("myself") => (seed_host.clone(), seed_port),
            (true, _) | (_, 0) => continue,
            _ => (host, port),
        };
        let addr = match seed.info.addr() {
            ConnectionAddr::TcpTls {
                insecure,
                tls_params,
                ..
            } => ConnectionAddr::TcpTls {
                host: hostname.unwrap_or_else(|| host.clone()),
                port,
                insecure: *insecure,
                tls_params: tls_params.clone(),
            },
            _ => ConnectionAddr::Tcp(host.clone(), port),
        };
        nodes.push(Node {
            addr: format!("{host}:{port}"),
            role,
            info: seed.info.clone().set_addr(addr),
            timeout,
        });
    }
    if nodes.is_empty() {
        return Err(Failure {
            outcome: Outcome::Findings,
            message: format!("{}: CLUSTER NODES lists no node", seed.addr),
        });
    }
    nodes.sort_by(|a, b| (a.role != "primary", &a.addr).cmp(&(b.role != "primary", &b.addr)));
    Ok(nodes)
}

/// One usable line of `CLUSTER NODES`.
#[derive(Debug, PartialEq, Eq)]
struct NodeLine {
    host: String,
    port: u16,
    role: &'static str,
    /// The announced hostname (Redis 7: `cluster-announce-hostname`), what
    /// a TLS certificate names.
    hostname: Option<String>,
}

/// `<id> <ip:port@cport[,hostname]> <flags> ...`: the address and role of
/// a node that is usable (not failed, not in handshake, with an address).
fn parse_node_line(line: &str) -> Option<NodeLine> {
    let mut fields = line.split_whitespace();
    let _id = fields.next()?;
    let addr = fields.next()?;
    let flags = fields.next()?;
    let flags: Vec<&str> = flags.split(',').collect();
    if flags
        .iter()
        .any(|f| matches!(*f, "fail" | "handshake" | "noaddr"))
    {
        return None;
    }
    let role = if flags.contains(&"master") {
        "primary"
    } else if flags.contains(&"slave") {
        "replica"
    } else {
        return None;
    };
    let (hostport, hostname) = match addr.split_once(',') {
        Some((a, h)) => (a, Some(h).filter(|h| !h.is_empty()).map(str::to_owned)),
        None => (addr, None),
    };
    let hostport = hostport.split('@').next()?;
    let (host, port) = hostport.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Some(NodeLine {
        host: host.to_owned(),
        port: port.parse().ok()?,
        role,
        hostname,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_lines() {
        let line = |host: &str, port, role, hostname: Option<&str>| NodeLine {
            host: host.to_owned(),
            port,
            role,
            hostname: hostname.map(str::to_owned),
        };
        assert_eq!(
            parse_node_line("07c3 127.0.0.1:30004@31004 slave e7d1 0 1 4 connected"),
            Some(line("127.0.0.1", 30004, "replica", None))
        );
        assert_eq!(
            parse_node_line(
                "e7d1 127.0.0.1:30001@31001,db1.example myself,master - 0 0 1 connected 0-5460"
            ),
            Some(line("127.0.0.1", 30001, "primary", Some("db1.example")))
        );
        assert_eq!(
            parse_node_line("e7d1 127.0.0.1:30001@31001, master - 0 0 1 connected"),
            Some(line("127.0.0.1", 30001, "primary", None))
        );
        assert_eq!(
            parse_node_line("e7d1 :0@0 myself,master - 0 0 1 connected"),
            Some(line("", 0, "primary", None))
        );
        assert_eq!(
            parse_node_line("x 127.0.0.1:1@2 master,fail - 0 0 1 connected"),
            None
        );
        assert_eq!(parse_node_line(""), None);
    }
}
