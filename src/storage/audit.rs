//! SQL for the audit chain. Appending takes the head row first, which serialises appenders
//! (row lock on PostgreSQL, the write lock on SQLite).

use sqlx::FromRow;

use super::{Backend, Conn};

#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct AuditRow {
    pub seq: i64,
    pub at: i64,
    pub actor_kind: String,
    pub actor_user_id: Option<i64>,
    pub actor_label: Option<String>,
    pub action: String,
    pub target_user_id: Option<i64>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub reason: Option<String>,
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

pub const COLUMNS: &str =
    "seq, at, actor_kind, actor_user_id, actor_label, action, target_user_id, ip, user_agent, reason, details, prev_hash, hash";

/// Advances the head and returns (new seq, previous hash).
pub async fn advance_head(conn: &mut Conn) -> sqlx::Result<(i64, String)> {
    sqlx::query_as("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
        .fetch_one(conn)
        .await
}

pub async fn set_head_hash(conn: &mut Conn, hash: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
        .bind(hash)
        .execute(conn)
        .await
        .map(|_| ())
}

pub async fn head(conn: &mut Conn) -> sqlx::Result<(i64, String)> {
    sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
        .fetch_one(conn)
        .await
}

/// Inserts the entry the head was just advanced to and moves the head's hash to it: one
/// statement on PostgreSQL (a round trip less for every audited change), two on SQLite.
pub async fn insert_as_head(conn: &mut Conn, backend: Backend, row: &AuditRow) -> sqlx::Result<()> {
    let values = "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";
    let sql = match backend {
        Backend::Postgres => format!(
            "WITH entry AS (INSERT INTO audit_log ({COLUMNS}) {values} RETURNING hash) \
             UPDATE audit_head SET hash = (SELECT hash FROM entry) WHERE id = 1"
        ),
        Backend::Sqlite => format!("INSERT INTO audit_log ({COLUMNS}) {values}"),
    };
    sqlx::query(&sql)
        .bind(row.seq)
        .bind(row.at)
        .bind(&row.actor_kind)
        .bind(row.actor_user_id)
        .bind(&row.actor_label)
        .bind(&row.action)
        .bind(row.target_user_id)
        .bind(&row.ip)
        .bind(&row.user_agent)
        .bind(&row.reason)
        .bind(&row.details)
        .bind(&row.prev_hash)
        .bind(&row.hash)
        .execute(&mut *conn)
        .await?;
    if backend == Backend::Sqlite {
        set_head_hash(conn, &row.hash).await?;
    }
    Ok(())
}

/// Entries after `after_seq` in chain order, a page at a time.
pub async fn page_after(
    conn: &mut Conn,
    after_seq: i64,
    limit: i64,
) -> sqlx::Result<Vec<AuditRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2"
    ))
    .bind(after_seq)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// The entry numbered `seq`, if the log holds it.
pub async fn entry_at(conn: &mut Conn, seq: i64) -> sqlx::Result<Option<AuditRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM audit_log WHERE seq = $1"))
        .bind(seq)
        .fetch_optional(conn)
        .await
}

/// The highest entry number the log holds (0 when empty), whatever the head says.
pub async fn last_seq(conn: &mut Conn) -> sqlx::Result<i64> {
    let (seq,): (i64,) = sqlx::query_as("SELECT COALESCE(MAX(seq), 0) FROM audit_log")
        .fetch_one(conn)
        .await?;
    Ok(seq)
}

/// Newest first, optionally for one target user, for pages.
pub async fn recent(
    conn: &mut Conn,
    target_user_id: Option<i64>,
    limit: i64,
) -> sqlx::Result<Vec<AuditRow>> {
    match target_user_id {
        Some(id) => {
            sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM audit_log WHERE target_user_id = $1 ORDER BY seq DESC LIMIT $2"
        ))
            .bind(id)
            .bind(limit)
            .fetch_all(conn)
            .await
        }
        None => {
            sqlx::query_as(&format!(
                "SELECT {COLUMNS} FROM audit_log ORDER BY seq DESC LIMIT $1"
            ))
            .bind(limit)
            .fetch_all(conn)
            .await
        }
    }
}

/// What an admin search of the trail asks for. Every field narrows the result; all `None` means
/// every entry. The service parses and normalises user input; this only turns it into SQL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Criteria {
    pub actor: Option<ActorMatch>,
    /// A normalised e-mail; an address no user has matches nothing.
    pub target_email: Option<String>,
    pub action: Option<ActionMatch>,
    /// Inclusive lower bound, Unix ms.
    pub from_ms: Option<i64>,
    /// Exclusive upper bound, Unix ms.
    pub until_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActorMatch {
    /// The lower-cased label (an e-mail or an OS user).
    Label(String),
    /// A kind such as `admin`; a label spelled the same way (an OS user called "admin") matches too.
    KindOrLabel(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionMatch {
    Exact(String),
    Prefix(String),
}

/// One entry as the admin pages and exports show it, with the target's e-mail when the user exists.
#[derive(Debug, Clone, FromRow, PartialEq, Eq)]
pub struct ListedRow {
    pub seq: i64,
    pub at: i64,
    pub actor_kind: String,
    pub actor_label: Option<String>,
    pub action: String,
    pub target_user_id: Option<i64>,
    pub target_email: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub reason: Option<String>,
    pub details: String,
    /// This entry's link in the chain, shown shortened on the admin page.
    pub hash: String,
}

enum Param {
    Int(i64),
    Text(String),
}

/// The WHERE clause for `criteria` and the keyset cursor, with numbered placeholders: user input
/// only ever travels as bound parameters.
fn where_clause(criteria: &Criteria, before: Option<i64>) -> (String, Vec<Param>) {
    let mut conditions: Vec<String> = Vec::new();
    let mut params = Vec::new();
    let mut push = |condition: &dyn Fn(usize) -> String, param: Param| {
        params.push(param);
        conditions.push(condition(params.len()));
    };
    if let Some(before) = before {
        push(&|n| format!("a.seq < ${n}"), Param::Int(before));
    }
    match &criteria.actor {
        Some(ActorMatch::Label(label)) => push(
            &|n| format!("LOWER(a.actor_label) = ${n}"),
            Param::Text(label.clone()),
        ),
        Some(ActorMatch::KindOrLabel(kind)) => push(
            &|n| format!("(a.actor_kind = ${n} OR LOWER(a.actor_label) = ${n})"),
            Param::Text(kind.clone()),
        ),
        None => {}
    }
    if let Some(email) = &criteria.target_email {
        push(
            &|n| format!("a.target_user_id = (SELECT id FROM users WHERE email_normalized = ${n})"),
            Param::Text(email.clone()),
        );
    }
    match &criteria.action {
        Some(ActionMatch::Exact(action)) => {
            push(&|n| format!("a.action = ${n}"), Param::Text(action.clone()))
        }
        Some(ActionMatch::Prefix(prefix)) => {
            let pattern = format!(
                "{}%",
                prefix
                    .replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_")
            );
            push(
                &|n| format!("a.action LIKE ${n} ESCAPE '\\'"),
                Param::Text(pattern),
            );
        }
        None => {}
    }
    if let Some(from) = criteria.from_ms {
        push(&|n| format!("a.at >= ${n}"), Param::Int(from));
    }
    if let Some(until) = criteria.until_ms {
        push(&|n| format!("a.at < ${n}"), Param::Int(until));
    }
    let clause = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    (clause, params)
}

fn bind_all<'q, O>(
    mut query: sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments<'q>>,
    params: Vec<Param>,
) -> sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments<'q>> {
    for p in params {
        query = match p {
            Param::Int(i) => query.bind(i),
            Param::Text(s) => query.bind(s),
        };
    }
    query
}

/// Matching entries newest first, strictly older than `before` when given (keyset pagination).
pub async fn search(
    conn: &mut Conn,
    criteria: &Criteria,
    before: Option<i64>,
    limit: i64,
) -> sqlx::Result<Vec<ListedRow>> {
    let (clause, mut params) = where_clause(criteria, before);
    params.push(Param::Int(limit));
    let sql = format!(
        "SELECT a.seq, a.at, a.actor_kind, a.actor_label, a.action, a.target_user_id, u.email AS target_email, \
         a.ip, a.user_agent, a.reason, a.details, a.hash \
         FROM audit_log a LEFT JOIN users u ON u.id = a.target_user_id {clause} ORDER BY a.seq DESC LIMIT ${}",
        params.len()
    );
    bind_all(sqlx::query_as(&sql), params).fetch_all(conn).await
}

/// The sequence numbers of the matching entries at or after `from_seq`, oldest first: the page
/// "newer" than a cursor, read backwards.
pub async fn seqs_from(
    conn: &mut Conn,
    criteria: &Criteria,
    from_seq: i64,
    limit: i64,
) -> sqlx::Result<Vec<i64>> {
    let (clause, mut params) = where_clause(criteria, None);
    params.push(Param::Int(from_seq));
    let keyset = format!("a.seq >= ${}", params.len());
    let clause = if clause.is_empty() {
        format!("WHERE {keyset}")
    } else {
        format!("{clause} AND {keyset}")
    };
    params.push(Param::Int(limit));
    let sql = format!(
        "SELECT a.seq FROM audit_log a {clause} ORDER BY a.seq LIMIT ${}",
        params.len()
    );
    let rows: Vec<(i64,)> = bind_all(sqlx::query_as(&sql), params)
        .fetch_all(conn)
        .await?;
    Ok(rows.into_iter().map(|(s,)| s).collect())
}

/// How many entries match, strictly older than `before` when given.
pub async fn count_matching(
    conn: &mut Conn,
    criteria: &Criteria,
    before: Option<i64>,
) -> sqlx::Result<i64> {
    let (clause, params) = where_clause(criteria, before);
    let sql = format!("SELECT COUNT(*) FROM audit_log a {clause}");
    let (n,): (i64,) = bind_all(sqlx::query_as(&sql), params)
        .fetch_one(conn)
        .await?;
    Ok(n)
}

#[cfg(test)]
mod search_tests {
    use super::*;

    #[test]
    fn every_filter_becomes_a_numbered_placeholder() {
        let criteria = Criteria {
            actor: Some(ActorMatch::KindOrLabel("admin".into())),
            target_email: Some("ada@example.org".into()),
            action: Some(ActionMatch::Prefix("password_reset.".into())),
            from_ms: Some(1),
            until_ms: Some(2),
        };
        let (clause, params) = where_clause(&criteria, Some(10));
        assert_eq!(params.len(), 6);
        assert!(clause.contains("a.seq < $1"));
        assert!(clause.contains("(a.actor_kind = $2 OR LOWER(a.actor_label) = $2)"));
        assert!(clause.contains("email_normalized = $3"));
        assert!(clause.contains("a.action LIKE $4"));
        assert!(clause.contains("a.at >= $5") && clause.contains("a.at < $6"));
        assert!(
            !clause.contains("ada@example.org"),
            "input is bound, never interpolated"
        );
        match &params[3] {
            Param::Text(p) => assert_eq!(p, "password\\_reset.%"),
            Param::Int(_) => panic!("pattern expected"),
        }
    }

    #[test]
    fn no_criteria_means_no_where_clause() {
        let (clause, params) = where_clause(&Criteria::default(), None);
        assert!(clause.is_empty() && params.is_empty());
    }
}
