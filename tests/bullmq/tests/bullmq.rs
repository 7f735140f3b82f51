//! Every BullMQ script's SHA-1 is what `SCRIPT LOAD` answers, and a few of
//! them run: add a job, count it, drain the queue. On every flavor the
//! harness can start.

use script_cache::prelude::*;
use script_cache_bullmq::Scripts;
use script_cache_tests::{Flavor, server_for};

/// A MessagePack value, as BullMQ's scripts `cmsgpack.unpack` them.
enum Pack<'a> {
    Str(&'a str),
    Int(u64),
    Nil,
}

fn msgpack_array(items: &[Pack<'_>]) -> Vec<u8> {
    assert!(items.len() < 16, "fixarray only");
    let mut out = vec![0x90 | items.len() as u8];
    for item in items {
        match item {
            Pack::Str(s) => {
                assert!(s.len() < 256, "str8 at most");
                if s.len() < 32 {
                    out.push(0xA0 | s.len() as u8);
                } else {
                    out.extend([0xD9, s.len() as u8]);
                }
                out.extend_from_slice(s.as_bytes());
            }
            Pack::Int(n) => {
                out.push(0xCF);
                out.extend_from_slice(&n.to_be_bytes());
            }
            Pack::Nil => out.push(0xC0),
        }
    }
    out
}

#[test]
fn sha1s_match_script_load_and_scripts_run() {
    println!("{} BullMQ scripts embedded", Scripts::ALL.len());
    assert!(Scripts::ALL.len() >= 60, "{} scripts", Scripts::ALL.len());
    // The docs come from the `--[[ ... ]]` block that opens each script.
    let doc = Scripts::AddStandardJob9.meta().doc();
    assert!(doc.contains("Adds a job to the queue"), "{doc}");
    let documented = Scripts::ALL
        .iter()
        .filter(|s| !s.meta().doc().is_empty())
        .count();
    println!("{documented} of {} scripts documented", Scripts::ALL.len());
    assert!(
        documented * 10 >= Scripts::ALL.len() * 9,
        "{documented} documented"
    );
    let mut flavors = 0;
    for flavor in Flavor::ALL {
        let Some(server) = server_for(flavor) else {
            continue;
        };
        flavors += 1;
        let mut con = server.connection();
        for script in Scripts::ALL {
            let sha: String = redis::cmd("SCRIPT")
                .arg("LOAD")
                .arg(script.source())
                .query(&mut con)
                .unwrap_or_else(|e| panic!("{flavor}: SCRIPT LOAD {}: {e}", script.file()));
            assert_eq!(sha, script.sha1(), "{flavor}: {}", script.file());
        }
        println!(
            "{flavor}: {} SHA-1s equal SCRIPT LOAD's",
            Scripts::ALL.len()
        );

        let mut cache = ScriptCache::new(server.connection());
        let key = |name: &str| format!("bull:q:{name}");
        let args = msgpack_array(&[
            Pack::Str("bull:q:"),
            Pack::Str(""),
            Pack::Str("job-name"),
            Pack::Int(1_700_000_000_000),
            Pack::Nil,
            Pack::Nil,
            Pack::Nil,
            Pack::Nil,
            Pack::Nil,
            Pack::Nil,
        ]);
        let opts = vec![0x80_u8]; // an empty map
        let job_id: String = Scripts::add_standard_job_9(
            key("wait"),
            key("paused"),
            key("meta"),
            key("id"),
            key("completed"),
            key("delayed"),
            key("active"),
            key("events"),
            key("marker"),
            args.as_slice(),
            "{\"n\":1}",
            opts.as_slice(),
        )
        .invoke(&mut cache)
        .unwrap_or_else(|e| panic!("{flavor}: addStandardJob: {e}"));
        assert_eq!(job_id, "1", "{flavor}");
        let data: String = redis::cmd("HGET")
            .arg(key("1"))
            .arg("data")
            .query(&mut con)
            .unwrap_or_else(|e| panic!("{flavor}: {e}"));
        assert_eq!(data, "{\"n\":1}", "{flavor}");

        let counts = |cache: &mut ScriptCache<redis::Connection>| -> Vec<i64> {
            Scripts::get_counts_1(key(""), "wait", &["active", "delayed"])
                .invoke(cache)
                .unwrap_or_else(|e| panic!("{flavor}: getCounts: {e}"))
        };
        assert_eq!(counts(&mut cache), [1, 0, 0], "{flavor}");

        let _: redis::Value = Scripts::drain_5(
            key("wait"),
            key("paused"),
            key("delayed"),
            key("prioritized"),
            key("jobschedulers"),
            "bull:q:",
            "1",
        )
        .invoke(&mut cache)
        .unwrap_or_else(|e| panic!("{flavor}: drain: {e}"));
        assert_eq!(counts(&mut cache), [0, 0, 0], "{flavor}");
        let exists: i64 = redis::cmd("EXISTS")
            .arg(key("1"))
            .query(&mut con)
            .unwrap_or_else(|e| panic!("{flavor}: {e}"));
        assert_eq!(exists, 0, "{flavor}: the drained job is gone");
        println!("{flavor}: addStandardJob, getCounts, drain ran");
    }
    assert!(flavors > 0, "no server flavor could be started");
}
