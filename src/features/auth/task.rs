//! The reset-password task of a restricted session. The leaked password may be the attacker's,
//! so the session must first prove control of the account's e-mail with a 6-digit code (10
//! minutes, single use, 5 wrong tries), then set a new password that is neither the compromised
//! one nor the current one. Completing it signs out every other session and issues a full one.

use anyhow::Context;
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tower_sessions::Session;

use super::service::check_new_password;
use crate::domain::Email;
use crate::email::{self, MailKind};
use crate::error::{AppError, Result};
use crate::features::audit::{self, Actor, Event, RequestMeta};
use crate::features::auth::Viewer;
use crate::features::security::watermarks;
use crate::features::sessions::{ResetTask, SessionAuth, AUTH_KEY};
use crate::state::AppState;
use crate::storage::{resets, sessions, users};

const CODE_TTL_MS: i64 = 10 * 60 * 1000;
pub const MAX_TRIES: i64 = 5;
const CODES_PER_WINDOW: usize = 5;
const CODE_WINDOW_MS: i64 = 15 * 60 * 1000;

fn hash_code(user_id: i64, code: &str) -> String {
    hex::encode(Sha256::digest(format!("{user_id}:{code}").as_bytes()))
}

fn user_actor(u: &users::UserRow) -> Actor {
    Actor::User {
        id: u.id,
        email: u.email.clone(),
    }
}

/// Sends a new code (replacing any earlier one) and records `action`.
pub async fn send_code(
    state: &AppState,
    user: &users::UserRow,
    meta: &RequestMeta,
    action: &str,
) -> Result<()> {
    if !state.limiter.allow(
        &format!("reset-code:{}", user.id),
        state.now(),
        CODES_PER_WINDOW,
        CODE_WINDOW_MS,
    ) {
        return Err(AppError::RateLimited);
    }
    let code = format!("{:06}", rand::rng().random_range(0..1_000_000u32));
    let now = state.now();
    let mut tx = state.store.begin().await.context("begin")?;
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
    email::queue(
        &mut tx,
        now,
        &state.config.base_url,
        MailKind::ResetCode,
        &user.email,
        vars,
    )
    .await?;
    let event = Event {
        actor: user_actor(user),
        action,
        target_user_id: Some(user.id),
        reason: None,
        details: json!({}),
    };
    audit::record(&mut tx, now, meta, event).await?;
    tx.commit().await.context("commit")?;
    state.mail_wake.notify_one();
    Ok(())
}

async fn load_user(state: &AppState, id: i64) -> Result<users::UserRow> {
    let mut conn = state.conn().await?;
    users::find_by_id(&mut conn, id)
        .await
        .context("load user")?
        .ok_or(AppError::Unauthenticated)
}

pub async fn resend_code(state: &AppState, viewer: &Viewer, meta: &RequestMeta) -> Result<()> {
    let user = load_user(state, viewer.user_id).await?;
    send_code(state, &user, meta, "reset_task.code_resent").await
}

/// Whether this session already proved control of the e-mail.
pub async fn email_verified(session: &Session) -> Result<bool> {
    Ok(session
        .get::<SessionAuth>(AUTH_KEY)
        .await?
        .and_then(|a| a.task)
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
    let now = state.now();
    let mut tx = state.store.begin().await.context("begin")?;
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
        let event = Event {
            actor: user_actor(&user),
            action: "reset_task.code_failed",
            target_user_id: Some(user.id),
            reason: None,
            details: json!({"tries_left": left}),
        };
        audit::record(&mut tx, now, meta, event).await?;
        tx.commit().await.context("commit")?;
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
    let event = Event {
        actor: user_actor(&user),
        action: "reset_task.email_verified",
        target_user_id: Some(user.id),
        reason: None,
        details: json!({}),
    };
    audit::record(&mut tx, now, meta, event).await?;
    tx.commit().await.context("commit")?;
    if let Some(mut auth) = session.get::<SessionAuth>(AUTH_KEY).await? {
        auth.task = Some(ResetTask {
            email_verified: true,
        });
        session.insert(AUTH_KEY, auth).await?;
    }
    Ok(())
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
    let email = Email::parse(&user.email).context("stored e-mail no longer parses")?;
    let new = check_new_password(state, &email, password.expose_secret())?;
    // The current password is the compromised one: refusing it refuses both.
    if state
        .hasher
        .verify(password.clone(), Some(user.password_hash.clone()))
        .await?
    {
        return Err(AppError::field(
            "password",
            "Choose a new password: this one is compromised.",
        ));
    }
    let hash = state
        .hasher
        .hash(SecretString::from(new.expose().to_owned()))
        .await?;
    let now = state.now();
    let set_at = watermarks::fresh_time(now, Some(&user), &state.security.get());
    let mut tx = state.store.begin().await.context("begin")?;
    users::set_password(&mut tx, user.id, &hash, set_at)
        .await
        .context("set password")?;
    let ended = sessions::end_all_for_user(&mut tx, user.id, None, "password_changed", now)
        .await
        .context("end sessions")?;
    resets::invalidate_all(&mut tx, user.id, now)
        .await
        .context("invalidate reset links")?;
    let mut forgot = state
        .config
        .base_url
        .join("/forgot-password")
        .context("forgot URL")?;
    forgot.set_query(None);
    let vars = json!({
        "changed_at": super::reset::format_utc(now),
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
    let event = Event {
        actor: user_actor(&user),
        action: "reset_task.completed",
        target_user_id: Some(user.id),
        reason: None,
        details: json!({"sessions_ended": ended}),
    };
    audit::record(&mut tx, now, meta, event).await?;
    tx.commit().await.context("commit")?;
    state.mail_wake.notify_one();
    // A full session, issued after the new password.
    let mut refreshed = user.clone();
    refreshed.password_set_at = set_at;
    super::service::start_session(state, session, &refreshed, meta, None).await
}
