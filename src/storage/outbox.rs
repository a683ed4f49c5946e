//! SQL for the outbox. A claim is one UPDATE that sets a lease; on PostgreSQL a competing
//! UPDATE waits for the row lock and then re-checks the lease, on SQLite writers are serialised,
//! so a row is never held by two workers at once on either backend.

use sqlx::FromRow;

use super::{Backend, Conn};

#[derive(Debug, Clone, FromRow)]
pub struct OutboxRow {
    pub id: i64,
    pub kind: String,
    pub to_address: String,
    pub subject: String,
    pub html: String,
    pub text: String,
    pub created_at: i64,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub lease_owner: Option<String>,
    pub lease_until: Option<i64>,
    pub last_error: Option<String>,
    pub sent_at: Option<i64>,
}

const COLUMNS: &str =
    "id, kind, to_address, subject, html, text, created_at, status, attempts, next_attempt_at, lease_owner, lease_until, last_error, sent_at";

pub struct NewMail<'a> {
    pub kind: &'a str,
    pub to_address: &'a str,
    pub subject: &'a str,
    pub html: &'a str,
    pub text: &'a str,
    pub now: i64,
}

pub async fn insert(conn: &mut Conn, m: NewMail<'_>) -> sqlx::Result<i64> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO outbox (kind, to_address, subject, html, text, created_at, next_attempt_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
    )
    .bind(m.kind)
    .bind(m.to_address)
    .bind(m.subject)
    .bind(m.html)
    .bind(m.text)
    .bind(m.now)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

/// Inserts many rows, 500 to a statement, each tagged with the incident cohort it notifies (if
/// any: the incident page counts its notices by state through this tag); returns each
/// recipient's new row id (a batch holds one mail per address).
pub async fn insert_many(
    conn: &mut Conn,
    mails: &[NewMail<'_>],
    cohort_id: Option<i64>,
) -> sqlx::Result<std::collections::HashMap<String, i64>> {
    let mut ids = std::collections::HashMap::with_capacity(mails.len());
    for chunk in mails.chunks(500) {
        let rows: Vec<String> = (0..chunk.len())
            .map(|i| {
                let p = i * 6 + 1;
                format!(
                    "(${}, ${}, ${}, ${}, ${}, ${}, ${}, $1)",
                    p + 1,
                    p + 2,
                    p + 3,
                    p + 4,
                    p + 5,
                    p + 6,
                    p + 6
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO outbox (kind, to_address, subject, html, text, created_at, next_attempt_at, cohort_id) \
             VALUES {} RETURNING id, to_address",
            rows.join(", ")
        );
        let mut q = sqlx::query_as::<_, (i64, String)>(&sql).bind(cohort_id);
        for m in chunk {
            q = q
                .bind(m.kind)
                .bind(m.to_address)
                .bind(m.subject)
                .bind(m.html)
                .bind(m.text)
                .bind(m.now);
        }
        for (id, to) in q.fetch_all(&mut *conn).await? {
            ids.insert(to, id);
        }
    }
    Ok(ids)
}

/// Leases up to `limit` due rows to `owner` until `lease_until`, counting an attempt for each.
pub async fn claim(
    conn: &mut Conn,
    backend: Backend,
    owner: &str,
    now: i64,
    lease_until: i64,
    limit: i64,
) -> sqlx::Result<Vec<OutboxRow>> {
    let due =
        "status = 'queued' AND next_attempt_at <= $2 AND (lease_until IS NULL OR lease_until < $2)";
    // The oldest queued rows come from the index of exactly those, in id order. SQLite has to
    // be told: it preferred the (status, next_attempt_at) index, then sorted every queued row
    // (80 ms a claim with 100 000 queued, against under 1 ms).
    let queued = match backend {
        Backend::Sqlite => "outbox INDEXED BY outbox_queued_idx",
        Backend::Postgres => "outbox",
    };
    sqlx::query_as(&format!(
        "UPDATE outbox SET lease_owner = $1, lease_until = $3, attempts = attempts + 1 \
         WHERE id IN (SELECT id FROM {queued} WHERE {due} ORDER BY id LIMIT $4) AND {due} \
         RETURNING {COLUMNS}"
    ))
    .bind(owner)
    .bind(now)
    .bind(lease_until)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Records delivery of these rows and deletes their bodies (links, codes) in the same
/// statement: a delivered mail keeps only its recipient, kind, subject, times and state. One
/// statement for many rows (ids from the database: nothing typed is written into the SQL).
/// Returns how many were still this worker's.
pub async fn mark_sent(conn: &mut Conn, ids: &[i64], owner: &str, now: i64) -> sqlx::Result<u64> {
    if ids.is_empty() {
        return Ok(0);
    }
    let list: Vec<String> = ids.iter().map(i64::to_string).collect();
    sqlx::query(&format!(
        "UPDATE outbox SET status = 'sent', sent_at = $2, lease_owner = NULL, lease_until = NULL, last_error = NULL, \
                html = '', text = '' \
         WHERE id IN ({}) AND lease_owner = $1",
        list.join(", ")
    ))
    .bind(owner)
    .bind(now)
    .execute(conn)
    .await
    .map(|r| r.rows_affected())
}

/// Records a failed attempt: retried at `retry_at` (the body is kept for it), or failed for good
/// when `retry_at` is None (the body is deleted in the same statement).
pub async fn mark_attempt_failed(
    conn: &mut Conn,
    id: i64,
    owner: &str,
    error: &str,
    retry_at: Option<i64>,
) -> sqlx::Result<u64> {
    sqlx::query(
        "UPDATE outbox SET status = CASE WHEN $4 IS NULL THEN 'failed' ELSE 'queued' END, \
                next_attempt_at = COALESCE($4, next_attempt_at), last_error = $3, lease_owner = NULL, lease_until = NULL, \
                html = CASE WHEN $4 IS NULL THEN '' ELSE html END, text = CASE WHEN $4 IS NULL THEN '' ELSE text END \
         WHERE id = $1 AND lease_owner = $2",
    )
    .bind(id)
    .bind(owner)
    .bind(error)
    .bind(retry_at)
    .execute(conn)
    .await
    .map(|r| r.rows_affected())
}

#[derive(Debug, Clone, FromRow, Default)]
pub struct OutboxCounts {
    pub queued: i64,
    pub sent: i64,
    pub failed: i64,
}

pub async fn counts(conn: &mut Conn) -> sqlx::Result<OutboxCounts> {
    sqlx::query_as(
        "SELECT COALESCE(SUM(CASE WHEN status = 'queued' THEN 1 ELSE 0 END), 0) AS queued, \
                COALESCE(SUM(CASE WHEN status = 'sent' THEN 1 ELSE 0 END), 0) AS sent, \
                COALESCE(SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END), 0) AS failed \
         FROM outbox",
    )
    .fetch_one(conn)
    .await
}

/// The latest mails that are failed or still retrying, with their last error.
pub async fn recent_problems(conn: &mut Conn, limit: i64) -> sqlx::Result<Vec<OutboxRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM outbox WHERE last_error IS NOT NULL AND status <> 'sent' ORDER BY id DESC LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// How many mails of `kind` were queued to `to` since `since` (ms).
pub async fn count_since(conn: &mut Conn, kind: &str, to: &str, since: i64) -> sqlx::Result<i64> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM outbox WHERE kind = $1 AND to_address = $2 AND created_at > $3",
    )
    .bind(kind)
    .bind(to)
    .bind(since)
    .fetch_one(conn)
    .await?;
    Ok(n)
}
