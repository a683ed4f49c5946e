//! SQL for the cache events the database writes itself (SQLite; see migration 0009): what every
//! node's in-memory session cache must forget.

use sqlx::FromRow;

use super::Conn;

/// The PostgreSQL channel the same events are announced on (`kind:key` payloads).
pub const CHANNEL: &str = "keywarden_cache";

#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct CacheEvent {
    pub id: i64,
    /// `s` session (key: id hash), `u` user (key: id), `a` applications.
    pub kind: String,
    pub key: String,
}

/// The events after `after`, oldest first, at most `limit`.
pub async fn after(conn: &mut Conn, after: i64, limit: i64) -> sqlx::Result<Vec<CacheEvent>> {
    sqlx::query_as("SELECT id, kind, key FROM cache_events WHERE id > $1 ORDER BY id LIMIT $2")
        .bind(after)
        .bind(limit)
        .fetch_all(conn)
        .await
}

/// The newest event's id (0 when there is none): where a node starts reading.
pub async fn newest(conn: &mut Conn) -> sqlx::Result<i64> {
    let (id,): (Option<i64>,) = sqlx::query_as("SELECT MAX(id) FROM cache_events")
        .fetch_one(conn)
        .await?;
    Ok(id.unwrap_or(0))
}

/// Forgets events written before `before`. Returns how many went.
pub async fn prune(conn: &mut Conn, before: i64) -> sqlx::Result<u64> {
    sqlx::query("DELETE FROM cache_events WHERE at < $1")
        .bind(before)
        .execute(conn)
        .await
        .map(|r| r.rows_affected())
}
