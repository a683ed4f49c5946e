//! The reset-password task of a restricted session. The leaked password may be the attacker's,
//! so the session must first prove control of the account's e-mail with a 6-digit code (10
//! minutes, single use, 5 wrong tries), then set a new password that is neither the compromised
//! one nor the current one. Completing it signs out every other session and issues a full one.

use anyhow::Context;
use rand::Rng;
use secrecy::SecretString;
use serde_json::json;
use subtle::ConstantTimeEq;
use tower_sessions::Session;

use super::password::{hash_new_password, set_new_password};
use super::session_start::open_session;
use crate::domain::{Actor, AuditAction, RequestMeta, Viewer};
use crate::email::MailKind;
use crate::error::{AppError, Result};
use crate::features::sessions::service as sessions;
use crate::runtime::limiter::Limit;
use crate::runtime::{token, AppState, AuditedTx};
use crate::storage::{resets, users};

const CODE_TTL_MS: i64 = 10 * 60 * 1000;
pub const MAX_TRIES: i64 = 5;

fn hash_code(user_id: i64, code: &str) -> String {
    token::hash(format!("{user_id}:{code}"))
}

fn user_actor(u: &users::UserRow) -> Actor {
    Actor::account(u.id, &u.email)
}

/// Sends a new code (replacing any earlier one) and records `action`.
pub async fn send_code(
    state: &AppState,
    user: &users::UserRow,
    meta: &RequestMeta,
    action: AuditAction,
) -> Result<()> {
    if !state
        .limiter
        .allow(Limit::ResetCodePerUser, &user.id.to_string())
    {
        return Err(AppError::RateLimited);
    }
    let code = format!("{:06}", rand::rng().random_range(0..1_000_000u32));
    let mut tx = AuditedTx::begin(state, meta).await?;
    let now = tx.now();
    resets::put_code(
        &mut tx,
        user.id,
        &hash_code(user.id, &code),
        now,
        now + CODE_TTL_MS,
    )
    .await
    .context("store code")?;
    let vars = json!({"code": code, "expires_in_minutes": CODE_TTL_MS / 60_000});
    tx.queue_mail(MailKind::ResetCode, &user.email, vars)
        .await?;
    tx.record(&user_actor(user), action, Some(user.id), None, json!({}))
        .await?;
    tx.commit().await
}

async fn load_user(state: &AppState, id: i64) -> Result<users::UserRow> {
    let mut conn = state.conn().await?;
    users::find_by_id(&mut conn, id)
        .await
        .context("load user")?
        .ok_or(AppError::Unauthenticated)
}

/// Sends a code unless a live one exists (a session restricted while signed in has none yet).
pub async fn ensure_code(state: &AppState, viewer: &Viewer, meta: &RequestMeta) -> Result<()> {
    let mut conn = state.conn().await?;
    let live = resets::code(&mut conn, viewer.user_id)
        .await
        .context("load code")?
        .is_some_and(|(_, expires_at, _)| expires_at > state.now());
    drop(conn);
    if live {
        return Ok(());
    }
    let user = load_user(state, viewer.user_id).await?;
    send_code(state, &user, meta, AuditAction::ResetTaskStarted).await
}

pub async fn resend_code(state: &AppState, viewer: &Viewer, meta: &RequestMeta) -> Result<()> {
    let user = load_user(state, viewer.user_id).await?;
    send_code(state, &user, meta, AuditAction::ResetTaskCodeResent).await
}

/// Whether this session already proved control of the e-mail.
pub async fn email_verified(session: &Session) -> Result<bool> {
    Ok(sessions::reset_task(session)
        .await?
        .is_some_and(|t| t.email_verified))
}

/// Checks the code. A wrong one counts a try; after five, or after ten minutes, a new code is needed.
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
    let mut tx = AuditedTx::begin(state, meta).await?;
    let now = tx.now();
    let Some((stored, expires_at, attempts)) =
        resets::code(&mut tx, user.id).await.context("load code")?
    else {
        return Err(AppError::field(
            "code",
            "This code is no longer valid. Send a new code.",
        ));
    };
    if expires_at <= now {
        return Err(AppError::field(
            "code",
            "This code has expired. Send a new code.",
        ));
    }
    if attempts >= MAX_TRIES {
        return Err(AppError::field(
            "code",
            "Too many wrong codes. Send a new code.",
        ));
    }
    let matches: bool = stored
        .as_bytes()
        .ct_eq(hash_code(user.id, code).as_bytes())
        .into();
    if !matches {
        resets::count_code_attempt(&mut tx, user.id)
            .await
            .context("count try")?;
        let left = MAX_TRIES - attempts - 1;
        let details = json!({"tries_left": left});
        tx.record(
            &user_actor(&user),
            AuditAction::ResetTaskCodeFailed,
            Some(user.id),
            None,
            details,
        )
        .await?;
        tx.commit().await?;
        let message = if left > 0 {
            format!(
                "That code is not correct. {left} {} left.",
                if left == 1 { "try" } else { "tries" }
            )
        } else {
            "That code is not correct and no tries are left. Send a new code.".to_owned()
        };
        return Err(AppError::field("code", message));
    }
    resets::delete_code(&mut tx, user.id)
        .await
        .context("use code")?;
    let actor = user_actor(&user);
    tx.record(
        &actor,
        AuditAction::ResetTaskEmailVerified,
        Some(user.id),
        None,
        json!({}),
    )
    .await?;
    tx.commit().await?;
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
