//! `keywarden-bench contain-all --backend sqlite,postgres --users 1000,1000000`
//!
//! Seeds N users with one session each directly in the database, then times "set all passwords
//! as compromised + sign out everyone" (the same service call as the console and the CLI) and the
//! next session check, and prints one JSON line per run plus the ratio between the largest and the
//! smallest N, measured in the same process.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use keywarden::config::{Config, LogFormat};
use keywarden::domain::{Actor, RequestMeta};
use keywarden::features::security::service::compromise_all;
use keywarden::runtime::clock::SystemClock;
use keywarden::runtime::security::{password_compromise, session_revocation};
use keywarden::runtime::AppState;
use keywarden::storage::{bench, sessions, users};
use secrecy::SecretString;
use serde_json::json;

#[derive(Parser)]
#[command(name = "keywarden-bench", about = "Keywarden benchmarks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Instance-wide containment at several sizes.
    ContainAll {
        /// sqlite, postgres, or both separated by a comma.
        #[arg(long, default_value = "sqlite")]
        backend: String,
        /// Numbers of users, separated by commas.
        #[arg(long, default_value = "1000,1000000")]
        users: String,
        /// Repetitions per size; the median is reported.
        #[arg(long, default_value_t = 7)]
        repeat: usize,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let Command::ContainAll {
        backend,
        users,
        repeat,
    } = Cli::parse().command;
    let sizes: Vec<i64> = users
        .split(',')
        .map(|s| s.trim().parse().context("--users takes numbers"))
        .collect::<anyhow::Result<_>>()?;
    if sizes.is_empty() || sizes.iter().any(|n| *n < 1) || repeat == 0 {
        bail!("--users needs positive numbers and --repeat at least 1");
    }
    for backend in backend.split(',').map(str::trim) {
        let mut results = Vec::new();
        for &n in &sizes {
            let (ms, check_ms) = contain_all(backend, n, repeat).await?;
            println!(
                "{}",
                json!({"bench": "contain-all", "backend": backend, "users": n, "ms": round(ms), "check_after_ms": round(check_ms)})
            );
            results.push((n, ms));
        }
        if let (Some(small), Some(large)) = (
            results.iter().min_by_key(|r| r.0),
            results.iter().max_by_key(|r| r.0),
        ) {
            if small.0 != large.0 {
                println!(
                    "{}",
                    json!({"bench": "contain-all", "backend": backend, "ratio": round(large.1 / small.1), "of": format!("{}/{}", large.0, small.0)})
                );
            }
        }
    }
    Ok(())
}

fn round(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

struct Database {
    url: String,
    cleanup: Option<(String, String)>,
    _dir: Option<std::path::PathBuf>,
}

async fn database(backend: &str) -> anyhow::Result<Database> {
    let tag = format!("{:08x}", rand::random::<u32>());
    match backend {
        "sqlite" => {
            let dir = std::env::temp_dir().join(format!("keywarden-bench-{tag}"));
            std::fs::create_dir_all(&dir)?;
            Ok(Database {
                url: format!("sqlite://{}", dir.join("bench.db").display()),
                cleanup: None,
                _dir: Some(dir),
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
            Ok(Database {
                url: url.to_string(),
                cleanup: Some((admin, name)),
                _dir: None,
            })
        }
        other => bail!("unknown backend {other:?}: use sqlite or postgres"),
    }
}

async fn contain_all(backend: &str, n: i64, repeat: usize) -> anyhow::Result<(f64, f64)> {
    let db = database(backend).await?;
    let result = measure(&db.url, n, repeat).await;
    if let Some((admin, name)) = &db.cleanup {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(admin).await?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut conn)
            .await?;
    }
    if let Some(dir) = &db._dir {
        let _ = std::fs::remove_dir_all(dir);
    }
    result
}

async fn measure(url: &str, n: i64, repeat: usize) -> anyhow::Result<(f64, f64)> {
    let mut config = Config::load(None)?;
    config.database_url = SecretString::from(url.to_owned());
    config.log_format = LogFormat::Pretty;
    config.mail_worker_enabled = false;
    let state = AppState::build(config, Arc::new(SystemClock)).await?;
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
    let op = Actor::cli("bench");
    let meta = RequestMeta::default();
    let probe = format!("user{}@bench.example", n / 2 + 1);
    let mut times = Vec::new();
    let mut checks = Vec::new();
    for _ in 0..repeat {
        let started = Instant::now();
        compromise_all(&state, &op, true, "benchmark", &meta)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        // The next session check: what every request does (session row, user row, watermarks).
        let started = Instant::now();
        let mut conn = state.store.pool().acquire().await?;
        let user = users::find_by_email(&mut conn, &probe)
            .await?
            .context("probe user")?;
        let session = sessions::find(&mut conn, &format!("bench-{}", user.id))
            .await?
            .context("probe session")?;
        let snapshot = state.security.get();
        let revoked = session_revocation(session.created_at, &user, &snapshot);
        let compromised = password_compromise(&user, &snapshot);
        checks.push(started.elapsed().as_secs_f64() * 1000.0);
        if revoked.is_none() || compromised.is_none() {
            bail!("containment did not apply to the probe user");
        }
    }
    state.store.close().await;
    Ok((median(times), median(checks)))
}
