//! Admin read models.

use anyhow::Context;

use super::Overview;
use crate::error::Result;
use crate::features::sessions::validity::Cutoffs;
use crate::runtime::AppState;
use crate::storage::{sessions, users, Backend};

/// Counts of users and live sessions for the admin home.
pub async fn overview(state: &AppState) -> Result<Overview> {
    let mut conn = state.conn().await?;
    let counts = users::counts(&mut conn).await.context("count users")?;
    let snap = state.security.get();
    let now = state.now();
    let cut = Cutoffs::at(now, &snap);
    let active_sessions = sessions::count_live(
        &mut conn,
        now,
        cut.idle,
        cut.absolute,
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
