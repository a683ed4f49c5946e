//! Forgot password (OWASP Forgot Password cheat sheet): the same answer in about the same time
//! whether or not the account exists; a 256-bit single-use link whose hash only is stored, that
//! expires, and that a newer link supersedes; the new password signs out every session.

use std::time::{Duration, Instant};

use anyhow::Context;
use rand::RngCore;
use secrecy::SecretString;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::service::check_new_password;
use crate::domain::Email;
use crate::email::{self, MailKind};
use crate::error::{AppError, Result};
use crate::features::audit::{self, Actor, Event, RequestMeta};
use crate::features::security::watermarks;
use crate::state::AppState;
use crate::storage::{resets, sessions, users};

/// Every answer to "forgot password" takes at least this long, found or not.
const MIN_ANSWER_TIME: Duration = Duration::from_millis(400);
const WINDOW_MS: i64 = 15 * 60 * 1000;
const PER_IP: usize = 10;
const PER_ACCOUNT: i64 = 3;

pub const INVALID_LINK: &str =
    "This reset link is invalid or has already been used. Request a new one.";
pub const EXPIRED_LINK: &str = "This reset link has expired. Request a new one.";

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum LinkState {
    Valid,
    Invalid,
    Expired,
}

fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Handles a forgot-password request. Answers `Ok` for known and unknown e-mails alike.
#[tracing::instrument(skip_all)]
pub async fn request_reset(state: &AppState, email: &str, meta: &RequestMeta) -> Result<()> {
    let started = Instant::now();
    let ip = meta.ip.clone().unwrap_or_default();
    if !state
        .limiter
        .allow(&format!("reset:ip:{ip}"), state.now(), PER_IP, WINDOW_MS)
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
    let now = state.now();
    let mut tx = state.store.begin().await.context("begin reset request")?;
    let user = users::find_by_email(&mut tx, &email.normalized())
        .await
        .context("look up user")?;
    let event = |action, target, details| Event {
        actor: Actor::Anonymous,
        action,
        target_user_id: target,
        reason: None,
        details,
    };
    match user {
        None => {
            audit::record(
                &mut tx,
                now,
                meta,
                event(
                    "password_reset.requested",
                    None,
                    json!({"email": email.normalized(), "account": false}),
                ),
            )
            .await?;
        }
        Some(u) if u.disabled_at.is_some() => {
            audit::record(
                &mut tx,
                now,
                meta,
                event(
                    "password_reset.requested",
                    Some(u.id),
                    json!({"sent": false, "why": "account disabled"}),
                ),
            )
            .await?;
        }
        Some(u)
            if resets::count_since(&mut tx, u.id, now - WINDOW_MS)
                .await
                .context("count resets")?
                >= PER_ACCOUNT =>
        {
            audit::record(
                &mut tx,
                now,
                meta,
                event(
                    "password_reset.rate_limited",
                    Some(u.id),
                    json!({"sent": false}),
                ),
            )
            .await?;
        }
        Some(u) => {
            let superseded = send_link(&mut tx, state, &u, meta).await?;
            audit::record(
                &mut tx,
                now,
                meta,
                event(
                    "password_reset.requested",
                    Some(u.id),
                    json!({"sent": true, "superseded_links": superseded}),
                ),
            )
            .await?;
        }
    }
    tx.commit().await.context("commit reset request")?;
    state.mail_wake.notify_one();
    Ok(())
}

/// Issues a new link for `user` (superseding earlier ones) and queues its mail, inside the caller's
/// transaction. Returns how many earlier links were superseded.
pub async fn send_link(
    tx: &mut crate::storage::Conn,
    state: &AppState,
    user: &users::UserRow,
    meta: &RequestMeta,
) -> Result<u64> {
    let now = state.now();
    let token = new_token();
    let ttl_ms = i64::try_from(state.config.password_reset_ttl_secs * 1000).unwrap_or(i64::MAX);
    let superseded = resets::invalidate_all(tx, user.id, now)
        .await
        .context("invalidate older links")?;
    resets::insert(
        tx,
        user.id,
        &hash_token(&token),
        now,
        now + ttl_ms,
        meta.ip.as_deref(),
    )
    .await
    .context("store link")?;
    let mut link = state
        .config
        .base_url
        .join("/reset-password")
        .context("reset URL")?;
    link.query_pairs_mut().append_pair("token", &token);
    let vars = json!({"reset_url": link.as_str(), "expires_in_minutes": state.config.password_reset_ttl_secs / 60});
    email::queue(
        tx,
        now,
        &state.config.base_url,
        MailKind::PasswordReset,
        &user.email,
        vars,
    )
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
    use secrecy::ExposeSecret;
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
    let email = Email::parse(&user.email).context("stored e-mail no longer parses")?;
    let new = check_new_password(state, &email, password.expose_secret())?;
    let same = state
        .hasher
        .verify(password.clone(), Some(user.password_hash.clone()))
        .await?;
    if same {
        return Err(AppError::field(
            "password",
            "Choose a password different from your current one.",
        ));
    }
    let hash = state
        .hasher
        .hash(SecretString::from(new.expose().to_owned()))
        .await?;

    let now = state.now();
    let mut tx = state.store.begin().await.context("begin reset")?;
    if resets::mark_used(&mut tx, row.id, now)
        .await
        .context("use link")?
        != 1
    {
        drop(tx);
        return Err(refuse_link(state, LinkState::Invalid, Some(user.id), meta).await);
    }
    let set_at = watermarks::fresh_time(now, Some(&user), &state.security.get());
    users::set_password(&mut tx, user.id, &hash, set_at)
        .await
        .context("set password")?;
    resets::invalidate_all(&mut tx, user.id, now)
        .await
        .context("invalidate other links")?;
    let ended = sessions::end_all_for_user(&mut tx, user.id, None, "password_changed", now)
        .await
        .context("end sessions")?;
    let mut forgot = state
        .config
        .base_url
        .join("/forgot-password")
        .context("forgot URL")?;
    forgot.set_query(None);
    let vars = json!({
        "changed_at": format_utc(now),
        "ip": meta.ip.clone().unwrap_or_else(|| "unknown".into()),
        "forgot_url": forgot.as_str(),
    });
    email::queue(
        &mut tx,
        now,
        &state.config.base_url,
        MailKind::PasswordChanged,
        &user.email,
        vars,
    )
    .await?;
    let actor = Actor::User {
        id: user.id,
        email: user.email.clone(),
    };
    let details = json!({"sessions_ended": ended, "via": "reset_link"});
    audit::record(
        &mut tx,
        now,
        meta,
        Event {
            actor,
            action: "password_reset.completed",
            target_user_id: Some(user.id),
            reason: None,
            details,
        },
    )
    .await?;
    tx.commit().await.context("commit reset")?;
    state.mail_wake.notify_one();
    Ok(())
}

/// Records a refused link and returns the error shown to the user.
async fn refuse_link(
    state: &AppState,
    link: LinkState,
    user_id: Option<i64>,
    meta: &RequestMeta,
) -> AppError {
    let (action, message) = match link {
        LinkState::Expired => ("password_reset.link_expired", EXPIRED_LINK),
        _ => ("password_reset.link_invalid", INVALID_LINK),
    };
    let write = async {
        let mut tx = state.store.begin().await.context("begin")?;
        let event = Event {
            actor: Actor::Anonymous,
            action,
            target_user_id: user_id,
            reason: None,
            details: json!({}),
        };
        audit::record(&mut tx, state.now(), meta, event).await?;
        tx.commit().await.context("commit")?;
        anyhow::Ok(())
    };
    if let Err(e) = write.await {
        return AppError::internal(e);
    }
    AppError::field("token", message)
}

/// "2026-11-22 09:30 UTC" from Unix milliseconds.
pub fn format_utc(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms / 1000)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute] UTC"
            ))
            .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}
