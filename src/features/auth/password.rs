//! Choosing a new password, shared by the reset link and the reset-password task: the policy
//! (with the common-password check), "not the current one", and the write that ends every session.

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use crate::domain::{time, Email, EndReason, NewPassword, PasswordError};
use crate::email::MailKind;
use crate::error::{AppError, Result};
use crate::runtime::security::fresh_time;
use crate::runtime::{AppState, AuditedTx};
use crate::storage::{resets, sessions, users};

/// Parses and checks a new password for `email` against the policy, including the common-password
/// check (zxcvbn, on the blocking pool: it is CPU work that must not hold an executor thread).
/// The error names the `password` field.
pub async fn check_new_password(
    state: &AppState,
    email: &Email,
    password: &str,
) -> Result<NewPassword> {
    let field = |e: PasswordError| AppError::field("password", e);
    let parsed = NewPassword::parse(password, Some(email.local_part()), state.password_policy())
        .map_err(field)?;
    let email = email.clone();
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || {
        span.in_scope(|| parsed.check_common(&[email.as_ref(), email.local_part(), "keywarden"]))
    })
    .await
    .context("password check task failed")?
    .map_err(field)
}

/// The argon2 hash of a new password for `user`: the policy applies and the current password is
/// refused (`same_message` says why: after a compromise it is the leaked one).
pub async fn hash_new_password(
    state: &AppState,
    user: &users::UserRow,
    password: &SecretString,
    same_message: &str,
) -> Result<String> {
    let email = Email::parse(&user.email).context("stored e-mail no longer parses")?;
    let new = check_new_password(state, &email, password.expose_secret()).await?;
    if state
        .hasher
        .verify(password.clone(), Some(user.password_hash.clone()))
        .await?
    {
        return Err(AppError::field("password", same_message));
    }
    Ok(state
        .hasher
        .hash(SecretString::from(new.expose().to_owned()))
        .await?)
}

/// Inside `tx`: sets the new password (stamped after every watermark), ends every session of the
/// user, spends every reset link and queues the "password changed" mail. Returns the new
/// `password_set_at` and how many sessions ended.
pub async fn set_new_password(
    tx: &mut AuditedTx<'_>,
    user: &users::UserRow,
    hash: &str,
) -> Result<(i64, u64)> {
    let state = tx.state();
    let now = tx.now();
    let set_at = fresh_time(tx.order_time().await?, Some(user), &state.security.get());
    users::set_password(tx, user.id, hash, set_at)
        .await
        .context("set password")?;
    resets::invalidate_all(tx, user.id, now)
        .await
        .context("invalidate reset links")?;
    let ended = sessions::end_all_for_user(tx, user.id, None, EndReason::PasswordChanged, now)
        .await
        .context("end sessions")?;
    let mut forgot = state
        .config
        .base_url
        .join("/forgot-password")
        .context("forgot URL")?;
    forgot.set_query(None);
    let vars = json!({
        "changed_at": time::utc(now),
        "ip": tx.meta().ip.clone().unwrap_or_else(|| "unknown".into()),
        "forgot_url": forgot.as_str(),
    });
    tx.queue_mail(MailKind::PasswordChanged, &user.email, vars)
        .await?;
    Ok((set_at, ended))
}
