//! Pools: what a checkout costs next to the call it serves. One call of a
//! warm script, either through a `ScriptPool` checkout (get, call, return)
//! or on a bare connection kept by the caller, interleaved, for r2d2 (sync),
//! deadpool-redis and bb8 (async). The pools share one `ScriptState` per
//! pool, so no checkout sends a source.

use std::fmt::Write as _;
use std::time::Instant;

use script_cache::{ScriptCache, ScriptPool};
use script_cache_tests::TestServer;

use crate::clients::{KEY, Subject};
use crate::json::Json;
use crate::stats::{median, micros, percentile};
use crate::{Options, Section};

const POOL_SIZE: u32 = 8;

fn row(
    md: &mut String,
    rows: &mut Vec<Json>,
    kind: &str,
    s: &Subject,
    pooled: &[f64],
    bare: &[f64],
) {
    let ratio = median(pooled) / median(bare);
    let _ = writeln!(
        md,
        "| {kind} | {} | {:.1} / {:.1} | {:.1} / {:.1} | **{ratio:.2}** |",
        s.name(),
        median(pooled),
        percentile(pooled, 90.0),
        median(bare),
        percentile(bare, 90.0),
    );
    rows.push(Json::obj([
        ("pool", Json::str(kind)),
        ("script", Json::str(s.name())),
        ("pooled_us_median", Json::num(median(pooled))),
        ("bare_us_median", Json::num(median(bare))),
        ("ratio", Json::num(ratio)),
    ]));
}

pub(crate) fn run(server: &TestServer, options: &Options) -> Section {
    let trials = if options.quick { 200 } else { 4001 };
    let mut md = String::new();
    let _ = writeln!(
        md,
        "## Pools: checkout + call against a bare connection\n\n\
         One call of a warm script, {trials} trials per cell, the two ways interleaved: \
         through a `ScriptPool` of {POOL_SIZE} connections (check out, call, give back), \
         or on a connection the caller keeps. Latency µs median / p90; ratio = pooled \
         median / bare median (what the pool's checkout adds to a call).\n"
    );
    let _ = writeln!(
        md,
        "| pool | script | checkout + call | bare connection | ratio |\n|---|---|---:|---:|---:|"
    );
    let mut rows = Vec::new();
    for s in Subject::all() {
        eprintln!("pool: {} ...", s.name());
        // r2d2, sync: with its default check on checkout (a PING), and
        // without it.
        for test_on_check_out in [true, false] {
            let pool = ScriptPool::new(
                r2d2::Pool::builder()
                    .max_size(POOL_SIZE)
                    .test_on_check_out(test_on_check_out)
                    .build(server.client())
                    .expect("r2d2 pool"),
            );
            let mut bare = ScriptCache::with_state(server.connection(), pool.state().clone());
            let _: i64 = s.call(KEY).invoke(&mut bare).expect("warm-up");
            let (mut pooled_t, mut bare_t) = (Vec::new(), Vec::new());
            for trial in 0..trials {
                for k in 0..2 {
                    let start = Instant::now();
                    if (k + trial) % 2 == 0 {
                        let mut con = pool.get().expect("checkout");
                        std::hint::black_box(s.call(KEY).invoke(&mut con).expect("call"));
                        drop(con);
                        pooled_t.push(micros(start.elapsed()));
                    } else {
                        std::hint::black_box(s.call(KEY).invoke(&mut bare).expect("call"));
                        bare_t.push(micros(start.elapsed()));
                    }
                }
            }
            let kind = if test_on_check_out {
                "r2d2 (sync), default: PING on checkout"
            } else {
                "r2d2 (sync), `test_on_check_out(false)`"
            };
            row(&mut md, &mut rows, kind, &s, &pooled_t, &bare_t);
        }

        // deadpool-redis and bb8, async, one task.
        let rt = script_cache_tests::runtime();
        let all = rt.block_on(async {
            let deadpool = ScriptPool::new(
                deadpool_redis::Config::from_url(server.url())
                    .builder()
                    .expect("deadpool builder")
                    .max_size(POOL_SIZE as usize)
                    .runtime(deadpool_redis::Runtime::Tokio1)
                    .build()
                    .expect("deadpool pool"),
            );
            let bb8 = ScriptPool::new(
                bb8::Pool::builder()
                    .max_size(POOL_SIZE)
                    .build(server.client())
                    .await
                    .expect("bb8 pool"),
            );
            let bb8_unchecked = ScriptPool::new(
                bb8::Pool::builder()
                    .max_size(POOL_SIZE)
                    .test_on_check_out(false)
                    .build(server.client())
                    .await
                    .expect("bb8 pool"),
            );
            let mut bare = ScriptCache::with_state(
                server
                    .client()
                    .get_multiplexed_async_connection()
                    .await
                    .expect("connect"),
                deadpool.state().clone(),
            );
            let _: i64 = s.call(KEY).invoke_async(&mut bare).await.expect("warm-up");
            let mut out = Vec::new();
            for which in 0..3 {
                let (mut pooled_t, mut bare_t) = (Vec::new(), Vec::new());
                for trial in 0..trials {
                    for k in 0..2 {
                        let start = Instant::now();
                        if (k + trial) % 2 == 0 {
                            let v: i64 = match which {
                                0 => {
                                    let mut con = deadpool.get().await.expect("checkout");
                                    s.call(KEY).invoke_async(&mut con).await.expect("call")
                                }
                                1 => {
                                    let mut con = bb8.get().await.expect("checkout");
                                    s.call(KEY).invoke_async(&mut con).await.expect("call")
                                }
                                _ => {
                                    let mut con = bb8_unchecked.get().await.expect("checkout");
                                    s.call(KEY).invoke_async(&mut con).await.expect("call")
                                }
                            };
                            std::hint::black_box(v);
                            pooled_t.push(micros(start.elapsed()));
                        } else {
                            let v: i64 = s.call(KEY).invoke_async(&mut bare).await.expect("call");
                            std::hint::black_box(v);
                            bare_t.push(micros(start.elapsed()));
                        }
                    }
                }
                out.push((pooled_t, bare_t));
            }
            (out.remove(0), out.remove(0), out.remove(0))
        });
        let (dp, bb, bb_unchecked) = all;
        row(
            &mut md,
            &mut rows,
            "deadpool-redis (async), PING on recycle",
            &s,
            &dp.0,
            &dp.1,
        );
        row(
            &mut md,
            &mut rows,
            "bb8 (async), default: PING on checkout",
            &s,
            &bb.0,
            &bb.1,
        );
        row(
            &mut md,
            &mut rows,
            "bb8 (async), `test_on_check_out(false)`",
            &s,
            &bb_unchecked.0,
            &bb_unchecked.1,
        );
    }
    Section {
        markdown: md,
        json: Json::Arr(rows),
    }
}
