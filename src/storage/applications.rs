//! SQL for the applications behind forward-auth, and which sessions reached them.

use sqlx::FromRow;

use super::Conn;

#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct ApplicationRow {
    pub id: i64,
    pub name: String,
    pub host: String,
    /// Comma-separated roles.
    pub allowed_roles: String,
    pub enabled: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_access_at: Option<i64>,
}

/// An application with what the Applications page shows of its use.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct ApplicationStats {
    #[sqlx(flatten)]
    pub app: ApplicationRow,
    /// Distinct sessions that reached it since the cut-off.
    pub sessions_seen: i64,
}

pub struct NewApplication<'a> {
    pub name: &'a str,
    pub host: &'a str,
    pub allowed_roles: &'a str,
    pub enabled: bool,
    pub now: i64,
}

const COLUMNS: &str =
    "id, name, host, allowed_roles, enabled, created_at, updated_at, last_access_at";

pub async fn insert(conn: &mut Conn, a: NewApplication<'_>) -> sqlx::Result<i64> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO applications (name, host, allowed_roles, enabled, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
    )
    .bind(a.name)
    .bind(a.host)
    .bind(a.allowed_roles)
    .bind(i64::from(a.enabled))
    .bind(a.now)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

/// Replaces an application's settings. Returns how many rows changed (0: no such application).
pub async fn update(conn: &mut Conn, id: i64, a: NewApplication<'_>) -> sqlx::Result<u64> {
    sqlx::query(
        "UPDATE applications SET name = $2, host = $3, allowed_roles = $4, enabled = $5, \
         updated_at = $6 WHERE id = $1",
    )
    .bind(id)
    .bind(a.name)
    .bind(a.host)
    .bind(a.allowed_roles)
    .bind(i64::from(a.enabled))
    .bind(a.now)
    .execute(conn)
    .await
    .map(|r| r.rows_affected())
}

/// Switches an application on or off, leaving its other settings as they are now.
pub async fn set_enabled(conn: &mut Conn, id: i64, enabled: bool, now: i64) -> sqlx::Result<u64> {
    sqlx::query("UPDATE applications SET enabled = $2, updated_at = $3 WHERE id = $1")
        .bind(id)
        .bind(i64::from(enabled))
        .bind(now)
        .execute(conn)
        .await
        .map(|r| r.rows_affected())
}

pub async fn delete(conn: &mut Conn, id: i64) -> sqlx::Result<u64> {
    sqlx::query("DELETE FROM application_sessions WHERE application_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM applications WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await
        .map(|r| r.rows_affected())
}

pub async fn find(conn: &mut Conn, id: i64) -> sqlx::Result<Option<ApplicationRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM applications WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Every application, by host (what the forward-auth cache holds).
pub async fn all(conn: &mut Conn) -> sqlx::Result<Vec<ApplicationRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM applications ORDER BY host"))
        .fetch_all(conn)
        .await
}

/// Every application with the number of distinct sessions seen since `since`.
pub async fn all_with_stats(conn: &mut Conn, since: i64) -> sqlx::Result<Vec<ApplicationStats>> {
    sqlx::query_as(
        "SELECT a.id, a.name, a.host, a.allowed_roles, a.enabled, a.created_at, a.updated_at, \
         a.last_access_at, \
         (SELECT COUNT(*) FROM application_sessions s \
          WHERE s.application_id = a.id AND s.last_seen_at >= $1) AS sessions_seen \
         FROM applications a ORDER BY a.name, a.host",
    )
    .bind(since)
    .fetch_all(conn)
    .await
}

/// Records that `session_key` reached application `id` at `at` (written behind in batches).
pub async fn record_access(
    conn: &mut Conn,
    id: i64,
    session_key: &str,
    at: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO application_sessions (application_id, session_key, last_seen_at) \
         VALUES ($1, $2, $3) ON CONFLICT (application_id, session_key) \
         DO UPDATE SET last_seen_at = CASE WHEN excluded.last_seen_at > application_sessions.last_seen_at \
         THEN excluded.last_seen_at ELSE application_sessions.last_seen_at END",
    )
    .bind(id)
    .bind(session_key)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE applications SET last_access_at = $2 \
         WHERE id = $1 AND (last_access_at IS NULL OR last_access_at < $2)",
    )
    .bind(id)
    .bind(at)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Forgets accesses older than `before`. Returns how many rows went.
pub async fn prune_accesses(conn: &mut Conn, before: i64) -> sqlx::Result<u64> {
    sqlx::query("DELETE FROM application_sessions WHERE last_seen_at < $1")
        .bind(before)
        .execute(conn)
        .await
        .map(|r| r.rows_affected())
}
