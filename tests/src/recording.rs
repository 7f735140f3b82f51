//! A connection wrapper that records what goes over a real connection: one
//! entry per round trip, with the names of the commands sent in it, and the
//! request bytes. It
//! forwards everything to the real server unchanged (it is not a mock); tests
//! use it to count round trips and check command order.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use redis::{Cmd, Pipeline, RedisResult, Value};

/// The commands of one round trip, e.g. `["SCRIPT LOAD", "EVALSHA"]`.
pub type RoundTrip = Vec<String>;

/// Records round trips of the wrapped connection; read them through the
/// [`RoundTripLog`] from [`Recording::log`].
#[derive(Clone, Debug)]
pub struct Recording<C> {
    inner: C,
    log: RoundTripLog,
}

/// The round trips a [`Recording`] saw, and the request bytes sent. Clones
/// share the record.
#[derive(Clone, Debug, Default)]
pub struct RoundTripLog {
    trips: Arc<Mutex<Vec<RoundTrip>>>,
    bytes: Arc<AtomicU64>,
}

impl RoundTripLog {
    /// The round trips so far.
    pub fn round_trips(&self) -> Vec<RoundTrip> {
        self.trips
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The request bytes sent so far (packed RESP, as the client wrote them).
    pub fn bytes_sent(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Forgets the round trips and bytes so far.
    pub fn clear(&self) {
        self.trips
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.bytes.store(0, Ordering::Relaxed);
    }

    fn push(&self, packed: &[u8]) {
        self.bytes.fetch_add(packed.len() as u64, Ordering::Relaxed);
        self.trips
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(command_names(packed));
    }
}

impl<C> Recording<C> {
    /// Wraps a connection.
    pub fn new(inner: C) -> Self {
        Recording {
            inner,
            log: RoundTripLog::default(),
        }
    }

    /// A handle on the record, usable after the connection moved.
    pub fn log(&self) -> RoundTripLog {
        self.log.clone()
    }

    fn record(&self, packed: &[u8]) {
        self.log.push(packed);
    }
}

/// The command names in packed RESP requests: the first bulk string of each
/// array, plus the second for `SCRIPT`, `COMMAND`, `CLIENT`, `CONFIG` and
/// `FUNCTION` (`"SCRIPT LOAD"`, `"FUNCTION LOAD"`).
pub fn command_names(mut packed: &[u8]) -> Vec<String> {
    let mut names = Vec::new();
    while let Some(parts) = next_array(&mut packed) {
        let mut name = parts
            .first()
            .cloned()
            .unwrap_or_default()
            .to_ascii_uppercase();
        if matches!(
            name.as_str(),
            "SCRIPT" | "COMMAND" | "CLIENT" | "CONFIG" | "FUNCTION"
        ) && let Some(sub) = parts.get(1)
        {
            name = format!("{name} {}", sub.to_ascii_uppercase());
        }
        names.push(name);
    }
    names
}

/// Reads one `*N\r\n($len\r\nbytes\r\n)*N` request; returns its parts (only
/// the first two are kept, as text).
fn next_array(buf: &mut &[u8]) -> Option<Vec<String>> {
    let count: usize = read_line(buf, b'*')?.parse().ok()?;
    let mut parts = Vec::new();
    for i in 0..count {
        let len: usize = read_line(buf, b'$')?.parse().ok()?;
        let bytes = buf.get(..len)?;
        if i < 2 {
            parts.push(String::from_utf8_lossy(bytes).into_owned());
        }
        *buf = buf.get(len + 2..)?;
    }
    Some(parts)
}

fn read_line(buf: &mut &[u8], prefix: u8) -> Option<String> {
    if buf.first() != Some(&prefix) {
        return None;
    }
    let end = buf.windows(2).position(|w| w == b"\r\n")?;
    let text = String::from_utf8_lossy(&buf[1..end]).into_owned();
    *buf = &buf[end + 2..];
    Some(text)
}

impl<C: redis::ConnectionLike> redis::ConnectionLike for Recording<C> {
    fn req_packed_command(&mut self, cmd: &[u8]) -> RedisResult<Value> {
        self.record(cmd);
        self.inner.req_packed_command(cmd)
    }

    fn req_packed_commands(
        &mut self,
        cmd: &[u8],
        offset: usize,
        count: usize,
    ) -> RedisResult<Vec<Value>> {
        self.record(cmd);
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

impl<C: redis::aio::ConnectionLike + Send> redis::aio::ConnectionLike for Recording<C> {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> redis::RedisFuture<'a, Value> {
        self.record(&cmd.get_packed_command());
        self.inner.req_packed_command(cmd)
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<Value>> {
        self.record(&cmd.get_packed_pipeline());
        self.inner.req_packed_commands(cmd, offset, count)
    }

    fn get_db(&self) -> i64 {
        self.inner.get_db()
    }
}

/// A recorded connection is driven as a connection to one server (the
/// defaults), whatever it wraps.
impl<C: redis::ConnectionLike> script_cache::SyncConnection for Recording<C> {}

impl<C: redis::aio::ConnectionLike + Send> script_cache::AsyncConnection for Recording<C> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_a_packed_pipeline() {
        let mut pipe = redis::pipe();
        pipe.cmd("SCRIPT").arg("LOAD").arg("return 1");
        pipe.cmd("evalsha").arg("abc").arg(0);
        pipe.cmd("GET").arg("k\r\nwith newline");
        assert_eq!(
            command_names(&pipe.get_packed_pipeline()),
            vec!["SCRIPT LOAD", "EVALSHA", "GET"]
        );
        let mut atomic = redis::pipe();
        atomic.atomic().cmd("SET").arg("a").arg(1);
        assert_eq!(
            command_names(&atomic.get_packed_pipeline()),
            vec!["MULTI", "SET", "EXEC"]
        );
    }
}
