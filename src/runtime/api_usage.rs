//! Management API reads, counted: a write through the API is an audit entry of its own (the
//! service records it), and reads are accounted for too, without one entry per call. Each key's
//! reads are counted in memory by operation and address, and written every minute as one
//! `api_key.reads` entry per key (actor: the key; `features::api_keys::usage` writes them). A
//! node that dies loses at most that minute's counts.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

/// One key's reads since the last write.
#[derive(Default)]
pub struct Reads {
    pub name: String,
    pub calls: u64,
    pub by_operation: BTreeMap<String, u64>,
    pub from: BTreeSet<String>,
    pub first_at: i64,
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

    /// The counts so far, leaving none.
    pub fn take(&self) -> HashMap<i64, Reads> {
        self.0
            .lock()
            .map(|mut map| std::mem::take(&mut *map))
            .unwrap_or_default()
    }
}
