//! Differential test of the build-time checker against `SCRIPT LOAD`.
//!
//! Generates inputs (`script_cache_tests::differential`: the workspace's
//! `.lua` files, the corner cases of `tests/fixtures/differential/` and
//! seeded mutations of them), loads each one with `SCRIPT LOAD` on every
//! flavor (pipelined), and checks each with the build-time checker. For
//! each flavor the checker's verdict for that flavor must be the server's:
//!
//! * Redis 7 and Valkey get the script as written: the checker's verdict is
//!   `script_cache_check::shebang::parse` (the `#!lua` line) and
//!   `script_cache_check::check_syntax` (the Lua 5.1.5 body).
//! * Redis 6.2 has no shebang support: the runtime sends it the first line
//!   as a `--!` comment, so that is what is loaded and checked.
//!
//! The macros' verdict (`shebang::parse` and `check_syntax` on the script as
//! written) must be "compiles" exactly when every flavor loads the script.
//!
//! The counts per flavor are printed to stderr, past the harness's capture,
//! so they show in a plain `cargo test`. The count of inputs is 5,000 by
//! default; the full run:
//! `SCRIPT_CACHE_DIFFERENTIAL_INPUTS=50000 cargo test -p
//! script-cache-tests --test differential -- --nocapture`.

use std::io::Write as _;
use std::time::Instant;

/// Prints past the test harness's capture (it captures `println!`, not
/// the stderr handle), so the counts show in a plain `cargo test`.
macro_rules! report {
    ($($arg:tt)*) => {
        let _ = writeln!(std::io::stderr(), $($arg)*);
    };
}

use redis::Value;
use script_cache_tests::differential::{self, Input};
use script_cache_tests::{Flavor, TestServer};

/// Commands per pipeline.
const BATCH: usize = 500;

fn count() -> usize {
    std::env::var("SCRIPT_CACHE_DIFFERENTIAL_INPUTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000)
}

/// What a flavor is sent for `input`.
fn body_for(flavor: Flavor, input: &[u8]) -> Vec<u8> {
    match (flavor, input.strip_prefix(b"#!")) {
        (Flavor::Redis62, Some(rest)) => [&b"--!"[..], rest].concat(),
        _ => input.to_vec(),
    }
}

/// The checker's verdict for one flavor: `Err(why)` when it refuses.
fn checker(flavor: Flavor, input: &[u8]) -> Result<(), String> {
    use script_cache_check::{Target, check_syntax_for, shebang};
    let body = body_for(flavor, input);
    let target = match flavor {
        Flavor::Redis62 => Target::Redis6,
        Flavor::Redis7 | Flavor::Redis82 => Target::Redis7,
        Flavor::Valkey9 | Flavor::Valkey81 => Target::Valkey,
    };
    if target != Target::Redis6 {
        shebang::parse(&body).map_err(|e| e.message)?;
    }
    check_syntax_for(&body, target).map_err(|e| e.to_string())
}

/// Valkey-only leniency in the shebang line, which the checker does not
/// model per flavor: Valkey takes the engine name in any case (`#!LUA`) and
/// skips some bytes 0xFF in it (`flags=no-w\xffrites` loads). Redis 7
/// refuses both, so the build-time verdict refuses them: the test asserts
/// that, and prints how many inputs were such.
fn valkey_only_leniency(input: &[u8]) -> bool {
    let line = input.split(|&b| b == b'\n').next().unwrap_or_default();
    input.starts_with(b"#!")
        && (line.contains(&0xFF)
            || line
                .get(..5)
                .is_some_and(|e| e.eq_ignore_ascii_case(b"#!lua") && e != b"#!lua"))
}

/// The build-time verdict, as the macros give it: the shebang and
/// `check_syntax`, on the script as written.
fn build_time(input: &[u8]) -> bool {
    script_cache_check::shebang::parse(input).is_ok()
        && script_cache_check::check_syntax(input).is_ok()
}

/// `SCRIPT LOAD` of every input on `server`: `Ok(sha)` or `Err(message)`.
///
/// redis-rs cannot parse an error reply that is not UTF-8 (Lua quotes the
/// offending bytes in its message); such a pipeline is sent again one
/// command at a time on a fresh connection, and a lone command whose reply
/// cannot be parsed counts as refused: a successful `SCRIPT LOAD` reply is
/// always 40 hex digits.
fn server_verdicts(server: &TestServer, inputs: &[Input]) -> Vec<Result<String, String>> {
    let flavor = server.flavor();
    let mut con = server.connection();
    let mut out = Vec::with_capacity(inputs.len());
    for chunk in inputs.chunks(BATCH) {
        let bodies: Vec<Vec<u8>> = chunk.iter().map(|i| body_for(flavor, &i.bytes)).collect();
        match load(&mut con, &bodies) {
            Ok(replies) => out.extend(replies),
            Err(e) => {
                assert!(
                    e.kind() == redis::ErrorKind::Parse,
                    "pipeline to {flavor}: {e}"
                );
                for body in &bodies {
                    con = server.connection();
                    match load(&mut con, std::slice::from_ref(body)) {
                        Ok(mut one) => out.push(one.remove(0)),
                        Err(e) if e.kind() == redis::ErrorKind::Parse => {
                            out.push(Err(format!("error reply that is not UTF-8 ({e})")));
                        }
                        Err(e) => panic!("SCRIPT LOAD on {flavor}: {e}"),
                    }
                }
                con = server.connection();
            }
        }
    }
    out
}

fn load(
    con: &mut redis::Connection,
    bodies: &[Vec<u8>],
) -> redis::RedisResult<Vec<Result<String, String>>> {
    let mut pipe = redis::pipe();
    pipe.ignore_errors();
    for body in bodies {
        pipe.cmd("SCRIPT").arg("LOAD").arg(body);
    }
    let replies: Vec<Value> = pipe.query(con)?;
    assert_eq!(replies.len(), bodies.len(), "one reply per SCRIPT LOAD");
    Ok(replies
        .into_iter()
        .map(|reply| match reply {
            Value::BulkString(sha) => Ok(String::from_utf8_lossy(&sha).into_owned()),
            Value::ServerError(e) => Err(format!("{e:?}")),
            other => panic!("unexpected SCRIPT LOAD reply {other:?}"),
        })
        .collect())
}

#[test]
fn build_time_verdict_is_script_load_verdict_on_every_flavor() {
    let n = count();
    let inputs = differential::generate(n, differential::SEED);
    assert!(inputs.len() >= n, "generated {} of {n}", inputs.len());
    let mut total_disagreements = 0;
    let mut all_flavors_load = vec![true; inputs.len()];
    for flavor in Flavor::ALL {
        let Ok(_) = flavor.binary() else {
            panic!(
                "{flavor} is missing: run `bash scripts/install-servers.sh` (the differential \
                 test needs every flavor and never counts a skip as a pass)"
            );
        };
        let server = TestServer::start(flavor);
        let started = Instant::now();
        let verdicts = server_verdicts(&server, &inputs);
        let server_time = started.elapsed();
        let started = Instant::now();
        let checks: Vec<Result<(), String>> =
            inputs.iter().map(|i| checker(flavor, &i.bytes)).collect();
        let check_time = started.elapsed();
        let mut disagreements = Vec::new();
        let mut loaded = 0;
        let mut lenient = 0;
        for ((input, server), check) in inputs.iter().zip(&verdicts).zip(&checks) {
            if let Ok(sha) = server {
                loaded += 1;
                let body = body_for(flavor, &input.bytes);
                assert_eq!(
                    *sha,
                    sha1_smol::Sha1::from(&body).digest().to_string(),
                    "SHA-1 of {}",
                    input.origin
                );
            }
            if matches!(flavor, Flavor::Valkey9 | Flavor::Valkey81)
                && valkey_only_leniency(&input.bytes)
                && server.is_ok()
                && check.is_err()
            {
                assert!(!build_time(&input.bytes), "{} compiles", input.origin);
                lenient += 1;
                continue;
            }
            if server.is_ok() != check.is_ok() {
                disagreements.push(format!(
                    "{}: server {server:?}, checker {check:?}, input \"{}\"",
                    input.origin,
                    differential::escape(&input.bytes, 160)
                ));
            }
        }
        for (all, server) in all_flavors_load.iter_mut().zip(&verdicts) {
            *all &= server.is_ok();
        }
        report!(
            "differential {flavor}: {} inputs, {loaded} loaded, {} refused, {} disagreements \
             (SCRIPT LOAD {server_time:.2?}, checker {check_time:.2?}){}",
            inputs.len(),
            inputs.len() - loaded,
            disagreements.len(),
            if lenient > 0 {
                format!(
                    "; {lenient} shebangs only Valkey loads (`#!LUA`, bytes 0xFF), refused at \
                     build time as Redis 7 refuses them"
                )
            } else {
                String::new()
            }
        );
        for d in disagreements.iter().take(20) {
            report!("  {d}");
        }
        total_disagreements += disagreements.len();
    }
    // The macros' verdict: every flavor's checker accepts.
    let compile_disagreements = inputs
        .iter()
        .zip(&all_flavors_load)
        .filter(|(input, all)| build_time(&input.bytes) != **all)
        .count();
    let compiles = all_flavors_load.iter().filter(|a| **a).count();
    report!(
        "differential build-time verdict (every flavor): {} inputs, {compiles} load everywhere, \
         {compile_disagreements} disagreements",
        inputs.len()
    );
    assert_eq!(
        total_disagreements, 0,
        "per-flavor disagreements, listed above"
    );
    assert_eq!(compile_disagreements, 0, "build-time verdict disagreements");
    // The corpus must exercise both verdicts, or it proves nothing.
    assert!(
        compiles > n / 10 && compiles < n - n / 10,
        "{compiles} of {n} load"
    );
}
