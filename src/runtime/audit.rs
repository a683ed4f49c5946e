//! Writing and verifying the audit chain. Every entry is written inside the transaction of the
//! change it records (through [`super::uow::AuditedTx`]), so the two commit or roll back together.

use anyhow::Context;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::domain::{Actor, AuditAction, RequestMeta};
use crate::storage::audit::{self, AuditRow};
use crate::storage::{Backend, Conn, Store};

/// One audit entry to append.
#[derive(Debug, Clone)]
pub struct Event<'a> {
    pub actor: &'a Actor,
    pub action: AuditAction,
    pub target_user_id: Option<i64>,
    pub reason: Option<&'a str>,
    pub details: Value,
}

/// The canonical encoding that is hashed: a JSON array of every field in a fixed order,
/// SHA-256, lowercase hex.
pub fn entry_hash(row: &AuditRow) -> String {
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

/// Appends one entry to the chain at `now`, inside the caller's transaction: at the head the
/// caller advanced in this transaction when given (seq, previous hash), else at the head advanced
/// here.
pub async fn record(
    conn: &mut Conn,
    backend: Backend,
    now: i64,
    advanced: Option<(i64, String)>,
    meta: &RequestMeta,
    event: Event<'_>,
) -> anyhow::Result<i64> {
    let (seq, prev_hash) = match advanced {
        Some(head) => head,
        None => audit::advance_head(conn)
            .await
            .context("advance audit head")?,
    };
    let (actor_kind, actor_user_id, actor_label) = event.actor.parts();
    let mut row = AuditRow {
        seq,
        at: now,
        actor_kind: actor_kind.to_owned(),
        actor_user_id,
        actor_label,
        action: event.action.as_str().to_owned(),
        target_user_id: event.target_user_id,
        ip: meta.ip.clone(),
        user_agent: meta.user_agent.clone(),
        reason: event.reason.map(str::to_owned),
        details: event.details.to_string(),
        prev_hash,
        hash: String::new(),
    };
    row.hash = entry_hash(&row);
    audit::insert_as_head(conn, backend, &row)
        .await
        .context("insert audit entry")?;
    Ok(seq)
}

/// The `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// Every entry is in place; `head_seq` and `head_hash` are the last entry's.
    Intact {
        head_seq: i64,
        head_hash: String,
    },
    Broken {
        seq: i64,
        problem: String,
    },
}

/// Walks the whole chain in one snapshot of the database (see [`Store::begin_snapshot`]), so
/// entries appended while it runs neither appear half-way nor look like a break: consecutive
/// numbers, each entry's hash, each link to the previous entry, and the head. Any edit, deletion
/// or reordering shows up as the first broken entry.
pub async fn verify(store: &Store) -> anyhow::Result<Verification> {
    let mut tx = store
        .begin_snapshot()
        .await
        .context("begin a read transaction")?;
    let result = verify_on(&mut tx).await;
    tx.rollback().await.context("end the read transaction")?;
    result
}

/// The same, on the caller's connection (inside its snapshot).
pub async fn verify_on(conn: &mut Conn) -> anyhow::Result<Verification> {
    let (head_seq, head_hash) = audit::head(conn).await.context("read audit head")?;
    let broken = walk(conn, 0, GENESIS_HASH, head_seq).await?;
    if let Some(broken) = broken {
        return Ok(broken);
    }
    // Entries past the head: written without moving it.
    let last = audit::last_seq(conn).await.context("read audit log")?;
    if last > head_seq {
        return Ok(Verification::Broken {
            seq: head_seq + 1,
            problem: format!("the head records entry {head_seq} but the chain goes on to entry {last} (head rewritten)"),
        });
    }
    // `walk` checked that entry `head_seq` exists and links up; its hash must be the head's.
    let last_hash = match audit::entry_at(conn, head_seq)
        .await
        .context("read audit log")?
    {
        Some(row) => row.hash,
        None => GENESIS_HASH.to_owned(),
    };
    if last_hash != head_hash {
        return Ok(Verification::Broken {
            seq: head_seq,
            problem: "the head's hash is not this entry's (head rewritten)".into(),
        });
    }
    Ok(Verification::Intact {
        head_seq,
        head_hash,
    })
}

/// Checks the entries after `from_seq` (whose hash is `from_hash`) up to `to_seq`: each must be
/// present, link to the one before it and match its hash. Returns the first problem, if any.
pub async fn walk(
    conn: &mut Conn,
    from_seq: i64,
    from_hash: &str,
    to_seq: i64,
) -> anyhow::Result<Option<Verification>> {
    let mut expected_seq = from_seq + 1;
    let mut prev_hash = from_hash.to_owned();
    while expected_seq <= to_seq {
        let page = audit::page_after(conn, expected_seq - 1, 1000)
            .await
            .context("read audit log")?;
        if page.is_empty() {
            let last = expected_seq - 1;
            return Ok(Some(Verification::Broken {
                seq: expected_seq,
                problem: format!("the chain ends at entry {last} but the head records entry {to_seq} (entries removed)"),
            }));
        }
        for row in page {
            if expected_seq > to_seq {
                break;
            }
            if row.seq != expected_seq {
                return Ok(Some(Verification::Broken {
                    seq: expected_seq,
                    problem: format!("entry {expected_seq} is missing"),
                }));
            }
            if row.prev_hash != prev_hash {
                return Ok(Some(Verification::Broken {
                    seq: row.seq,
                    problem: "does not link to the previous entry".into(),
                }));
            }
            if entry_hash(&row) != row.hash {
                return Ok(Some(Verification::Broken {
                    seq: row.seq,
                    problem: "content does not match its hash (altered)".into(),
                }));
            }
            prev_hash = row.hash;
            expected_seq += 1;
        }
    }
    Ok(None)
}
