//! Writing and verifying the audit chain. Every entry is written inside the transaction of the
//! change it records (through [`super::uow::AuditedTx`]), so the two commit or roll back together.

use anyhow::Context;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::domain::{Actor, AuditAction, RequestMeta};
use crate::storage::audit::{self, AuditRow};
use crate::storage::{Conn, Store};

/// One audit entry to append.
#[derive(Debug, Clone)]
pub struct Event<'a> {
    pub actor: &'a Actor,
    pub action: AuditAction,
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
