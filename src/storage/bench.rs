//! Bulk seeding for the benchmark: N users with one session row each, in two statements (a
//! recursive CTE, valid on both backends), without argon2. These rows are volume: the timed
//! requests use real sessions the benchmark makes separately (see the benchmark's `probe`).

use super::Conn;

pub async fn seed(conn: &mut Conn, users: i64, now: i64) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO users (email, email_normalized, role, password_hash, password_set_at, created_at) \
         WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < $1) \
         SELECT 'user' || n || '@bench.example', 'user' || n || '@bench.example', 'member', 'not-a-hash', $2, $2 FROM seq",
    )
    .bind(users)
    .bind(now - 60_000)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO sessions (id_hash, user_id, data, created_at, last_seen_at, expires_at, issued_at) \
         SELECT 'bench-' || id, id, '{}', $1, $1, $2, $1 FROM users",
    )
    .bind(now - 30_000)
    .bind(now + 3_600_000)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// After seeding: what autovacuum keeps on a live PostgreSQL database, which a database filled a
/// moment ago does not have yet: the statistics (its planner would otherwise take the million-row
/// tables for empty ones) and the rows marked as visible to all (otherwise the first read of
/// each row rewrites its page to record that, a one-time cost the figures would include). Must
/// run outside the seeding transaction.
pub async fn analyze(conn: &mut Conn, backend: super::Backend) -> sqlx::Result<()> {
    if backend == super::Backend::Postgres {
        sqlx::query("VACUUM ANALYZE").execute(conn).await?;
    }
    Ok(())
}

/// Gives the users new passwords set at `at` (as if they had completed a reset), so that fresh
/// sessions of theirs are full sessions again after an instance-wide compromise.
pub async fn renew_passwords(conn: &mut Conn, ids: &[i64], at: i64) -> sqlx::Result<()> {
    for id in ids {
        sqlx::query("UPDATE users SET password_set_at = $2 WHERE id = $1")
            .bind(id)
            .bind(at)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
