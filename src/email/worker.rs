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

/// When the deleted mail bodies are scrubbed from the database files (on SQLite a WAL checkpoint,
/// a few hundred milliseconds with a long queue): once the queue is drained, and at least this
/// often while a backlog is being sent. A delivered body lingers in the write-ahead log at most
/// this long.
pub const SCRUB_EVERY: Duration = Duration::from_secs(10);

/// Decides when a worker scrubs (see [`SCRUB_EVERY`]).
pub struct ScrubPolicy {
    last: std::time::Instant,
    pending: bool,
}

impl Default for ScrubPolicy {
    fn default() -> Self {
        Self {
            last: std::time::Instant::now(),
            pending: false,
        }
    }
}

impl ScrubPolicy {
    /// After a pass that claimed `claimed` rows: whether to scrub now.
    pub fn after_pass(&mut self, claimed: usize) -> bool {
        self.pending |= claimed > 0;
        let drained = (claimed as i64) < BATCH;
        if self.pending && (drained || self.last.elapsed() >= SCRUB_EVERY) {
            self.pending = false;
            self.last = std::time::Instant::now();
            return true;
        }
        false
    }
}

impl Worker {
    /// Claims and delivers one batch, then scrubs the deleted bodies. Returns how many rows were
    /// claimed.
    pub async fn run_once(&self) -> anyhow::Result<usize> {
        let claimed = self.deliver_batch().await?;
        if claimed > 0 {
            self.scrub().await;
        }
        Ok(claimed)
    }

    async fn conn(&self) -> anyhow::Result<sqlx::pool::PoolConnection<sqlx::Any>> {
        self.store
            .pool()
            .acquire()
            .await
            .context("acquire connection")
    }

    /// The bodies deleted by delivery must not linger in the database files either.
    pub async fn scrub(&self) {
        if let Err(e) = self.store.scrub_deleted().await {
            tracing::warn!(error = %e, "could not checkpoint the database after deleting mail bodies");
        }
    }

    /// Claims and delivers one batch (no scrub: see [`ScrubPolicy`]). Returns how many rows were
    /// claimed.
    pub async fn deliver_batch(&self) -> anyhow::Result<usize> {
        let now = self.clock.now_ms();
        // One UPDATE statement is atomic on its own: no explicit transaction (which on SQLite
        // would take the write lock every poll even when nothing is due).
        let rows = {
            let mut conn = self.conn().await?;
            outbox::claim(
                &mut conn,
                self.store.backend(),
                &self.owner,
                now,
                now + LEASE_MS,
                BATCH,
            )
            .await
            .context("claim outbox rows")?
        };
        let claimed = rows.len();
        let mut inflight = tokio::task::JoinSet::new();
        let mut delivered = Delivered::default();
        for row in rows {
            let (transport, store, clock) = (
                self.transport.clone(),
                self.store.clone(),
                self.clock.clone(),
            );
            let (owner, max_attempts) = (self.owner.clone(), self.max_attempts);
            inflight.spawn(async move {
                match transport.send(&row).await {
                    Ok(()) => Ok(Some(row)),
                    Err(e) => record_failure(&store, &clock, &owner, max_attempts, &row, e)
                        .await
                        .map(|()| None),
                }
            });
            while inflight.len() >= SEND_CONCURRENCY {
                delivered.take(inflight.join_next().await);
                // Every other send that has finished meanwhile is recorded with it.
                while let Some(done) = inflight.try_join_next() {
                    delivered.take(Some(done));
                }
                self.record_sent(&mut delivered).await;
            }
        }
        while let Some(done) = inflight.join_next().await {
            delivered.take(Some(done));
            while let Some(done) = inflight.try_join_next() {
                delivered.take(Some(done));
            }
            self.record_sent(&mut delivered).await;
        }
        if let Some(e) = delivered.first_error {
            return Err(e);
        }
        Ok(claimed)
    }

    /// Records the mails sent since the last call as sent, in one statement (one write
    /// transaction for all of them, instead of one each: SQLite has one writer). A failure to
    /// record is kept as the pass's error; those rows are sent again once their lease expires.
    async fn record_sent(&self, delivered: &mut Delivered) {
        if delivered.sent.is_empty() {
            return;
        }
        let rows = std::mem::take(&mut delivered.sent);
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let marked = async {
            let mut conn = self.conn().await?;
            outbox::mark_sent(&mut conn, &ids, &self.owner, self.clock.now_ms())
                .await
                .context("mark sent")
        }
        .await;
        match marked {
            Ok(_) => {
                for row in &rows {
                    tracing::info!(id = row.id, kind = %row.kind, "mail delivered");
                }
            }
            Err(e) => {
                delivered.first_error.get_or_insert(e);
            }
        }
    }

    /// Runs until `stop` turns true; wakes early when `wake` is notified (a mail was queued).
    pub async fn run(self: Arc<Self>, wake: Arc<Notify>, mut stop: watch::Receiver<bool>) {
        tracing::info!(transport = %self.transport.describe(), "mail worker started");
        let mut policy = ScrubPolicy::default();
        loop {
            let claimed = self.deliver_batch().await;
            if policy.after_pass(*claimed.as_ref().unwrap_or(&0)) {
                self.scrub().await;
            }
            match claimed {
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

/// The sends of one pass that ended since their outcomes were last recorded.
#[derive(Default)]
struct Delivered {
    sent: Vec<outbox::OutboxRow>,
    first_error: Option<anyhow::Error>,
}

impl Delivered {
    fn take(
        &mut self,
        done: Option<Result<anyhow::Result<Option<outbox::OutboxRow>>, tokio::task::JoinError>>,
    ) {
        let error = match done {
            Some(Ok(Ok(Some(row)))) => {
                self.sent.push(row);
                return;
            }
            Some(Ok(Ok(None))) | None => return,
            Some(Ok(Err(e))) => e,
            Some(Err(e)) => anyhow::anyhow!("delivery task failed: {e}"),
        };
        self.first_error.get_or_insert(error);
    }
}

/// Records one failed delivery on its row (retried later, or failed for good).
async fn record_failure(
    store: &Store,
    clock: &SharedClock,
    owner: &str,
    max_attempts: u32,
    row: &outbox::OutboxRow,
    error: String,
) -> anyhow::Result<()> {
    let mut conn = store.pool().acquire().await.context("acquire connection")?;
    let now = clock.now_ms();
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
