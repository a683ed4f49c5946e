//! The reset-password task of a restricted session. The leaked password may be the attacker's,
//! so the session must first prove control of the account's e-mail with a 6-digit code (10
//! minutes, single use, 5 tries, within the user's daily budget: see `task_code`), then set a new password that is neither the compromised
//! one nor the current one. Completing it signs out every other session and issues a full one.

use anyhow::Context;
use secrecy::SecretString;
use serde_json::json;
use tower_sessions::Session;

use super::password::{hash_new_password, set_new_password};
use super::session_start::open_session;
pub use super::task_code::{send_code, Lock, Sent, MAX_TRIES};
use crate::domain::{Actor, AuditAction, RequestMeta, Viewer};
use crate::error::{AppError, Result};
use crate::features::sessions::service as sessions;
use crate::runtime::{AppState, AuditedTx};
use crate::storage::{resets, users};

fn user_actor(u: &users::UserRow) -> Actor {
    Actor::account(u.id, &u.email)
}

async fn load_user(state: &AppState, id: i64) -> Result<users::UserRow> {
    let mut conn = state.conn().await?;
    users::find_by_id(&mut conn, id)
        .await
        .context("load user")?
        .ok_or(AppError::Unauthenticated)
}

/// Sends a code unless a live one exists (a session restricted while signed in has none yet).
/// Returns what the page must say instead of asking for a code, when the user's budget is spent.
pub async fn ensure_code(
    state: &AppState,
    viewer: &Viewer,
    meta: &RequestMeta,
) -> Result<Option<String>> {
    let now = state.now();
    let lock = super::task_code::lock(state, viewer.user_id).await?;
    if let Some(lock @ Lock::TooManyWrongCodes { .. }) = lock {
        return Ok(Some(lock.message(now)));
    }
    let mut conn = state.conn().await?;
    let live = resets::code(&mut conn, viewer.user_id)
        .await
        .context("load code")?
        .is_some_and(|(_, expires_at, _)| expires_at > now);
    drop(conn);
    if live {
        return Ok(None);
    }
    let user = load_user(state, viewer.user_id).await?;
    Ok(
        match send_code(state, &user, meta, AuditAction::ResetTaskStarted).await? {
            Sent::Sent => None,
            Sent::Locked(lock) => Some(lock.message(now)),
        },
    )
}

/// Sends a new code on request; refused with the reason and the time to wait when the user's
/// budget is spent.
pub async fn resend_code(state: &AppState, viewer: &Viewer, meta: &RequestMeta) -> Result<()> {
    let user = load_user(state, viewer.user_id).await?;
    match send_code(state, &user, meta, AuditAction::ResetTaskCodeResent).await? {
        Sent::Sent => Ok(()),
        Sent::Locked(lock) => Err(AppError::field("code", lock.message(state.now()))),
    }
}

/// Whether this session already proved control of the e-mail.
pub async fn email_verified(session: &Session) -> Result<bool> {
    Ok(sessions::reset_task(session)
        .await?
        .is_some_and(|t| t.email_verified))
}

/// Checks the code (see [`super::task_code`] for the tries and the budget) and records the
/// proof in this session.
pub async fn verify_code(
    state: &AppState,
    session: &Session,
    viewer: &Viewer,
    code: &str,
    meta: &RequestMeta,
) -> Result<()> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AppError::field(
            "code",
            "Enter the 6-digit code from the e-mail.",
        ));
    }
    let user = load_user(state, viewer.user_id).await?;
    super::task_code::check_code(state, &user, code, meta).await?;
    sessions::mark_email_verified(session).await
}

/// Sets the new password, ends every other session, issues a full session, sends the
/// "password changed" mail and records the completion.
pub async fn complete(
    state: &AppState,
    session: &Session,
    viewer: &Viewer,
    password: SecretString,
    meta: &RequestMeta,
) -> Result<()> {
    if !email_verified(session).await? {
        return Err(AppError::field(
            "code",
            "Confirm the code from the e-mail first.",
        ));
    }
    let user = load_user(state, viewer.user_id).await?;
    // The current password is the compromised one: refusing it refuses both.
    let hash = hash_new_password(
        state,
        &user,
        &password,
        "Choose a new password: this one is compromised.",
    )
    .await?;
    let mut tx = AuditedTx::begin(state, meta).await?;
    let (set_at, ended) = set_new_password(&mut tx, &user, &hash).await?;
    let details = json!({"sessions_ended": ended});
    tx.record(
        &user_actor(&user),
        AuditAction::ResetTaskCompleted,
        Some(user.id),
        None,
        details,
    )
    .await?;
    tx.commit().await?;
    // A full session, issued after the new password.
    let mut refreshed = user.clone();
    refreshed.password_set_at = set_at;
    open_session(state, session, &refreshed, meta).await
}
