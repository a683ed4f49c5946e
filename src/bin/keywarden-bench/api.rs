//! `api`: the management API at scale. On a database of `--users` users:
//! - `GET /api/v1/users?limit=50` answered by a real server over HTTP, for the first page, filtered
//!   pages (dense and sparse filters, including filters that match nothing), and a deep cursor
//!   page: requests/s, p50/p95/p99, each with `--clients` clients for `--seconds`;
//! - one bulk call naming `--bulk` e-mail addresses: the time to its 202 (the cohort frozen), and
//!   until its job has contained every member.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use keywarden::domain::{Actor, RequestMeta};
use keywarden::features::api_keys::service::{self as keys, NewKey};
use keywarden::storage::bench;
use serde_json::{json, Value};

use crate::node::{percentile, round, Database, Node};

pub struct Options {
    pub users: i64,
    pub bulk: i64,
    pub clients: usize,
    pub seconds: f64,
}

/// `clients` clients sending `GET path` one after the other for `seconds` (after a short
/// warm-up); every answer but 200 is counted as unexpected.
async fn load(
    node: &Node,
    key: &str,
    path: &str,
    clients: usize,
    seconds: f64,
) -> anyhow::Result<Value> {
    let client = reqwest::Client::new();
    let url = format!("{}{path}", node.address);
    let one = |client: reqwest::Client, url: String, key: String| async move {
        let started = Instant::now();
        let res = client.get(&url).bearer_auth(&key).send().await?;
        let ok = res.status() == 200;
        let body: Value = res.json().await.unwrap_or(Value::Null);
        anyhow::Ok((started.elapsed().as_secs_f64() * 1000.0, ok, body))
    };
    // Warm-up, and the answer's size for the report.
    let (_, ok, body) = one(client.clone(), url.clone(), key.to_owned()).await?;
    if !ok {
        bail!("GET {path} answered {body}");
    }
    let matched = body["users"].as_array().map_or(0, Vec::len);
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (client, url, key) = (client.clone(), url.clone(), key.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            let mut errors = 0usize;
            while Instant::now() < until {
                match one(client.clone(), url.clone(), key.clone()).await {
                    Ok((ms, true, _)) => out.push(ms),
                    _ => errors += 1,
                }
            }
            (out, errors)
        }));
    }
    let started = Instant::now();
    let mut latencies = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await?;
        latencies.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_by(|a, b| a.total_cmp(b));
    Ok(json!({
        "requests_per_s": round(latencies.len() as f64 / elapsed),
        "p50_ms": round(percentile(&latencies, 50.0)),
        "p95_ms": round(percentile(&latencies, 95.0)),
        "p99_ms": round(percentile(&latencies, 99.0)),
        "requests": latencies.len(),
        "unexpected_answers": errors,
        "users_on_page": matched,
    }))
}

pub async fn run(backend: &str, o: &Options) -> anyhow::Result<()> {
    let db = Database::create(backend).await?;
    let node = Node::start_with(&db.url, |c| {
        // The benchmark measures the list, not the per-key bucket.
        c.api_rate_per_minute = 100_000_000;
        c.api_burst = 1_000_000;
    })
    .await?;
    let state = node.state.clone();
    let now = state.now();
    {
        let mut conn = state.conn().await?;
        bench::seed(&mut conn, o.users, now).await.context("seed")?;
        // A handful of users in the sparse states: 10 disabled, 5 compromised one by one.
        sqlx::query("UPDATE users SET disabled_at = $1 WHERE id % $2 = 7")
            .bind(now)
            .bind((o.users / 10).max(1))
            .execute(&mut *conn)
            .await?;
        sqlx::query(
            "UPDATE users SET password_compromised_at = $1, password_compromised_by = 'bench', \
             password_compromised_reason = 'bench' WHERE id % $2 = 3",
        )
        .bind(now)
        .bind((o.users / 5).max(1))
        .execute(&mut *conn)
        .await?;
        bench::analyze(&mut conn, state.store.backend()).await?;
    }
    let key = keys::create(
        &state,
        &Actor::cli("bench"),
        &NewKey {
            name: "bench",
            scopes: "users:read,incident:write,incident:read",
            lifetime_ms: 86_400_000,
        },
        &RequestMeta::default(),
    )
    .await
    .map_err(|e| anyhow::anyhow!("create key: {e}"))?
    .secret;
    let deep = (o.users * 9 / 10).to_string();
    let pages = [
        ("first page", "/api/v1/users?limit=50".to_owned()),
        (
            "role=member (dense)",
            "/api/v1/users?limit=50&role=member".to_owned(),
        ),
        (
            "q=user5 (prefix, dense)",
            "/api/v1/users?limit=50&q=user5".to_owned(),
        ),
        (
            "deep cursor (90 %)",
            format!("/api/v1/users?limit=50&cursor={deep}"),
        ),
        (
            "status=disabled (10 match)",
            "/api/v1/users?limit=50&status=disabled".to_owned(),
        ),
        (
            "status=compromised (5 match)",
            "/api/v1/users?limit=50&status=compromised".to_owned(),
        ),
        (
            "status=reset_pending (none)",
            "/api/v1/users?limit=50&status=reset_pending".to_owned(),
        ),
        (
            "role=admin (none)",
            "/api/v1/users?limit=50&role=admin".to_owned(),
        ),
        (
            "q=zzz (prefix, none)",
            "/api/v1/users?limit=50&q=zzz".to_owned(),
        ),
        (
            "q=user999999 (prefix, one)",
            "/api/v1/users?limit=50&q=user999999".to_owned(),
        ),
    ];
    for (what, path) in &pages {
        let mut figures = load(&node, &key, path, o.clients, o.seconds).await?;
        figures["bench"] = json!("api");
        figures["backend"] = json!(backend);
        figures["users"] = json!(o.users);
        figures["list"] = json!(what);
        println!("{figures}");
    }

    // One bulk call naming `bulk` addresses.
    let client = reqwest::Client::new();
    let incident: Value = client
        .post(format!("{}/api/v1/incidents", node.address))
        .bearer_auth(&key)
        .json(&json!({"title": "Bench"}))
        .send()
        .await?
        .json()
        .await?;
    let reference = incident["reference"]
        .as_str()
        .context("incident reference")?;
    let step = (o.users / o.bulk).max(1);
    let emails: Vec<String> = (0..o.bulk)
        .map(|i| format!("user{}@bench.example", 1 + i * step))
        .collect();
    let started = Instant::now();
    let res = client
        .post(format!("{}/api/v1/users/actions", node.address))
        .bearer_auth(&key)
        .json(
            &json!({"action": "sign_out", "incident": reference, "reason": "bench",
                      "target": {"emails": emails}}),
        )
        .send()
        .await?;
    let status = res.status();
    let accepted: Value = res.json().await?;
    let accept_ms = started.elapsed().as_secs_f64() * 1000.0;
    if status != 202 {
        bail!("bulk call answered {status}: {accepted}");
    }
    let job = accepted["job"].as_str().context("job URL")?.to_owned();
    let contained_ms = loop {
        let progress: Value = client
            .get(format!("{}{job}", node.address))
            .bearer_auth(&key)
            .send()
            .await?
            .json()
            .await?;
        if progress["contained_at"].is_i64() {
            break started.elapsed().as_secs_f64() * 1000.0;
        }
        if started.elapsed() > Duration::from_secs(600) {
            bail!("the bulk job did not contain its cohort in 10 minutes: {progress}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    println!(
        "{}",
        json!({"bench": "api", "backend": backend, "users": o.users, "bulk_emails": o.bulk,
               "bulk_accepted_ms": round(accept_ms), "bulk_contained_ms": round(contained_ms),
               "cohort_size": accepted["size"]})
    );
    drop(node);
    db.drop_it().await
}
