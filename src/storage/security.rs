//! SQL for the instance security row: watermarks and runtime settings.

use sqlx::FromRow;

use super::{Backend, Conn};

#[derive(Debug, Clone, Default, FromRow, PartialEq, Eq)]
pub struct SecurityRow {
    pub passwords_compromised_before: i64,
    pub passwords_compromised_by: Option<String>,
    pub passwords_compromised_reason: Option<String>,
    pub sessions_revoked_before: i64,
    pub sessions_revoked_by: Option<String>,
    pub sessions_revoked_reason: Option<String>,
    pub reset_task_enabled: i64,
    pub password_min_length: Option<i64>,
    pub session_idle_timeout_secs: Option<i64>,
    pub session_absolute_lifetime_secs: Option<i64>,
    pub version: i64,
    pub new_device_alerts_enabled: i64,
    pub alert_on_new_country: i64,
    pub device_alert_path: Option<String>,
    /// The strictest temporary tightening over every incident not closed (see
    /// `incidents.tight_*`): a shorter idle timeout and lifetime, alerts forced on, sign-up
    /// paused, forgot-password throttled harder.
    pub tight_idle_secs: Option<i64>,
    pub tight_lifetime_secs: Option<i64>,
    pub tight_alerts: i64,
    pub tight_sign_up_paused: i64,
    pub tight_forgot: i64,
}

pub async fn load(conn: &mut Conn) -> sqlx::Result<SecurityRow> {
    sqlx::query_as(
        "SELECT passwords_compromised_before, passwords_compromised_by, passwords_compromised_reason, \
                sessions_revoked_before, sessions_revoked_by, sessions_revoked_reason, reset_task_enabled, \
                password_min_length, session_idle_timeout_secs, session_absolute_lifetime_secs, version, \
                new_device_alerts_enabled, alert_on_new_country, device_alert_path, \
                t.tight_idle_secs, t.tight_lifetime_secs, t.tight_alerts, t.tight_sign_up_paused, t.tight_forgot \
         FROM security_state, \
              (SELECT MIN(tight_idle_secs) AS tight_idle_secs, MIN(tight_lifetime_secs) AS tight_lifetime_secs, \
                      COALESCE(MAX(tight_alerts), 0) AS tight_alerts, \
                      COALESCE(MAX(tight_sign_up_paused), 0) AS tight_sign_up_paused, \
                      COALESCE(MAX(tight_forgot), 0) AS tight_forgot \
               FROM incidents WHERE state <> 'closed') t \
         WHERE id = 1",
    )
    .fetch_one(conn)
    .await
}

/// One row written: every password set at or before `at` is compromised.
pub async fn compromise_passwords(
    conn: &mut Conn,
    at: i64,
    by: &str,
    reason: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        // Only forward: a slower or skewed writer never lowers the watermark.
        "UPDATE security_state SET \
           passwords_compromised_by = CASE WHEN passwords_compromised_before < $1 THEN $2 ELSE passwords_compromised_by END, \
           passwords_compromised_reason = CASE WHEN passwords_compromised_before < $1 THEN $3 ELSE passwords_compromised_reason END, \
           passwords_compromised_before = CASE WHEN passwords_compromised_before < $1 THEN $1 ELSE passwords_compromised_before END, \
           version = version + 1 WHERE id = 1",
    )
    .bind(at)
    .bind(by)
    .bind(reason)
    .execute(conn)
    .await
    .map(|_| ())
}

/// One row written: every session issued at or before `at` is signed out.
pub async fn revoke_sessions(conn: &mut Conn, at: i64, by: &str, reason: &str) -> sqlx::Result<()> {
    sqlx::query(
        // Only forward, as above.
        "UPDATE security_state SET \
           sessions_revoked_by = CASE WHEN sessions_revoked_before < $1 THEN $2 ELSE sessions_revoked_by END, \
           sessions_revoked_reason = CASE WHEN sessions_revoked_before < $1 THEN $3 ELSE sessions_revoked_reason END, \
           sessions_revoked_before = CASE WHEN sessions_revoked_before < $1 THEN $1 ELSE sessions_revoked_before END, \
           version = version + 1 WHERE id = 1",
    )
    .bind(at)
    .bind(by)
    .bind(reason)
    .execute(conn)
    .await
    .map(|_| ())
}

pub async fn update_settings(
    conn: &mut Conn,
    reset_task_enabled: bool,
    min_length: i64,
    idle_secs: i64,
    absolute_secs: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE security_state SET reset_task_enabled = $1, password_min_length = $2, session_idle_timeout_secs = $3, \
         session_absolute_lifetime_secs = $4, version = version + 1 WHERE id = 1",
    )
    .bind(i64::from(reset_task_enabled))
    .bind(min_length)
    .bind(idle_secs)
    .bind(absolute_secs)
    .execute(conn)
    .await
    .map(|_| ())
}

pub async fn update_alert_settings(
    conn: &mut Conn,
    enabled: bool,
    on_new_country: bool,
    path: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE security_state SET new_device_alerts_enabled = $1, alert_on_new_country = $2, \
         device_alert_path = $3, version = version + 1 WHERE id = 1",
    )
    .bind(i64::from(enabled))
    .bind(i64::from(on_new_country))
    .bind(path)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Makes every node re-read the security row (and the tightening of the incidents not closed,
/// which it carries): a change to an incident's tightening, or its close, goes with this.
pub async fn bump_version(conn: &mut Conn) -> sqlx::Result<()> {
    sqlx::query("UPDATE security_state SET version = version + 1 WHERE id = 1")
        .execute(conn)
        .await
        .map(|_| ())
}

/// The version of the security row: it grows with every change (other nodes and the CLI poll it).
pub async fn version(conn: &mut Conn) -> sqlx::Result<i64> {
    let (v,): (i64,) = sqlx::query_as("SELECT version FROM security_state WHERE id = 1")
        .fetch_one(conn)
        .await?;
    Ok(v)
}

/// The PostgreSQL channel other nodes listen on for changes to the security row.
pub const CHANNEL: &str = "keywarden_security";

/// Inside the transaction that changed the security row: tells every node listening once it
/// commits (PostgreSQL `NOTIFY` is delivered at commit, and not at all on rollback). SQLite has
/// one server process; the CLI's changes reach it through [`version`] polling.
pub async fn announce_change(conn: &mut Conn, backend: Backend) -> sqlx::Result<()> {
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_notify($1, 'changed')")
            .bind(CHANNEL)
            .execute(conn)
            .await?;
    }
    Ok(())
}
