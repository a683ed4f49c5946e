//! Liveness and readiness for orchestrators and load balancers.

use axum::extract::State;
use axum::http::StatusCode;

use crate::runtime::AppState;

/// `/healthz`: the process is up.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `/readyz`: the database answers, and no background worker or cache reports a problem.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, String) {
    if let Err(e) = state.store.ping().await {
        tracing::warn!(error = %e, "readiness check failed");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "database unavailable".into(),
        );
    }
    let problems = state.health.problems();
    if problems.is_empty() {
        (StatusCode::OK, "ready".into())
    } else {
        tracing::warn!(problems = problems.join("; "), "not ready");
        (StatusCode::SERVICE_UNAVAILABLE, problems.join("\n"))
    }
}
