//! Signed audit checkpoints: the head of the hash chain, signed with an ed25519 key derived from
//! the server key file (outside the database). A copy kept elsewhere (mail, a directory, an
//! operator's archive) makes removing the newest entries and rewriting the head, or re-hashing
//! the chain after an edit, detectable: `keywarden audit verify --checkpoint FILE`.
//!
//! Taken daily (one node per day, elected by a unique date), after every instance-wide action,
//! and on demand by the CLI. Before signing, the chain is checked from the last stored
//! checkpoint (if its signature holds) or from the first entry, so a broken chain is never
//! signed.

mod format;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::json;
use tokio::sync::watch;

pub use format::{short, Cause, Checkpoint, HEADER};

use super::audit::{self, Verification, GENESIS_HASH};
use super::{AppState, AuditedTx};
use crate::domain::{time, RequestMeta};
use crate::email::MailKind;
use crate::storage::checkpoints::{self, CheckpointRow, NewCheckpoint};
use crate::storage::{audit as audit_store, users, Conn, Store};

/// How often a node looks for today's checkpoint, the first time this long after it starts
/// (a node in a restart loop does not sign at every start; another node, or the next look, will).
const LOOK_EVERY: Duration = Duration::from_secs(10 * 60);

/// The daily task: takes the day's checkpoint unless another node has.
pub async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = tokio::time::sleep(LOOK_EVERY) => {}
        }
        match take_daily(&state).await {
            Ok(Some(c)) => tracing::info!(seq = c.seq, "daily audit checkpoint taken"),
            Ok(None) => {}
            Err(e) => tracing::error!(error = %format!("{e:#}"), "daily audit checkpoint failed"),
        }
    }
}

/// Takes today's (UTC, this node's clock) checkpoint, unless it exists or the trail is empty.
/// Several nodes may try at once: the unique date lets one insert; the others roll back and
/// send nothing.
pub async fn take_daily(state: &AppState) -> anyhow::Result<Option<Checkpoint>> {
    let day = time::utc_seconds(state.now())[..10].to_owned();
    let mut conn = state.conn().await?;
    if checkpoints::has_daily(&mut conn, &day)
        .await
        .context("look for today's checkpoint")?
    {
        return Ok(None);
    }
    drop(conn);
    take(state, Cause::Daily, Some(&day)).await
}

/// After an instance-wide action has committed: a checkpoint that includes its entry. The action
/// stands whatever happens here, so a failure is logged, not returned.
pub async fn after_instance_action(state: &AppState, cause: Cause) {
    if let Err(e) = take(state, cause, None).await {
        tracing::error!(error = %format!("{e:#}"), cause = cause.as_str(), "audit checkpoint failed");
    }
}

/// Signs the head, stores the checkpoint and mails it to every administrator in one
/// transaction; after the commit, writes it to `audit_checkpoint_dir` when one is set. `None`
/// when the trail is empty or another node took the day's checkpoint.
async fn take(
    state: &AppState,
    cause: Cause,
    daily_on: Option<&str>,
) -> anyhow::Result<Option<Checkpoint>> {
    let meta = RequestMeta::default();
    let mut tx = AuditedTx::begin(state, &meta).await?;
    let at = tx.now();
    let Some(checkpoint) = sign_head(state, &mut tx, cause, at).await? else {
        return Ok(None);
    };
    let text = checkpoint.to_text();
    let stored = checkpoints::insert(
        &mut tx,
        NewCheckpoint {
            seq: checkpoint.seq,
            hash: &checkpoint.hash,
            at,
            cause: cause.as_str(),
            daily_on,
            text: &text,
        },
    )
    .await
    .context("store checkpoint")?;
    if stored.is_none() {
        return Ok(None);
    }
    let admins = users::admin_emails(&mut tx)
        .await
        .context("list administrators")?;
    let vars = json!({
        "checkpoint": text,
        "seq": checkpoint.seq,
        "time": time::utc_seconds(at),
        "cause": cause.label(),
    });
    for admin in &admins {
        tx.queue_mail(MailKind::AuditCheckpoint, admin, vars.clone())
            .await?;
    }
    tx.commit().await?;
    if let Some(dir) = &state.config.audit_checkpoint_dir {
        // The checkpoint is stored and mailed; a directory that cannot be written is an
        // operator's problem to fix, not a reason to undo it.
        match write_file(dir, &checkpoint).await {
            Ok(path) => tracing::info!(path = %path.display(), "audit checkpoint written"),
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "cannot write the audit checkpoint")
            }
        }
    }
    Ok(Some(checkpoint))
}

/// A checkpoint of the head as it is now, checked and signed but not stored (the CLI prints
/// it). Reads one snapshot.
pub async fn current(state: &AppState) -> anyhow::Result<Checkpoint> {
    let mut tx = state
        .store
        .begin_snapshot()
        .await
        .context("begin a read transaction")?;
    let signed = sign_head(state, &mut tx, Cause::OnDemand, state.now()).await;
    tx.rollback().await.context("end the read transaction")?;
    signed?.context("the audit trail is empty: there is nothing to checkpoint yet")
}

/// Reads the head, checks the chain up to it and signs it. `None` when the trail is empty.
async fn sign_head(
    state: &AppState,
    conn: &mut Conn,
    cause: Cause,
    at: i64,
) -> anyhow::Result<Option<Checkpoint>> {
    let (seq, hash) = audit_store::head(conn).await.context("read audit head")?;
    if seq == 0 {
        return Ok(None);
    }
    let key = state.server_key.checkpoint_signing_key();
    let (from_seq, from_hash) = anchor(conn, &key.verifying_key()).await?;
    if from_seq > seq {
        bail!("audit trail truncated: the last checkpoint has entry {from_seq}, the head is at {seq}; no checkpoint signed");
    }
    if let Some(Verification::Broken { seq, problem }) =
        audit::walk(conn, from_seq, &from_hash, seq).await?
    {
        bail!("audit chain broken at entry {seq}: {problem}; no checkpoint signed");
    }
    let last = audit_store::entry_at(conn, seq)
        .await
        .context("read audit log")?;
    if last.map(|r| r.hash) != Some(hash.clone()) {
        bail!("the audit head does not match entry {seq}; no checkpoint signed");
    }
    let instance = state.config.base_url.as_str();
    Ok(Some(Checkpoint::sign(
        &key, instance, seq, &hash, at, cause,
    )))
}

/// Where the chain check before signing starts: the last stored checkpoint when it is ours and
/// the trail still agrees with it, else the first entry. A stored checkpoint the trail no longer
/// agrees with means the trail was changed: nothing is signed.
async fn anchor(
    conn: &mut Conn,
    key: &ed25519_dalek::VerifyingKey,
) -> anyhow::Result<(i64, String)> {
    let genesis = (0, GENESIS_HASH.to_owned());
    let Some(row) = checkpoints::latest(conn)
        .await
        .context("read the last checkpoint")?
    else {
        return Ok(genesis);
    };
    let trusted = Checkpoint::parse(&row.text).and_then(|c| c.check_signature(key).map(|()| c));
    let Ok(last) = trusted else {
        tracing::warn!(id = row.id, "the stored audit checkpoint is not signed by this server's key; checking the chain from its start");
        return Ok(genesis);
    };
    if let Err(problem) = compare(conn, &last).await? {
        bail!("{problem}; no checkpoint signed");
    }
    Ok((last.seq, last.hash))
}

/// Whether the trail still holds entry `checkpoint.seq` with exactly the checkpoint's hash; the
/// readable problem otherwise.
async fn compare(conn: &mut Conn, checkpoint: &Checkpoint) -> anyhow::Result<Result<(), String>> {
    let seq = checkpoint.seq;
    let Some(row) = audit_store::entry_at(conn, seq)
        .await
        .context("read audit log")?
    else {
        let last = audit_store::last_seq(conn)
            .await
            .context("read audit log")?;
        return Ok(Err(if last < seq {
            format!("audit trail truncated: checkpoint has entry {seq}, database ends at {last}")
        } else {
            format!("entry {seq} was removed: the checkpoint has it, the database does not")
        }));
    };
    if row.hash != checkpoint.hash {
        return Ok(Err(format!(
            "entry {seq} was rewritten: hash differs from the checkpoint (this entry or an earlier one was changed and the chain re-hashed)"
        )));
    }
    Ok(Ok(()))
}

/// What `verify --checkpoint` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The checkpoint is ours, the trail still holds its entry, and the whole chain is intact.
    Matches {
        checkpoint: Checkpoint,
        head_seq: i64,
        head_hash: String,
    },
    /// One readable line: a bad signature, a truncated or rewritten trail, a broken chain.
    Refused(String),
}

/// Checks a checkpoint file against the trail: first its signature (this server's key), then,
/// in one snapshot, that the trail holds its entry with exactly its hash and that the whole chain
/// is intact up to the head.
pub async fn verify_against(
    store: &Store,
    key: &ed25519_dalek::VerifyingKey,
    text: &str,
) -> anyhow::Result<Verdict> {
    let checkpoint = match Checkpoint::parse(text) {
        Ok(c) => c,
        Err(e) => return Ok(Verdict::Refused(format!("checkpoint refused: {e}"))),
    };
    if let Err(e) = checkpoint.check_signature(key) {
        return Ok(Verdict::Refused(e));
    }
    let mut tx = store
        .begin_snapshot()
        .await
        .context("begin a read transaction")?;
    let verdict = match compare(&mut tx, &checkpoint).await? {
        Err(problem) => Verdict::Refused(problem),
        Ok(()) => match audit::verify_on(&mut tx).await? {
            Verification::Broken { seq, problem } => {
                Verdict::Refused(format!("audit chain broken at entry {seq}: {problem}"))
            }
            Verification::Intact {
                head_seq,
                head_hash,
            } => Verdict::Matches {
                checkpoint,
                head_seq,
                head_hash,
            },
        },
    };
    tx.rollback().await.context("end the read transaction")?;
    Ok(verdict)
}

/// The most recent stored checkpoint (the admin page shows and offers it).
pub async fn latest(state: &AppState) -> anyhow::Result<Option<CheckpointRow>> {
    let mut conn = state.conn().await?;
    checkpoints::latest(&mut conn)
        .await
        .context("read the last checkpoint")
}

/// `keywarden-audit-checkpoint-20261122T093005Z-seq120.txt`.
pub fn file_name(checkpoint: &Checkpoint) -> String {
    let digits: String = time::utc_seconds(checkpoint.at)
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let (date, clock) = digits.split_at(8.min(digits.len()));
    format!(
        "keywarden-audit-checkpoint-{date}T{clock}Z-seq{}.txt",
        checkpoint.seq
    )
}

/// Writes the file whole or not at all (a temporary name, then a rename).
async fn write_file(dir: &Path, checkpoint: &Checkpoint) -> anyhow::Result<PathBuf> {
    tokio::fs::create_dir_all(dir)
        .await
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(file_name(checkpoint));
    let partial = dir.join(format!(".{}.partial", file_name(checkpoint)));
    tokio::fs::write(&partial, checkpoint.to_text())
        .await
        .with_context(|| format!("cannot write {}", partial.display()))?;
    tokio::fs::rename(&partial, &path)
        .await
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}
