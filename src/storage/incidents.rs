//! SQL for incidents, the audit entries attached to them, and their cohorts (frozen member lists
//! and the batches that act on them). A batch is the next not-yet-done members, read and marked
//! done in the same transaction as the work, so a re-run batch finds nothing left to do.

use sqlx::FromRow;

use super::audit::{AuditRow, COLUMNS as AUDIT_COLUMNS};
use super::{Backend, Conn};

#[derive(Debug, Clone, FromRow)]
pub struct IncidentRow {
    pub id: i64,
    pub reference: String,
    pub title: String,
    pub severity: String,
    pub description: String,
    pub notice: String,
    pub state: String,
    pub opened_by: String,
    pub opened_at: i64,
    pub detected_at: i64,
    pub contained_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub tight_idle_secs: Option<i64>,
    pub tight_lifetime_secs: Option<i64>,
    pub tight_alerts: i64,
    pub tight_sign_up_paused: i64,
    pub tight_forgot: i64,
}

const COLUMNS: &str = "id, reference, title, severity, description, notice, state, opened_by, \
    opened_at, detected_at, contained_at, closed_at, tight_idle_secs, tight_lifetime_secs, \
    tight_alerts, tight_sign_up_paused, tight_forgot";

pub struct NewIncident<'a> {
    pub title: &'a str,
    pub severity: &'a str,
    pub description: &'a str,
    pub notice: &'a str,
    pub opened_by: &'a str,
    pub opened_at: i64,
    pub detected_at: i64,
}

/// Inserts an incident under a temporary reference and returns its id (the caller sets the
/// real reference, which contains the id).
pub async fn insert(
    conn: &mut Conn,
    new: &NewIncident<'_>,
    placeholder: &str,
) -> sqlx::Result<i64> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO incidents (reference, title, severity, description, notice, state, opened_by, opened_at, detected_at) \
         VALUES ($1, $2, $3, $4, $5, 'open', $6, $7, $8) RETURNING id",
    )
    .bind(placeholder)
    .bind(new.title)
    .bind(new.severity)
    .bind(new.description)
    .bind(new.notice)
    .bind(new.opened_by)
    .bind(new.opened_at)
    .bind(new.detected_at)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

pub async fn set_reference(conn: &mut Conn, id: i64, reference: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE incidents SET reference = $2 WHERE id = $1")
        .bind(id)
        .bind(reference)
        .execute(conn)
        .await
        .map(|_| ())
}

pub async fn find(conn: &mut Conn, id: i64) -> sqlx::Result<Option<IncidentRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM incidents WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Newest first.
pub async fn list(conn: &mut Conn, limit: i64) -> sqlx::Result<Vec<IncidentRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM incidents ORDER BY id DESC LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Moves an incident to `state`, only from `from` (so two closes do not both act). Returns
/// whether it moved.
pub async fn set_state(
    conn: &mut Conn,
    id: i64,
    from: &[&str],
    state: &str,
    at: i64,
) -> sqlx::Result<bool> {
    let column = match state {
        "closed" => "closed_at",
        "contained" => "contained_at",
        _ => "opened_at",
    };
    let mut placeholders = Vec::new();
    for i in 0..from.len() {
        placeholders.push(format!("${}", i + 4));
    }
    let sql = format!(
        "UPDATE incidents SET state = $2, {column} = COALESCE({column}, $3) \
         WHERE id = $1 AND state IN ({})",
        placeholders.join(", ")
    );
    let mut q = sqlx::query(&sql).bind(id).bind(state).bind(at);
    for f in from {
        q = q.bind(*f);
    }
    Ok(q.execute(conn).await?.rows_affected() == 1)
}

/// Replaces the incident's temporary tightening (all `None`/0 lifts it). Only while it is not
/// closed; returns whether it was set.
pub async fn set_tightening(
    conn: &mut Conn,
    id: i64,
    idle_secs: Option<i64>,
    lifetime_secs: Option<i64>,
    alerts: bool,
    sign_up_paused: bool,
    forgot: bool,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE incidents SET tight_idle_secs = $2, tight_lifetime_secs = $3, tight_alerts = $4, \
         tight_sign_up_paused = $5, tight_forgot = $6 WHERE id = $1 AND state <> 'closed'",
    )
    .bind(id)
    .bind(idle_secs)
    .bind(lifetime_secs)
    .bind(i64::from(alerts))
    .bind(i64::from(sign_up_paused))
    .bind(i64::from(forgot))
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// References of the incidents not closed that tighten anything.
pub async fn tightening_references(conn: &mut Conn) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT reference FROM incidents WHERE state <> 'closed' AND (tight_idle_secs IS NOT NULL \
         OR tight_lifetime_secs IS NOT NULL OR tight_alerts <> 0 OR tight_sign_up_paused <> 0 \
         OR tight_forgot <> 0) ORDER BY id",
    )
    .fetch_all(conn)
    .await
}

pub async fn set_detected_at(conn: &mut Conn, id: i64, at: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE incidents SET detected_at = $2 WHERE id = $1")
        .bind(id)
        .bind(at)
        .execute(conn)
        .await
        .map(|_| ())
}

pub async fn attach_audit(conn: &mut Conn, incident_id: i64, seq: i64) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO incident_audit (incident_id, seq) VALUES ($1, $2)")
        .bind(incident_id)
        .bind(seq)
        .execute(conn)
        .await
        .map(|_| ())
}

/// The audit entries attached to an incident, in chain order.
pub async fn timeline(
    conn: &mut Conn,
    incident_id: i64,
    limit: i64,
) -> sqlx::Result<Vec<AuditRow>> {
    let columns: Vec<String> = AUDIT_COLUMNS
        .split(", ")
        .map(|c| format!("a.{c}"))
        .collect();
    sqlx::query_as(&format!(
        "SELECT {} FROM incident_audit i JOIN audit_log a ON a.seq = i.seq \
         WHERE i.incident_id = $1 ORDER BY a.seq LIMIT $2",
        columns.join(", ")
    ))
    .bind(incident_id)
    .bind(limit)
    .fetch_all(conn)
    .await
}

#[derive(Debug, Clone, FromRow)]
pub struct CohortRow {
    pub id: i64,
    pub incident_id: i64,
    pub criteria: String,
    pub compromise: i64,
    pub sign_out: i64,
    pub notify: i64,
    pub reason: String,
    pub size: i64,
    pub ids_sha256: String,
    pub created_by: String,
    pub created_at: i64,
    pub state: String,
    pub contained: i64,
    pub notified: i64,
    pub contained_at: Option<i64>,
    pub finished_at: Option<i64>,
    /// The last member id contained (0: none yet); members are contained in id order.
    pub contained_through: i64,
    /// The last member id whose session rows the job has stamped as ended (0: none yet).
    pub sessions_settled_through: i64,
}

const COHORT_COLUMNS: &str = "id, incident_id, criteria, compromise, sign_out, notify, reason, \
    size, ids_sha256, created_by, created_at, state, contained, notified, contained_at, finished_at, \
    contained_through, sessions_settled_through";

pub struct NewCohort<'a> {
    pub incident_id: i64,
    pub criteria: &'a str,
    pub compromise: bool,
    pub sign_out: bool,
    pub notify: bool,
    pub reason: &'a str,
    pub size: i64,
    pub ids_sha256: &'a str,
    pub created_by: &'a str,
    pub created_at: i64,
}

pub async fn insert_cohort(conn: &mut Conn, c: &NewCohort<'_>) -> sqlx::Result<i64> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO incident_cohorts (incident_id, criteria, compromise, sign_out, notify, reason, size, ids_sha256, created_by, created_at, state) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'running') RETURNING id",
    )
    .bind(c.incident_id)
    .bind(c.criteria)
    .bind(i64::from(c.compromise))
    .bind(i64::from(c.sign_out))
    .bind(i64::from(c.notify))
    .bind(c.reason)
    .bind(c.size)
    .bind(c.ids_sha256)
    .bind(c.created_by)
    .bind(c.created_at)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

/// Stores the members, 500 to a statement.
pub async fn insert_members(conn: &mut Conn, cohort_id: i64, user_ids: &[i64]) -> sqlx::Result<()> {
    for chunk in user_ids.chunks(500) {
        let values: Vec<String> = chunk
            .iter()
            .map(|id| format!("({cohort_id}, {id})"))
            .collect();
        sqlx::query(&format!(
            "INSERT INTO incident_members (cohort_id, user_id) VALUES {}",
            values.join(", ")
        ))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

pub async fn find_cohort(conn: &mut Conn, id: i64) -> sqlx::Result<Option<CohortRow>> {
    sqlx::query_as(&format!(
        "SELECT {COHORT_COLUMNS} FROM incident_cohorts WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
}

pub async fn cohorts_of(conn: &mut Conn, incident_id: i64) -> sqlx::Result<Vec<CohortRow>> {
    sqlx::query_as(&format!(
        "SELECT {COHORT_COLUMNS} FROM incident_cohorts WHERE incident_id = $1 ORDER BY id"
    ))
    .bind(incident_id)
    .fetch_all(conn)
    .await
}

/// Running cohorts whose lease is free (or already this node's), oldest first.
pub async fn runnable(conn: &mut Conn, owner: &str, now: i64) -> sqlx::Result<Vec<i64>> {
    let rows: Vec<(i64,)> = sqlx::query_as(
        "SELECT id FROM incident_cohorts WHERE state = 'running' \
         AND (lease_until < $1 OR lease_owner = $2) ORDER BY id LIMIT 20",
    )
    .bind(now)
    .bind(owner)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Takes (or extends) the lease on a running cohort. Returns whether this node holds it.
pub async fn lease(
    conn: &mut Conn,
    id: i64,
    owner: &str,
    now: i64,
    until: i64,
) -> sqlx::Result<bool> {
    Ok(sqlx::query(
        "UPDATE incident_cohorts SET lease_owner = $2, lease_until = $4 \
         WHERE id = $1 AND state = 'running' AND (lease_until < $3 OR lease_owner = $2)",
    )
    .bind(id)
    .bind(owner)
    .bind(now)
    .bind(until)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// Which members a batch works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Containment, after the last member id contained.
    Contain(i64),
    Notify,
}

/// The next members not done in `phase`, in id order (notices only to contained members).
/// Containment goes from its cursor, the last member id it did (`after`), along the cohort's key;
/// the notices from the index of the members not yet notified.
pub async fn next_batch(
    conn: &mut Conn,
    cohort_id: i64,
    phase: Phase,
    limit: i64,
) -> sqlx::Result<Vec<i64>> {
    let sql = |filter: &str| {
        format!(
            "SELECT user_id FROM incident_members WHERE cohort_id = $1 AND {filter} \
             ORDER BY user_id LIMIT $2"
        )
    };
    let rows: Vec<(i64,)> = match phase {
        Phase::Contain(after) => {
            sqlx::query_as(&sql("user_id > $3 AND contained_at IS NULL"))
                .bind(cohort_id)
                .bind(limit)
                .bind(after)
                .fetch_all(conn)
                .await?
        }
        // No range here: it would make the planner walk the key instead of the partial index.
        Phase::Notify => {
            sqlx::query_as(&sql("notified_at IS NULL AND contained_at IS NOT NULL"))
                .bind(cohort_id)
                .bind(limit)
                .fetch_all(conn)
                .await?
        }
    };
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Lets this transaction's commit return before its write-ahead log reaches the disk (PostgreSQL;
/// SQLite's commits are already not synced in WAL mode with `synchronous = NORMAL`). For a job
/// batch: a crash of the database server may lose the last batches, whole, with their marks, and
/// the job then does them again. The step that records the cohort contained commits normally,
/// and its flush carries every batch before it.
pub async fn commit_without_waiting(conn: &mut Conn, backend: Backend) -> sqlx::Result<()> {
    if backend == Backend::Postgres {
        sqlx::query("SET LOCAL synchronous_commit = off")
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// Tables a cohort job fills in bulk.
#[derive(Debug, Clone, Copy)]
pub enum BulkTable {
    /// Right after a cohort is frozen.
    Members,
    /// Once its notices are being queued.
    Outbox,
    /// Once every notice is queued: the statistics, and the pages of the new rows marked visible
    /// to all, as autovacuum would do a little later. The incident page's count of notices by
    /// state then reads the outbox index alone instead of visiting 100 000 rows (100 ms).
    OutboxQueued,
}

/// PostgreSQL plans by table statistics, which autovacuum refreshes only some time after a bulk
/// change: 100 000 members just frozen, or notices just queued, would be planned as the
/// near-empty table it was (the mail worker's claim then sorted the whole backlog each time).
/// SQLite plans without them.
pub async fn refresh_statistics(
    conn: &mut Conn,
    backend: Backend,
    table: BulkTable,
) -> sqlx::Result<()> {
    if backend == Backend::Postgres {
        let sql = match table {
            BulkTable::Members => "ANALYZE incident_members",
            BulkTable::Outbox => "ANALYZE outbox",
            BulkTable::OutboxQueued => "VACUUM (ANALYZE) outbox",
        };
        sqlx::query(sql).execute(conn).await?;
    }
    Ok(())
}

/// `id IN (…)` over a batch's member ids (integers from the database: no text is interpolated).
/// A literal list gives both databases a plan by index whatever the table sizes, where a
/// sub-select let PostgreSQL scan every session once per batch.
fn id_list(ids: &[i64]) -> String {
    let list: Vec<String> = ids.iter().map(i64::to_string).collect();
    format!("({})", list.join(", "))
}

/// What a containment batch does to its members' rows.
pub struct Containment<'a> {
    /// Set the current password as compromised at this time (or at the password's own time when
    /// later), only forward, as the per-user action does: (at, by, reason).
    pub compromise: Option<(i64, &'a str, &'a str)>,
    /// Raise the user's session watermark, only forward, to this value or past the user's own
    /// floors (see [`contain_users`]): (watermark, reason code).
    pub revoke: Option<(i64, &'a str)>,
}

/// Applies a batch's containment to its members' user rows in one statement (each row written
/// once, whatever the actions).
///
/// The session watermark covers every session the user has without reading them: a session's
/// issue time is the database clock when it was issued, raised past the watermarks that applied
/// then (`fresh_time`), and those only move forward. So the given value (the database clock now,
/// past the instance's watermarks) raised past the row's own watermark and compromise time is at
/// or after every issue time so far.
pub async fn contain_users(conn: &mut Conn, ids: &[i64], c: &Containment<'_>) -> sqlx::Result<u64> {
    if ids.is_empty() || (c.compromise.is_none() && c.revoke.is_none()) {
        return Ok(0);
    }
    let mut sets = Vec::new();
    if c.compromise.is_some() {
        let w = "(CASE WHEN password_set_at > $1 THEN password_set_at ELSE $1 END)";
        let newer = format!("COALESCE(password_compromised_at, 0) < {w}");
        sets.push(format!(
            "password_compromised_by = CASE WHEN {newer} THEN $2 ELSE password_compromised_by END"
        ));
        sets.push(format!(
            "password_compromised_reason = CASE WHEN {newer} THEN $3 ELSE password_compromised_reason END"
        ));
        sets.push(format!(
            "password_compromised_at = CASE WHEN {newer} THEN {w} ELSE password_compromised_at END"
        ));
    }
    if c.revoke.is_some() {
        // The row's floor: one past its own watermark and compromise time (old values).
        let own = "(CASE WHEN COALESCE(password_compromised_at, 0) > COALESCE(sessions_revoked_before, 0) \
                    THEN COALESCE(password_compromised_at, 0) ELSE COALESCE(sessions_revoked_before, 0) END + 1)";
        let w = format!("(CASE WHEN {own} > $4 THEN {own} ELSE $4 END)");
        sets.push(format!(
            "sessions_revoked_reason = CASE WHEN COALESCE(sessions_revoked_before, 0) < {w} THEN $5 ELSE sessions_revoked_reason END"
        ));
        sets.push(format!(
            "sessions_revoked_before = CASE WHEN COALESCE(sessions_revoked_before, 0) < {w} THEN {w} ELSE sessions_revoked_before END"
        ));
    }
    let (at, by, reason) = c.compromise.unwrap_or((0, "", ""));
    let (watermark, code) = c.revoke.unwrap_or((0, ""));
    // Every placeholder is bound whether the actions use it or not; a no-op condition names
    // them all, so the statement always has the five parameters it is given.
    sqlx::query(&format!(
        "UPDATE users SET {} WHERE id IN {} AND ($1 IS NOT NULL AND $2 IS NOT NULL AND $3 IS NOT NULL \
         AND $4 IS NOT NULL AND $5 IS NOT NULL)",
        sets.join(", "),
        id_list(ids)
    ))
    .bind(at)
    .bind(by)
    .bind(reason)
    .bind(watermark)
    .bind(code)
    .execute(conn)
    .await
    .map(|r| r.rows_affected())
}

/// The next members after `after` (a member id), in id order, from the cohort's key.
pub async fn members_after(
    conn: &mut Conn,
    cohort_id: i64,
    after: i64,
    limit: i64,
) -> sqlx::Result<Vec<i64>> {
    let rows: Vec<(i64,)> = sqlx::query_as(
        "SELECT user_id FROM incident_members WHERE cohort_id = $1 AND user_id > $2 \
         ORDER BY user_id LIMIT $3",
    )
    .bind(cohort_id)
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Stamps as ended the session rows of these cohort members that their session watermark already
/// made invalid (issued at or before it), at the member's containment time; a session issued
/// after it (a sign-in with the new password) is left alone. Returns how many it stamped.
pub async fn settle_sessions(
    conn: &mut Conn,
    cohort_id: i64,
    ids: &[i64],
    reason_code: &str,
    now: i64,
) -> sqlx::Result<u64> {
    if ids.is_empty() {
        return Ok(0);
    }
    sqlx::query(&format!(
        "UPDATE sessions SET end_reason = $2, ended_at = COALESCE((SELECT m.contained_at \
           FROM incident_members m WHERE m.cohort_id = $1 AND m.user_id = sessions.user_id), $3) \
         WHERE ended_at IS NULL AND user_id IN {} \
           AND COALESCE(issued_at, created_at) <= (SELECT u.sessions_revoked_before FROM users u \
                                                  WHERE u.id = sessions.user_id)",
        id_list(ids)
    ))
    .bind(cohort_id)
    .bind(reason_code)
    .bind(now)
    .execute(conn)
    .await
    .map(|r| r.rows_affected())
}

/// Records how far the session stamping has gone.
pub async fn set_sessions_settled_through(
    conn: &mut Conn,
    cohort_id: i64,
    through: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE incident_cohorts SET sessions_settled_through = $2 \
         WHERE id = $1 AND sessions_settled_through < $2",
    )
    .bind(cohort_id)
    .bind(through)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Marks the batch's members contained; returns how many were not already.
pub async fn mark_contained(
    conn: &mut Conn,
    cohort_id: i64,
    ids: &[i64],
    at: i64,
) -> sqlx::Result<i64> {
    if ids.is_empty() {
        return Ok(0);
    }
    let n = sqlx::query(&format!(
        "UPDATE incident_members SET contained_at = $2 \
         WHERE cohort_id = $1 AND contained_at IS NULL AND user_id IN {}",
        id_list(ids)
    ))
    .bind(cohort_id)
    .bind(at)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let n = i64::try_from(n).unwrap_or(i64::MAX);
    // The earliest containment time of the cohort: where its completed resets can start.
    sqlx::query(
        "UPDATE incident_cohorts SET contained = contained + $2, \
         contained_through = CASE WHEN contained_through < $4 THEN $4 ELSE contained_through END, \
         first_contained_at = CASE WHEN first_contained_at IS NULL OR first_contained_at > $3 \
                              THEN $3 ELSE first_contained_at END WHERE id = $1",
    )
    .bind(cohort_id)
    .bind(n)
    .bind(at)
    .bind(ids.iter().copied().max().unwrap_or(0))
    .execute(conn)
    .await?;
    Ok(n)
}

/// Marks the batch's members notified, each with the mail queued for them (if any), in one
/// statement; members already marked are left as they are. Returns how many it marked.
pub async fn mark_notified(
    conn: &mut Conn,
    cohort_id: i64,
    members: &[(i64, Option<i64>)],
    at: i64,
) -> sqlx::Result<u64> {
    if members.is_empty() {
        return Ok(0);
    }
    // Integers from the database only: nothing typed is interpolated.
    let cases: String = members
        .iter()
        .filter_map(|(user, mail)| mail.map(|m| format!(" WHEN {user} THEN {m}")))
        .collect();
    let outbox = if cases.is_empty() {
        "NULL".to_owned()
    } else {
        format!("CASE user_id{cases} END")
    };
    let ids: Vec<i64> = members.iter().map(|(id, _)| *id).collect();
    Ok(sqlx::query(&format!(
        "UPDATE incident_members SET notified_at = $2, outbox_id = {outbox} \
         WHERE cohort_id = $1 AND notified_at IS NULL AND user_id IN {}",
        id_list(&ids)
    ))
    .bind(cohort_id)
    .bind(at)
    .execute(conn)
    .await?
    .rows_affected())
}

pub async fn add_notified(conn: &mut Conn, cohort_id: i64, n: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE incident_cohorts SET notified = notified + $2 WHERE id = $1")
        .bind(cohort_id)
        .bind(n)
        .execute(conn)
        .await
        .map(|_| ())
}

pub async fn set_cohort_contained(conn: &mut Conn, cohort_id: i64, at: i64) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE incident_cohorts SET contained_at = COALESCE(contained_at, $2) WHERE id = $1",
    )
    .bind(cohort_id)
    .bind(at)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Ends a running cohort as `done` or `cancelled`. Returns whether it was running.
pub async fn finish_cohort(
    conn: &mut Conn,
    cohort_id: i64,
    state: &str,
    at: i64,
) -> sqlx::Result<bool> {
    Ok(sqlx::query(
        "UPDATE incident_cohorts SET state = $2, finished_at = $3, lease_owner = NULL, lease_until = 0 \
         WHERE id = $1 AND state = 'running'",
    )
    .bind(cohort_id)
    .bind(state)
    .bind(at)
    .execute(conn)
    .await?
    .rows_affected()
        == 1)
}

/// Every member id of a cohort, in order (exports, checks).
pub async fn member_ids(conn: &mut Conn, cohort_id: i64) -> sqlx::Result<Vec<i64>> {
    let rows: Vec<(i64,)> = sqlx::query_as(
        "SELECT user_id FROM incident_members WHERE cohort_id = $1 ORDER BY user_id",
    )
    .bind(cohort_id)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Users matching the SQL-expressible criteria, with their role: `(id, role)` in id order.
pub struct UserMatch<'a> {
    pub role: Option<&'a str>,
    pub created_before: Option<i64>,
    pub created_after: Option<i64>,
    pub signed_in: Option<(i64, i64)>,
    pub new_device: Option<(i64, i64)>,
    pub password_set: Option<(i64, i64)>,
}

impl UserMatch<'_> {
    /// Whether any criterion is given (none: every user would match).
    pub fn any(&self) -> bool {
        self.role.is_some()
            || self.created_before.is_some()
            || self.created_after.is_some()
            || self.signed_in.is_some()
            || self.new_device.is_some()
            || self.password_set.is_some()
    }
}

pub async fn matching_users(
    conn: &mut Conn,
    m: &UserMatch<'_>,
) -> sqlx::Result<Vec<(i64, String)>> {
    let mut clauses: Vec<String> = Vec::new();
    let mut binds: Vec<BindValue> = Vec::new();
    let next = |v: BindValue, binds: &mut Vec<BindValue>| {
        binds.push(v);
        format!("${}", binds.len())
    };
    if let Some(role) = m.role {
        let p = next(BindValue::Text(role.to_owned()), &mut binds);
        clauses.push(format!("role = {p}"));
    }
    if let Some(t) = m.created_before {
        let p = next(BindValue::Int(t), &mut binds);
        clauses.push(format!("created_at < {p}"));
    }
    if let Some(t) = m.created_after {
        let p = next(BindValue::Int(t), &mut binds);
        clauses.push(format!("created_at >= {p}"));
    }
    if let Some((from, to)) = m.password_set {
        let a = next(BindValue::Int(from), &mut binds);
        let b = next(BindValue::Int(to), &mut binds);
        clauses.push(format!("password_set_at >= {a} AND password_set_at < {b}"));
    }
    if let Some((from, to)) = m.signed_in {
        let a = next(BindValue::Int(from), &mut binds);
        let b = next(BindValue::Int(to), &mut binds);
        clauses.push(format!(
            "id IN (SELECT user_id FROM sessions WHERE created_at >= {a} AND created_at < {b} AND user_id IS NOT NULL)"
        ));
    }
    if let Some((from, to)) = m.new_device {
        let a = next(BindValue::Int(from), &mut binds);
        let b = next(BindValue::Int(to), &mut binds);
        clauses.push(format!(
            "id IN (SELECT user_id FROM known_devices WHERE first_seen_at >= {a} AND first_seen_at < {b})"
        ));
    }
    let filter = if clauses.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", clauses.join(" AND "))
    };
    let sql = format!("SELECT id, role FROM users{filter} ORDER BY id");
    let mut q = sqlx::query_as(&sql);
    for b in binds {
        q = match b {
            BindValue::Int(v) => q.bind(v),
            BindValue::Text(v) => q.bind(v),
        };
    }
    q.fetch_all(conn).await
}

enum BindValue {
    Int(i64),
    Text(String),
}

/// `(user_id, ip)` of the sessions started within `[from, to)` (all sessions without a window)
/// that recorded an address.
pub async fn session_addresses(
    conn: &mut Conn,
    window: Option<(i64, i64)>,
) -> sqlx::Result<Vec<(i64, String)>> {
    let (from, to) = window.unwrap_or((i64::MIN, i64::MAX));
    sqlx::query_as(
        "SELECT user_id, ip FROM sessions WHERE created_at >= $1 AND created_at < $2 \
         AND user_id IS NOT NULL AND ip IS NOT NULL",
    )
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await
}

/// `column` is one of the elements of the JSON array of strings bound at `param`: one statement
/// takes a whole list, however long, with one bound value (no SQL built from the values).
/// PostgreSQL gets the elements as one array, which its index scan sorts and walks in order (half
/// the time of a join that probes the index once per element, in the list's order).
fn in_json_texts(backend: Backend, column: &str, param: &str) -> String {
    match backend {
        Backend::Postgres => format!(
            "{column} = ANY(ARRAY(SELECT jsonb_array_elements_text(CAST({param} AS jsonb))))"
        ),
        Backend::Sqlite => format!("{column} IN (SELECT value FROM json_each({param}))"),
    }
}

/// The same for a JSON array of integers.
fn in_json_ids(backend: Backend, column: &str, param: &str) -> String {
    match backend {
        Backend::Postgres => format!(
            "{column} = ANY(ARRAY(SELECT CAST(jsonb_array_elements_text(CAST({param} AS jsonb)) AS BIGINT)))"
        ),
        Backend::Sqlite => format!("{column} IN (SELECT value FROM json_each({param}))"),
    }
}

/// Lists go to the database in slices this long (bounded statements, and progress between them).
const LIST_SLICE: usize = 25_000;

/// `(id, email_normalized, role)` of the users with these normalised addresses.
pub async fn ids_by_email(
    conn: &mut Conn,
    backend: Backend,
    normalized: &[String],
) -> sqlx::Result<Vec<(i64, String, String)>> {
    let sql = format!(
        "SELECT id, email_normalized, role FROM users WHERE {}",
        in_json_texts(backend, "email_normalized", "$1")
    );
    let mut out = Vec::with_capacity(normalized.len());
    for chunk in normalized.chunks(LIST_SLICE) {
        let list = serde_json::to_string(chunk).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        out.extend(
            sqlx::query_as(&sql)
                .bind(list)
                .fetch_all(&mut *conn)
                .await?,
        );
    }
    Ok(out)
}

/// `(id, role)` of these users, 1 000 to a statement.
pub async fn roles_of(conn: &mut Conn, user_ids: &[i64]) -> sqlx::Result<Vec<(i64, String)>> {
    let mut out = Vec::with_capacity(user_ids.len());
    for chunk in user_ids.chunks(1000) {
        out.extend(
            sqlx::query_as::<_, (i64, String)>(&format!(
                "SELECT id, role FROM users WHERE id IN {}",
                id_list(chunk)
            ))
            .fetch_all(&mut *conn)
            .await?,
        );
    }
    Ok(out)
}

/// How many of these users have a live session at `now`. The live test is written so that no
/// index on `ended_at` can serve it: the planner then takes the user index, a few rows per id,
/// instead of every live session of the instance.
pub async fn with_live_sessions(
    conn: &mut Conn,
    backend: Backend,
    user_ids: &[i64],
    now: i64,
) -> sqlx::Result<i64> {
    let sql = format!(
        "SELECT COUNT(DISTINCT user_id) FROM sessions WHERE {} \
         AND COALESCE(ended_at, 0) = 0 AND expires_at > $2",
        in_json_ids(backend, "user_id", "$1")
    );
    let mut total = 0;
    for chunk in user_ids.chunks(LIST_SLICE) {
        let list = serde_json::to_string(chunk).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        let (n,): (i64,) = sqlx::query_as(&sql)
            .bind(list)
            .bind(now)
            .fetch_one(&mut *conn)
            .await?;
        total += n;
    }
    Ok(total)
}

/// `(id, email)` of these users, in id order.
pub async fn emails_of(conn: &mut Conn, user_ids: &[i64]) -> sqlx::Result<Vec<(i64, String)>> {
    if user_ids.is_empty() {
        return Ok(Vec::new());
    }
    let list: Vec<String> = user_ids.iter().map(i64::to_string).collect();
    sqlx::query_as(&format!(
        "SELECT id, email FROM users WHERE id IN ({}) ORDER BY id",
        list.join(", ")
    ))
    .fetch_all(conn)
    .await
}

/// The recorded facts behind an incident's remediation figures.
pub struct Remediation {
    pub members: i64,
    pub compromised_members: i64,
    /// When each member compromised by a cohort chose a new password after it.
    pub reset_times: Vec<i64>,
    pub notices_sent: i64,
    pub notices_failed: i64,
    pub notices_pending: i64,
    pub not_me_reports: i64,
    pub refused_sign_ins: i64,
}

pub async fn remediation(
    conn: &mut Conn,
    incident_id: i64,
    since: i64,
) -> sqlx::Result<Remediation> {
    let count = |sql: &'static str| sqlx::query_as::<_, (i64,)>(sql);
    let (cohorts,) = count("SELECT COUNT(*) FROM incident_cohorts WHERE incident_id = $1")
        .bind(incident_id)
        .fetch_one(&mut *conn)
        .await?;
    // One pass over the members for the three counts. A member is in a cohort once (its key):
    // with one cohort, plain counts (no sort of the members); with several, a member of two
    // counts once.
    let sql = if cohorts <= 1 {
        "SELECT COUNT(*), \
                COUNT(CASE WHEN c.compromise = 1 AND m.contained_at IS NOT NULL THEN 1 END), \
                COUNT(m.outbox_id) \
         FROM incident_members m JOIN incident_cohorts c ON c.id = m.cohort_id \
         WHERE c.incident_id = $1"
    } else {
        "SELECT COUNT(DISTINCT m.user_id), \
                COUNT(DISTINCT CASE WHEN c.compromise = 1 AND m.contained_at IS NOT NULL \
                                    THEN m.user_id END), \
                COUNT(m.outbox_id) \
         FROM incident_members m JOIN incident_cohorts c ON c.id = m.cohort_id \
         WHERE c.incident_id = $1"
    };
    let (members, compromised_members, notified): (i64, i64, i64) = sqlx::query_as(sql)
        .bind(incident_id)
        .fetch_one(&mut *conn)
        .await?;
    // Per member: contained by a compromising cohort, then a password set after that. A member
    // of two such cohorts counts once, from the first.
    // Driven from the passwords set since the incident's first containment (an index range,
    // usually short) rather than from every member.
    // The bound is read first and bound as a value: as a sub-select, the planner could not see
    // how narrow the range is and joined every member instead.
    let (first_contained,): (Option<i64>,) = sqlx::query_as(
        "SELECT MIN(first_contained_at) FROM incident_cohorts WHERE incident_id = $1",
    )
    .bind(incident_id)
    .fetch_one(&mut *conn)
    .await?;
    let rows: Vec<(i64, i64, i64)> = match first_contained {
        None => Vec::new(),
        Some(since) => {
            sqlx::query_as(
                // `CROSS JOIN` fixes SQLite's join order (the users first, by the index of
                // `password_set_at`): without statistics it started from every member. PostgreSQL
                // still plans the order itself.
                "SELECT m.user_id, m.contained_at, u.password_set_at FROM users u \
                 CROSS JOIN incident_members m CROSS JOIN incident_cohorts c \
                 WHERE m.user_id = u.id AND c.id = m.cohort_id \
                 AND u.password_set_at > $2 AND c.incident_id = $1 AND c.compromise = 1 \
                 AND m.contained_at IS NOT NULL AND u.password_set_at > m.contained_at",
            )
            .bind(incident_id)
            .bind(since)
            .fetch_all(&mut *conn)
            .await?
        }
    };
    let mut first: std::collections::HashMap<i64, (i64, i64)> = std::collections::HashMap::new();
    for (user, contained, set) in rows {
        let e = first.entry(user).or_insert((contained, set));
        if contained < e.0 {
            *e = (contained, set);
        }
    }
    let resets: Vec<(i64,)> = first.into_values().map(|(_, set)| (set,)).collect();
    // The notices by state, from the outbox's own index of each cohort's mails.
    let statuses: Vec<(String, i64)> = sqlx::query_as(
        "SELECT status, COUNT(*) FROM outbox \
         WHERE cohort_id IN (SELECT id FROM incident_cohorts WHERE incident_id = $1) \
         GROUP BY status",
    )
    .bind(incident_id)
    .fetch_all(&mut *conn)
    .await?;
    let of = |s: &str| statuses.iter().find(|(k, _)| k == s).map_or(0, |(_, n)| *n);
    let (notices_pending, notices_failed) = (of("queued"), of("failed"));
    let (not_me_reports,) = count(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'session.reported_not_me' AND at >= $1",
    )
    .bind(since)
    .fetch_one(&mut *conn)
    .await?;
    let (refused_sign_ins,) = count(
        "SELECT COUNT(*) FROM audit_log \
         WHERE action IN ('reset_task.started', 'auth.sign_in_blocked') AND at >= $1",
    )
    .bind(since)
    .fetch_one(&mut *conn)
    .await?;
    Ok(Remediation {
        members,
        compromised_members,
        reset_times: resets.into_iter().map(|(t,)| t).collect(),
        // Sent mails may since have been pruned from the outbox: every notice queued and no
        // longer queued or failed was sent.
        notices_sent: notified - notices_pending - notices_failed,
        notices_failed,
        notices_pending,
        not_me_reports,
        refused_sign_ins,
    })
}

/// An incident's stretch of the audit chain, by entry number (not by time: nodes' clocks may
/// disagree): from just before its first attached entry (the opening) to its closing entry, or
/// to the head while it is open. Returns (start after, end at).
pub async fn audit_window(conn: &mut Conn, incident_id: i64) -> sqlx::Result<(i64, Option<i64>)> {
    let (first,): (Option<i64>,) =
        sqlx::query_as("SELECT MIN(seq) FROM incident_audit WHERE incident_id = $1")
            .bind(incident_id)
            .fetch_one(&mut *conn)
            .await?;
    let (closed,): (Option<i64>,) = sqlx::query_as(
        "SELECT MAX(i.seq) FROM incident_audit i JOIN audit_log a ON a.seq = i.seq \
         WHERE i.incident_id = $1 AND a.action = 'incident.closed'",
    )
    .bind(incident_id)
    .fetch_one(conn)
    .await?;
    Ok((first.map_or(0, |f| f - 1), closed))
}

/// A cohort member as the evidence bundle lists it.
#[derive(Debug, Clone, FromRow)]
pub struct MemberReport {
    pub user_id: i64,
    pub email: Option<String>,
    pub contained_at: Option<i64>,
    pub notified_at: Option<i64>,
    pub outbox_id: Option<i64>,
    pub notice_status: Option<String>,
}

pub async fn member_report(conn: &mut Conn, cohort_id: i64) -> sqlx::Result<Vec<MemberReport>> {
    sqlx::query_as(
        "SELECT m.user_id, u.email, m.contained_at, m.notified_at, m.outbox_id, o.status AS notice_status \
         FROM incident_members m LEFT JOIN users u ON u.id = m.user_id \
         LEFT JOIN outbox o ON o.id = m.outbox_id \
         WHERE m.cohort_id = $1 ORDER BY m.user_id",
    )
    .bind(cohort_id)
    .fetch_all(conn)
    .await
}

/// What the newest incident a user is a contained member of asks of them, for the banner.
#[derive(Debug, Clone, FromRow)]
pub struct BannerRow {
    pub incident_id: i64,
    pub reference: String,
    pub title: String,
    pub notice: String,
    pub compromise: i64,
    pub sign_out: i64,
    pub contained_at: i64,
}

/// The user's newest contained membership in an incident not closed, not dismissed.
pub async fn banner_for(conn: &mut Conn, user_id: i64) -> sqlx::Result<Option<BannerRow>> {
    sqlx::query_as(
        "SELECT i.id AS incident_id, i.reference, i.title, i.notice, c.compromise, c.sign_out, \
                m.contained_at \
         FROM incident_members m JOIN incident_cohorts c ON c.id = m.cohort_id \
         JOIN incidents i ON i.id = c.incident_id \
         WHERE m.user_id = $1 AND m.contained_at IS NOT NULL AND m.dismissed_at IS NULL \
           AND i.state <> 'closed' \
         ORDER BY m.contained_at DESC LIMIT 1",
    )
    .bind(user_id)
    .fetch_optional(conn)
    .await
}

/// Dismisses the user's banners of one incident. Returns how many memberships it ended.
pub async fn dismiss_banner(
    conn: &mut Conn,
    user_id: i64,
    incident_id: i64,
    at: i64,
) -> sqlx::Result<u64> {
    sqlx::query(
        "UPDATE incident_members SET dismissed_at = $3 \
         WHERE user_id = $1 AND dismissed_at IS NULL \
           AND cohort_id IN (SELECT id FROM incident_cohorts WHERE incident_id = $2)",
    )
    .bind(user_id)
    .bind(incident_id)
    .bind(at)
    .execute(conn)
    .await
    .map(|r| r.rows_affected())
}
