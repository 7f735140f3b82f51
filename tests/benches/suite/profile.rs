//! A bounded run of one client in one mode, with nothing else: for
//! `valgrind --tool=callgrind` or `perf`, to count what a call costs.
//!
//! ```text
//! cargo bench -p script-cache-tests --bench suite --no-run   # then, with the printed binary:
//! valgrind --tool=callgrind <suite binary> profile --mode sync --client script_cache --calls 20000
//! ```

use std::time::Instant;

use script_cache::ScriptCache;

use crate::clients::{Client, Subject, call_pipeline, call_sync};
use crate::steady::{DEPTH, Mode, TASKS, run_tasks};

/// What to profile, from `--mode`, `--client`, `--script` and `--calls`.
pub(crate) struct ProfileArgs {
    pub(crate) mode: Mode,
    pub(crate) client: Client,
    pub(crate) script: String,
    pub(crate) calls: usize,
}

impl ProfileArgs {
    pub(crate) fn parse(pairs: &[(String, String)]) -> Result<ProfileArgs, String> {
        let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let mode = match get("--mode").unwrap_or("sync") {
            m if m == Mode::Sync.id() => Mode::Sync,
            m if m == Mode::Async.id() => Mode::Async,
            m if m == Mode::Pipeline.id() => Mode::Pipeline,
            other => return Err(format!("unknown --mode {other}")),
        };
        let client_id = get("--client").unwrap_or("script_cache");
        let client = Client::ALL
            .into_iter()
            .find(|c| c.id() == client_id)
            .ok_or_else(|| format!("unknown --client {client_id}"))?;
        let calls = get("--calls")
            .unwrap_or("20000")
            .parse()
            .map_err(|e| format!("--calls: {e}"))?;
        Ok(ProfileArgs {
            mode,
            client,
            script: get("--script").unwrap_or("incr").to_owned(),
            calls,
        })
    }
}

pub(crate) fn run(args: &ProfileArgs) {
    let server = crate::bench_server();
    let subject = Subject::all()
        .into_iter()
        .find(|s| s.name() == args.script)
        .unwrap_or_else(|| panic!("unknown --script {}", args.script));
    let mut admin = server.connection();
    let _: String = redis::cmd("SCRIPT")
        .arg("LOAD")
        .arg(subject.source())
        .query(&mut admin)
        .expect("SCRIPT LOAD");
    let start = Instant::now();
    match args.mode {
        Mode::Sync => {
            let mut con = ScriptCache::new(server.connection());
            for _ in 0..args.calls {
                std::hint::black_box(call_sync(args.client, &subject, &mut con));
            }
        }
        Mode::Pipeline => {
            let mut con = ScriptCache::new(server.connection());
            for _ in 0..args.calls / DEPTH {
                std::hint::black_box(call_pipeline(args.client, &subject, &mut con, DEPTH));
            }
        }
        Mode::Async => {
            let rt = script_cache_tests::runtime();
            rt.block_on(async {
                let con = ScriptCache::new(
                    server
                        .client()
                        .get_multiplexed_async_connection()
                        .await
                        .expect("multiplexed connection"),
                );
                run_tasks(args.client, &subject, &con, args.calls / TASKS).await
            });
        }
    }
    println!(
        "profile: {} calls, {} / {} / {}: {:?}",
        args.calls,
        args.mode.id(),
        args.client.id(),
        subject.name(),
        start.elapsed()
    );
}
