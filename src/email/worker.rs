//! The delivery worker: claims due rows under a lease, sends them, records the outcome, and
//! retries failures with exponential backoff until the attempt limit.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::{watch, Notify};

use super::transport::MailTransport;
use crate::runtime::clock::SharedClock;
use crate::storage::{outbox, Store};

/// A claimed row is reserved this long; a worker that dies releases it when the lease runs out.
pub const LEASE_MS: i64 = 60_000;
const BATCH: i64 = 200;
/// Mails in flight at once. Each SMTP exchange waits on the network (and, on loopback, on the
/// peer's delayed acknowledgement), so one at a time caps delivery at a few dozen per second;
/// the pooled connections (`transport::POOL_SIZE`) carry this many in parallel.
pub const SEND_CONCURRENCY: usize = super::transport::POOL_SIZE as usize;
const POLL: Duration = Duration::from_secs(2);

pub struct Worker {
    pub store: Store,
    pub clock: SharedClock,
    pub transport: Arc<dyn MailTransport>,
    pub max_attempts: u32,
    /// Distinguishes workers (and nodes) in leases.
    pub owner: String,
}

/// Backoff before attempt n+1 after n failed attempts: 30 s, 1 min, 2 min, ... capped at 1 h.
pub fn backoff_ms(attempts: i64) -> i64 {
    let exp = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(u32::MAX)
        .min(7);
    (30_000i64 << exp).min(3_600_000)
}

impl Worker {
    /// Claims and delivers one batch. Returns how many rows were claimed.
    pub async fn run_once(&self) -> anyhow::Result<usize> {
        let now = self.clock.now_ms();
        // One UPDATE statement is atomic on its own: no explicit transaction (which on SQLite
        // would take the write lock every poll even when nothing is due).
        let rows = {
            let mut conn = self
                .store
                .pool()
                .acquire()
                .await
                .context("acquire connection")?;
            outbox::claim(&mut conn, &self.owner, now, now + LEASE_MS, BATCH)
                .await
                .context("claim outbox rows")?
        };
        let claimed = rows.len();
        let mut inflight = tokio::task::JoinSet::new();
        let mut first_error = None;
        for row in rows {
            let (transport, store, clock) = (
                self.transport.clone(),
                self.store.clone(),
                self.clock.clone(),
            );
            let (owner, max_attempts) = (self.owner.clone(), self.max_attempts);
            inflight.spawn(async move {
                let result = transport.send(&row).await;
                record(&store, &clock, &owner, max_attempts, &row, result).await
            });
            while inflight.len() >= SEND_CONCURRENCY {
                keep_first_error(&mut first_error, inflight.join_next().await);
            }
        }
        while let Some(done) = inflight.join_next().await {
            keep_first_error(&mut first_error, Some(done));
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        if claimed > 0 {
            // The bodies just deleted must not linger in the database files either.
            if let Err(e) = self.store.scrub_deleted().await {
                tracing::warn!(error = %e, "could not checkpoint the database after deleting mail bodies");
            }
        }
        Ok(claimed)
    }

    /// Runs until `stop` turns true; wakes early when `wake` is notified (a mail was queued).
    pub async fn run(self: Arc<Self>, wake: Arc<Notify>, mut stop: watch::Receiver<bool>) {
        tracing::info!(transport = %self.transport.describe(), "mail worker started");
        loop {
            match self.run_once().await {
                Ok(n) if n as i64 == BATCH => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = format!("{e:#}"), "mail worker pass failed"),
            }
            tokio::select! {
                _ = stop.changed() => break,
                _ = wake.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
            }
        }
        tracing::info!("mail worker stopped");
    }
}

fn keep_first_error(
    first: &mut Option<anyhow::Error>,
    done: Option<Result<anyhow::Result<()>, tokio::task::JoinError>>,
) {
    let error = match done {
        Some(Ok(Err(e))) => e,
        Some(Err(e)) => anyhow::anyhow!("delivery task failed: {e}"),
        _ => return,
    };
    first.get_or_insert(error);
}

/// Records one delivery's outcome on its row (sent, or failed with a retry time or for good).
async fn record(
    store: &Store,
    clock: &SharedClock,
    owner: &str,
    max_attempts: u32,
    row: &outbox::OutboxRow,
    result: Result<(), String>,
) -> anyhow::Result<()> {
    let mut conn = store.pool().acquire().await.context("acquire connection")?;
    let now = clock.now_ms();
    match result {
        Ok(()) => {
            outbox::mark_sent(&mut conn, row.id, owner, now)
                .await
                .context("mark sent")?;
            tracing::info!(id = row.id, kind = %row.kind, "mail delivered");
        }
        Err(error) => {
            let give_up = row.attempts >= i64::from(max_attempts);
            let retry_at = (!give_up).then(|| now + backoff_ms(row.attempts));
            outbox::mark_attempt_failed(&mut conn, row.id, owner, &error, retry_at)
                .await
                .context("mark failed")?;
            if give_up {
                tracing::error!(id = row.id, attempts = row.attempts, %error, "mail failed for good");
            } else {
                tracing::warn!(id = row.id, attempts = row.attempts, %error, "mail delivery failed; will retry");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::backoff_ms;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff_ms(1), 30_000);
        assert_eq!(backoff_ms(2), 60_000);
        assert_eq!(backoff_ms(3), 120_000);
        assert_eq!(backoff_ms(30), 3_600_000);
    }
}
