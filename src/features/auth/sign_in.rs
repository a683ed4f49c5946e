//! What a correct password opens: a full session, a session restricted to the reset-password
//! task when the password is compromised, or nothing when that task is switched off.
//!
//! The decision is made again inside the transaction that issues the session, on the user row
//! and the security snapshot as they are then (the verification took tens of milliseconds, and an
//! attacker can stretch that by loading the hash queue): a password changed meanwhile no longer
//! signs in, a compromise committed meanwhile restricts the session, and the session is issued at
//! the time its verification started, so a sign-out committed meanwhile catches it.

use serde_json::json;
use tower_sessions::Session;

use super::service::Authenticated;
use super::session_start::record_and_start;
use super::task;
use crate::domain::{Actor, AuditAction, RequestMeta};
use crate::error::{AppError, Result};
use crate::features::sessions::{hash_session_id, ResetTask};
use crate::runtime::security::password_compromise;
use crate::runtime::{throttle, AppState, AuditedTx};

/// How a correct password signs in.
pub enum SignedIn {
    Full,
    /// The password is compromised: a restricted session for the reset-password task.
    ResetTask,
}

pub async fn complete_sign_in(
    state: &AppState,
    session: &Session,
    proved: &Authenticated,
    meta: &RequestMeta,
) -> Result<SignedIn> {
    let mut tx = AuditedTx::begin(state, meta).await?;
    // Throttle, audit, devices, alert mail, and the end of the session this browser had: no user
    // row changes here, and the one session row that may end is forgotten by this node at commit
    // (other nodes hear of it from the row's change); the new session's row is written by the
    // session store after it. So the commit needs no cache sync.
    tx.changes_no_cached_rows();
    // The password was right: the throttle starts again (also when the account changed during
    // the check), the session this browser had ends (replaced), and the user row is read again
    // in this transaction.
    let replaces = session.id().map(|id| hash_session_id(&id));
    let user = throttle::succeeded(
        &mut tx,
        &proved.attempt,
        proved.user.id,
        replaces.as_deref(),
    )
    .await?
    .filter(|u| u.disabled_at.is_none() && u.password_hash == proved.user.password_hash);
    let Some(user) = user else {
        // Disabled, or the password changed, while this one was being checked.
        let details = json!({"why": "account changed during the check"});
        tx.record(
            &Actor::Anonymous,
            AuditAction::SignInFailed,
            Some(proved.user.id),
            None,
            details,
        )
        .await?;
        tx.commit().await?;
        return Err(AppError::InvalidCredentials);
    };
    // Recorded in the transaction that remembers the device: one commit for the whole sign-in.
    tx.record(
        &Actor::account(user.id, &user.email),
        AuditAction::SignIn,
        Some(user.id),
        None,
        json!({"method": "password"}),
    )
    .await?;
    let snap = state.security.get();
    if password_compromise(&user, &snap).is_none() {
        record_and_start(tx, session, &user, None, proved.issued_at).await?;
        return Ok(SignedIn::Full);
    }
    if snap.reset_task_enabled {
        let task = Some(ResetTask::default());
        record_and_start(tx, session, &user, task, proved.issued_at).await?;
        task::send_code(state, &user, meta, AuditAction::ResetTaskStarted).await?;
        return Ok(SignedIn::ResetTask);
    }
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
