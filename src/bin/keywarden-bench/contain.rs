//! `contain-all`: "set all passwords as compromised + sign out everyone" at several sizes, and the
//! next page request of real sessions after it.

use std::time::Instant;

use anyhow::{bail, Context};
use keywarden::domain::{Actor, RequestMeta};
use keywarden::features::security::service::compromise_all;
use keywarden::features::sessions::sweeper::sweep_once;
use keywarden::runtime::security::fresh_time;
use keywarden::storage::bench;
use serde_json::json;

use crate::node::{
    ask, client, percentile, real_session, round, timed_ask, user_ids, Answer, Database, Node,
};

/// Real sessions asked about after each containment.
const PROBES: i64 = 20;

pub struct Figures {
    pub contain_ms: f64,
    pub next_request_ms: f64,
    pub next_request_p99_ms: f64,
    pub settle_ms: f64,
}

pub async fn run(backend: &str, n: i64, repeat: usize) -> anyhow::Result<Figures> {
    let db = Database::create(backend).await?;
    let result = measure(&db.url, n, repeat).await;
    db.drop_it().await?;
    result
}

async fn measure(url: &str, n: i64, repeat: usize) -> anyhow::Result<Figures> {
    let node = Node::start(url).await?;
    let state = &node.state;
    let seeded = Instant::now();
    {
        let mut tx = state.store.begin().await?;
        bench::seed(&mut tx, n, state.now()).await.context("seed")?;
        tx.commit().await?;
    }
    eprintln!(
        "seeded {n} users and sessions in {:.1} s",
        seeded.elapsed().as_secs_f64()
    );
    let probes = user_ids(state, PROBES).await?;
    let http = client();
    let op = Actor::cli("bench");
    let meta = RequestMeta::default();
    let (mut contain, mut next) = (Vec::new(), Vec::new());
    for _ in 0..repeat {
        // The probes set new passwords after the previous round, as their owners would.
        let renewed = fresh_time(state.order_time().await?, None, &state.security.get());
        let mut conn = state.conn().await?;
        bench::renew_passwords(&mut conn, &probes, renewed).await?;
        drop(conn);
        // Written straight to the table, outside a unit of work: apply the cache events now, as
        // a commit through `AuditedTx` does.
        state.sync_caches(false).await?;
        let mut cookies = Vec::new();
        for id in &probes {
            let cookie = real_session(state, *id).await?;
            if ask(&http, &node, &cookie).await? != Answer::Accepted {
                bail!(
                    "a fresh session was not accepted before the containment: {answer:?}",
                    answer = ask(&http, &node, &cookie).await?
                );
            }
            cookies.push(cookie);
        }
        let started = Instant::now();
        compromise_all(state, &op, true, "benchmark", &meta)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        contain.push(started.elapsed().as_secs_f64() * 1000.0);
        for cookie in &cookies {
            let (ms, answer) = timed_ask(&http, &node, cookie).await?;
            if answer != Answer::SignedOut {
                bail!("containment did not apply to a live session: {answer:?}");
            }
            next.push(ms);
        }
    }
    // The background catch-up that stamps every ended row with its reason (O(N), off the request
    // path): the one part of containment whose cost grows with the number of sessions.
    let started = Instant::now();
    sweep_once(state).await?;
    let settle_ms = started.elapsed().as_secs_f64() * 1000.0;
    Ok(Figures {
        contain_ms: percentile(&contain, 50.0),
        next_request_ms: percentile(&next, 50.0),
        next_request_p99_ms: percentile(&next, 99.0),
        settle_ms,
    })
}

pub fn print(backend: &str, n: i64, f: &Figures) {
    println!(
        "{}",
        json!({
            "bench": "contain-all",
            "backend": backend,
            "users": n,
            "ms": round(f.contain_ms),
            "next_request_ms": round(f.next_request_ms),
            "next_request_p99_ms": round(f.next_request_p99_ms),
            "settle_ms": round(f.settle_ms),
        })
    );
}
