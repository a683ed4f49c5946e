//! Signed audit checkpoints and a verify that reads one snapshot, on SQLite and PostgreSQL
//! (ASVS 5.0 V16.4.2: logs are protected from unauthorized modification; V16.4.3).

mod common;

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;

use common::TestApp;
use keywarden::domain::{Actor, AuditAction, RequestMeta};
use keywarden::runtime::audit::{verify, Verification};
use keywarden::runtime::{AppState, AuditedTx};
use serde_json::json;

on_both_databases!(v16_4_2_verify_reads_one_snapshot_while_entries_are_appended,);

/// Appends one entry the way every action does (its own unit of work).
async fn append(state: &AppState, n: i64) {
    let meta = RequestMeta::default();
    let mut tx = AuditedTx::begin(state, &meta).await.unwrap();
    tx.record(
        &Actor::System,
        AuditAction::SettingsMailUpdated,
        None,
        None,
        json!({ "n": n }),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

async fn v16_4_2_verify_reads_one_snapshot_while_entries_are_appended(app: &TestApp) {
    for n in 0..300 {
        append(&app.state, n).await;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicI64::new(0));
    let writer = {
        let (state, stop, written) = (app.state.clone(), stop.clone(), written.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let n = written.fetch_add(1, Ordering::SeqCst);
                append(&state, n).await;
            }
        })
    };
    let mut checks = 0;
    while checks < 25 || written.load(Ordering::SeqCst) < 50 {
        let result = verify(&app.state.store).await.unwrap();
        assert!(
            matches!(result, Verification::Intact { .. }),
            "a live chain reported as broken: {result:?}"
        );
        checks += 1;
    }
    stop.store(true, Ordering::SeqCst);
    writer.await.unwrap();
    assert!(
        written.load(Ordering::SeqCst) >= 50,
        "writes went on during the checks"
    );
}
