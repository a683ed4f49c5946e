//! Account rules: sign-up, credential checks, session start and end. Each change is one
//! transaction; nothing here renders or knows about HTTP.

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use tower_sessions::Session;

use serde_json::json;

use crate::domain::{Email, NewPassword, Role};
use crate::error::{AppError, Result};
use crate::features::audit::{self, Actor, Event, RequestMeta};
use crate::features::auth::Viewer;
use crate::features::devices::service as devices;
use crate::features::security::watermarks;
use crate::features::sessions::{
    hash_session_id, new_session_key, ResetTask, SessionAuth, AUTH_KEY,
};
use crate::state::AppState;
use crate::storage::{self, sessions, users};

/// Parses and checks a new password for `email` against the policy, including the common-password
/// check. The error names the `password` field.
pub fn check_new_password(state: &AppState, email: &Email, password: &str) -> Result<NewPassword> {
    let field = |e: crate::domain::PasswordError| AppError::field("password", e);
    NewPassword::parse(password, Some(email.local_part()), state.password_policy())
        .map_err(field)?
        .check_common(&[email.as_ref(), email.local_part(), "keywarden"])
        .map_err(field)
}

/// Creates an account with the given role. Used by sign-up (members) and by the CLI (admins).
#[tracing::instrument(skip_all, fields(role = role.as_str()))]
/// `creator` is `None` for self sign-up (the new user is then the actor).
pub async fn create_user(
    state: &AppState,
    email: &str,
    password: SecretString,
    role: Role,
    creator: Option<Actor>,
    meta: &RequestMeta,
) -> Result<i64> {
    let email = Email::parse(email).map_err(|e| AppError::field("email", e))?;
    let password = check_new_password(state, &email, password.expose_secret())?;
    let hash = state
        .hasher
        .hash(SecretString::from(password.expose().to_owned()))
        .await?;
    let mut tx = state.store.begin().await.context("begin sign-up")?;
    let normalized = email.normalized();
    // Stamped after every watermark: a new password is never born compromised.
    let now = watermarks::fresh_time(state.now(), None, &state.security.get());
    let new = users::NewUser {
        email: email.as_ref(),
        email_normalized: &normalized,
        role: role.as_str(),
        password_hash: &hash,
        now,
    };
    let id = match users::insert(&mut tx, new).await {
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
    let actor = creator.unwrap_or_else(|| Actor::User {
        id,
        email: email.to_string(),
    });
    let event = Event {
        actor,
        action: "user.created",
        target_user_id: Some(id),
        reason: None,
        details: json!({"role": role.as_str()}),
    };
    audit::record(&mut tx, state.now(), meta, event).await?;
    tx.commit().await.context("commit sign-up")?;
    tracing::info!(user_id = id, "account created");
    Ok(id)
}

/// Checks an e-mail and password. Unknown e-mail, wrong password and a disabled account all give
/// [`AppError::InvalidCredentials`] after one argon2 verification.
#[tracing::instrument(skip_all)]
pub async fn authenticate(
    state: &AppState,
    email: &str,
    password: SecretString,
    meta: &RequestMeta,
) -> Result<users::UserRow> {
    let normalized = Email::parse(email).map(|e| e.normalized()).ok();
    let user = match &normalized {
        Some(n) => {
            let mut conn = state.conn().await?;
            users::find_by_email(&mut conn, n)
                .await
                .context("look up user")?
        }
        None => None,
    };
    let ok = state
        .hasher
        .verify(password, user.as_ref().map(|u| u.password_hash.clone()))
        .await?;
    let succeeded = ok && user.as_ref().is_some_and(|u| u.disabled_at.is_none());
    let (actor, action, details) = match &user {
        Some(u) if succeeded => (
            Actor::User {
                id: u.id,
                email: u.email.clone(),
            },
            "auth.sign_in",
            json!({"method": "password"}),
        ),
        Some(u) => {
            let why = if u.disabled_at.is_some() {
                "account disabled"
            } else {
                "wrong password"
            };
            (Actor::Anonymous, "auth.sign_in_failed", json!({"why": why}))
        }
        None => (
            Actor::Anonymous,
            "auth.sign_in_failed",
            json!({"why": "unknown email", "email": normalized}),
        ),
    };
    let mut tx = state.store.begin().await.context("begin sign-in record")?;
    let event = Event {
        actor,
        action,
        target_user_id: user.as_ref().map(|u| u.id),
        reason: None,
        details,
    };
    audit::record(&mut tx, state.now(), meta, event).await?;
    tx.commit().await.context("commit sign-in record")?;
    match user {
        Some(user) if succeeded => Ok(user),
        _ => Err(AppError::InvalidCredentials),
    }
}

/// How a correct password signs in.
pub enum SignedIn {
    Full,
    /// The password is compromised: a restricted session for the reset-password task.
    ResetTask,
}

/// After a correct password: a full session, a restricted one for the reset-password task when the
/// password is compromised, or nothing when the task is switched off.
pub async fn complete_sign_in(
    state: &AppState,
    session: &Session,
    user: &users::UserRow,
    meta: &RequestMeta,
) -> Result<SignedIn> {
    let snap = state.security.get();
    if watermarks::password_compromise(user, &snap).is_none() {
        start_session(state, session, user, meta, None).await?;
        return Ok(SignedIn::Full);
    }
    if snap.reset_task_enabled {
        start_session(state, session, user, meta, Some(ResetTask::default())).await?;
        super::task::send_code(state, user, meta, "reset_task.started").await?;
        return Ok(SignedIn::ResetTask);
    }
    let mut tx = state.store.begin().await.context("begin")?;
    let event = Event {
        actor: Actor::User {
            id: user.id,
            email: user.email.clone(),
        },
        action: "auth.sign_in_blocked",
        target_user_id: Some(user.id),
        reason: None,
        details: json!({"why": "password compromised; reset task switched off"}),
    };
    audit::record(&mut tx, state.now(), meta, event).await?;
    tx.commit().await.context("commit")?;
    Err(AppError::PasswordCompromised)
}

/// Starts a fresh session for the user under a new id (no fixation), stamped after every
/// watermark. `task` makes it a restricted session. The device is remembered and, when it is new
/// for the user, the new-device alert is queued in the same transaction.
pub async fn start_session(
    state: &AppState,
    session: &Session,
    user: &users::UserRow,
    meta: &RequestMeta,
    task: Option<ResetTask>,
) -> Result<()> {
    let now = state.now();
    let key = new_session_key();
    let location = meta
        .ip
        .as_deref()
        .and_then(|ip| ip.parse().ok())
        .and_then(|ip| state.geo.locate(ip));
    let method = if task.is_some() {
        "Password (a password reset is required)"
    } else {
        "Password"
    };
    let mut tx = state.store.begin().await.context("begin sign-in")?;
    let sign_in = devices::SignIn {
        user,
        key: &key,
        at: now,
        method,
        location: location.as_ref(),
    };
    let alerted = devices::record_sign_in(&mut tx, state, sign_in, meta).await?;
    tx.commit().await.context("commit sign-in")?;
    if alerted {
        state.mail_wake.notify_one();
    }
    session.cycle_id().await?;
    let auth = SessionAuth {
        user_id: user.id,
        key,
        issued_at: watermarks::fresh_time(now, Some(user), &state.security.get()),
        authenticated_at: now,
        ip: meta.ip.clone(),
        user_agent: meta.user_agent.clone(),
        device: meta.device.clone(),
        location: location.and_then(|l| l.label()),
        task,
    };
    session.insert(AUTH_KEY, auth).await?;
    Ok(())
}

/// Re-issues the current session under a new id and a fresh issue time, keeping its proof of
/// authentication (used after an instance-wide sign-out by the admin who triggered it).
pub async fn reissue_session(state: &AppState, session: &Session) -> Result<()> {
    let Some(mut auth) = session.get::<SessionAuth>(AUTH_KEY).await? else {
        return Ok(());
    };
    let mut conn = state.conn().await?;
    let user = users::find_by_id(&mut conn, auth.user_id)
        .await
        .context("load user")?;
    // The old row is replaced, not signed out: lists leave it out.
    if let Some(id) = session.id() {
        sessions::end(&mut conn, &hash_session_id(&id), "reissued", state.now())
            .await
            .context("retire the old session row")?;
    }
    drop(conn);
    session.cycle_id().await?;
    auth.key = new_session_key();
    auth.issued_at = watermarks::fresh_time(state.now(), user.as_ref(), &state.security.get());
    session.insert(AUTH_KEY, auth).await?;
    Ok(())
}

/// Ends the session server-side; its cookie is refused from now on.
pub async fn sign_out(
    state: &AppState,
    session: &Session,
    viewer: Option<&Viewer>,
    meta: &RequestMeta,
) -> Result<()> {
    session.flush().await?;
    if let Some(v) = viewer {
        let mut tx = state.store.begin().await.context("begin sign-out record")?;
        let actor = Actor::User {
            id: v.user_id,
            email: v.email.clone(),
        };
        let event = Event {
            actor,
            action: "auth.sign_out",
            target_user_id: Some(v.user_id),
            reason: None,
            details: json!({}),
        };
        audit::record(&mut tx, state.now(), meta, event).await?;
        tx.commit().await.context("commit sign-out record")?;
    }
    Ok(())
}

/// Resolves the signed-in user of a session, applying the watermarks: a session issued before a
/// session watermark, or whose user is gone or disabled, is ended with its reason. A database
/// error is an error, never "signed out".
pub async fn viewer_of(state: &AppState, session: &Session) -> Result<Option<Viewer>> {
    let Some(auth) = session.get::<SessionAuth>(AUTH_KEY).await? else {
        return Ok(None);
    };
    let mut conn = state.conn().await?;
    let user = users::find_by_id(&mut conn, auth.user_id)
        .await
        .context("load session user")?;
    let ended = match &user {
        None => Some("account_deleted".to_owned()),
        Some(u) if u.disabled_at.is_some() => Some("account_disabled".to_owned()),
        Some(u) => watermarks::session_revocation(auth.issued_at, u, &state.security.get()),
    };
    if let Some(reason) = ended {
        if let Some(id) = session.id() {
            sessions::end(&mut conn, &hash_session_id(&id), &reason, state.now())
                .await
                .context("end session")?;
        }
        drop(conn);
        session.flush().await?;
        return Ok(None);
    }
    let Some(u) = user else { return Ok(None) };
    let role = Role::parse(&u.role).with_context(|| format!("unknown role {:?}", u.role))?;
    Ok(Some(Viewer {
        user_id: u.id,
        email: u.email,
        role,
        authenticated_at: auth.authenticated_at,
        reset_required: auth.task.is_some(),
    }))
}
