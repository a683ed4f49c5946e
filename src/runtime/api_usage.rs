//! Management API reads, counted: a write through the API is an audit entry of its own (the
//! service records it), and reads are accounted for too, without one entry per call. Each key's
//! reads are counted in memory by operation and address, and written every minute as one
//! `api_key.reads` entry per key (actor: the key). A node that dies loses at most that minute's
//! counts.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::json;
use tokio::sync::watch;

use super::{AppState, AuditedTx};
use crate::domain::{Actor, AuditAction, RequestMeta};
use crate::error::Result;

/// How often the counts are written.
const EVERY: Duration = Duration::from_secs(60);

#[derive(Default)]
struct Reads {
    name: String,
    calls: u64,
    by_operation: BTreeMap<String, u64>,
    from: BTreeSet<String>,
    first_at: i64,
}

/// Reads per API key since the last write.
#[derive(Default)]
pub struct ApiUsage(Mutex<HashMap<i64, Reads>>);

impl ApiUsage {
    /// Counts one read (`operation`: "GET /api/v1/users").
    pub fn read(&self, key_id: i64, name: &str, operation: &str, ip: Option<&str>, at: i64) {
        let Ok(mut map) = self.0.lock() else { return };
        let reads = map.entry(key_id).or_insert_with(|| Reads {
            name: name.to_owned(),
            first_at: at,
            ..Reads::default()
        });
        reads.calls += 1;
        *reads.by_operation.entry(operation.to_owned()).or_default() += 1;
        if let Some(ip) = ip {
            // A handful of addresses is what an audit entry should hold.
            if reads.from.len() < 20 {
                reads.from.insert(ip.to_owned());
            }
        }
    }

    fn take(&self) -> HashMap<i64, Reads> {
        self.0
            .lock()
            .map(|mut map| std::mem::take(&mut *map))
            .unwrap_or_default()
    }
}

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
