//! The SHA-1 computed at build time is what a real server's `SCRIPT LOAD`
//! answers, for every script in `lua/`, on every server flavor.

use script_cache::prelude::*;
use script_cache_tests::{Flavor, matrix};

include_scripts!("../lua");

fn load(con: &mut redis::Connection, source: &str) -> redis::RedisResult<String> {
    redis::cmd("SCRIPT").arg("LOAD").arg(source).query(con)
}

matrix! {
    fn build_time_sha1_equals_script_load(server) {
        let mut con = server.connection();
        assert!(!Scripts::ALL.is_empty());
        for script in Scripts::ALL {
            let meta = script.meta();
            match (server.flavor(), meta.legacy()) {
                // Redis 6.2 cannot parse a shebang: the runtime loads the
                // legacy body there, whose SHA-1 is computed at build time too.
                (Flavor::Redis62, Some(legacy)) => {
                    assert!(load(&mut con, meta.source()).is_err(), "6.2 must reject the shebang");
                    assert_eq!(load(&mut con, legacy.source).expect("legacy load"), legacy.sha1, "{}", meta.name());
                }
                (_, legacy) => {
                    assert_eq!(load(&mut con, meta.source()).expect("load"), meta.sha1(), "{}", meta.name());
                    if let Some(legacy) = legacy {
                        assert_eq!(load(&mut con, legacy.source).expect("legacy load"), legacy.sha1);
                    }
                }
            }
            let exists: Vec<bool> = redis::cmd("SCRIPT").arg("EXISTS").arg(script.sha1())
                .query(&mut con).expect("EXISTS");
            assert_eq!(exists, vec![meta.legacy().is_none() || server.flavor() != Flavor::Redis62]);
        }
    }
}
