//! `forward-auth`: what a reverse proxy's check costs. In one run, on this machine:
//! - a bare axum handler that only reads the cookie (the physical limit here);
//! - `GET /auth/forward` with a valid session cookie, with the session cache (SQLite and
//!   PostgreSQL), and without it (the database on every request);
//!
//! each with 64 connections for `--seconds`, through a pooled hyper client, after a
//! one-second warm-up. Then the memory one cached session takes (RSS growth over many sessions).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use axum::http::{header, HeaderMap, StatusCode};
use keywarden::domain::{Actor, ApplicationInput, RequestMeta};
use keywarden::features::sessions::service::{passage, Passage};
use keywarden::features::sessions::{hash_session_id, DbSessionStore};
use keywarden::storage::bench;
use serde_json::json;

use crate::node::{percentile, real_session, round, user_ids, Database, Node};

const HOST: &str = "app.bench.test";

pub struct Options {
    pub backends: Vec<String>,
    pub connections: usize,
    pub seconds: f64,
    pub memory_sessions: i64,
}

/// What one load step measured.
struct Load {
    requests: usize,
    errors: usize,
    per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
}

impl Load {
    fn json(&self) -> serde_json::Value {
        json!({
            "requests_per_s": round(self.per_s),
            "p50_ms": round(self.p50_ms),
            "p99_ms": round(self.p99_ms),
            "requests": self.requests,
            "unexpected_answers": self.errors,
        })
    }
}

/// `connections` clients each sending `GET url` (with the forwarded headers and the cookie) one
/// after the other for `seconds`, after a warm-up, through one pooled hyper client (a keep-alive
/// connection per client); every answer but 200 counts as unexpected.
async fn load(url: &str, cookie: &str, connections: usize, seconds: f64) -> anyhow::Result<Load> {
    use http_body_util::Empty;
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    let client: Client<_, Empty<axum::body::Bytes>> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(connections)
        .build_http();
    let url: axum::http::Uri = url.parse()?;
    let mut headers = HeaderMap::new();
    headers.insert("x-forwarded-method", "GET".parse()?);
    headers.insert("x-forwarded-proto", "https".parse()?);
    headers.insert("x-forwarded-host", HOST.parse()?);
    headers.insert("x-forwarded-uri", "/dashboard?tab=1".parse()?);
    headers.insert("x-forwarded-for", "203.0.113.7".parse()?);
    headers.insert(
        header::COOKIE,
        format!("keywarden_session={cookie}").parse()?,
    );
    let run = |window: Duration, record: bool| {
        let (client, headers, url) = (client.clone(), headers.clone(), url.clone());
        async move {
            let stop = Arc::new(AtomicBool::new(false));
            let mut tasks = Vec::new();
            for _ in 0..connections {
                let (client, headers, url, stop) =
                    (client.clone(), headers.clone(), url.clone(), stop.clone());
                tasks.push(tokio::spawn(async move {
                    let mut times = Vec::new();
                    let mut errors = 0usize;
                    while !stop.load(Ordering::Relaxed) {
                        let started = Instant::now();
                        let mut request = axum::http::Request::new(Empty::new());
                        *request.uri_mut() = url.clone();
                        *request.headers_mut() = headers.clone();
                        let ok = match client.request(request).await {
                            Ok(r) => r.status() == StatusCode::OK,
                            Err(_) => false,
                        };
                        if record {
                            times.push(started.elapsed().as_secs_f64() * 1000.0);
                        }
                        errors += usize::from(!ok);
                    }
                    (times, errors)
                }));
            }
            let started = Instant::now();
            tokio::time::sleep(window).await;
            stop.store(true, Ordering::Relaxed);
            let mut times = Vec::new();
            let mut errors = 0;
            for t in tasks {
                let (t, e) = t.await?;
                times.extend(t);
                errors += e;
            }
            anyhow::Ok((times, errors, started.elapsed().as_secs_f64()))
        }
    };
    run(Duration::from_secs(1), false).await?;
    let (mut times, errors, elapsed) = run(Duration::from_secs_f64(seconds), true).await?;
    times.sort_by(f64::total_cmp);
    Ok(Load {
        requests: times.len(),
        errors,
        per_s: times.len() as f64 / elapsed,
        p50_ms: percentile(&times, 50.0),
        p99_ms: percentile(&times, 99.0),
    })
}

/// The bare handler: reads the cookie, answers 200 (401 without one).
async fn bare(headers: HeaderMap) -> StatusCode {
    match headers.get(header::COOKIE) {
        Some(c) if c.to_str().is_ok_and(|c| c.contains("keywarden_session=")) => StatusCode::OK,
        _ => StatusCode::UNAUTHORIZED,
    }
}

async fn bare_server() -> anyhow::Result<(String, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = format!("http://{}", listener.local_addr()?);
    let app = axum::Router::new().route("/auth/forward", axum::routing::get(bare));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((address, task))
}

/// A node with one application, `users` users and a real session of the first; returns it and
/// the cookie.
async fn node(url: &str, cache: bool, users: i64) -> anyhow::Result<(Node, String)> {
    let loopback: ipnet::IpNet = "127.0.0.1/32".parse()?;
    let node = Node::start_with(url, |c| {
        c.session_cache = cache;
        c.trusted_proxies = vec![loopback];
    })
    .await?;
    let state = &node.state;
    {
        let mut tx = state.store.begin().await?;
        bench::seed(&mut tx, users, state.now())
            .await
            .context("seed")?;
        tx.commit().await?;
    }
    if keywarden::storage::applications::all(&mut *state.conn().await?)
        .await?
        .is_empty()
    {
        let input =
            ApplicationInput::parse("Bench", HOST, &["admin".into(), "member".into()], true)
                .map_err(|(f, m)| anyhow::anyhow!("{f}: {m}"))?;
        keywarden::features::applications::service::create(
            state,
            &Actor::System,
            &input,
            &RequestMeta::default(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("add application: {e}"))?;
    }
    let user = *user_ids(state, 1).await?.first().context("a user")?;
    let cookie = real_session(state, user).await?;
    Ok((node, cookie))
}

/// Resident memory of this process, in bytes.
fn rss_bytes() -> anyhow::Result<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").context("read /proc/self/statm")?;
    let pages: u64 = statm.split_whitespace().nth(1).context("statm")?.parse()?;
    Ok(pages * 4096)
}

/// Loads `count` real sessions into a node's cache through the forward-auth judgement and
/// reports the resident memory they added, per session.
async fn memory(url: &str, count: i64) -> anyhow::Result<serde_json::Value> {
    let (node, _) = node(url, true, count).await?;
    let state = &node.state;
    let mut hashes = Vec::new();
    for id in user_ids(state, count).await? {
        let cookie = real_session(state, id).await?;
        let id: tower_sessions::session::Id = cookie.parse().context("session id")?;
        hashes.push(hash_session_id(&id));
    }
    let store = DbSessionStore::of(state);
    let meta = RequestMeta::default();
    let before = rss_bytes()?;
    for h in &hashes {
        match passage(state, &store, h, &meta).await {
            Ok(Passage::User { .. }) => {}
            Ok(_) => bail!("a fresh session was not accepted"),
            Err(e) => bail!("judge a session: {e}"),
        }
    }
    let after = rss_bytes()?;
    // The judgement alone, from memory (what a cached forward-auth request costs besides HTTP).
    let started = Instant::now();
    for h in &hashes {
        if !matches!(
            passage(state, &store, h, &meta).await,
            Ok(Passage::User { .. })
        ) {
            bail!("a cached session was not accepted");
        }
    }
    let judgement_us = started.elapsed().as_secs_f64() * 1e6 / hashes.len().max(1) as f64;
    let (sessions, users) = state.session_cache.len();
    Ok(json!({
        "bench": "forward-auth",
        "measure": "cache memory",
        "cached_sessions": sessions,
        "cached_users": users,
        "cached_judgement_us": round(judgement_us),
        "rss_growth_mib": round((after.saturating_sub(before)) as f64 / 1048576.0),
        "bytes_per_cached_session_and_user": round(after.saturating_sub(before) as f64 / sessions.max(1) as f64),
    }))
}

pub async fn run(o: &Options) -> anyhow::Result<()> {
    let (bare_address, bare_task) = bare_server().await?;
    let base = load(
        &format!("{bare_address}/auth/forward"),
        "bench",
        o.connections,
        o.seconds,
    )
    .await?;
    bare_task.abort();
    let mut line = base.json();
    line["bench"] = json!("forward-auth");
    line["target"] = json!("bare axum (reads the cookie)");
    line["connections"] = json!(o.connections);
    println!("{line}");
    for backend in &o.backends {
        for cache in [true, false] {
            let db = Database::create(backend).await?;
            let result = async {
                let (node, cookie) = node(&db.url, cache, 1).await?;
                let measured = load(
                    &format!("{}/auth/forward", node.address),
                    &cookie,
                    o.connections,
                    o.seconds,
                )
                .await?;
                drop(node);
                anyhow::Ok(measured)
            }
            .await;
            db.drop_it().await?;
            let measured = result?;
            let mut line = measured.json();
            line["bench"] = json!("forward-auth");
            line["target"] = json!("GET /auth/forward");
            line["backend"] = json!(backend);
            line["session_cache"] = json!(cache);
            line["connections"] = json!(o.connections);
            line["ratio_to_bare"] = json!(round(measured.per_s / base.per_s));
            println!("{line}");
        }
    }
    if o.memory_sessions > 0 {
        let db = Database::create(o.backends.first().map_or("sqlite", String::as_str)).await?;
        let result = memory(&db.url, o.memory_sessions).await;
        db.drop_it().await?;
        println!("{}", result?);
    }
    Ok(())
}
