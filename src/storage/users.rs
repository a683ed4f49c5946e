//! SQL for the `users` table.

use sqlx::FromRow;

use super::Conn;

/// A user row. Holds the password hash, so it is neither `Serialize` nor shown by `Debug`.
#[derive(Clone, FromRow)]
pub struct UserRow {
    pub id: i64,
    pub email: String,
    pub name: Option<String>,
    pub role: String,
    pub password_hash: String,
    pub password_set_at: i64,
    pub created_at: i64,
    pub disabled_at: Option<i64>,
    pub password_compromised_at: Option<i64>,
    pub password_compromised_by: Option<String>,
    pub password_compromised_reason: Option<String>,
    pub sessions_revoked_before: Option<i64>,
    pub sessions_revoked_reason: Option<String>,
}

#[cfg(test)]
impl UserRow {
    /// A member with nothing compromised or revoked (unit tests of the containment rules).
    pub fn sample(password_set_at: i64) -> Self {
        Self {
            id: 1,
            email: "ada@example.org".into(),
            name: None,
            role: "member".into(),
            password_hash: String::new(),
            password_set_at,
            created_at: 0,
            disabled_at: None,
            password_compromised_at: None,
            password_compromised_by: None,
            password_compromised_reason: None,
            sessions_revoked_before: None,
            sessions_revoked_reason: None,
        }
    }
}

impl std::fmt::Debug for UserRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRow")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("role", &self.role)
            .field("password_hash", &"<redacted>")
            .finish_non_exhaustive()
    }
}

pub const COLUMNS: &str = "id, email, name, role, password_hash, password_set_at, created_at, disabled_at, \
    password_compromised_at, password_compromised_by, password_compromised_reason, sessions_revoked_before, sessions_revoked_reason";

/// [`COLUMNS`] of a join's `u` (`u.id, u.email, …`), for statements that read a user beside
/// other rows.
pub static COLUMNS_OF_U: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    COLUMNS
        .split(',')
        .map(|c| format!("u.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
});

pub struct NewUser<'a> {
    pub email: &'a str,
    pub email_normalized: &'a str,
    pub role: &'a str,
    pub password_hash: &'a str,
    pub now: i64,
}

pub async fn insert(conn: &mut Conn, user: NewUser<'_>) -> sqlx::Result<i64> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO users (email, email_normalized, role, password_hash, password_set_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
    )
    .bind(user.email)
    .bind(user.email_normalized)
    .bind(user.role)
    .bind(user.password_hash)
    .bind(user.now)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

pub async fn find_by_email(
    conn: &mut Conn,
    email_normalized: &str,
) -> sqlx::Result<Option<UserRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM users WHERE email_normalized = $1"
    ))
    .bind(email_normalized)
    .fetch_optional(conn)
    .await
}

pub async fn find_by_id(conn: &mut Conn, id: i64) -> sqlx::Result<Option<UserRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

#[derive(Debug, Clone, FromRow)]
pub struct UserCounts {
    pub total: i64,
    pub admins: i64,
    pub disabled: i64,
}

pub async fn counts(conn: &mut Conn) -> sqlx::Result<UserCounts> {
    sqlx::query_as(
        "SELECT COUNT(*) AS total, \
                COALESCE(SUM(CASE WHEN role = 'admin' THEN 1 ELSE 0 END), 0) AS admins, \
                COALESCE(SUM(CASE WHEN disabled_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS disabled \
         FROM users",
    )
    .fetch_one(conn)
    .await
}

/// The e-mail addresses of every administrator whose account is not disabled.
pub async fn admin_emails(conn: &mut Conn) -> sqlx::Result<Vec<String>> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT email FROM users WHERE role = 'admin' AND disabled_at IS NULL ORDER BY id",
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(e,)| e).collect())
}

/// Replaces the password hash (and its set-at time).
pub async fn set_password(
    conn: &mut Conn,
    id: i64,
    password_hash: &str,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE users SET password_hash = $2, password_set_at = $3 WHERE id = $1")
        .bind(id)
        .bind(password_hash)
        .bind(now)
        .execute(conn)
        .await
        .map(|_| ())
}

/// The user's own password watermark: the current password (set at or before `at`) is compromised.
pub async fn compromise_password(
    conn: &mut Conn,
    id: i64,
    at: i64,
    by: &str,
    reason: &str,
) -> sqlx::Result<u64> {
    sqlx::query(
        // Only forward: a slower or skewed writer never lowers the watermark.
        "UPDATE users SET \
           password_compromised_by = CASE WHEN COALESCE(password_compromised_at, 0) < $2 THEN $3 ELSE password_compromised_by END, \
           password_compromised_reason = CASE WHEN COALESCE(password_compromised_at, 0) < $2 THEN $4 ELSE password_compromised_reason END, \
           password_compromised_at = CASE WHEN COALESCE(password_compromised_at, 0) < $2 THEN $2 ELSE password_compromised_at END \
         WHERE id = $1",
    )
    .bind(id)
    .bind(at)
    .bind(by)
    .bind(reason)
    .execute(conn)
    .await
    .map(|r| r.rows_affected())
}

/// The user's own session watermark: every session issued at or before `at` is signed out.
pub async fn revoke_sessions(
    conn: &mut Conn,
    id: i64,
    at: i64,
    reason_code: &str,
) -> sqlx::Result<u64> {
    sqlx::query(
        // Only forward, as above.
        "UPDATE users SET \
           sessions_revoked_reason = CASE WHEN COALESCE(sessions_revoked_before, 0) < $2 THEN $3 ELSE sessions_revoked_reason END, \
           sessions_revoked_before = CASE WHEN COALESCE(sessions_revoked_before, 0) < $2 THEN $2 ELSE sessions_revoked_before END \
         WHERE id = $1",
    )
    .bind(id)
    .bind(at)
    .bind(reason_code)
    .execute(conn)
    .await
    .map(|r| r.rows_affected())
}

pub async fn set_disabled(conn: &mut Conn, id: i64, disabled_at: Option<i64>) -> sqlx::Result<u64> {
    sqlx::query("UPDATE users SET disabled_at = $2 WHERE id = $1")
        .bind(id)
        .bind(disabled_at)
        .execute(conn)
        .await
        .map(|r| r.rows_affected())
}

pub async fn set_role(conn: &mut Conn, id: i64, role: &str) -> sqlx::Result<u64> {
    sqlx::query("UPDATE users SET role = $2 WHERE id = $1")
        .bind(id)
        .bind(role)
        .execute(conn)
        .await
        .map(|r| r.rows_affected())
}

/// Every account has a password in this version (no passwordless sign-in yet).
pub async fn count_with_password(conn: &mut Conn) -> sqlx::Result<i64> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
        .fetch_one(conn)
        .await?;
    Ok(n)
}

/// Filters for the admin users list.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Prefix of the e-mail or of the name, lower-cased.
    pub search: Option<String>,
    pub role: Option<String>,
    pub status: Option<UserStatus>,
    /// Keyset cursor: only ids greater than this.
    pub after_id: i64,
    pub limit: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserStatus {
    Active,
    Compromised,
    ResetPending,
    Disabled,
}

/// Past this many matching rows a filter counts as dense: a page walks the id order and keeps the
/// matches. Below it, the matching ids are read from an index first (a sparse filter would
/// otherwise walk the whole table for a page of few or no rows).
const SPARSE_BELOW: i64 = 5_000;

/// A value bound to a placeholder of the user list's SQL.
enum Value {
    Int(i64),
    Text(String),
}

/// Whether fewer than [`SPARSE_BELOW`] rows satisfy `condition` (its values bound to `$1`, `$2`,
/// …), counted on an index and stopping there.
async fn is_sparse(conn: &mut Conn, condition: &str, values: Vec<Value>) -> sqlx::Result<bool> {
    let sql = format!(
        "SELECT COUNT(*) FROM (SELECT 1 FROM users WHERE {condition} LIMIT {SPARSE_BELOW}) m"
    );
    let mut q = sqlx::query_as::<_, (i64,)>(&sql);
    for v in values {
        q = match v {
            Value::Int(n) => q.bind(n),
            Value::Text(t) => q.bind(t),
        };
    }
    Ok(q.fetch_one(conn).await?.0 < SPARSE_BELOW)
}

/// One page of users in id order. Every filter reads an index: role (role, id); disabled and
/// per-user compromises their partial indexes; a pending reset the reset codes; an instance-wide
/// watermark a range on `password_set_at`; a search a range on each normalized column. A sparse
/// filter's matching ids are read first (see [`SPARSE_BELOW`]), so a page of few or no rows at a
/// million users costs what it shows.
pub async fn list(
    conn: &mut Conn,
    f: &UserFilter,
    instance_password_watermark: i64,
) -> sqlx::Result<Vec<UserRow>> {
    // Placeholders are numbered as values are added (PostgreSQL refuses values it is not asked
    // for), and bound in the same order.
    let mut values = vec![Value::Int(f.after_id)];
    let mut param = |v: Value| {
        values.push(v);
        format!("${}", values.len())
    };
    let mut sql = format!("SELECT {COLUMNS} FROM users u WHERE u.id > $1");
    let w = instance_password_watermark;
    if let Some(status) = f.status {
        let compromised = |p: &str| {
            format!("(u.password_set_at <= {p} OR u.password_set_at <= COALESCE(u.password_compromised_at, 0))")
        };
        let pending = "EXISTS (SELECT 1 FROM reset_codes r WHERE r.user_id = u.id)";
        match status {
            UserStatus::Disabled => sql.push_str(" AND u.disabled_at IS NOT NULL"),
            UserStatus::Active => {
                let p = param(Value::Int(w));
                sql.push_str(&format!(
                    " AND u.disabled_at IS NULL AND NOT {}",
                    compromised(&p)
                ));
                if is_sparse(conn, "password_set_at > $1", vec![Value::Int(w)]).await? {
                    sql.push_str(&format!(
                        " AND u.id IN (SELECT id FROM users WHERE password_set_at > {p})"
                    ));
                }
            }
            UserStatus::Compromised => {
                let p = param(Value::Int(w));
                sql.push_str(&format!(
                    " AND u.disabled_at IS NULL AND {} AND NOT {pending}",
                    compromised(&p)
                ));
                if is_sparse(conn, "password_set_at <= $1", vec![Value::Int(w)]).await? {
                    sql.push_str(&format!(
                        " AND u.id IN (SELECT id FROM users WHERE password_set_at <= {p} \
                         UNION SELECT id FROM users WHERE password_compromised_at IS NOT NULL)"
                    ));
                }
            }
            UserStatus::ResetPending => {
                let p = param(Value::Int(w));
                sql.push_str(&format!(
                    " AND u.disabled_at IS NULL AND {} AND u.id IN (SELECT user_id FROM reset_codes)",
                    compromised(&p)
                ));
            }
        }
    }
    if let Some(role) = &f.role {
        let p = param(Value::Text(role.clone()));
        sql.push_str(&format!(" AND u.role = {p}"));
    }
    if let Some(search) = &f.search {
        let hi = format!("{search}\u{10FFFF}");
        // Counted on each index separately: an OR of the two ranges may be planned as a bitmap
        // of every match (PostgreSQL), which is what this probe is there to avoid.
        let range = |column: &str| {
            let condition = format!("{column} >= $1 AND {column} < $2");
            (
                condition,
                vec![Value::Text(search.clone()), Value::Text(hi.clone())],
            )
        };
        let (email, email_values) = range("email_normalized");
        let (name, name_values) = range("name_normalized");
        let sparse = is_sparse(conn, &email, email_values).await?
            && is_sparse(conn, &name, name_values).await?;
        if sparse {
            let (lo, hi) = (param(Value::Text(search.clone())), param(Value::Text(hi)));
            sql.push_str(&format!(
                " AND u.id IN (SELECT id FROM users WHERE email_normalized >= {lo} AND email_normalized < {hi} \
                 UNION SELECT id FROM users WHERE name_normalized >= {lo} AND name_normalized < {hi})"
            ));
        } else {
            // Dense: each row in id order is tested, and a page stops after its rows. Written
            // as a comparison no index serves, so no planner (nor a generic plan that cannot see
            // the prefix) sorts every match instead.
            let len = i64::try_from(search.chars().count()).unwrap_or(i64::MAX);
            let (prefix, len) = (param(Value::Text(search.clone())), param(Value::Int(len)));
            sql.push_str(&format!(
                " AND (substr(u.email_normalized, 1, CAST({len} AS INTEGER)) = {prefix} \
                 OR substr(u.name_normalized, 1, CAST({len} AS INTEGER)) = {prefix})"
            ));
        }
    }
    let limit = param(Value::Int(f.limit));
    sql.push_str(&format!(" ORDER BY u.id LIMIT {limit}"));
    let mut q = sqlx::query_as(&sql);
    for v in values {
        q = match v {
            Value::Int(n) => q.bind(n),
            Value::Text(t) => q.bind(t),
        };
    }
    q.fetch_all(conn).await
}

/// The e-mail addresses of the enabled administrators other than `except` (notifications).
pub async fn other_admin_emails(conn: &mut Conn, except: i64) -> sqlx::Result<Vec<String>> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT email FROM users WHERE role = 'admin' AND disabled_at IS NULL AND id <> $1 ORDER BY id",
    )
    .bind(except)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(e,)| e).collect())
}
