//! What every benchmark needs: a fresh database, real servers on it, and real sessions to ask
//! them about over HTTP, through the same code path a browser's page request takes (session store
//! load → `viewer_of` → the gate's decision).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use keywarden::config::{Config, LogFormat};
use keywarden::features::sessions::{hash_session_id, SessionAuth, AUTH_KEY};
use keywarden::runtime::clock::SystemClock;
use keywarden::runtime::security::fresh_time;
use keywarden::runtime::{token, AppState};
use keywarden::startup::Application;
use keywarden::storage::sessions;
use secrecy::SecretString;
use serde_json::json;
use tokio::sync::oneshot;

pub struct Database {
    pub url: String,
    cleanup: Option<(String, String)>,
    dir: Option<std::path::PathBuf>,
}

impl Database {
    pub async fn create(backend: &str) -> anyhow::Result<Self> {
        let tag = format!("{:08x}", rand::random::<u32>());
        match backend {
            "sqlite" => {
                let dir = std::env::temp_dir().join(format!("keywarden-bench-{tag}"));
                std::fs::create_dir_all(&dir)?;
                Ok(Self {
                    url: format!("sqlite://{}", dir.join("bench.db").display()),
                    cleanup: None,
                    dir: Some(dir),
                })
            }
            "postgres" => {
                use sqlx::Connection;
                let admin = std::env::var("KEYWARDEN_BENCH_POSTGRES_URL")
                    .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
                let mut conn = sqlx::PgConnection::connect(&admin)
                    .await
                    .with_context(|| format!("cannot reach PostgreSQL at {admin}"))?;
                let name = format!("keywarden_bench_{tag}");
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await?;
                let mut url = url::Url::parse(&admin)?;
                url.set_path(&name);
                Ok(Self {
                    url: url.to_string(),
                    cleanup: Some((admin, name)),
                    dir: None,
                })
            }
            other => bail!("unknown backend {other:?}: use sqlite or postgres"),
        }
    }

    /// Removes the database, unless `KEYWARDEN_BENCH_KEEP` is set (to study it afterwards: its
    /// address goes to standard error).
    pub async fn drop_it(self) -> anyhow::Result<()> {
        if std::env::var_os("KEYWARDEN_BENCH_KEEP").is_some() {
            eprintln!("kept the benchmark database: {}", self.url);
            return Ok(());
        }
        if let Some((admin, name)) = &self.cleanup {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(admin).await?;
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn)
                .await?;
        }
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        Ok(())
    }
}

/// A running server (a node) on the benchmark database, on a free port of 127.0.0.1.
pub struct Node {
    pub state: AppState,
    pub address: String,
    stop: Option<oneshot::Sender<()>>,
}

impl Node {
    pub async fn start(url: &str) -> anyhow::Result<Self> {
        Self::start_with(url, |_| {}).await
    }

    /// The same, with the configuration adjusted by `tweak` first.
    pub async fn start_with(url: &str, tweak: impl FnOnce(&mut Config)) -> anyhow::Result<Self> {
        let mut config = Config::load(None)?;
        config.database_url = SecretString::from(url.to_owned());
        // A free port now, so the public URL (the origin the clients send) names it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        config.listen = format!("127.0.0.1:{port}");
        config.base_url = url::Url::parse(&format!("http://127.0.0.1:{port}"))?;
        config.log_format = LogFormat::Pretty;
        config.mail_worker_enabled = false;
        // One key for every node of the run (PostgreSQL needs it given; nodes must agree).
        let key = std::env::temp_dir().join("keywarden-bench.key");
        keywarden::runtime::server_key::ServerKey::open(&key, true)?;
        config.secret_key_file = Some(key);
        tweak(&mut config);
        let app = Application::build(config, Arc::new(SystemClock)).await?;
        let address = format!("http://127.0.0.1:{}", app.port());
        let state = app.state().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(app.run_until(async move {
            let _ = stopped.await;
        }));
        Ok(Self {
            state,
            address,
            stop: Some(stop),
        })
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The ids of `count` seeded users, spread over the table.
pub async fn user_ids(state: &AppState, count: i64) -> anyhow::Result<Vec<i64>> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
        .fetch_one(state.store.pool())
        .await?;
    let step = (n / count.max(1)).max(1);
    let ids: Vec<(i64,)> =
        sqlx::query_as("SELECT id FROM users WHERE id % $1 = 0 ORDER BY id LIMIT $2")
            .bind(step)
            .bind(count)
            .fetch_all(state.store.pool())
            .await?;
    Ok(ids.into_iter().map(|(id,)| id).collect())
}

/// A real session for `user_id`, written as the session store writes one (random id hashed as in
/// production, the data a signed-in session carries, issued after every watermark by the database
/// clock). Returns the cookie value a browser would send.
pub async fn real_session(state: &AppState, user_id: i64) -> anyhow::Result<String> {
    let id = tower_sessions::session::Id::default();
    let now = state.now();
    let issued_at = fresh_time(state.order_time().await?, None, &state.security.get());
    let auth = SessionAuth {
        user_id,
        key: token::random_hex(16),
        issued_at,
        authenticated_at: now,
        ip: Some("127.0.0.1".into()),
        user_agent: Some("keywarden-bench".into()),
        device: None,
        location: None,
        task: None,
        continues_past_compromise: None,
    };
    let data = serde_json::to_string(&json!({ AUTH_KEY: &auth }))?;
    let mut conn = state.conn().await?;
    let id_hash = hash_session_id(&id);
    sessions::insert(
        &mut conn,
        state.store.backend(),
        sessions::NewSession {
            id_hash: &id_hash,
            user_id: Some(user_id),
            data: &data,
            now,
            issued_at,
            expires_at: now + state.security.get().absolute_ms,
            ip: auth.ip.as_deref(),
            user_agent: auth.user_agent.as_deref(),
            public_id: Some(&auth.key),
            device_hash: None,
            location: None,
        },
    )
    .await
    .context("insert session")?;
    Ok(id.to_string())
}

/// What a node answers to a page request with this session cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Accepted,
    SignedOut,
    Restricted,
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_default()
}

/// `GET /account` with the session cookie: the path every page request takes.
pub async fn ask(client: &reqwest::Client, node: &Node, cookie: &str) -> anyhow::Result<Answer> {
    let r = client
        .get(format!("{}/account", node.address))
        .header("Cookie", format!("keywarden_session={cookie}"))
        .send()
        .await
        .context("page request")?;
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    Ok(match (r.status().as_u16(), location) {
        (200, _) => Answer::Accepted,
        (303, l) if l.starts_with("/sign-in") => Answer::SignedOut,
        (303, "/reset-task") => Answer::Restricted,
        (status, l) => bail!("unexpected answer {status} {l:?}"),
    })
}

/// Whether the node still resolves a signed-in user for this session cookie, through the same
/// gate as a page (session store load → `viewer_of`), without rendering a page: `POST
/// /api/whoami`, which answers `null` once the session no longer counts.
pub async fn signed_in(
    client: &reqwest::Client,
    node: &Node,
    cookie: &str,
) -> anyhow::Result<bool> {
    let r = client
        .post(format!("{}/api/whoami", node.address))
        .header("Cookie", format!("keywarden_session={cookie}"))
        .header("Origin", &node.address)
        .header("Accept", "application/json")
        .send()
        .await
        .context("whoami request")?;
    if !r.status().is_success() {
        bail!("whoami answered {}", r.status());
    }
    let viewer: serde_json::Value = r.json().await.context("whoami answer")?;
    Ok(!viewer.is_null())
}

/// The time `ask` takes, in milliseconds, with the answer.
pub async fn timed_ask(
    client: &reqwest::Client,
    node: &Node,
    cookie: &str,
) -> anyhow::Result<(f64, Answer)> {
    let started = Instant::now();
    let answer = ask(client, node, cookie).await?;
    Ok((started.elapsed().as_secs_f64() * 1000.0, answer))
}

pub fn round(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// The `p`-th percentile (0–100) of `v`, nearest rank.
pub fn percentile(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}
