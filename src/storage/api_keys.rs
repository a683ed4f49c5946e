//! SQL for management API keys and the answers kept for `Idempotency-Key` retries.

use sqlx::FromRow;

use super::Conn;

#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct ApiKeyRow {
    pub id: i64,
    pub name: String,
    pub hint: String,
    pub scopes: String,
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub revoked_by: Option<String>,
    pub last_used_at: Option<i64>,
    pub last_used_ip: Option<String>,
}

const COLUMNS: &str = "id, name, hint, scopes, created_by, created_at, expires_at, revoked_at, \
                       revoked_by, last_used_at, last_used_ip";

pub struct NewApiKey<'a> {
    pub name: &'a str,
    pub hint: &'a str,
    pub key_hash: &'a str,
    pub scopes: &'a str,
    pub created_by: &'a str,
    pub created_at: i64,
    pub expires_at: i64,
}

pub async fn insert(conn: &mut Conn, k: &NewApiKey<'_>) -> sqlx::Result<i64> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO api_keys (name, hint, key_hash, scopes, created_by, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(k.name)
    .bind(k.hint)
    .bind(k.key_hash)
    .bind(k.scopes)
    .bind(k.created_by)
    .bind(k.created_at)
    .bind(k.expires_at)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

/// The key not revoked with this name, if any.
pub async fn find_live_by_name(conn: &mut Conn, name: &str) -> sqlx::Result<Option<ApiKeyRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM api_keys WHERE name = $1 AND revoked_at IS NULL"
    ))
    .bind(name)
    .fetch_optional(conn)
    .await
}

pub async fn find_by_id(conn: &mut Conn, id: i64) -> sqlx::Result<Option<ApiKeyRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM api_keys WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// The key whose secret hashes to `key_hash` (revoked and expired ones too: the caller refuses
/// them with 401).
pub async fn find_by_hash(conn: &mut Conn, key_hash: &str) -> sqlx::Result<Option<ApiKeyRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM api_keys WHERE key_hash = $1"
    ))
    .bind(key_hash)
    .fetch_optional(conn)
    .await
}

/// Every key, newest first.
pub async fn list(conn: &mut Conn) -> sqlx::Result<Vec<ApiKeyRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM api_keys ORDER BY id DESC"))
        .fetch_all(conn)
        .await
}

/// Revokes a live key. Returns how many rows changed (0: already revoked).
pub async fn revoke(conn: &mut Conn, id: i64, by: &str, at: i64) -> sqlx::Result<u64> {
    sqlx::query(
        "UPDATE api_keys SET revoked_at = $2, revoked_by = $3 WHERE id = $1 AND revoked_at IS NULL",
    )
    .bind(id)
    .bind(at)
    .bind(by)
    .execute(conn)
    .await
    .map(|r| r.rows_affected())
}

/// Records a use (called at most once a minute per key and node).
pub async fn touch(conn: &mut Conn, id: i64, at: i64, ip: Option<&str>) -> sqlx::Result<()> {
    sqlx::query("UPDATE api_keys SET last_used_at = $2, last_used_ip = $3 WHERE id = $1")
        .bind(id)
        .bind(at)
        .bind(ip)
        .execute(conn)
        .await?;
    Ok(())
}

#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct IdempotentAnswer {
    pub fingerprint: String,
    /// 0 while the first call is still running.
    pub status: i64,
    pub body: String,
}

/// Claims `idem_key` for a call with this fingerprint. Returns `None` when the claim is new (the
/// caller acts, then [`finish`]es it), or the answer already kept under that key.
pub async fn claim(
    conn: &mut Conn,
    api_key_id: i64,
    idem_key: &str,
    fingerprint: &str,
    now: i64,
) -> sqlx::Result<Option<IdempotentAnswer>> {
    let inserted = sqlx::query(
        "INSERT INTO api_idempotency (api_key_id, idem_key, fingerprint, status, body, created_at) \
         VALUES ($1, $2, $3, 0, '', $4) ON CONFLICT (api_key_id, idem_key) DO NOTHING",
    )
    .bind(api_key_id)
    .bind(idem_key)
    .bind(fingerprint)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 1 {
        return Ok(None);
    }
    sqlx::query_as(
        "SELECT fingerprint, status, body FROM api_idempotency \
         WHERE api_key_id = $1 AND idem_key = $2",
    )
    .bind(api_key_id)
    .bind(idem_key)
    .fetch_optional(conn)
    .await
}

/// Keeps the answer of a claimed call.
pub async fn finish(
    conn: &mut Conn,
    api_key_id: i64,
    idem_key: &str,
    status: i64,
    body: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE api_idempotency SET status = $3, body = $4 WHERE api_key_id = $1 AND idem_key = $2",
    )
    .bind(api_key_id)
    .bind(idem_key)
    .bind(status)
    .bind(body)
    .execute(conn)
    .await?;
    Ok(())
}

/// Gives a claim up (the call failed on the server's side: a retry may act).
pub async fn release(conn: &mut Conn, api_key_id: i64, idem_key: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM api_idempotency WHERE api_key_id = $1 AND idem_key = $2")
        .bind(api_key_id)
        .bind(idem_key)
        .execute(conn)
        .await?;
    Ok(())
}

/// Forgets answers older than `before`.
pub async fn expire(conn: &mut Conn, before: i64) -> sqlx::Result<u64> {
    sqlx::query("DELETE FROM api_idempotency WHERE created_at < $1")
        .bind(before)
        .execute(conn)
        .await
        .map(|r| r.rows_affected())
}
