//! One `ScriptState` per pool, every checkout wrapped: deadpool-redis, bb8
//! and r2d2 side by side. 200 checkouts of each pool call a script the
//! server has never seen; the state makes that one `SCRIPT LOAD` per pool.
//!
//! ```sh
//! cargo run -p script-cache-tests --example pools   # REDIS_URL or a throwaway server
//! ```

use script_cache::ScriptPool;

script_cache::include_scripts!("../lua");

fn loads(url: &str) -> Result<u64, Box<dyn std::error::Error>> {
    let mut con = redis::Client::open(url)?.get_connection()?;
    let info: String = redis::cmd("INFO").arg("commandstats").query(&mut con)?;
    let calls = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("cmdstat_{name}:calls=")))
            .and_then(|rest| rest.split(',').next())
            .and_then(|n| n.parse::<u64>().ok())
    };
    Ok(calls("script|load")
        .or_else(|| calls("script"))
        .unwrap_or(0))
}

fn flush(url: &str) -> Result<(), Box<dyn std::error::Error>> {
    let mut con = redis::Client::open(url)?.get_connection()?;
    redis::cmd("SCRIPT").arg("FLUSH").query::<()>(&mut con)?;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = script_cache_quickstart::server()?;
    let url = server.url().to_owned();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;

    // deadpool-redis: `ScriptPool::get().await` is a ScriptCache.
    flush(&url)?;
    let before = loads(&url)?;
    let pool = ScriptPool::new(
        deadpool_redis::Config::from_url(url.as_str())
            .builder()?
            .max_size(8)
            .runtime(deadpool_redis::Runtime::Tokio1)
            .build()?,
    );
    rt.block_on(async {
        let mut tasks = Vec::new();
        for i in 0..200 {
            let pool = pool.clone();
            tasks.push(tokio::spawn(async move {
                let mut con = pool.get().await?;
                Scripts::lock_acquire(format!("pools:deadpool:{i}"), "me", 5_000)
                    .invoke_async(&mut con)
                    .await
                    .map_err(Box::<dyn std::error::Error + Send + Sync>::from)
            }));
        }
        for t in tasks {
            t.await?.map_err(|e| e.to_string())?;
        }
        Ok::<_, Box<dyn std::error::Error>>(())
    })?;
    println!(
        "deadpool: 200 checkouts, {} SCRIPT LOAD, stats {:?}",
        loads(&url)? - before,
        pool.state().stats()
    );

    // bb8 (redis's own bb8 support: the pool's manager is the Client).
    flush(&url)?;
    let before = loads(&url)?;
    let pool = rt.block_on(async {
        bb8::Pool::builder()
            .max_size(8)
            .build(redis::Client::open(url.as_str())?)
            .await
    })?;
    let pool = ScriptPool::new(pool);
    rt.block_on(async {
        let mut tasks = Vec::new();
        for i in 0..200 {
            let pool = pool.clone();
            tasks.push(tokio::spawn(async move {
                let mut con = pool.get().await.map_err(|e| e.to_string())?;
                Scripts::lock_acquire(format!("pools:bb8:{i}"), "me", 5_000)
                    .invoke_async(&mut con)
                    .await
                    .map_err(|e| e.to_string())
            }));
        }
        for t in tasks {
            t.await?.map_err(|e| e.to_string())?;
        }
        Ok::<_, Box<dyn std::error::Error>>(())
    })?;
    println!(
        "bb8: 200 checkouts, {} SCRIPT LOAD, stats {:?}",
        loads(&url)? - before,
        pool.state().stats()
    );

    // r2d2 (sync): threads share the pool and its state.
    flush(&url)?;
    let before = loads(&url)?;
    let pool = ScriptPool::new(
        r2d2::Pool::builder()
            .max_size(8)
            .build(redis::Client::open(url.as_str())?)?,
    );
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let pool = &pool;
                scope.spawn(move || -> Result<(), String> {
                    for i in 0..25 {
                        let mut con = pool.get().map_err(|e| e.to_string())?;
                        let _: i64 =
                            Scripts::lock_acquire(format!("pools:r2d2:{t}:{i}"), "me", 5_000)
                                .invoke(&mut con)
                                .map_err(|e| e.to_string())?;
                    }
                    Ok(())
                })
            })
            .collect();
        handles
            .into_iter()
            .try_for_each(|h| h.join().map_err(|_| "thread panicked".to_string())?)
    })?;
    println!(
        "r2d2: 200 checkouts, {} SCRIPT LOAD, stats {:?}",
        loads(&url)? - before,
        pool.state().stats()
    );
    Ok(())
}
