//! Starting, re-issuing and resolving sessions. Whether a session still counts is decided by
//! [`super::validity::verdict`]; an ended session is ended on its row with the reason and its
//! cookie is refused from then on.

use anyhow::Context;
use tower_sessions::Session;

use super::data::{hash_session_id, new_session_key, ResetTask, SessionAuth, AUTH_KEY};
use super::validity::{self, SessionTimes};
use crate::domain::{EndReason, RequestMeta, Role, Viewer};
use crate::error::Result;
use crate::runtime::security::fresh_time;
use crate::runtime::AppState;
use crate::storage::{sessions, users};

/// What a new session records besides its user.
pub struct NewSession<'a> {
    pub user: &'a users::UserRow,
    /// Its public id (made by [`new_key`] before the sign-in is recorded).
    pub key: String,
    pub meta: &'a RequestMeta,
    pub location: Option<String>,
    /// Present for a session restricted to the reset-password task.
    pub task: Option<ResetTask>,
}

/// A public id for a session about to start.
pub fn new_key() -> String {
    new_session_key()
}

/// Starts a fresh session under a new id (no fixation), stamped after every watermark. The row is
/// written by the session store when the response is sent.
pub async fn start_session(state: &AppState, session: &Session, new: NewSession<'_>) -> Result<()> {
    let now = state.now();
    session.cycle_id().await?;
    let auth = SessionAuth {
        user_id: new.user.id,
        key: new.key,
        issued_at: fresh_time(now, Some(new.user), &state.security.get()),
        authenticated_at: now,
        ip: new.meta.ip.clone(),
        user_agent: new.meta.user_agent.clone(),
        device: new.meta.device.clone(),
        location: new.location,
        task: new.task,
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
        sessions::end(
            &mut conn,
            &hash_session_id(&id),
            EndReason::Reissued,
            state.now(),
        )
        .await
        .context("retire the old session row")?;
    }
    drop(conn);
    session.cycle_id().await?;
    auth.key = new_session_key();
    auth.issued_at = fresh_time(state.now(), user.as_ref(), &state.security.get());
    session.insert(AUTH_KEY, auth).await?;
    Ok(())
}

/// Proof of the password in this session just now (step-up): restarts its step-up window.
pub async fn mark_authenticated(state: &AppState, session: &Session) -> Result<()> {
    if let Some(mut auth) = session.get::<SessionAuth>(AUTH_KEY).await? {
        auth.authenticated_at = state.now();
        session.insert(AUTH_KEY, auth).await?;
    }
    Ok(())
}

/// Ends the session server-side; its cookie is refused from now on.
pub async fn end_current(session: &Session) -> Result<()> {
    session.flush().await?;
    Ok(())
}

/// The current session's public id ("" for a session without one).
pub async fn current_key(session: &Session) -> Result<String> {
    let auth = session.get::<SessionAuth>(AUTH_KEY).await?;
    Ok(match auth {
        Some(a) if !a.key.is_empty() => a.key,
        // Sessions from before public ids: their rows are keyed by the id hash.
        _ => session
            .id()
            .map(|id| hash_session_id(&id))
            .unwrap_or_default(),
    })
}

/// The reset-password task of the current session, if it is restricted.
pub async fn reset_task(session: &Session) -> Result<Option<ResetTask>> {
    Ok(session
        .get::<SessionAuth>(AUTH_KEY)
        .await?
        .and_then(|a| a.task))
}

/// Records that the restricted session proved control of the account's e-mail.
pub async fn mark_email_verified(session: &Session) -> Result<()> {
    if let Some(mut auth) = session.get::<SessionAuth>(AUTH_KEY).await? {
        auth.task = Some(ResetTask {
            email_verified: true,
        });
        session.insert(AUTH_KEY, auth).await?;
    }
    Ok(())
}

/// Resolves the signed-in user of a session by the validity rule: a session whose user is gone
/// or disabled, that a watermark caught, or that passed its limits is ended with its reason. A
/// database error is an error, never "signed out".
pub async fn viewer_of(state: &AppState, session: &Session) -> Result<Option<Viewer>> {
    let Some(auth) = session.get::<SessionAuth>(AUTH_KEY).await? else {
        return Ok(None);
    };
    let mut conn = state.conn().await?;
    let user = users::find_by_id(&mut conn, auth.user_id)
        .await
        .context("load session user")?;
    let now = state.now();
    // The store already judged the limits on load; the user's state and the watermarks apply to
    // the issue time the session carries.
    let times = SessionTimes {
        issued_at: auth.issued_at,
        last_seen_at: now,
        expires_at: i64::MAX,
    };
    let ended = match &user {
        None => Some(EndReason::AccountDeleted),
        Some(u) => validity::verdict(&times, Some(u), &state.security.get(), now).map(|(_, r)| r),
    };
    let Some(u) = user.filter(|_| ended.is_none()) else {
        if let (Some(reason), Some(id)) = (ended, session.id()) {
            sessions::end(&mut conn, &hash_session_id(&id), reason, now)
                .await
                .context("end session")?;
        }
        drop(conn);
        session.flush().await?;
        return Ok(None);
    };
    let role = Role::parse(&u.role).with_context(|| format!("unknown role {:?}", u.role))?;
    Ok(Some(Viewer {
        user_id: u.id,
        email: u.email,
        role,
        authenticated_at: auth.authenticated_at,
        reset_required: auth.task.is_some(),
    }))
}
