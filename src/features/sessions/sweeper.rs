//! The session sweeper: once a minute it stamps the rows an instance-wide sign-out ended,
//! forgets expired alert links, marks sessions past their limits as expired (by the validity
//! rule's cut-offs) and forgets sessions ended more than 30 days ago, cache events older than an
//! hour and application accesses older than two days. Changes made by other
//! processes reach this node through `runtime::propagation`, not through the sweeper.

use std::time::Duration;

use tokio::sync::watch;

use super::validity::Cutoffs;
use crate::runtime::session_cache::EVENTS_KEPT_MS;
use crate::runtime::AppState;
use crate::storage::{applications, cache_events, devices, sessions};

/// Application accesses are kept this long (the Applications page counts the last 24 hours).
const ACCESSES_KEPT_MS: i64 = 48 * 60 * 60 * 1000;

/// Ended sessions stay listed (with their reason) this long before they are forgotten.
pub const ENDED_SESSION_RETENTION_MS: i64 = 30 * 24 * 60 * 60 * 1000;
const EVERY: Duration = Duration::from_secs(60);

/// Runs passes until `stop` turns true.
pub async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            _ = tokio::time::sleep(EVERY) => {}
        }
        state.limiter.forget_idle();
        match sweep_once(&state).await {
            Ok((expired, deleted)) if expired + deleted > 0 => {
                tracing::info!(expired, deleted, "session sweep")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "session sweep failed"),
        }
        if let Err(e) = crate::runtime::throttle::report_due(&state).await {
            tracing::warn!(error = %e, "sign-in throttle report failed");
        }
    }
}

/// One pass. Returns (expired, deleted).
pub async fn sweep_once(state: &AppState) -> sqlx::Result<(u64, u64)> {
    let mut conn = state.store.pool().acquire().await?;
    let snap = state.security.get();
    let now = state.now();
    if snap.row.sessions_revoked_before > 0 {
        sessions::settle_instance_sign_out(&mut conn, snap.row.sessions_revoked_before).await?;
    }
    devices::sweep_alerts(&mut conn, now, ENDED_SESSION_RETENTION_MS).await?;
    // Cache events carry the database's time.
    let db_now = crate::storage::now_ms(&mut conn, state.store.backend()).await?;
    cache_events::prune(&mut conn, db_now - EVENTS_KEPT_MS).await?;
    applications::prune_accesses(&mut conn, now - ACCESSES_KEPT_MS).await?;
    let cut = Cutoffs::at(now, &snap);
    sessions::sweep(
        &mut conn,
        now,
        cut.idle,
        cut.absolute,
        ENDED_SESSION_RETENTION_MS,
    )
    .await
}
