//! `overview`: the admin home's query (`admin::service::overview`) on a large instance. The
//! database holds `--users` users, each with a live session; an audit trail of `--audit` entries
//! over 30 days, `--sign-ins` of them sign-in outcomes in the last 24 hours (80 % signed in, 15 %
//! failed, 5 % refused by containment), 20 000 completed resets, 10 000 new-device alerts and 25
//! "This wasn't me" reports in the last 7 days; an instance-wide compromise (the real service
//! call, which signs a checkpoint) after which 2 % of the users chose a new password, 1 000 with
//! a reset code pending, 10 disabled and 5 compromised one by one. Then the overview is read
//! `--reads` times after 3 warm-up reads; p50 and p95 are printed, and the median of 3 exact
//! live-session recounts (what a view starts in the background once the stored count is over a
//! minute old).
//!
//! The seeded audit entries are volume: they are numbered in the chain but not hashed, so a full
//! verification of this database's chain fails by design (the overview never walks it).

use std::time::Instant;

use anyhow::Context;
use keywarden::domain::{Actor, RequestMeta};
use keywarden::features::admin::service::{count_live_sessions, overview};
use keywarden::features::security::service::compromise_all;
use keywarden::storage::{bench, Backend, Conn};
use serde_json::json;

use crate::node::{percentile, round, Database, Node};

pub struct Options {
    pub users: i64,
    pub audit: i64,
    pub sign_ins: i64,
    pub reads: usize,
}

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

pub async fn run(backend: &str, o: &Options) -> anyhow::Result<()> {
    let db = Database::create(backend).await?;
    let result = measure(backend, &db.url, o).await;
    db.drop_it().await?;
    result
}

/// Appends `count` entries spread evenly over (`from`, `to`), numbered after the head; entry `n`
/// records `actions[n % actions.len()]` (repeat a code to weight it).
async fn append(
    conn: &mut Conn,
    count: i64,
    actions: &[&str],
    from: i64,
    to: i64,
) -> anyhow::Result<()> {
    if count == 0 {
        return Ok(());
    }
    let (head,): (i64,) = sqlx::query_as("SELECT seq FROM audit_head WHERE id = 1")
        .fetch_one(&mut *conn)
        .await?;
    let case: String = actions
        .iter()
        .enumerate()
        .map(|(i, a)| format!(" WHEN {i} THEN '{a}'"))
        .collect();
    let sql = format!(
        "INSERT INTO audit_log (seq, at, actor_kind, actor_label, action, target_user_id, details, prev_hash, hash) \
         WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < $1) \
         SELECT $2 + n, $3 + (n * ($4 - $3)) / ($1 + 1), 'system', NULL, \
                CASE n % {len}{case} END, n, '{{}}', 'bench', 'bench' FROM s",
        len = actions.len()
    );
    sqlx::query(&sql)
        .bind(count)
        .bind(head)
        .bind(from)
        .bind(to)
        .execute(&mut *conn)
        .await
        .context("append audit entries")?;
    sqlx::query("UPDATE audit_head SET seq = seq + $1 WHERE id = 1")
        .bind(count)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn measure(backend: &str, url: &str, o: &Options) -> anyhow::Result<()> {
    let node = Node::start(url).await?;
    let state = &node.state;
    let now = state.now();
    let seeding = Instant::now();
    {
        let mut tx = state.store.begin().await?;
        bench::seed(&mut tx, o.users, now).await.context("seed")?;
        // Older history: sign-ins over the 29 days before the chart's window.
        let older = (o.audit - o.sign_ins - 30_025).max(0);
        let mix = [
            "auth.sign_in",
            "auth.sign_in",
            "auth.sign_in",
            "auth.sign_in",
            "auth.sign_in_failed",
        ];
        append(&mut tx, older, &mix, now - 30 * DAY_MS, now - DAY_MS).await?;
        let week = now - 7 * DAY_MS;
        append(&mut tx, 20_000, &["reset_task.completed"], week, now).await?;
        append(&mut tx, 10_000, &["session.new_device_alert"], week, now).await?;
        append(&mut tx, 25, &["session.reported_not_me"], week, now).await?;
        // The last 24 hours, per 20 entries: 16 signed in, 3 failed, 1 refused.
        let mut day: Vec<&str> = vec!["auth.sign_in"; 16];
        day.extend(["auth.sign_in_failed"; 3]);
        day.push("reset_task.started");
        append(&mut tx, o.sign_ins, &day, now - DAY_MS + 1, now).await?;
        tx.commit().await?;
    }
    // The real instance-wide compromise (its entry, its watermark, its checkpoint).
    compromise_all(
        state,
        &Actor::cli("bench"),
        false,
        "benchmark",
        &RequestMeta::default(),
    )
    .await
    .map_err(|e| anyhow::anyhow!("compromise all: {e}"))?;
    let after = state.security.get().row.passwords_compromised_before + 1_000;
    {
        let mut conn = state.conn().await?;
        let n = o.users;
        // 2 % chose a new password since; 10 accounts are disabled.
        sqlx::query("UPDATE users SET password_set_at = $1 WHERE id % 50 = 0")
            .bind(after)
            .execute(&mut *conn)
            .await?;
        sqlx::query("UPDATE users SET disabled_at = $1 WHERE id % $2 = 7")
            .bind(now)
            .bind((n / 10).max(1))
            .execute(&mut *conn)
            .await?;
        sqlx::query(
            "UPDATE users SET password_compromised_at = $1, password_compromised_by = 'bench', \
             password_compromised_reason = 'bench' WHERE id % $2 = 3",
        )
        .bind(after + 1)
        .bind((n / 5).max(1))
        .execute(&mut *conn)
        .await?;
        sqlx::query(
            "INSERT INTO reset_codes (user_id, code_hash, created_at, expires_at) \
             SELECT id, 'bench', $1, $2 FROM users WHERE id % 1000 = 1",
        )
        .bind(now)
        .bind(now + HOUR_MS)
        .execute(&mut *conn)
        .await?;
        if state.store.backend() == Backend::Postgres {
            // What autovacuum does on a live instance (inserted rows are vacuumed too since
            // PostgreSQL 13): statistics, and the visibility map index-only counts rely on.
            sqlx::query("VACUUM ANALYZE").execute(&mut *conn).await?;
        }
    }
    let seed_s = seeding.elapsed().as_secs_f64();

    let mut first = None;
    for _ in 0..3 {
        first = Some(
            overview(state)
                .await
                .map_err(|e| anyhow::anyhow!("overview: {e}"))?,
        );
    }
    let mut times = Vec::with_capacity(o.reads);
    for _ in 0..o.reads {
        let started = Instant::now();
        overview(state)
            .await
            .map_err(|e| anyhow::anyhow!("overview: {e}"))?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    // The recount a view starts when the stored count is over a minute old (off the request).
    let mut recounts = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        count_live_sessions(state)
            .await
            .map_err(|e| anyhow::anyhow!("count live sessions: {e}"))?;
        recounts.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let f = first.context("no read")?;
    let mut conn = state.conn().await?;
    let (audit_rows,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM audit_log")
        .fetch_one(&mut *conn)
        .await?;
    let charted: i64 = f
        .sign_ins
        .iter()
        .map(|h| h.succeeded + h.failed + h.refused)
        .sum();
    println!(
        "{}",
        json!({
            "bench": "overview",
            "backend": backend,
            "users": f.users,
            "live_sessions": f.active_sessions,
            "audit_rows": audit_rows,
            "sign_ins_24h": charted,
            "compromised": f.compromised,
            "reset_pending": f.reset_pending,
            "reads": o.reads,
            "p50_ms": round(percentile(&times, 50.0)),
            "p95_ms": round(percentile(&times, 95.0)),
            "max_ms": round(percentile(&times, 100.0)),
            "live_recount_ms": round(percentile(&recounts, 50.0)),
            "seed_s": round(seed_s),
        })
    );
    Ok(())
}
