//! Step-up: the user's password again before a sensitive action, unless they proved it within
//! the action's window (5 minutes for instance-wide actions, 10 for ending sessions). A stolen
//! session must not become a password-guessing oracle, so confirmations are rate-limited per
//! session (a stolen cookie cannot use up its owner's tries) under a per-user ceiling.

use anyhow::Context;
use secrecy::SecretString;

use crate::domain::Viewer;
use crate::error::{AppError, Result};
use crate::runtime::limiter::Limit;
use crate::runtime::AppState;
use crate::storage::users;

/// Instance-wide actions.
pub const ADMIN_WINDOW_MS: i64 = 5 * 60 * 1000;
/// Ending sessions (ASVS 7.5.2).
pub const DEVICES_WINDOW_MS: i64 = 10 * 60 * 1000;

/// Whether `viewer` must type the password for an action with this window.
pub fn needed(state: &AppState, viewer: &Viewer, window_ms: i64) -> bool {
    state.now() - viewer.authenticated_at > window_ms
}

/// Checks step-up. Returns whether a password was proved (the caller then restarts the window
/// of the session with `super::service::mark_authenticated`).
pub async fn check(
    state: &AppState,
    viewer: &Viewer,
    password: &str,
    window_ms: i64,
) -> Result<bool> {
    if password.is_empty() && !needed(state, viewer, window_ms) {
        return Ok(false);
    }
    // Per session first, so a stolen cookie cannot use up its owner's tries; then a ceiling over
    // all of the user's sessions.
    if !password.is_empty()
        && !(state.limiter.allow(
            Limit::StepUpPerSession,
            &format!("{}:{}", viewer.user_id, viewer.session_key),
        ) && state
            .limiter
            .allow(Limit::StepUpPerUser, &viewer.user_id.to_string()))
    {
        return Err(AppError::RateLimited);
    }
    let mut conn = state.conn().await?;
    let user = users::find_by_id(&mut conn, viewer.user_id)
        .await
        .context("load user")?;
    drop(conn);
    let ok = state
        .hasher
        .verify(
            SecretString::from(password.to_owned()),
            user.map(|u| u.password_hash),
        )
        .await?;
    if ok {
        Ok(true)
    } else {
        Err(AppError::field(
            "password",
            "Enter your current password to confirm it is you.",
        ))
    }
}
