//! What a correct password opens: a full session, a session restricted to the reset-password
//! task when the password is compromised, or nothing when that task is switched off.

use serde_json::json;
use tower_sessions::Session;

use super::session_start::open_session;
use super::task;
use crate::domain::{Actor, AuditAction, RequestMeta};
use crate::error::{AppError, Result};
use crate::features::sessions::ResetTask;
use crate::runtime::security::password_compromise;
use crate::runtime::{AppState, AuditedTx};
use crate::storage::users;

/// How a correct password signs in.
pub enum SignedIn {
    Full,
    /// The password is compromised: a restricted session for the reset-password task.
    ResetTask,
}

pub async fn complete_sign_in(
    state: &AppState,
    session: &Session,
    user: &users::UserRow,
    meta: &RequestMeta,
) -> Result<SignedIn> {
    let snap = state.security.get();
    if password_compromise(user, &snap).is_none() {
        open_session(state, session, user, meta, None).await?;
        return Ok(SignedIn::Full);
    }
    if snap.reset_task_enabled {
        open_session(state, session, user, meta, Some(ResetTask::default())).await?;
        task::send_code(state, user, meta, AuditAction::ResetTaskStarted).await?;
        return Ok(SignedIn::ResetTask);
    }
    let mut tx = AuditedTx::begin(state, meta).await?;
    let details = json!({"why": "password compromised; reset task switched off"});
    let actor = Actor::account(user.id, &user.email);
    tx.record(
        &actor,
        AuditAction::SignInBlocked,
        Some(user.id),
        None,
        details,
    )
    .await?;
    tx.commit().await?;
    Err(AppError::PasswordCompromised)
}
