//! SQL for forgot-password links.

use sqlx::FromRow;

use super::Conn;

#[derive(Debug, Clone, FromRow)]
pub struct ResetRow {
    pub id: i64,
    pub user_id: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub invalidated_at: Option<i64>,
}

/// Invalidates every unused link of the user (only the newest link may work).
pub async fn invalidate_all(conn: &mut Conn, user_id: i64, now: i64) -> sqlx::Result<u64> {
    sqlx::query("UPDATE password_resets SET invalidated_at = $2 WHERE user_id = $1 AND used_at IS NULL AND invalidated_at IS NULL")
        .bind(user_id)
        .bind(now)
        .execute(conn)
        .await
        .map(|r| r.rows_affected())
}

pub async fn insert(
    conn: &mut Conn,
    user_id: i64,
    token_hash: &str,
    now: i64,
    expires_at: i64,
    ip: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO password_resets (user_id, token_hash, created_at, expires_at, ip) VALUES ($1, $2, $3, $4, $5)")
        .bind(user_id)
        .bind(token_hash)
        .bind(now)
        .bind(expires_at)
        .bind(ip)
        .execute(conn)
        .await
        .map(|_| ())
}

pub async fn find(conn: &mut Conn, token_hash: &str) -> sqlx::Result<Option<ResetRow>> {
    sqlx::query_as("SELECT id, user_id, created_at, expires_at, used_at, invalidated_at FROM password_resets WHERE token_hash = $1")
        .bind(token_hash)
        .fetch_optional(conn)
        .await
}

/// Consumes a link; zero rows means someone else used or invalidated it first.
pub async fn mark_used(conn: &mut Conn, id: i64, now: i64) -> sqlx::Result<u64> {
    sqlx::query("UPDATE password_resets SET used_at = $2 WHERE id = $1 AND used_at IS NULL AND invalidated_at IS NULL")
        .bind(id)
        .bind(now)
        .execute(conn)
        .await
        .map(|r| r.rows_affected())
}

/// Links issued to the user since `since` (per-account rate limit).
pub async fn count_since(conn: &mut Conn, user_id: i64, since: i64) -> sqlx::Result<i64> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM password_resets WHERE user_id = $1 AND created_at >= $2",
    )
    .bind(user_id)
    .bind(since)
    .fetch_one(conn)
    .await?;
    Ok(n)
}

/// (code_hash, expires_at, attempts) of the user's live reset-task code.
pub async fn code(conn: &mut Conn, user_id: i64) -> sqlx::Result<Option<(String, i64, i64)>> {
    sqlx::query_as("SELECT code_hash, expires_at, attempts FROM reset_codes WHERE user_id = $1")
        .bind(user_id)
        .fetch_optional(conn)
        .await
}

/// Replaces the user's code (a new code resets the tries).
pub async fn put_code(
    conn: &mut Conn,
    user_id: i64,
    code_hash: &str,
    now: i64,
    expires_at: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO reset_codes (user_id, code_hash, created_at, expires_at, attempts) VALUES ($1, $2, $3, $4, 0) \
         ON CONFLICT (user_id) DO UPDATE SET code_hash = excluded.code_hash, created_at = excluded.created_at, \
         expires_at = excluded.expires_at, attempts = 0",
    )
    .bind(user_id)
    .bind(code_hash)
    .bind(now)
    .bind(expires_at)
    .execute(conn)
    .await
    .map(|_| ())
}

pub async fn count_code_attempt(conn: &mut Conn, user_id: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE reset_codes SET attempts = attempts + 1 WHERE user_id = $1")
        .bind(user_id)
        .execute(conn)
        .await
        .map(|_| ())
}

pub async fn delete_code(conn: &mut Conn, user_id: i64) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM reset_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(conn)
        .await
        .map(|_| ())
}
