//! SQL for stored audit checkpoints (the signed text and the fields pages show).

use sqlx::FromRow;

use super::Conn;

#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct CheckpointRow {
    pub id: i64,
    pub seq: i64,
    pub hash: String,
    pub at: i64,
    pub cause: String,
    pub text: String,
}

pub struct NewCheckpoint<'a> {
    pub seq: i64,
    pub hash: &'a str,
    pub at: i64,
    pub cause: &'a str,
    /// The UTC date of a daily checkpoint; `None` for the others.
    pub daily_on: Option<&'a str>,
    pub text: &'a str,
}

/// Stores a checkpoint. Returns `None` when a daily checkpoint for that date exists already
/// (another node took it): the unique date is the election.
pub async fn insert(conn: &mut Conn, c: NewCheckpoint<'_>) -> sqlx::Result<Option<i64>> {
    let row: Option<(i64,)> = sqlx::query_as(
        "INSERT INTO audit_checkpoints (seq, hash, at, cause, daily_on, text) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (daily_on) DO NOTHING RETURNING id",
    )
    .bind(c.seq)
    .bind(c.hash)
    .bind(c.at)
    .bind(c.cause)
    .bind(c.daily_on)
    .bind(c.text)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|(id,)| id))
}

/// Whether the daily checkpoint of `date` exists.
pub async fn has_daily(conn: &mut Conn, date: &str) -> sqlx::Result<bool> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM audit_checkpoints WHERE daily_on = $1")
        .bind(date)
        .fetch_one(conn)
        .await?;
    Ok(n > 0)
}

/// The most recent checkpoint, if any.
pub async fn latest(conn: &mut Conn) -> sqlx::Result<Option<CheckpointRow>> {
    sqlx::query_as(
        "SELECT id, seq, hash, at, cause, text FROM audit_checkpoints ORDER BY id DESC LIMIT 1",
    )
    .fetch_optional(conn)
    .await
}
