//! Admin read models.

use anyhow::Context;

use super::Overview;
use crate::error::Result;
use crate::state::AppState;
use crate::storage::{sessions, users, Backend};

/// Counts of users and live sessions for the admin home.
pub async fn overview(state: &AppState) -> Result<Overview> {
    let mut conn = state.conn().await?;
    let counts = users::counts(&mut conn).await.context("count users")?;
    let snap = state.security.get();
    let active_sessions = sessions::count_live(
        &mut conn,
        state.now(),
        snap.idle_ms,
        snap.row.sessions_revoked_before,
    )
    .await
    .context("count sessions")?;
    let database = match state.store.backend() {
        Backend::Sqlite => "SQLite",
        Backend::Postgres => "PostgreSQL",
    };
    Ok(Overview {
        users: counts.total,
        admins: counts.admins,
        disabled: counts.disabled,
        active_sessions,
        database: database.into(),
    })
}
