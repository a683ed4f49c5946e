//! SQL for the `sessions` table: written by the tower-sessions store, read by user.

use sqlx::FromRow;

use super::{Backend, Conn};
use crate::domain::EndReason;

#[derive(Debug, Clone, FromRow)]
pub struct SessionRow {
    pub id_hash: String,
    pub user_id: Option<i64>,
    pub data: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub ended_at: Option<i64>,
    pub end_reason: Option<String>,
    pub public_id: Option<String>,
    pub device_hash: Option<String>,
    pub location: Option<String>,
    /// When the session counts from for the watermarks (database clock); rows written before
    /// this column existed have it equal to `created_at`.
    pub issued_at: Option<i64>,
}

const COLUMNS: &str = "id_hash, user_id, data, created_at, last_seen_at, expires_at, ip, user_agent, ended_at, end_reason, public_id, device_hash, location, issued_at";

pub struct NewSession<'a> {
    pub id_hash: &'a str,
    pub user_id: Option<i64>,
    pub data: &'a str,
    pub now: i64,
    pub issued_at: i64,
    pub expires_at: i64,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub public_id: Option<&'a str>,
    pub device_hash: Option<&'a str>,
    pub location: Option<&'a str>,
}

impl NewSession<'_> {
    /// The row [`insert`] writes, as [`find`] would read it back.
    pub fn as_row(&self) -> SessionRow {
        let owned = |v: Option<&str>| v.map(str::to_owned);
        SessionRow {
            id_hash: self.id_hash.to_owned(),
            user_id: self.user_id,
            data: self.data.to_owned(),
            created_at: self.now,
            last_seen_at: self.now,
            expires_at: self.expires_at,
            ip: owned(self.ip),
            user_agent: owned(self.user_agent),
            ended_at: None,
            end_reason: None,
            public_id: owned(self.public_id),
            device_hash: owned(self.device_hash),
            location: owned(self.location),
            issued_at: Some(self.issued_at),
        }
    }
}

/// Inserts a new row; fails with a unique violation if the id is taken. Its own transaction,
/// committed without waiting for the flush ([`super::unflushed_commit`]): a row lost in a crash
/// only signs its holder out.
pub async fn insert(conn: &mut Conn, backend: Backend, s: NewSession<'_>) -> sqlx::Result<()> {
    let returning = super::unflushed_commit(backend)
        .map(|e| format!(" RETURNING {e}"))
        .unwrap_or_default();
    sqlx::query(&format!(
        "INSERT INTO sessions (id_hash, user_id, data, created_at, last_seen_at, expires_at, ip, user_agent, \
         public_id, device_hash, location, issued_at) VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8, $9, $10, $11){returning}",
    ))
    .bind(s.id_hash)
    .bind(s.user_id)
    .bind(s.data)
    .bind(s.now)
    .bind(s.expires_at)
    .bind(s.ip)
    .bind(s.user_agent)
    .bind(s.public_id)
    .bind(s.device_hash)
    .bind(s.location)
    .bind(s.issued_at)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Updates the data of a live session; an ended session is never revived.
pub async fn update_data(
    conn: &mut Conn,
    id_hash: &str,
    user_id: Option<i64>,
    data: &str,
    now: i64,
) -> sqlx::Result<u64> {
    sqlx::query("UPDATE sessions SET data = $2, user_id = $3, last_seen_at = $4 WHERE id_hash = $1 AND ended_at IS NULL")
        .bind(id_hash)
        .bind(data)
        .bind(user_id)
        .bind(now)
        .execute(conn)
        .await
        .map(|r| r.rows_affected())
}

pub async fn find(conn: &mut Conn, id_hash: &str) -> sqlx::Result<Option<SessionRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM sessions WHERE id_hash = $1"
    ))
    .bind(id_hash)
    .fetch_optional(conn)
    .await
}

/// A user's session by its public id.
pub async fn find_for_user(
    conn: &mut Conn,
    user_id: i64,
    key: &str,
) -> sqlx::Result<Option<SessionRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM sessions WHERE user_id = $1 AND public_id = $2"
    ))
    .bind(user_id)
    .bind(key)
    .fetch_optional(conn)
    .await
}

pub async fn touch(conn: &mut Conn, id_hash: &str, now: i64) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE sessions SET last_seen_at = $2 \
         WHERE id_hash = $1 AND ended_at IS NULL AND last_seen_at < $2",
    )
    .bind(id_hash)
    .bind(now)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Ends one session with a reason; a session already ended keeps its first reason.
pub async fn end(conn: &mut Conn, id_hash: &str, reason: EndReason, now: i64) -> sqlx::Result<u64> {
    sqlx::query("UPDATE sessions SET ended_at = $2, end_reason = $3 WHERE id_hash = $1 AND ended_at IS NULL")
        .bind(id_hash)
        .bind(now)
        .bind(reason.as_str())
        .execute(conn)
        .await
        .map(|r| r.rows_affected())
}

/// Records on the rows the sessions an instance-wide sign-out ended (the sign-out itself wrote one
/// row; this catches the session rows up in the background, so lists show the real reason).
pub async fn settle_instance_sign_out(conn: &mut Conn, at: i64) -> sqlx::Result<u64> {
    sqlx::query(
        "UPDATE sessions SET ended_at = $1, end_reason = $2 \
         WHERE ended_at IS NULL AND user_id IS NOT NULL AND COALESCE(issued_at, created_at) <= $1",
    )
    .bind(at)
    .bind(EndReason::InstanceSignOut.as_str())
    .execute(conn)
    .await
    .map(|r| r.rows_affected())
}

/// Marks sessions past their limits as expired (`expires_at <= now`, or last seen at or before
/// `idle_cutoff`, or created at or before `absolute_cutoff`: the cut-offs come from the session
/// validity rule), and forgets rows that ended more than `retain_ms` ago. Returns (expired, deleted).
pub async fn sweep(
    conn: &mut Conn,
    now: i64,
    idle_cutoff: i64,
    absolute_cutoff: i64,
    retain_ms: i64,
) -> sqlx::Result<(u64, u64)> {
    let expired = sqlx::query(
        "UPDATE sessions SET ended_at = $1, end_reason = $4 \
         WHERE ended_at IS NULL AND (expires_at <= $1 OR last_seen_at <= $2 OR created_at <= $3)",
    )
    .bind(now)
    .bind(idle_cutoff)
    .bind(absolute_cutoff)
    .bind(EndReason::Expired.as_str())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let deleted = sqlx::query("DELETE FROM sessions WHERE ended_at IS NOT NULL AND ended_at < $1")
        .bind(now - retain_ms)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    Ok((expired, deleted))
}

/// Ends every live session of a user, except `keep` when given. Returns how many ended.
pub async fn end_all_for_user(
    conn: &mut Conn,
    user_id: i64,
    keep: Option<&str>,
    reason: EndReason,
    now: i64,
) -> sqlx::Result<u64> {
    sqlx::query(
        "UPDATE sessions SET ended_at = $2, end_reason = $3 \
         WHERE user_id = $1 AND ended_at IS NULL AND ($4 IS NULL OR id_hash <> $4)",
    )
    .bind(user_id)
    .bind(now)
    .bind(reason.as_str())
    .bind(keep)
    .execute(conn)
    .await
    .map(|r| r.rows_affected())
}

/// Ends every live session of a user signed in from one device (its device-cookie hash).
pub async fn end_for_device(
    conn: &mut Conn,
    user_id: i64,
    device_hash: &str,
    reason: EndReason,
    now: i64,
) -> sqlx::Result<u64> {
    sqlx::query(
        "UPDATE sessions SET ended_at = $3, end_reason = $4 \
         WHERE user_id = $1 AND device_hash = $2 AND ended_at IS NULL",
    )
    .bind(user_id)
    .bind(device_hash)
    .bind(now)
    .bind(reason.as_str())
    .execute(conn)
    .await
    .map(|r| r.rows_affected())
}

/// Ends every live session of a user but the one with public id (or legacy id hash) `keep`.
pub async fn end_all_except(
    conn: &mut Conn,
    user_id: i64,
    keep: &str,
    reason: EndReason,
    now: i64,
) -> sqlx::Result<u64> {
    sqlx::query(
        "UPDATE sessions SET ended_at = $2, end_reason = $3 \
         WHERE user_id = $1 AND ended_at IS NULL AND COALESCE(public_id, id_hash) <> $4",
    )
    .bind(user_id)
    .bind(now)
    .bind(reason.as_str())
    .bind(keep)
    .execute(conn)
    .await
    .map(|r| r.rows_affected())
}

/// Sessions that still count: not ended, within their limits (the cut-offs of the session
/// validity rule), issued after both session watermarks.
pub async fn count_live(
    conn: &mut Conn,
    now: i64,
    idle_cutoff: i64,
    absolute_cutoff: i64,
    instance_watermark: i64,
) -> sqlx::Result<i64> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.ended_at IS NULL AND s.expires_at > $1 AND s.last_seen_at > $2 AND s.created_at > $3 \
           AND COALESCE(s.issued_at, s.created_at) > $4 AND u.disabled_at IS NULL \
           AND (u.sessions_revoked_before IS NULL OR COALESCE(s.issued_at, s.created_at) > u.sessions_revoked_before)",
    )
    .bind(now)
    .bind(idle_cutoff)
    .bind(absolute_cutoff)
    .bind(instance_watermark)
    .fetch_one(conn)
    .await?;
    Ok(n)
}

/// A user's sessions, newest first (live and recently ended).
pub async fn for_user(conn: &mut Conn, user_id: i64, limit: i64) -> sqlx::Result<Vec<SessionRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM sessions WHERE user_id = $1 ORDER BY created_at DESC LIMIT $2"
    ))
    .bind(user_id)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Ends one session of a given user, by its public id (so nobody can end another user's session
/// by guessing). Rows written before public ids existed are found by their id hash.
pub async fn end_for_user(
    conn: &mut Conn,
    key: &str,
    user_id: i64,
    reason: EndReason,
    now: i64,
) -> sqlx::Result<u64> {
    sqlx::query(
        "UPDATE sessions SET ended_at = $3, end_reason = $4 \
         WHERE (public_id = $1 OR (public_id IS NULL AND id_hash = $1)) AND user_id = $2 AND ended_at IS NULL",
    )
        .bind(key)
        .bind(user_id)
        .bind(now)
        .bind(reason.as_str())
        .execute(conn)
        .await
        .map(|r| r.rows_affected())
}

/// The newest issue time among a user's sessions (a per-user watermark must cover it).
pub async fn newest_issue_time(conn: &mut Conn, user_id: i64) -> sqlx::Result<i64> {
    let (n,): (Option<i64>,) = sqlx::query_as(
        "SELECT MAX(COALESCE(issued_at, created_at)) FROM sessions WHERE user_id = $1",
    )
    .bind(user_id)
    .fetch_one(conn)
    .await?;
    Ok(n.unwrap_or(0))
}
