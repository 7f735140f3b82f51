//! Where the examples find a server: `REDIS_URL` if set, otherwise a
//! throwaway `redis-server` (or `valkey-server`) from `PATH`, started on a
//! free loopback port with persistence off and stopped when dropped.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A server for an example to talk to.
pub(crate) struct Server {
    /// Its URL.
    pub(crate) url: String,
    child: Option<Child>,
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
pub(crate) fn server() -> Result<Server, String> {
    if let Ok(url) = std::env::var("REDIS_URL") {
        println!("using REDIS_URL={url}");
        return Ok(Server { url, child: None });
    }
    let binary = ["redis-server", "valkey-server"]
        .into_iter()
        .find(|b| Command::new(b).arg("--version").output().is_ok())
        .ok_or(
            "no server to talk to: set REDIS_URL=redis://host:port/, or install \
                redis-server or valkey-server (e.g. `apt-get install redis-server`, or \
                `bash scripts/install-servers.sh` in this repository)",
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
        .map_err(|e| format!("cannot start {binary}: {e}"))?;
    let server = Server {
        url: format!("redis://127.0.0.1:{port}/"),
        child: Some(child),
    };
    let client = redis::Client::open(server.url.as_str()).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(mut con) = client.get_connection()
            && redis::cmd("PING").query::<String>(&mut con).is_ok()
        {
            println!("started a throwaway {binary} on port {port}");
            return Ok(server);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(format!("{binary} did not answer on port {port}"))
}
