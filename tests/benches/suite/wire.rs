//! What goes over the wire: a byte-counting connection wrapper and a
//! summary of `INFO commandstats`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use redis::{RedisResult, Value};
use script_cache_tests::CommandStats;

/// Counts the request bytes sent through a sync connection.
pub(crate) struct Counted<C> {
    inner: C,
    bytes: Arc<AtomicU64>,
}

impl<C> Counted<C> {
    pub(crate) fn new(inner: C) -> (Self, Arc<AtomicU64>) {
        let bytes = Arc::new(AtomicU64::new(0));
        (
            Counted {
                inner,
                bytes: bytes.clone(),
            },
            bytes,
        )
    }
}

impl<C: redis::ConnectionLike> redis::ConnectionLike for Counted<C> {
    fn req_packed_command(&mut self, cmd: &[u8]) -> RedisResult<Value> {
        self.bytes.fetch_add(cmd.len() as u64, Ordering::Relaxed);
        self.inner.req_packed_command(cmd)
    }

    fn req_packed_commands(
        &mut self,
        cmd: &[u8],
        offset: usize,
        count: usize,
    ) -> RedisResult<Vec<Value>> {
        self.bytes.fetch_add(cmd.len() as u64, Ordering::Relaxed);
        self.inner.req_packed_commands(cmd, offset, count)
    }

    fn get_db(&self) -> i64 {
        self.inner.get_db()
    }

    fn check_connection(&mut self) -> bool {
        self.inner.check_connection()
    }

    fn is_open(&self) -> bool {
        self.inner.is_open()
    }
}

/// The script commands the server ran, e.g. `EVALSHA 2 (1 failed), SCRIPT LOAD 1`.
pub(crate) fn script_commands(stats: &CommandStats) -> String {
    let names = [
        ("evalsha", "EVALSHA"),
        ("evalsha_ro", "EVALSHA_RO"),
        ("eval", "EVAL"),
        ("script|load", "SCRIPT LOAD"),
        ("script|exists", "SCRIPT EXISTS"),
        ("command|info", "COMMAND INFO"),
    ];
    let mut parts = Vec::new();
    for (key, label) in names {
        let s = stats.get(key);
        if s.calls == 0 && s.rejected_calls == 0 {
            continue;
        }
        let errors = s.failed_calls + s.rejected_calls;
        if errors > 0 {
            parts.push(format!("{label} {} ({errors} failed)", s.calls));
        } else {
            parts.push(format!("{label} {}", s.calls));
        }
    }
    if parts.is_empty() {
        "none".to_owned()
    } else {
        parts.join(", ")
    }
}

/// Round trips as text: `[SCRIPT LOAD, EVALSHA] [GET]`.
pub(crate) fn trips_text(trips: &[Vec<String>]) -> String {
    trips
        .iter()
        .map(|t| {
            // Long pipelines: collapse runs of the same command.
            let mut parts: Vec<(String, usize)> = Vec::new();
            for name in t {
                match parts.last_mut() {
                    Some((last, n)) if last == name => *n += 1,
                    _ => parts.push((name.clone(), 1)),
                }
            }
            let inner = parts
                .into_iter()
                .map(|(name, n)| if n == 1 { name } else { format!("{n}×{name}") })
                .collect::<Vec<_>>()
                .join(", ");
            format!("[{inner}]")
        })
        .collect::<Vec<_>>()
        .join(" ")
}
