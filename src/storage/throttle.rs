//! SQL for the per-account sign-in throttle (`sign_in_throttle`).

use sqlx::FromRow;

use super::users::{self, UserRow, COLUMNS as USER_COLUMNS};
use super::{now_ms_sql, Backend, Conn};
use crate::domain::EndReason;

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
    // The clock first (the only column read); the count's commit does not wait for the flush:
    // the audit entry of this attempt, committed normally moments later, flushes it.
    let now = match super::unflushed_commit(backend) {
        Some(unflushed) => format!("{}, {unflushed}", now_ms_sql(backend)),
        None => now_ms_sql(backend).to_owned(),
    };
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

/// What a correct password writes first, in the transaction that records the sign-in.
pub struct Settle<'a> {
    /// The attempt's throttle key and the account's (the same when the device is unknown): both
    /// counts start again.
    pub keys: (&'a str, &'a str),
    pub user_id: i64,
    /// The id hash of the session the browser had: the new one replaces it (ended as signed out
    /// at `now`).
    pub replaces: Option<&'a str>,
    pub now: i64,
}

/// The sign-in's first writes done.
#[derive(Debug)]
pub struct Settled {
    /// The user row as it is now, in the transaction.
    pub user: Option<UserRow>,
    /// Whether the replaced session was live and is now ended.
    pub replaced: bool,
    /// PostgreSQL: the audit head, advanced for the sign-in's entry (its seq, the previous hash).
    pub head: Option<(i64, String)>,
}

/// A correct password: the throttle counts start again, the session it replaces ends, and the
/// user row is read again. On PostgreSQL this is one statement that also advances the audit head
/// for the entry that records the sign-in (a round trip each, on the hottest path); its locks are
/// taken in the order of every other writer (throttle and session rows, then the head: the head's
/// condition reads the other two first). On SQLite, where a statement costs no round trip, these
/// are separate statements and the head advances when the entry is recorded.
pub async fn settle_sign_in(
    conn: &mut Conn,
    backend: Backend,
    s: Settle<'_>,
) -> sqlx::Result<Settled> {
    use sqlx::Row;
    let reset =
        "UPDATE sign_in_throttle SET failures = 0, locked_until = 0, version = version + 1 \
                 WHERE throttle_key IN ($1, $2)";
    let end = "UPDATE sessions SET ended_at = $4, end_reason = $5 \
               WHERE id_hash = $6 AND ended_at IS NULL";
    let reason = EndReason::SignedOut.as_str();
    if backend == Backend::Sqlite {
        sqlx::query(reset)
            .bind(s.keys.0)
            .bind(s.keys.1)
            .execute(&mut *conn)
            .await?;
        let mut replaced = false;
        if let Some(id_hash) = s.replaces {
            // The same numbered parameters as the PostgreSQL statement.
            let end = end
                .replace("$4", "$1")
                .replace("$5", "$2")
                .replace("$6", "$3");
            replaced = sqlx::query(&end)
                .bind(s.now)
                .bind(reason)
                .bind(id_hash)
                .execute(&mut *conn)
                .await?
                .rows_affected()
                > 0;
        }
        let user = sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(s.user_id)
            .fetch_optional(conn)
            .await?;
        return Ok(Settled {
            user,
            replaced,
            head: None,
        });
    }
    let sql = format!(
        "WITH reset AS ({reset} RETURNING 1), ended AS ({end} RETURNING 1), \
              head AS (UPDATE audit_head SET seq = seq + 1 WHERE id = 1 \
                       AND (SELECT COUNT(*) FROM reset) + (SELECT COUNT(*) FROM ended) >= 0 \
                       RETURNING seq, hash) \
         SELECT {users}, head.seq AS head_seq, head.hash AS head_hash, \
                (SELECT COUNT(*) FROM ended) AS replaced \
         FROM head LEFT JOIN users u ON u.id = $3",
        users = users::COLUMNS_OF_U.as_str()
    );
    let row = sqlx::query(&sql)
        .bind(s.keys.0)
        .bind(s.keys.1)
        .bind(s.user_id)
        .bind(s.now)
        .bind(reason)
        .bind(s.replaces)
        .fetch_one(conn)
        .await?;
    let user = match row.try_get::<Option<i64>, _>("id")? {
        Some(_) => Some(UserRow::from_row(&row)?),
        None => None,
    };
    Ok(Settled {
        user,
        replaced: row.try_get::<i64, _>("replaced")? > 0,
        head: Some((row.try_get("head_seq")?, row.try_get("head_hash")?)),
    })
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

/// What an attempt sees first.
#[derive(Debug)]
pub struct FirstLook {
    /// The account of the e-mail, if there is one.
    pub user: Option<UserRow>,
    /// Whether that account has signed in from this device before (`known_devices`).
    pub known_device: bool,
    /// The throttle rows found of the account's key and of the device's key.
    pub seen: Vec<(String, ThrottleRow)>,
}

/// What an attempt sees first, in one statement: the account of the e-mail (`None` for an
/// address that does not parse), whether it has signed in from this device before (`device`
/// empty for none), and the throttle rows of the account's key and of the device's key (the same
/// key when there is no device). Asked alike for unknown e-mails, so both take the same steps.
pub async fn first_look(
    conn: &mut Conn,
    email_normalized: Option<&str>,
    device: &str,
    account_key: &str,
    device_key: &str,
) -> sqlx::Result<FirstLook> {
    use sqlx::Row;
    let sql = format!(
        "SELECT {users}, \
                (SELECT COUNT(*) FROM known_devices d \
                 WHERE d.user_id = u.id AND d.device_hash = $2) AS known, \
                t.throttle_key, t.failures, t.last_failure_at, t.locked_until, t.refused_since, \
                t.version \
         FROM (SELECT 1 AS one) o \
         LEFT JOIN users u ON u.email_normalized = $1 \
         LEFT JOIN sign_in_throttle t ON t.throttle_key IN ($3, $4)",
        users = users::COLUMNS_OF_U.as_str()
    );
    let rows = sqlx::query(&sql)
        .bind(email_normalized)
        .bind(device)
        .bind(account_key)
        .bind(device_key)
        .fetch_all(conn)
        .await?;
    let mut look = FirstLook {
        user: None,
        known_device: false,
        seen: Vec::new(),
    };
    for row in &rows {
        if look.user.is_none() && row.try_get::<Option<i64>, _>("id")?.is_some() {
            look.user = Some(UserRow::from_row(row)?);
            look.known_device = row.try_get::<Option<i64>, _>("known")?.unwrap_or(0) > 0;
        }
        let Some(key) = row.try_get::<Option<String>, _>("throttle_key")? else {
            continue;
        };
        let seen = ThrottleRow {
            failures: row.try_get("failures")?,
            last_failure_at: row.try_get("last_failure_at")?,
            locked_until: row.try_get("locked_until")?,
            refused_since: row.try_get("refused_since")?,
            version: row.try_get("version")?,
        };
        look.seen.push((key, seen));
    }
    Ok(look)
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
