//! Embedded scripts on Redis Cluster, async and sync.
//!
//! Run it with `cargo run -p script-cache-tests --example cluster`. It talks
//! to the cluster whose node URLs are in `REDIS_CLUSTER_URLS`
//! (comma-separated, e.g. `redis://127.0.0.1:7000,redis://127.0.0.1:7001`),
//! or to a throwaway 3-primary cluster started by the test harness.

use script_cache::prelude::*;
use script_cache::{Error, pipe};
use script_cache_tests::Flavor;
use script_cache_tests::cluster::TestCluster;

include_scripts!("../lua");

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Either the user's cluster, or one kept alive until the end of main.
    let (urls, _throwaway) = match std::env::var("REDIS_CLUSTER_URLS") {
        Ok(list) => (list.split(',').map(|s| s.trim().to_owned()).collect(), None),
        Err(_) => {
            let flavor = Flavor::ALL.into_iter().find(|f| f.binary().is_ok()).ok_or(
                "no server installed: run scripts/install-servers.sh or set REDIS_CLUSTER_URLS",
            )?;
            let cluster = TestCluster::try_start(flavor, 0)?;
            println!("started a throwaway {flavor} cluster");
            (cluster.urls(), Some(cluster))
        }
    };
    let client = redis::cluster::ClusterClient::new(urls)?;

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        // The async cluster connection, wrapped like any other connection:
        // calls go to the node owning their keys, with one SCRIPT LOAD per
        // script per primary, in the same round trip as the first call.
        let mut con = ScriptCache::new(client.get_async_connection().await?);
        for user in ["alice", "bob", "carol"] {
            let key = format!("{{user:{user}}}:bucket");
            let left = Scripts::rate_limit(&key, 5, 1, 1_700_000_000_000_u64, 1)
                .invoke_async(&mut con)
                .await?;
            println!("{key}: {left} tokens left");
        }

        // Keys of one call must share a slot: use a hash tag. Otherwise the
        // call is refused before anything is sent.
        match Scripts::sum_counters(&["{a}x", "{b}y"])
            .invoke_async(&mut con)
            .await
        {
            Err(e @ Error::CrossSlot { .. }) => println!("refused: {e}"),
            other => println!("unexpected: {other:?}"),
        }

        // A transaction within one slot: scripts are loaded inside MULTI.
        let mut tx = pipe();
        tx.atomic()
            .invoke(Scripts::compare_and_set("{cfg}:mode", "", "fast"))
            .cmd("INCR")
            .arg("{cfg}:version");
        let (swapped, version): (i64, i64) = tx.query_async(&mut con).await?;
        println!("compare_and_set={swapped}, version={version}");

        // A script without keys runs on one primary; route it explicitly
        // with route_key.
        con.register_script("node_time", "return redis.call('TIME')[1]")?;
        let t: String = con
            .prepare("node_time")?
            .route_key("{user:alice}")
            .invoke_async(&mut con)
            .await?;
        println!("TIME on alice's primary: {t}");
        println!("async stats: {:?}", con.stats());
        Ok::<_, Box<dyn std::error::Error>>(())
    })?;

    // The sync cluster connection: the same calls; the first call of a
    // script on a shard is two round trips there (SCRIPT LOAD, EVALSHA).
    let mut con = ScriptCache::new(client.get_connection()?);
    let acquired = Scripts::lock_acquire("{job:1}:lock", "worker-1", 5_000).invoke(&mut con)?;
    let released = Scripts::lock_release("{job:1}:lock", "worker-1").invoke(&mut con)?;
    println!("sync: lock acquired={acquired}, released={released}");
    println!("sync stats: {:?}", con.stats());
    Ok(())
}
