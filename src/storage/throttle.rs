//! SQL for the per-account sign-in throttle (`sign_in_throttle`).

use sqlx::FromRow;

use super::users::{UserRow, COLUMNS as USER_COLUMNS};
use super::{now_ms_sql, Backend, Conn};

#[derive(Debug, Clone, FromRow)]
pub struct ThrottleRow {
    pub failures: i64,
    pub last_failure_at: i64,
    pub locked_until: i64,
    pub refused_since: Option<i64>,
    pub version: i64,
}

pub async fn find(conn: &mut Conn, key: &str) -> sqlx::Result<Option<ThrottleRow>> {
    sqlx::query_as(
        "SELECT failures, last_failure_at, locked_until, refused_since, version FROM sign_in_throttle \
         WHERE throttle_key = $1",
    )
    .bind(key)
    .fetch_optional(conn)
    .await
}

/// What an attempt writes when it claims its place.
pub struct Claim<'a> {
    pub key: &'a str,
    pub user_id: Option<i64>,
    pub email: &'a str,
    pub failures: i64,
    pub locked_until: i64,
    pub now: i64,
}

/// Counts an attempt, if the row is still as `seen` (`None`: no row yet). Returns the database
/// clock when counted, `None` when another attempt got there first (the caller reads again).
pub async fn claim(
    conn: &mut Conn,
    backend: Backend,
    seen: Option<&ThrottleRow>,
    c: Claim<'_>,
) -> sqlx::Result<Option<i64>> {
    let now = now_ms_sql(backend);
    let done: Option<(i64,)> = match seen {
        None => sqlx::query_as(&format!(
            "INSERT INTO sign_in_throttle (throttle_key, user_id, email, failures, last_failure_at, locked_until) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (throttle_key) DO NOTHING RETURNING {now}"
        ))
        .bind(c.key)
        .bind(c.user_id)
        .bind(c.email)
        .bind(c.failures)
        .bind(c.now)
        .bind(c.locked_until)
        .fetch_optional(conn)
        .await?,
        Some(row) => sqlx::query_as(&format!(
            "UPDATE sign_in_throttle SET failures = $2, last_failure_at = $3, locked_until = $4, \
             user_id = $5, version = version + 1 WHERE throttle_key = $1 AND version = $6 \
             RETURNING {now}"
        ))
        .bind(c.key)
        .bind(c.failures)
        .bind(c.now)
        .bind(c.locked_until)
        .bind(c.user_id)
        .bind(row.version)
        .fetch_optional(conn)
        .await?,
    };
    Ok(done.map(|(at,)| at))
}

/// A correct password: the count starts again, for the account's key and (when the attempt came
/// from a known device) the device's; and the user row as it is now, read in the same round trip
/// on PostgreSQL (a statement with the reset in a `WITH`), in two statements on SQLite.
pub async fn reset_and_reload(
    conn: &mut Conn,
    backend: Backend,
    key: &str,
    other_key: &str,
    user_id: i64,
) -> sqlx::Result<Option<UserRow>> {
    let reset =
        "UPDATE sign_in_throttle SET failures = 0, locked_until = 0, version = version + 1 \
                 WHERE throttle_key IN ($1, $2)";
    let user = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $3");
    match backend {
        Backend::Postgres => {
            sqlx::query_as(&format!("WITH reset AS ({reset}) {user}"))
                .bind(key)
                .bind(other_key)
                .bind(user_id)
                .fetch_optional(conn)
                .await
        }
        Backend::Sqlite => {
            sqlx::query(reset)
                .bind(key)
                .bind(other_key)
                .execute(&mut *conn)
                .await?;
            // The same numbered parameters as the PostgreSQL statement.
            sqlx::query_as(&user.replace("$3", "$1"))
                .bind(user_id)
                .fetch_optional(conn)
                .await
        }
    }
}

/// Counts an attempt refused while throttled. Returns when the key's unreported refusals began.
pub async fn count_refused(conn: &mut Conn, key: &str, now: i64) -> sqlx::Result<Option<i64>> {
    let row: Option<(Option<i64>,)> = sqlx::query_as(
        "UPDATE sign_in_throttle SET refused = refused + 1, \
         refused_since = COALESCE(refused_since, $2) WHERE throttle_key = $1 RETURNING refused_since",
    )
    .bind(key)
    .bind(now)
    .fetch_optional(conn)
    .await?;
    Ok(row.and_then(|(since,)| since))
}

/// Refusals to report in one audit entry.
#[derive(Debug, Clone, FromRow)]
pub struct Refusals {
    pub user_id: Option<i64>,
    pub email: String,
    pub refused: i64,
    pub refused_since: i64,
}

/// Takes the unreported refusals of `key` if they began at or before `cut`. The count is taken by
/// subtraction, guarded by the start time: refusals counted meanwhile stay for the next entry
/// (starting `now`), and two nodes cannot report the same ones.
pub async fn take_refused(
    conn: &mut Conn,
    key: &str,
    cut: i64,
    now: i64,
) -> sqlx::Result<Option<Refusals>> {
    let seen: Option<Refusals> = sqlx::query_as(
        "SELECT user_id, email, refused, refused_since FROM sign_in_throttle \
         WHERE throttle_key = $1 AND refused > 0 AND refused_since <= $2",
    )
    .bind(key)
    .bind(cut)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(seen) = seen else {
        return Ok(None);
    };
    let taken = sqlx::query(
        "UPDATE sign_in_throttle SET refused = refused - $2, \
         refused_since = CASE WHEN refused > $2 THEN $4 ELSE NULL END \
         WHERE throttle_key = $1 AND refused >= $2 AND refused_since = $3",
    )
    .bind(key)
    .bind(seen.refused)
    .bind(seen.refused_since)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected();
    Ok((taken == 1).then_some(seen))
}

/// Keys whose unreported refusals began at or before `cut` (the sweeper reports them).
pub async fn keys_due(conn: &mut Conn, cut: i64, limit: i64) -> sqlx::Result<Vec<String>> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT throttle_key FROM sign_in_throttle WHERE refused_since <= $1 \
         ORDER BY refused_since LIMIT $2",
    )
    .bind(cut)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(k,)| k).collect())
}

/// Forgets keys with no failure since `before` and nothing left to report.
pub async fn sweep(conn: &mut Conn, before: i64) -> sqlx::Result<u64> {
    sqlx::query("DELETE FROM sign_in_throttle WHERE last_failure_at < $1 AND refused = 0")
        .bind(before)
        .execute(conn)
        .await
        .map(|r| r.rows_affected())
}

/// What an attempt sees first, in one statement: whether the account has signed in from this
/// device before (`known_devices`; `device` empty for none), and the throttle rows of the account's
/// key and of the device's key (the same key when there is no device).
pub async fn first_look(
    conn: &mut Conn,
    user_id: i64,
    device: &str,
    account_key: &str,
    device_key: &str,
) -> sqlx::Result<(bool, Vec<(String, ThrottleRow)>)> {
    #[derive(FromRow)]
    struct Look {
        known: i64,
        throttle_key: Option<String>,
        failures: Option<i64>,
        last_failure_at: Option<i64>,
        locked_until: Option<i64>,
        refused_since: Option<i64>,
        version: Option<i64>,
    }
    let rows: Vec<Look> = sqlx::query_as(
        "SELECT k.known, t.throttle_key, t.failures, t.last_failure_at, t.locked_until, \
                t.refused_since, t.version \
         FROM (SELECT COUNT(*) AS known FROM known_devices WHERE user_id = $1 AND device_hash = $2) k \
         LEFT JOIN sign_in_throttle t ON t.throttle_key IN ($3, $4)",
    )
    .bind(user_id)
    .bind(device)
    .bind(account_key)
    .bind(device_key)
    .fetch_all(conn)
    .await?;
    let known = rows.first().is_some_and(|r| r.known > 0);
    let found = rows
        .into_iter()
        .filter_map(|r| {
            Some((
                r.throttle_key?,
                ThrottleRow {
                    failures: r.failures?,
                    last_failure_at: r.last_failure_at?,
                    locked_until: r.locked_until?,
                    refused_since: r.refused_since,
                    version: r.version?,
                },
            ))
        })
        .collect();
    Ok((known, found))
}

/// The argon2 hashes of up to `limit` accounts, newest first (the dummy hash's parameters).
pub async fn recent_password_hashes(conn: &mut Conn, limit: i64) -> sqlx::Result<Vec<String>> {
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT password_hash FROM users ORDER BY id DESC LIMIT $1")
            .bind(limit)
            .fetch_all(conn)
            .await?;
    Ok(rows.into_iter().map(|(h,)| h).collect())
}
