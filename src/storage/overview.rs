//! SQL for the admin overview. Every figure is read from an index or a small table (migration
//! 0016): none of these statements walks the users, the sessions or the audit trail, so the
//! overview costs the same at a thousand users and at a million.

use sqlx::FromRow;

use super::Conn;
use crate::domain::AuditAction;

/// The user counts behind the security posture. `compromised` and `reset_pending` are exactly
/// the rows of the user list's `status=compromised` and `status=reset_pending` filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserFigures {
    pub total: i64,
    pub admins: i64,
    pub disabled: i64,
    /// Enabled, password compromised, no reset started.
    pub compromised: i64,
    /// Enabled, password compromised, a reset code sent and not yet used.
    pub reset_pending: i64,
}

/// Past this many rows a range is counted from the other side (see [`user_figures`]).
const PROBE: i64 = 5_000;

async fn count(conn: &mut Conn, sql: &str, values: &[i64]) -> sqlx::Result<i64> {
    let mut q = sqlx::query_as::<_, (i64,)>(sql);
    for v in values {
        q = q.bind(*v);
    }
    Ok(q.fetch_one(conn).await?.0)
}

/// A password is compromised when it was set at or before the instance-wide watermark (`$1`)
/// or the user's own.
const COMPROMISED: &str =
    "(password_set_at <= $1 OR password_set_at <= COALESCE(password_compromised_at, 0))";

/// `watermark`: the instance-wide password watermark (0 when never set).
pub async fn user_figures(conn: &mut Conn, watermark: i64) -> sqlx::Result<UserFigures> {
    let total = count(conn, "SELECT n FROM user_count WHERE id = 1", &[]).await?;
    let admins = count(conn, "SELECT COUNT(*) FROM users WHERE role = 'admin'", &[]).await?;
    let disabled = count(
        conn,
        "SELECT COUNT(*) FROM users WHERE disabled_at IS NOT NULL",
        &[],
    )
    .await?;
    // Compromised by the instance-wide watermark: a range on `password_set_at`. Right after
    // "compromise all" that is nearly everyone, so a dense range is counted as the total less
    // the passwords set since (the short side).
    let probe = count(
        conn,
        &format!(
            "SELECT COUNT(*) FROM (SELECT 1 FROM users WHERE password_set_at <= $1 LIMIT {PROBE}) p"
        ),
        &[watermark],
    )
    .await?;
    let by_instance = if probe < PROBE {
        probe
    } else {
        total
            - count(
                conn,
                "SELECT COUNT(*) FROM users WHERE password_set_at > $1",
                &[watermark],
            )
            .await?
    };
    // Compromised one by one (their partial index) and not already counted above. `+` keeps
    // SQLite off the `password_set_at` range, which after "compromise all" holds every password
    // set since (tens of thousands of table lookups).
    let by_user = count(
        conn,
        "SELECT COUNT(*) FROM users WHERE password_compromised_at IS NOT NULL \
         AND password_set_at <= password_compromised_at AND +password_set_at > $1",
        &[watermark],
    )
    .await?;
    let disabled_compromised = count(
        conn,
        &format!("SELECT COUNT(*) FROM users WHERE disabled_at IS NOT NULL AND {COMPROMISED}"),
        &[watermark],
    )
    .await?;
    let reset_pending = count(
        conn,
        &format!(
            "SELECT COUNT(*) FROM users WHERE id IN (SELECT user_id FROM reset_codes) \
             AND disabled_at IS NULL AND {COMPROMISED}"
        ),
        &[watermark],
    )
    .await?;
    Ok(UserFigures {
        total,
        admins,
        disabled,
        compromised: by_instance + by_user - disabled_compromised - reset_pending,
        reset_pending,
    })
}

/// The session validity rule's cut-offs, as `sessions::count_live` takes them.
#[derive(Debug, Clone, Copy)]
pub struct LiveCut {
    pub now: i64,
    pub idle: i64,
    pub absolute: i64,
    /// The instance-wide session watermark.
    pub revoked_before: i64,
}

/// The same number as `sessions::count_live`, without its join: the live rows counted on their
/// partial index, less those of disabled users and of users whose own watermark ended them
/// (only users revoked within the absolute lifetime can still have such a row).
pub async fn live_sessions(conn: &mut Conn, c: LiveCut) -> sqlx::Result<i64> {
    let alive = "s.ended_at IS NULL AND s.user_id IS NOT NULL AND s.expires_at > $1 \
                 AND s.last_seen_at > $2 AND s.created_at > $3 \
                 AND COALESCE(s.issued_at, s.created_at) > $4";
    let values = [c.now, c.idle, c.absolute, c.revoked_before];
    let all = count(
        conn,
        &format!("SELECT COUNT(*) FROM sessions s WHERE {alive}"),
        &values,
    )
    .await?;
    // From the few users who can refuse a live session to their sessions: CROSS JOIN keeps the
    // users as SQLite's outer loop (PostgreSQL plans it as any inner join), and `+ended_at`
    // keeps the sessions read by user rather than through the live-session index.
    let refused = count(
        conn,
        "SELECT COUNT(*) FROM (SELECT id, disabled_at, sessions_revoked_before FROM users \
                               WHERE disabled_at IS NOT NULL \
                               UNION SELECT id, disabled_at, sessions_revoked_before FROM users \
                               WHERE sessions_revoked_before > $3) u \
         CROSS JOIN sessions s WHERE s.user_id = u.id AND +s.ended_at IS NULL \
         AND s.expires_at > $1 AND s.last_seen_at > $2 AND s.created_at > $3 \
         AND COALESCE(s.issued_at, s.created_at) > $4 \
         AND (u.disabled_at IS NOT NULL OR COALESCE(s.issued_at, s.created_at) <= u.sessions_revoked_before)",
        &values,
    )
    .await?;
    Ok(all - refused)
}

/// Audit entries of one action at or after `since` (the `(action, at)` index).
pub async fn entries_since(conn: &mut Conn, action: &str, since: i64) -> sqlx::Result<i64> {
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM audit_log WHERE action = $1 AND at >= $2")
            .bind(action)
            .bind(since)
            .fetch_one(conn)
            .await?;
    Ok(n)
}

/// Sign-in outcomes counted per hour: (hour start in Unix ms, action code, entries).
pub async fn sign_in_hours(
    conn: &mut Conn,
    from_hour: i64,
) -> sqlx::Result<Vec<(i64, String, i64)>> {
    sqlx::query_as("SELECT hour, action, n FROM sign_in_hours WHERE hour >= $1 ORDER BY hour")
        .bind(from_hour)
        .fetch_all(conn)
        .await
}

#[derive(Debug, Clone, FromRow)]
pub struct ActionRow {
    pub seq: i64,
    pub at: i64,
    pub actor_kind: String,
    pub actor_label: Option<String>,
    pub action: String,
    pub reason: Option<String>,
}

/// The newest `limit` entries among `actions`, newest first: each action's newest read from the
/// `(action, seq)` index, then merged. The codes are written into the statement: with them as
/// parameters, PostgreSQL's generic plan walks the whole trail backwards looking for them.
pub async fn latest_of(
    conn: &mut Conn,
    actions: &[AuditAction],
    limit: i64,
) -> sqlx::Result<Vec<ActionRow>> {
    if actions.is_empty() {
        return Ok(Vec::new());
    }
    let parts: Vec<String> = actions
        .iter()
        .enumerate()
        .map(|(i, a)| {
            format!(
                "SELECT * FROM (SELECT seq, at, actor_kind, actor_label, action, reason FROM audit_log \
                 WHERE action = '{}' ORDER BY seq DESC LIMIT {limit}) a{i}",
                a.as_str()
            )
        })
        .collect();
    let sql = format!(
        "{} ORDER BY seq DESC LIMIT {limit}",
        parts.join(" UNION ALL ")
    );
    sqlx::query_as(&sql).fetch_all(conn).await
}

/// The hash stored for entry `seq` (the primary key), if it exists.
pub async fn hash_at(conn: &mut Conn, seq: i64) -> sqlx::Result<Option<String>> {
    let row: Option<(String,)> = sqlx::query_as("SELECT hash FROM audit_log WHERE seq = $1")
        .bind(seq)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|(h,)| h))
}

/// Mails waiting to be sent and mails that finally failed (the `(status, …)` index).
pub async fn outbox_health(conn: &mut Conn) -> sqlx::Result<(i64, i64)> {
    let pending = count(
        conn,
        "SELECT COUNT(*) FROM outbox WHERE status = 'queued'",
        &[],
    )
    .await?;
    let failed = count(
        conn,
        "SELECT COUNT(*) FROM outbox WHERE status = 'failed'",
        &[],
    )
    .await?;
    Ok((pending, failed))
}

/// A stored count and when it was taken (see migration 0017).
pub async fn stored_count(conn: &mut Conn, name: &str) -> sqlx::Result<Option<(i64, i64)>> {
    sqlx::query_as("SELECT n, counted_at FROM overview_counts WHERE name = $1")
        .bind(name)
        .fetch_optional(conn)
        .await
}

/// Stores a count taken at `at` (and releases the claim on its recount).
pub async fn store_count(conn: &mut Conn, name: &str, n: i64, at: i64) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO overview_counts (name, n, counted_at) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO UPDATE SET n = EXCLUDED.n, counted_at = EXCLUDED.counted_at, \
         refresh_claimed_at = NULL",
    )
    .bind(name)
    .bind(n)
    .bind(at)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Claims the recount of a count taken at or before `stale_at`, unless a claim made after
/// `stale_at` is still running: true for exactly one caller, on every node.
pub async fn claim_recount(
    conn: &mut Conn,
    name: &str,
    now: i64,
    stale_at: i64,
) -> sqlx::Result<bool> {
    let r = sqlx::query(
        "UPDATE overview_counts SET refresh_claimed_at = $2 WHERE name = $1 AND counted_at <= $3 \
         AND (refresh_claimed_at IS NULL OR refresh_claimed_at <= $3)",
    )
    .bind(name)
    .bind(now)
    .bind(stale_at)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}
