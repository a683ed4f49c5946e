//! `propagate`: how long a revocation takes to reach the other node (PostgreSQL, two nodes), or a
//! running server from the command line (SQLite). Every session is polled by its own task from
//! before the action (through the session gate, `POST /api/whoami`); its delay is the time from
//! the commit to the completion of the first request that no longer resolves a user.

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use keywarden::domain::{Actor, RequestMeta};
use keywarden::features::security::service::sign_out_everyone;
use keywarden::storage::bench;
use serde_json::json;
use tokio::sync::watch;

use crate::node::{
    ask, client, percentile, real_session, round, signed_in, user_ids, Answer, Database, Node,
};

/// Give up on a session after this long (a missed revocation shows as this value).
const DEADLINE: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(10);

pub async fn run(backend: &str, sessions: i64) -> anyhow::Result<()> {
    let db = Database::create(backend).await?;
    let result = measure(backend, &db.url, sessions).await;
    db.drop_it().await?;
    let (delays, cache_ms) = result?;
    let missed = delays
        .iter()
        .filter(|d| **d >= DEADLINE.as_secs_f64() * 1000.0)
        .count();
    let (path, target) = match backend {
        "postgres" => ("node A -> node B", 50.0),
        _ => ("CLI -> server", 1000.0),
    };
    println!(
        "{}",
        json!({
            "bench": "propagate",
            "backend": backend,
            "path": path,
            "sessions": delays.len(),
            "p50_ms": round(percentile(&delays, 50.0)),
            "p99_ms": round(percentile(&delays, 99.0)),
            "max_ms": round(percentile(&delays, 100.0)),
            "missed": missed,
            "cache_updated_ms": round(cache_ms),
            "target_p99_ms": target,
        })
    );
    Ok(())
}

/// Returns each session's delay and the time node B's cache took to hold the new state (the
/// propagation alone, without the request that then sees it).
async fn measure(backend: &str, url: &str, count: i64) -> anyhow::Result<(Vec<f64>, f64)> {
    let b = Arc::new(Node::start(url).await?);
    {
        let mut tx = b.state.store.begin().await?;
        bench::seed(&mut tx, count.max(1), b.state.now())
            .await
            .context("seed")?;
        tx.commit().await?;
    }
    let http = client();
    let mut cookies = Vec::new();
    for id in user_ids(&b.state, count).await? {
        let cookie = real_session(&b.state, id).await?;
        if ask(&http, &b, &cookie).await? != Answer::Accepted {
            bail!("a fresh session was not accepted by node B");
        }
        cookies.push(cookie);
    }
    // The moment the action committed, shared with the pollers.
    let (committed, committed_at) = watch::channel::<Option<Instant>>(None);
    let mut pollers = Vec::new();
    for cookie in cookies {
        let (b, http, mut committed_at) = (Arc::clone(&b), http.clone(), committed_at.clone());
        pollers.push(tokio::spawn(async move {
            loop {
                let answer = signed_in(&http, &b, &cookie).await;
                let at = *committed_at.borrow_and_update();
                if let (Some(at), Ok(false)) = (at, &answer) {
                    return at.elapsed().as_secs_f64() * 1000.0;
                }
                if at.is_some_and(|at| at.elapsed() >= DEADLINE) {
                    return DEADLINE.as_secs_f64() * 1000.0;
                }
                tokio::time::sleep(POLL).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Watches node B's cache for the new version.
    let held = b.state.security.get().row.version;
    let cache = {
        let (b, mut committed_at) = (Arc::clone(&b), committed_at.clone());
        tokio::spawn(async move {
            loop {
                let at = *committed_at.borrow_and_update();
                if let Some(at) = at {
                    if b.state.security.get().row.version > held {
                        return at.elapsed().as_secs_f64() * 1000.0;
                    }
                    if at.elapsed() >= DEADLINE {
                        return DEADLINE.as_secs_f64() * 1000.0;
                    }
                }
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
        })
    };
    let _a; // node A lives until the measurement ends
    match backend {
        "postgres" => {
            let a = Node::start(url).await?;
            sign_out_everyone(
                &a.state,
                &Actor::cli("bench"),
                "benchmark",
                &RequestMeta::default(),
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            let _ = committed.send(Some(Instant::now()));
            _a = Some(a);
        }
        _ => {
            // The real command line, a second process on the same SQLite file.
            let cli = std::env::current_exe()?.with_file_name("keywarden");
            let out = tokio::process::Command::new(&cli)
                .args(["incident", "sign-out-all", "--reason", "benchmark"])
                .env("KEYWARDEN_DATABASE_URL", url)
                .stdin(Stdio::null())
                .output()
                .await
                .with_context(|| format!("run {}", cli.display()))?;
            let _ = committed.send(Some(Instant::now()));
            if !out.status.success() {
                bail!("the CLI failed: {}", String::from_utf8_lossy(&out.stderr));
            }
            _a = None::<Node>;
        }
    }
    let mut delays = Vec::new();
    for p in pollers {
        delays.push(p.await?);
    }
    Ok((delays, cache.await?))
}
