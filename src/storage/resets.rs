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

/// Consumes a link; zero rows means someone else used or invalidated it first, or it expired
/// since it was checked (the expiry is rechecked in the same statement that spends it).
pub async fn mark_used(conn: &mut Conn, id: i64, now: i64) -> sqlx::Result<u64> {
    sqlx::query("UPDATE password_resets SET used_at = $2 WHERE id = $1 AND used_at IS NULL AND invalidated_at IS NULL AND expires_at > $2")
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

/// (code_hash, expires_at, attempts) of the user's code, live or not.
pub async fn code(conn: &mut Conn, user_id: i64) -> sqlx::Result<Option<(String, i64, i64)>> {
    sqlx::query_as("SELECT code_hash, expires_at, attempts FROM reset_codes WHERE user_id = $1")
        .bind(user_id)
        .fetch_optional(conn)
        .await
}

/// Replaces the user's code (a new code resets the tries of the code, not the user's budget).
pub async fn put_code(
    conn: &mut Conn,
    user_id: i64,
    code_mac: &str,
    now: i64,
    expires_at: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO reset_codes (user_id, code_hash, created_at, expires_at, attempts) VALUES ($1, $2, $3, $4, 0) \
         ON CONFLICT (user_id) DO UPDATE SET code_hash = excluded.code_hash, created_at = excluded.created_at, \
         expires_at = excluded.expires_at, attempts = 0",
    )
    .bind(user_id)
    .bind(code_mac)
    .bind(now)
    .bind(expires_at)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Takes one try of the user's live code and returns (code_hash, attempts after this one), or
/// nothing when there is no live code with a try left. One statement, so concurrent guesses
/// cannot take more than `max_tries` between them (PostgreSQL re-checks the condition on the
/// locked row; SQLite serialises writers).
pub async fn take_code_try(
    conn: &mut Conn,
    user_id: i64,
    now: i64,
    max_tries: i64,
) -> sqlx::Result<Option<(String, i64)>> {
    sqlx::query_as(
        "UPDATE reset_codes SET attempts = attempts + 1 \
         WHERE user_id = $1 AND attempts < $3 AND expires_at > $2 RETURNING code_hash, attempts",
    )
    .bind(user_id)
    .bind(now)
    .bind(max_tries)
    .fetch_optional(conn)
    .await
}

pub async fn delete_code(conn: &mut Conn, user_id: i64) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM reset_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(conn)
        .await
        .map(|_| ())
}

/// The user's reset-code budget in its current window.
#[derive(Debug, Clone, Copy, FromRow, PartialEq, Eq)]
pub struct Budget {
    pub failures: i64,
    pub codes_sent: i64,
    pub window_start: i64,
}

/// What a [`spend_budget`] call takes from the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spend {
    /// One evaluated code (given back by [`refund_failure`] when it was right).
    Failure,
    /// One code sent.
    CodeSent,
}

/// The limits of one window: `window_ms` long, starting with the first spend after the last
/// window ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetLimits {
    pub window_ms: i64,
    pub max_failures: i64,
    pub max_codes_sent: i64,
}

/// Takes one unit from the user's budget in one statement (an upsert that row-locks on
/// PostgreSQL), and returns the budget after it; nothing when it is spent: no more failures
/// left, or (for a code sent) no more codes. A window older than `window_ms` starts over.
pub async fn spend_budget(
    conn: &mut Conn,
    user_id: i64,
    now: i64,
    spend: Spend,
    limits: BudgetLimits,
) -> sqlx::Result<Option<Budget>> {
    let (failure, sent) = match spend {
        Spend::Failure => (1i64, 0i64),
        Spend::CodeSent => (0, 1),
    };
    sqlx::query_as(
        "INSERT INTO reset_code_budget (user_id, window_start, failures, codes_sent) VALUES ($1, $2, $4, $5) \
         ON CONFLICT (user_id) DO UPDATE SET \
           window_start = CASE WHEN reset_code_budget.window_start <= $3 THEN $2 ELSE reset_code_budget.window_start END, \
           failures = CASE WHEN reset_code_budget.window_start <= $3 THEN $4 ELSE reset_code_budget.failures + $4 END, \
           codes_sent = CASE WHEN reset_code_budget.window_start <= $3 THEN $5 ELSE reset_code_budget.codes_sent + $5 END \
         WHERE reset_code_budget.window_start <= $3 \
            OR (reset_code_budget.failures < $6 AND reset_code_budget.codes_sent + $5 <= $7) \
         RETURNING failures, codes_sent, window_start",
    )
    .bind(user_id)
    .bind(now)
    .bind(now - limits.window_ms)
    .bind(failure)
    .bind(sent)
    .bind(limits.max_failures)
    .bind(limits.max_codes_sent)
    .fetch_optional(conn)
    .await
}

/// Gives back the failure [`spend_budget`] took for a code that turned out right.
pub async fn refund_failure(conn: &mut Conn, user_id: i64) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE reset_code_budget SET failures = failures - 1 WHERE user_id = $1 AND failures > 0",
    )
    .bind(user_id)
    .execute(conn)
    .await
    .map(|_| ())
}

pub async fn budget(conn: &mut Conn, user_id: i64) -> sqlx::Result<Option<Budget>> {
    sqlx::query_as(
        "SELECT failures, codes_sent, window_start FROM reset_code_budget WHERE user_id = $1",
    )
    .bind(user_id)
    .fetch_optional(conn)
    .await
}
