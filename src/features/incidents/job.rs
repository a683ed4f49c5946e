//! The durable job that acts on a frozen cohort, in batches: containment first (every member
//! compromised and/or signed out, by their user rows: the session watermark makes every session
//! of theirs invalid at once), then the session rows stamped as ended, then the notices. Each batch is one transaction that does the
//! work, marks its members done and advances the counters, under the node's lease on the
//! cohort: a batch either happened whole or not at all, so a re-run changes nothing twice and a
//! job killed mid-way resumes where its last committed batch left it (the lease expires, then
//! this node or another takes it).

use std::time::Duration;

use anyhow::Context;
use serde_json::json;
use tokio::sync::watch;

use crate::domain::{time, Actor, AuditAction, EndReason, RequestMeta};
use crate::email::MailKind;
use crate::error::{AppError, Result};
use crate::runtime::{AppState, AuditedTx};
use crate::storage::incidents::{self, CohortRow, Phase};
use crate::storage::security;

/// Members contained per transaction: set-based statements, so a large batch stays short.
pub const CONTAIN_BATCH: i64 = 5_000;
/// Notices queued per transaction (each renders one mail).
pub const NOTIFY_BATCH: i64 = 500;
/// How long a node's claim on a cohort lasts without a batch renewing it.
pub const LEASE_MS: i64 = 30_000;
/// How often the runner looks for work it was not woken for (another node's, an expired lease).
const POLL: Duration = Duration::from_secs(2);

/// What one step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// A batch was committed; there is more to do.
    Progressed,
    /// The cohort's job is finished.
    Finished,
    /// Not this node's to run now (leased elsewhere, cancelled or finished).
    NotMine,
}

/// This node's name for leases.
pub fn node_name() -> String {
    format!("{}-{:08x}", std::process::id(), rand::random::<u32>())
}

/// Runs cohort jobs until `stop`: woken by an apply on this node, and every few seconds for
/// work left by other nodes or by a node that died.
pub async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    let owner = node_name();
    loop {
        if let Err(e) = run_pending(&state, &owner, &mut stop).await {
            tracing::warn!(
                error = format!("{e:#}"),
                "incident job step failed; retrying"
            );
        }
        tokio::select! {
            _ = stop.changed() => return,
            _ = state.incident_wake.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
        }
        if *stop.borrow() {
            return;
        }
    }
}

/// Runs every runnable cohort to its end (or until `stop`).
pub async fn run_pending(
    state: &AppState,
    owner: &str,
    stop: &mut watch::Receiver<bool>,
) -> Result<()> {
    let ids = {
        let mut conn = state.conn().await?;
        incidents::runnable(&mut conn, owner, state.now())
            .await
            .context("find runnable cohorts")?
    };
    for id in ids {
        loop {
            if *stop.borrow() {
                return Ok(());
            }
            if step(state, owner, id).await? != Step::Progressed {
                break;
            }
        }
    }
    Ok(())
}

/// One batch of cohort `id`'s job, in one transaction.
pub async fn step(state: &AppState, owner: &str, id: i64) -> Result<Step> {
    let meta = RequestMeta::default();
    let mut tx = AuditedTx::begin(state, &meta).await?;
    let now = tx.now();
    if !incidents::lease(&mut tx, id, owner, now, now + LEASE_MS)
        .await
        .context("lease cohort")?
    {
        return Ok(Step::NotMine);
    }
    let cohort = incidents::find_cohort(&mut tx, id)
        .await
        .context("load cohort")?
        .context("cohort vanished")?;
    let incident = incidents::find(&mut tx, cohort.incident_id)
        .await
        .context("load incident")?
        .context("incident vanished")?;
    tx.for_incident(Some((incident.id, incident.reference.clone())));
    let batch = incidents::next_batch(
        &mut tx,
        id,
        Phase::Contain(cohort.contained_through),
        CONTAIN_BATCH,
    )
    .await
    .context("next batch to contain")?;
    let backend = state.store.backend();
    if !batch.is_empty() {
        incidents::commit_without_waiting(&mut tx, backend).await?;
        contain(&mut tx, &cohort, &incident.reference, &batch).await?;
        tx.commit().await?;
        return Ok(Step::Progressed);
    }
    if cohort.contained_at.is_none() {
        contained(&mut tx, &cohort, &incident).await?;
        tx.commit().await?;
        return Ok(Step::Progressed);
    }
    if cohort.sign_out != 0 {
        let batch =
            incidents::members_after(&mut tx, id, cohort.sessions_settled_through, CONTAIN_BATCH)
                .await
                .context("next batch of sessions to stamp")?;
        if !batch.is_empty() {
            incidents::commit_without_waiting(&mut tx, backend).await?;
            settle(&mut tx, &cohort, &batch).await?;
            tx.commit().await?;
            return Ok(Step::Progressed);
        }
    }
    if cohort.notify != 0 {
        let batch = incidents::next_batch(&mut tx, id, Phase::Notify, NOTIFY_BATCH)
            .await
            .context("next batch to notify")?;
        if !batch.is_empty() {
            // Synced as usual: a mail the worker sent must not come back as unsent after a crash.
            notify(&mut tx, &cohort, &incident, &batch).await?;
            tx.commit().await?;
            // The outbox grows by the cohort's size: its statistics are refreshed once the mail
            // worker has rows to claim, and again at the end.
            if cohort.notified == 0 {
                refresh_statistics(state, incidents::BulkTable::Outbox).await;
            }
            return Ok(Step::Progressed);
        }
    }
    incidents::finish_cohort(&mut tx, id, "done", now)
        .await
        .context("finish cohort")?;
    tx.record(
        &Actor::System,
        AuditAction::IncidentCohortFinished,
        None,
        None,
        json!({"cohort": id, "size": cohort.size, "contained": cohort.contained, "notified": cohort.notified}),
    )
    .await?;
    tx.commit().await?;
    if cohort.notify != 0 {
        refresh_statistics(state, incidents::BulkTable::OutboxQueued).await;
    }
    Ok(Step::Finished)
}

/// See [`incidents::refresh_statistics`]; a failure only costs speed.
pub(super) async fn refresh_statistics(state: &AppState, table: incidents::BulkTable) {
    let refreshed = match state.conn().await {
        Ok(mut conn) => {
            incidents::refresh_statistics(&mut conn, state.store.backend(), table).await
        }
        Err(_) => return,
    };
    if let Err(e) = refreshed {
        tracing::warn!(error = %e, ?table, "could not refresh a table's statistics");
    }
}

/// Why the cohort's sessions end: its password compromise, or the sign-out alone.
fn end_reason(cohort: &CohortRow) -> EndReason {
    if cohort.compromise != 0 {
        EndReason::PasswordCompromised
    } else {
        EndReason::SignedOutByAdmin
    }
}

/// Compromises and/or signs out the batch's members (none contained yet), and marks them.
async fn contain(
    tx: &mut AuditedTx<'_>,
    cohort: &CohortRow,
    reference: &str,
    batch: &[i64],
) -> Result<()> {
    let at = tx.order_time().await?;
    let by = format!("incident {reference}");
    let reason = end_reason(cohort);
    // The watermark: the database clock now, past the instance's watermarks (a session issued
    // just after one of them is stamped one past it), and past each member's own (in the
    // statement). It covers every session issued so far without reading them.
    let revoke = if cohort.sign_out != 0 {
        let instance = security::load(tx).await.context("instance watermarks")?;
        let floor = instance
            .passwords_compromised_before
            .max(instance.sessions_revoked_before)
            + 1;
        Some((at.max(floor), reason.as_str()))
    } else {
        None
    };
    incidents::contain_users(
        tx,
        batch,
        &incidents::Containment {
            compromise: (cohort.compromise != 0).then_some((
                at,
                by.as_str(),
                cohort.reason.as_str(),
            )),
            revoke,
        },
    )
    .await
    .context("contain batch")?;
    let n = incidents::mark_contained(tx, cohort.id, batch, at)
        .await
        .context("mark batch contained")?;
    tx.record(
        &Actor::System,
        AuditAction::IncidentCohortBatch,
        None,
        None,
        json!({
            "cohort": cohort.id,
            "users": n,
            "first_user": batch.first(),
            "last_user": batch.last(),
            "compromised": cohort.compromise != 0,
            "signed_out": cohort.sign_out != 0,
        }),
    )
    .await?;
    Ok(())
}

/// Stamps the session rows of a batch of contained members as ended (their watermark already
/// made them invalid at containment), and records how far the stamping has gone.
async fn settle(tx: &mut AuditedTx<'_>, cohort: &CohortRow, batch: &[i64]) -> Result<()> {
    let reason = end_reason(cohort);
    let now = tx.now();
    let ended = incidents::settle_sessions(tx, cohort.id, batch, reason.as_str(), now)
        .await
        .context("stamp ended sessions")?;
    let last = batch
        .last()
        .copied()
        .unwrap_or(cohort.sessions_settled_through);
    incidents::set_sessions_settled_through(tx, cohort.id, last)
        .await
        .context("record the stamping")?;
    tx.record(
        &Actor::System,
        AuditAction::IncidentCohortSessionsEnded,
        None,
        None,
        json!({
            "cohort": cohort.id,
            "users": batch.len(),
            "first_user": batch.first(),
            "last_user": last,
            "sessions_ended": ended,
        }),
    )
    .await?;
    Ok(())
}

/// Every member contained: the cohort records when, and the incident too once all its cohorts
/// are (the end of MTTR).
async fn contained(
    tx: &mut AuditedTx<'_>,
    cohort: &CohortRow,
    incident: &incidents::IncidentRow,
) -> Result<()> {
    // Never before detection, even when this node's clock is behind the one that opened it.
    let now = tx.now().max(incident.detected_at);
    incidents::set_cohort_contained(tx, cohort.id, now)
        .await
        .context("cohort contained")?;
    let all = incidents::cohorts_of(tx, incident.id)
        .await
        .context("load cohorts")?;
    let every_one = all
        .iter()
        .all(|c| c.id == cohort.id || c.contained_at.is_some() || c.state == "cancelled");
    if every_one
        && incidents::set_state(tx, incident.id, &["open"], "contained", now)
            .await
            .context("incident contained")?
    {
        tx.record(
            &Actor::System,
            AuditAction::IncidentContained,
            None,
            None,
            json!({
                "cohort": cohort.id,
                "mttr_ms": now - incident.detected_at,
                "detected_at": time::utc_seconds(incident.detected_at),
            }),
        )
        .await?;
    }
    Ok(())
}

/// Queues the incident notice to each member of the batch (once: the member is marked in the
/// same transaction). A member whose account is gone since the freeze is marked without a mail.
async fn notify(
    tx: &mut AuditedTx<'_>,
    cohort: &CohortRow,
    incident: &incidents::IncidentRow,
    batch: &[i64],
) -> Result<()> {
    let now = tx.now();
    let emails = incidents::emails_of(tx, batch)
        .await
        .context("load member addresses")?;
    let base = tx.state().config.base_url.clone();
    let devices_url = base
        .join("account/devices")
        .map(|u| u.to_string())
        .unwrap_or_else(|_| base.to_string());
    let what_to_do = super::service::what_to_do(cohort.compromise != 0, cohort.sign_out != 0);
    let vars = json!({
        "reference": incident.reference,
        "incident_title": incident.title,
        "what_happened": incident.notice,
        "what_to_do": what_to_do,
        "devices_url": devices_url,
    });
    let to: Vec<&str> = emails.iter().map(|(_, e)| e.as_str()).collect();
    let outbox = tx
        .queue_mails(MailKind::IncidentNotice, &to, vars, Some(cohort.id))
        .await?;
    let queued = outbox.len();
    // A member whose account is gone since the freeze is marked without a mail.
    let marked: Vec<(i64, Option<i64>)> = {
        let by_id: std::collections::HashMap<i64, &str> =
            emails.iter().map(|(id, e)| (*id, e.as_str())).collect();
        batch
            .iter()
            .map(|id| (*id, by_id.get(id).and_then(|e| outbox.get(*e).copied())))
            .collect()
    };
    incidents::mark_notified(tx, cohort.id, &marked, now)
        .await
        .context("mark notified")?;
    let n = i64::try_from(batch.len()).unwrap_or(i64::MAX);
    incidents::add_notified(tx, cohort.id, n)
        .await
        .context("count notified")?;
    tx.record(
        &Actor::System,
        AuditAction::IncidentNoticesQueued,
        None,
        None,
        json!({"cohort": cohort.id, "members": n, "mails_queued": queued}),
    )
    .await?;
    Ok(())
}

/// Stops a running cohort's job: batches already committed stay done.
pub async fn cancel(
    state: &AppState,
    op: &Actor,
    cohort_id: i64,
    meta: &RequestMeta,
) -> Result<()> {
    let mut tx = AuditedTx::begin(state, meta).await?;
    let cohort = incidents::find_cohort(&mut tx, cohort_id)
        .await
        .context("load cohort")?
        .ok_or_else(|| AppError::field("cohort", "No such cohort."))?;
    let incident = incidents::find(&mut tx, cohort.incident_id)
        .await
        .context("load incident")?
        .context("incident vanished")?;
    let now = tx.now();
    if !incidents::finish_cohort(&mut tx, cohort_id, "cancelled", now)
        .await
        .context("cancel cohort")?
    {
        return Err(AppError::field(
            "cohort",
            "This cohort's job is not running.",
        ));
    }
    tx.for_incident(Some((incident.id, incident.reference.clone())));
    tx.record(
        op,
        AuditAction::IncidentCohortCancelled,
        None,
        None,
        json!({"cohort": cohort_id, "contained": cohort.contained, "notified": cohort.notified, "size": cohort.size}),
    )
    .await?;
    tx.commit().await
}
