//! Writing and verifying the audit chain. Every entry is written inside the transaction of the
//! change it records, so the two commit or roll back together.

use anyhow::Context;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::storage::audit::{self, AuditRow};
use crate::storage::{Conn, Store};

/// Who did it.
#[derive(Debug, Clone)]
pub enum Actor {
    /// An anonymous visitor (e.g. a failed sign-in or a forgot-password request).
    Anonymous,
    User {
        id: i64,
        email: String,
    },
    Admin {
        id: i64,
        email: String,
    },
    /// The command line, with the operating-system user who ran it.
    Cli {
        os_user: String,
    },
    System,
}

impl Actor {
    fn parts(&self) -> (&'static str, Option<i64>, Option<String>) {
        match self {
            Actor::Anonymous => ("anonymous", None, None),
            Actor::User { id, email } => ("user", Some(*id), Some(email.clone())),
            Actor::Admin { id, email } => ("admin", Some(*id), Some(email.clone())),
            Actor::Cli { os_user } => ("cli", None, Some(os_user.clone())),
            Actor::System => ("system", None, None),
        }
    }
}

/// Where a request came from.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// SHA-256 of the browser's device cookie.
    pub device: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Event<'a> {
    pub actor: Actor,
    pub action: &'a str,
    pub target_user_id: Option<i64>,
    pub reason: Option<&'a str>,
    pub details: Value,
}

/// The canonical encoding that is hashed: a JSON array of every field in a fixed order.
fn entry_hash(row: &AuditRow) -> String {
    let canonical = serde_json::json!([
        row.seq,
        row.at,
        row.actor_kind,
        row.actor_user_id,
        row.actor_label,
        row.action,
        row.target_user_id,
        row.ip,
        row.user_agent,
        row.reason,
        row.details,
        row.prev_hash,
    ]);
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

/// Appends one entry to the chain, inside the caller's transaction.
pub async fn record(
    conn: &mut Conn,
    now: i64,
    meta: &RequestMeta,
    event: Event<'_>,
) -> anyhow::Result<i64> {
    let (seq, prev_hash) = audit::advance_head(conn)
        .await
        .context("advance audit head")?;
    let (actor_kind, actor_user_id, actor_label) = event.actor.parts();
    let mut row = AuditRow {
        seq,
        at: now,
        actor_kind: actor_kind.to_owned(),
        actor_user_id,
        actor_label,
        action: event.action.to_owned(),
        target_user_id: event.target_user_id,
        ip: meta.ip.clone(),
        user_agent: meta.user_agent.clone(),
        reason: event.reason.map(str::to_owned),
        details: event.details.to_string(),
        prev_hash,
        hash: String::new(),
    };
    row.hash = entry_hash(&row);
    audit::insert(conn, &row)
        .await
        .context("insert audit entry")?;
    audit::set_head_hash(conn, &row.hash)
        .await
        .context("move audit head")?;
    Ok(seq)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    Intact { entries: i64 },
    Broken { seq: i64, problem: String },
}

/// Walks the whole chain: consecutive numbers, each entry's hash, each link to the previous
/// entry, and the head. Any edit, deletion or reordering shows up as the first broken entry.
pub async fn verify(store: &Store) -> anyhow::Result<Verification> {
    let mut conn = store.pool().acquire().await.context("acquire connection")?;
    let mut expected_seq = 1;
    let mut prev_hash = "0".repeat(64);
    loop {
        let page = audit::page_after(&mut conn, expected_seq - 1, 1000)
            .await
            .context("read audit log")?;
        if page.is_empty() {
            break;
        }
        for row in page {
            if row.seq != expected_seq {
                return Ok(Verification::Broken {
                    seq: expected_seq,
                    problem: format!("entry {expected_seq} is missing"),
                });
            }
            if row.prev_hash != prev_hash {
                return Ok(Verification::Broken {
                    seq: row.seq,
                    problem: "does not link to the previous entry".into(),
                });
            }
            if entry_hash(&row) != row.hash {
                return Ok(Verification::Broken {
                    seq: row.seq,
                    problem: "content does not match its hash (altered)".into(),
                });
            }
            prev_hash = row.hash;
            expected_seq += 1;
        }
    }
    let (head_seq, head_hash) = audit::head(&mut conn).await.context("read audit head")?;
    let last = expected_seq - 1;
    if head_seq != last || head_hash != prev_hash {
        return Ok(Verification::Broken { seq: last + 1, problem: format!("the chain ends at entry {last} but the head records entry {head_seq} (entries removed)") });
    }
    Ok(Verification::Intact { entries: last })
}
