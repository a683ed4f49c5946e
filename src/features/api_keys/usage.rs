//! (ssr) Writes the API reads counted in memory (`runtime::api_usage`) to the audit trail: one
//! `api_key.reads` entry per key, every minute and once more when the node stops.

use std::time::Duration;

use serde_json::json;
use tokio::sync::watch;

use crate::domain::{Actor, AuditAction, RequestMeta};
use crate::error::Result;
use crate::runtime::{AppState, AuditedTx};

/// How often the counts are written.
const EVERY: Duration = Duration::from_secs(60);

/// Writes the counted reads, one audit entry per key, in one transaction.
pub async fn flush(state: &AppState) -> Result<usize> {
    let counted = state.api_usage.take();
    if counted.is_empty() {
        return Ok(0);
    }
    let meta = RequestMeta::default();
    let mut tx = AuditedTx::begin(state, &meta).await?;
    let mut ids: Vec<_> = counted.keys().copied().collect();
    ids.sort_unstable();
    for id in &ids {
        let reads = &counted[id];
        let actor = Actor::ApiKey {
            id: *id,
            name: reads.name.clone(),
        };
        let details = json!({
            "calls": reads.calls,
            "operations": reads.by_operation,
            "from": reads.from,
            "since": crate::domain::time::utc_seconds(reads.first_at),
        });
        tx.record(&actor, AuditAction::ApiKeyReads, None, None, details)
            .await?;
    }
    tx.commit().await?;
    Ok(ids.len())
}

/// Writes the counts every minute, and once more when the node stops.
pub async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    loop {
        let stopping = tokio::select! {
            _ = stop.changed() => true,
            _ = tokio::time::sleep(EVERY) => false,
        };
        if let Err(e) = flush(&state).await {
            tracing::warn!(error = format!("{e}"), "writing the API read counts failed");
        }
        if stopping {
            return;
        }
    }
}
