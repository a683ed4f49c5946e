//! Account rules: sign-up, credential checks and sign-out. Each change is one unit of work;
//! nothing here renders or knows about HTTP.

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use tower_sessions::Session;

use super::password::check_new_password;
use crate::domain::{Actor, AuditAction, Email, RequestMeta, Role, Viewer};
use crate::email::templates::MailKind;
use crate::error::{AppError, Result};
use crate::features::sessions::service as sessions;
use crate::runtime::hasher::Reservation;
use crate::runtime::security::fresh_time;
use crate::runtime::{throttle, AppState, AuditedTx};
use crate::storage::{self, users};

/// Creates an account with the given role. Used by the CLI (admins); self sign-up goes through
/// [`sign_up`]. `creator` is `None` when the new user is the actor.
#[tracing::instrument(skip_all, fields(role = role.as_str()))]
pub async fn create_user(
    state: &AppState,
    email: &str,
    password: SecretString,
    role: Role,
    creator: Option<Actor>,
    meta: &RequestMeta,
) -> Result<i64> {
    // A full hash queue refuses at once (503), before the strength check.
    let place = state.hasher.reserve()?;
    let (email, hash) = checked_hash(state, place, email, password).await?;
    let mut tx = AuditedTx::begin(state, meta).await?;
    let id = insert_user(&mut tx, state, &email, role, &hash, creator).await?;
    tx.commit().await?;
    Ok(id)
}

/// The e-mail and password checked, and the password hashed in a place of the hash queue
/// reserved before (so a full queue refused at once, before the strength check).
async fn checked_hash(
    state: &AppState,
    place: Reservation,
    email: &str,
    password: SecretString,
) -> Result<(Email, String)> {
    let email = Email::parse(email).map_err(|e| AppError::field("email", e))?;
    let password = check_new_password(state, &email, password.expose_secret()).await?;
    let hash = state
        .hasher
        .hash_reserved(place, SecretString::from(password.expose().to_owned()))
        .await?;
    Ok((email, hash))
}

async fn insert_user(
    tx: &mut AuditedTx<'_>,
    state: &AppState,
    email: &Email,
    role: Role,
    hash: &str,
    creator: Option<Actor>,
) -> Result<i64> {
    let normalized = email.normalized();
    // Stamped after every watermark: a new password is never born compromised.
    let now = fresh_time(tx.order_time().await?, None, &state.security.get());
    let new = users::NewUser {
        email: email.as_ref(),
        email_normalized: &normalized,
        role: role.as_str(),
        password_hash: hash,
        now,
    };
    let id = match users::insert(tx, new).await {
        Ok(id) => id,
        Err(e) if storage::is_unique_violation(&e, "users_email_key") => {
            return Err(AppError::field(
                "email",
                "An account with this email already exists.",
            ));
        }
        Err(e) => {
            return Err(AppError::internal(
                anyhow::Error::new(e).context("insert user"),
            ))
        }
    };
    let actor = creator.unwrap_or_else(|| Actor::account(id, email.as_ref()));
    let details = json!({"role": role.as_str()});
    tx.record(&actor, AuditAction::UserCreated, Some(id), None, details)
        .await?;
    tracing::info!(user_id = id, "account created");
    Ok(id)
}

/// At most one "someone tried to sign up with your address" mail per address per hour.
const SIGN_UP_NOTICE_INTERVAL_MS: i64 = 60 * 60 * 1000;

/// Self sign-up (ASVS 6.3.8): a taken address gets the very same answer as a new one, after the
/// same work (policy check, one argon2 hash), so the form does not tell who has an account. The
/// owner of a taken address is told by mail instead (at most once an hour), and the attempt is
/// audited.
#[tracing::instrument(skip_all)]
pub async fn sign_up(
    state: &AppState,
    place: Reservation,
    email: &str,
    password: SecretString,
    meta: &RequestMeta,
) -> Result<()> {
    if state.security.get().sign_up_paused {
        return Err(AppError::SignUpPaused);
    }
    let (email, hash) = checked_hash(state, place, email, password).await?;
    let mut tx = AuditedTx::begin(state, meta).await?;
    let owner = users::find_by_email(&mut tx, &email.normalized())
        .await
        .context("look up e-mail")?;
    let Some(owner) = owner else {
        return match insert_user(&mut tx, state, &email, Role::Member, &hash, None).await {
            Ok(_) => tx.commit().await,
            // Taken meanwhile by a concurrent sign-up: the same answer.
            Err(e) if e.for_field("email").is_some() => Ok(()),
            Err(e) => Err(e),
        };
    };
    let now = tx.now();
    let kind = MailKind::SignUpAttempt;
    let recent = storage::outbox::count_since(
        &mut tx,
        kind.key(),
        &owner.email,
        now - SIGN_UP_NOTICE_INTERVAL_MS,
    )
    .await
    .context("recent notices")?;
    let notified = recent == 0;
    if notified {
        let base = &state.config.base_url;
        let link = |path: &str| base.join(path).map(|u| u.to_string()).unwrap_or_default();
        let vars = json!({
            "attempted_at": crate::domain::time::utc(now),
            "ip": meta.ip.clone().unwrap_or_else(|| "unknown".into()),
            "sign_in_url": link("/sign-in"),
            "forgot_url": link("/forgot-password"),
        });
        tx.queue_mail(kind, &owner.email, vars).await?;
    }
    tx.record(
        &Actor::System,
        AuditAction::SignUpExisting,
        Some(owner.id),
        None,
        json!({"owner_notified": notified}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A correct password, and when its session counts from. Its audit entry and the throttle's
/// fresh start are written by [`super::sign_in::complete_sign_in`], in the unit of work that opens
/// the session: one transaction for the whole sign-in.
#[must_use = "a correct password is recorded when the sign-in is completed"]
pub struct Authenticated {
    /// The user row as read before the verification.
    pub user: users::UserRow,
    /// The time the verification started, after every watermark known then: a watermark set
    /// while the verification ran is later, so it catches the session.
    pub issued_at: i64,
    /// The throttle count this attempt took (reset on completion).
    pub attempt: throttle::Attempt,
}

/// Checks an e-mail and password. Unknown e-mail, wrong password and a disabled account all give
/// [`AppError::InvalidCredentials`] after one argon2 verification. The attempt is counted first
/// (per e-mail, or per e-mail and known device): while its count is throttled it is refused with
/// the wait ([`AppError::Throttled`]) before any hashing, and a full hash queue refuses it with
/// [`AppError::Busy`].
pub async fn authenticate(
    state: &AppState,
    email: &str,
    password: SecretString,
    meta: &RequestMeta,
) -> Result<Authenticated> {
    // A full hash queue refuses at once (503), before any database work.
    let place = state.hasher.reserve()?;
    authenticate_in(state, place, email, password, meta).await
}

/// [`authenticate`] in a place of the hash queue reserved before.
#[tracing::instrument(skip_all)]
pub async fn authenticate_in(
    state: &AppState,
    place: Reservation,
    email: &str,
    password: SecretString,
    meta: &RequestMeta,
) -> Result<Authenticated> {
    let normalized = Email::parse(email).map(|e| e.normalized()).ok();
    // The account is looked up with the throttle's first look (one round trip).
    let (user, attempt) = throttle::admit(state, email, normalized.as_deref(), meta).await?;
    // The database clock as the attempt was counted, just before the verification starts.
    let issued_at = fresh_time(attempt.clock, user.as_ref(), &state.security.get());
    let ok = state
        .hasher
        .verify_reserved(
            place,
            password,
            user.as_ref().map(|u| u.password_hash.clone()),
        )
        .await?;
    let succeeded = ok && user.as_ref().is_some_and(|u| u.disabled_at.is_none());
    let user = match user {
        Some(user) if succeeded => {
            return Ok(Authenticated {
                user,
                issued_at,
                attempt,
            })
        }
        other => other,
    };
    let (actor, action, mut details) = match &user {
        Some(u) => {
            let why = if u.disabled_at.is_some() {
                "account disabled"
            } else {
                "wrong password"
            };
            (
                Actor::Anonymous,
                AuditAction::SignInFailed,
                json!({"why": why}),
            )
        }
        None => (
            Actor::Anonymous,
            AuditAction::SignInFailed,
            json!({"why": "unknown email", "email": normalized}),
        ),
    };
    if attempt.wait_after_failure_secs() > 0 {
        // Every attempt that ran argon2 is recorded (the throttle bounds them); the refused ones
        // are reported together, once per window.
        details["attempts"] = json!(attempt.attempts);
        details["throttled_for_s"] = json!(attempt.wait_after_failure_secs());
    }
    if attempt.known_device {
        details["known_device"] = json!(true);
    }
    let mut tx = AuditedTx::begin(state, meta).await?;
    tx.record(&actor, action, user.as_ref().map(|u| u.id), None, details)
        .await?;
    tx.commit().await?;
    Err(AppError::InvalidCredentials)
}

/// Ends the session server-side; its cookie is refused from now on.
pub async fn sign_out(
    state: &AppState,
    session: &Session,
    viewer: Option<&Viewer>,
    meta: &RequestMeta,
) -> Result<()> {
    sessions::end_current(session).await?;
    if let Some(v) = viewer {
        let mut tx = AuditedTx::begin(state, meta).await?;
        tx.record(
            &Actor::user(v),
            AuditAction::SignOut,
            Some(v.user_id),
            None,
            json!({}),
        )
        .await?;
        tx.commit().await?;
    }
    Ok(())
}

/// Where a sign-in that came from a protected application returns: `rd`, when it is an http(s)
/// URL (https when Keywarden itself is served over https) whose host is an enabled application.
/// Anything else is refused (`None`), so `rd` is never an open redirect.
pub fn application_return(state: &AppState, rd: Option<&str>) -> Option<String> {
    let url = url::Url::parse(rd?.trim()).ok()?;
    let scheme_ok = match url.scheme() {
        "https" => true,
        "http" => state.config.base_url.scheme() == "http",
        _ => false,
    };
    if !scheme_ok || !url.username().is_empty() || url.password().is_some() {
        return None;
    }
    let host = crate::domain::host_of(url.host_str()?)?;
    state
        .applications
        .find(&host)
        .filter(|app| app.enabled)
        .map(|_| url.to_string())
}
