//! SQL for device recognition and new-device alert links.

use sqlx::FromRow;

use super::{Backend, Conn};

/// What a sign-in from a device found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceSeen {
    /// The user had signed in from some device before.
    pub had_devices: bool,
    /// This device is new for the user (this sign-in recorded it).
    pub new_device: bool,
}

/// Records a sign-in from a device. PostgreSQL: one upsert, which returns whether it inserted
/// and how many devices the user had before (its sub-select sees the rows as the statement
/// began). SQLite: one read (the user's devices, and whether this is one), then the new row or the
/// known row's `last_seen_at`. Of two concurrent sign-ins from one new device, exactly one inserts
/// it and sees it as new.
pub async fn record_device(
    conn: &mut Conn,
    backend: Backend,
    user_id: i64,
    device_hash: &str,
    now: i64,
) -> sqlx::Result<DeviceSeen> {
    if backend == Backend::Postgres {
        let (inserted, before): (bool, i64) = sqlx::query_as(
            "INSERT INTO known_devices (user_id, device_hash, first_seen_at, last_seen_at) \
             VALUES ($1, $2, $3, $3) ON CONFLICT (user_id, device_hash) \
             DO UPDATE SET last_seen_at = EXCLUDED.last_seen_at \
             RETURNING (xmax = 0), (SELECT COUNT(*) FROM known_devices WHERE user_id = $1)",
        )
        .bind(user_id)
        .bind(device_hash)
        .bind(now)
        .fetch_one(conn)
        .await?;
        return Ok(DeviceSeen {
            had_devices: before > 0,
            new_device: inserted,
        });
    }
    let (devices, this_one): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COUNT(CASE WHEN device_hash = $2 THEN 1 END) FROM known_devices \
         WHERE user_id = $1",
    )
    .bind(user_id)
    .bind(device_hash)
    .fetch_one(&mut *conn)
    .await?;
    let new_device = if this_one > 0 {
        sqlx::query(
            "UPDATE known_devices SET last_seen_at = $3 WHERE user_id = $1 AND device_hash = $2",
        )
        .bind(user_id)
        .bind(device_hash)
        .bind(now)
        .execute(conn)
        .await?;
        false
    } else {
        sqlx::query(
            "INSERT INTO known_devices (user_id, device_hash, first_seen_at, last_seen_at) \
             VALUES ($1, $2, $3, $3) ON CONFLICT (user_id, device_hash) DO NOTHING",
        )
        .bind(user_id)
        .bind(device_hash)
        .bind(now)
        .execute(conn)
        .await?
        .rows_affected()
            > 0
    };
    Ok(DeviceSeen {
        had_devices: devices > 0,
        new_device,
    })
}

/// Forgets a device (reported as not the user's): its next sign-in is new again.
pub async fn forget_device(conn: &mut Conn, user_id: i64, device_hash: &str) -> sqlx::Result<u64> {
    sqlx::query("DELETE FROM known_devices WHERE user_id = $1 AND device_hash = $2")
        .bind(user_id)
        .bind(device_hash)
        .execute(conn)
        .await
        .map(|r| r.rows_affected())
}

pub async fn count_countries(conn: &mut Conn, user_id: i64) -> sqlx::Result<i64> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM known_countries WHERE user_id = $1")
        .bind(user_id)
        .fetch_one(conn)
        .await?;
    Ok(n)
}

/// Records a sign-in from a country; returns true when it is new for the user.
pub async fn remember_country(
    conn: &mut Conn,
    user_id: i64,
    country: &str,
    now: i64,
) -> sqlx::Result<bool> {
    let inserted = sqlx::query(
        "INSERT INTO known_countries (user_id, country, first_seen_at) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id, country) DO NOTHING",
    )
    .bind(user_id)
    .bind(country)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(inserted > 0)
}

pub async fn insert_alert(
    conn: &mut Conn,
    token_hash: &str,
    user_id: i64,
    session_key: &str,
    now: i64,
    expires_at: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO device_alerts (token_hash, user_id, session_public_id, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(session_key)
    .bind(now)
    .bind(expires_at)
    .execute(conn)
    .await
    .map(|_| ())
}

#[derive(Debug, Clone, FromRow)]
pub struct AlertRow {
    pub user_id: i64,
    pub session_public_id: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

pub async fn find_alert(conn: &mut Conn, token_hash: &str) -> sqlx::Result<Option<AlertRow>> {
    sqlx::query_as(
        "SELECT user_id, session_public_id, created_at, expires_at, used_at FROM device_alerts WHERE token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(conn)
    .await
}

/// Spends a live link: one statement, so two presses cannot both succeed.
pub async fn use_alert(
    conn: &mut Conn,
    token_hash: &str,
    now: i64,
) -> sqlx::Result<Option<AlertRow>> {
    sqlx::query_as(
        "UPDATE device_alerts SET used_at = $2 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 \
         RETURNING user_id, session_public_id, created_at, expires_at, used_at",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(conn)
    .await
}

/// Forgets links that expired more than `retain_ms` ago.
pub async fn sweep_alerts(conn: &mut Conn, now: i64, retain_ms: i64) -> sqlx::Result<u64> {
    sqlx::query("DELETE FROM device_alerts WHERE expires_at < $1")
        .bind(now - retain_ms)
        .execute(conn)
        .await
        .map(|r| r.rows_affected())
}
