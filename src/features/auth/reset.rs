//! Forgot password (OWASP Forgot Password cheat sheet): the same answer in about the same time
//! whether or not the account exists; a 256-bit single-use link whose hash only is stored, that
//! expires, and that a newer link supersedes; the new password signs out every session.

use std::time::{Duration, Instant};

use anyhow::Context;
use secrecy::SecretString;
use serde_json::json;

use super::password::{hash_new_password, set_new_password};
use crate::domain::{Actor, AuditAction, Email, RequestMeta};
use crate::email::MailKind;
use crate::error::{AppError, Result};
use crate::runtime::limiter::Limit;
use crate::runtime::{token, AppState, AuditedTx};
use crate::storage::{resets, users};

/// Every answer to "forgot password" takes at least this long, found or not.
const MIN_ANSWER_TIME: Duration = Duration::from_millis(400);
const WINDOW_MS: i64 = 15 * 60 * 1000;
const PER_ACCOUNT: i64 = 3;
/// While an incident throttles forgot-password harder: one link per account per hour.
const STRICT_WINDOW_MS: i64 = 60 * 60 * 1000;
const STRICT_PER_ACCOUNT: i64 = 1;

pub const INVALID_LINK: &str =
    "This reset link is invalid or has already been used. Request a new one.";
pub const EXPIRED_LINK: &str = "This reset link has expired. Request a new one.";

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum LinkState {
    Valid,
    Invalid,
    Expired,
}

fn hash_token(secret: &str) -> String {
    token::hash(secret)
}

/// Handles a forgot-password request. Answers `Ok` for known and unknown e-mails alike.
#[tracing::instrument(skip_all)]
pub async fn request_reset(state: &AppState, email: &str, meta: &RequestMeta) -> Result<()> {
    let started = Instant::now();
    let ip = meta.ip.clone().unwrap_or_default();
    if !state.limiter.allow(Limit::ResetRequestPerIp, &ip) {
        return Err(AppError::RateLimited);
    }
    if state.security.get().strict_forgot
        && !state.limiter.allow(Limit::ResetRequestPerIpStrict, &ip)
    {
        return Err(AppError::RateLimited);
    }
    let email = Email::parse(email).map_err(|e| AppError::field("email", e))?;
    let result = issue_link(state, &email, meta).await;
    if let Some(rest) = MIN_ANSWER_TIME.checked_sub(started.elapsed()) {
        tokio::time::sleep(rest).await;
    }
    result
}

async fn issue_link(state: &AppState, email: &Email, meta: &RequestMeta) -> Result<()> {
    let mut tx = AuditedTx::begin(state, meta).await?;
    let now = tx.now();
    let (window_ms, per_account) = if state.security.get().strict_forgot {
        (STRICT_WINDOW_MS, STRICT_PER_ACCOUNT)
    } else {
        (WINDOW_MS, PER_ACCOUNT)
    };
    let user = users::find_by_email(&mut tx, &email.normalized())
        .await
        .context("look up user")?;
    let (action, target, details) = match user {
        None => (
            AuditAction::PasswordResetRequested,
            None,
            json!({"email": email.normalized(), "account": false}),
        ),
        Some(u) if u.disabled_at.is_some() => (
            AuditAction::PasswordResetRequested,
            Some(u.id),
            json!({"sent": false, "why": "account disabled"}),
        ),
        Some(u)
            if resets::count_since(&mut tx, u.id, now - window_ms)
                .await
                .context("count resets")?
                >= per_account =>
        {
            (
                AuditAction::PasswordResetRateLimited,
                Some(u.id),
                json!({"sent": false}),
            )
        }
        Some(u) => {
            let superseded = send_link(&mut tx, &u).await?;
            (
                AuditAction::PasswordResetRequested,
                Some(u.id),
                json!({"sent": true, "superseded_links": superseded}),
            )
        }
    };
    tx.record(&Actor::Anonymous, action, target, None, details)
        .await?;
    tx.commit().await
}

/// Issues a new link for `user` (superseding earlier ones) and queues its mail, inside the caller's
/// transaction. Returns how many earlier links were superseded.
pub async fn send_link(tx: &mut AuditedTx<'_>, user: &users::UserRow) -> Result<u64> {
    let state = tx.state();
    let now = tx.now();
    let secret = token::random_hex(32);
    let ip = tx.meta().ip.clone();
    let ttl_ms = i64::try_from(state.config.password_reset_ttl_secs * 1000).unwrap_or(i64::MAX);
    let superseded = resets::invalidate_all(tx, user.id, now)
        .await
        .context("invalidate older links")?;
    resets::insert(
        tx,
        user.id,
        &hash_token(&secret),
        now,
        now + ttl_ms,
        ip.as_deref(),
    )
    .await
    .context("store link")?;
    let mut link = state
        .config
        .base_url
        .join("/reset-password")
        .context("reset URL")?;
    link.query_pairs_mut().append_pair("token", &secret);
    let vars = json!({"reset_url": link.as_str(), "expires_in_minutes": state.config.password_reset_ttl_secs / 60});
    tx.queue_mail(MailKind::PasswordReset, &user.email, vars)
        .await?;
    Ok(superseded)
}

/// Whether a link can still be used (read-only: safe for a GET that mail scanners prefetch).
pub async fn link_state(state: &AppState, token: &str) -> Result<LinkState> {
    let mut conn = state.conn().await?;
    let row = resets::find(&mut conn, &hash_token(token))
        .await
        .context("look up link")?;
    Ok(classify(row.as_ref(), state.now()))
}

fn classify(row: Option<&resets::ResetRow>, now: i64) -> LinkState {
    match row {
        None => LinkState::Invalid,
        Some(r) if r.used_at.is_some() || r.invalidated_at.is_some() => LinkState::Invalid,
        Some(r) if r.expires_at <= now => LinkState::Expired,
        Some(_) => LinkState::Valid,
    }
}

/// Sets a new password from a reset link: policy applies, the current password is refused, every
/// session of the user ends, a "password changed" mail is queued. The user is not signed in.
#[tracing::instrument(skip_all)]
pub async fn complete_reset(
    state: &AppState,
    token: &str,
    password: SecretString,
    meta: &RequestMeta,
) -> Result<()> {
    let token_hash = hash_token(token);
    let mut conn = state.conn().await?;
    let row = resets::find(&mut conn, &token_hash)
        .await
        .context("look up link")?;
    let link = classify(row.as_ref(), state.now());
    let user = match &row {
        Some(r) => users::find_by_id(&mut conn, r.user_id)
            .await
            .context("load user")?,
        None => None,
    };
    drop(conn);
    let (row, user) = match (link, row, user) {
        (LinkState::Valid, Some(row), Some(user)) if user.disabled_at.is_none() => (row, user),
        (link, row, _) => return Err(refuse_link(state, link, row.map(|r| r.user_id), meta).await),
    };
    let hash = hash_new_password(
        state,
        &user,
        &password,
        "Choose a password different from your current one.",
    )
    .await?;
    let mut tx = AuditedTx::begin(state, meta).await?;
    // Spent in the same transaction that uses it, and only if it still is unspent.
    let now = tx.now();
    if resets::mark_used(&mut tx, row.id, now)
        .await
        .context("use link")?
        != 1
    {
        drop(tx);
        return Err(refuse_link(state, LinkState::Invalid, Some(user.id), meta).await);
    }
    let (_, ended) = set_new_password(&mut tx, &user, &hash).await?;
    let details = json!({"sessions_ended": ended, "via": "reset_link"});
    let actor = Actor::account(user.id, &user.email);
    tx.record(
        &actor,
        AuditAction::PasswordResetCompleted,
        Some(user.id),
        None,
        details,
    )
    .await?;
    tx.commit().await
}

/// Records a refused link and returns the error shown to the user.
async fn refuse_link(
    state: &AppState,
    link: LinkState,
    user_id: Option<i64>,
    meta: &RequestMeta,
) -> AppError {
    let (action, message) = match link {
        LinkState::Expired => (AuditAction::PasswordResetLinkExpired, EXPIRED_LINK),
        _ => (AuditAction::PasswordResetLinkInvalid, INVALID_LINK),
    };
    let write = async {
        let mut tx = AuditedTx::begin(state, meta).await?;
        tx.record(&Actor::Anonymous, action, user_id, None, json!({}))
            .await?;
        tx.commit().await
    };
    match write.await {
        Ok(()) => AppError::field("token", message),
        Err(e) => e,
    }
}
