//! Starting, re-issuing and resolving sessions. Whether a session still counts is decided by
//! [`super::validity::verdict`]; an ended session is ended on its row with the reason and its
//! cookie is refused from then on.

use anyhow::Context;
use tower_sessions::Session;

use super::data::{hash_session_id, new_session_key, ResetTask, SessionAuth, AUTH_KEY};
use super::validity::{self, SessionTimes};
use serde_json::json;

use crate::domain::{Actor, AuditAction, EndReason, RequestMeta, Role, Viewer};
use crate::error::Result;
use crate::runtime::security::{fresh_time, password_compromise};
use crate::runtime::{AppState, AuditedTx};
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
    /// Compared with the session watermarks: for a sign-in, the time its password verification
    /// started (so an action committed while it ran catches it); after a reset, a fresh time.
    pub issued_at: i64,
}

/// Ends all of a user's sessions: the user's session watermark (the database clock now, covering
/// every session issued so far, so a sign-in in flight is caught too) plus the rows, with
/// `reason`. Returns how many live rows ended.
pub async fn end_all_of_user(
    tx: &mut AuditedTx<'_>,
    user_id: i64,
    reason: EndReason,
) -> Result<u64> {
    let now = tx.now();
    let at = tx.order_time().await?.max(
        sessions::newest_issue_time(tx, user_id)
            .await
            .context("newest session")?,
    );
    users::revoke_sessions(tx, user_id, at, reason.as_str())
        .await
        .context("set session watermark")?;
    Ok(sessions::end_all_for_user(tx, user_id, None, reason, now)
        .await
        .context("end sessions")?)
}

/// A public id for a session about to start.
pub fn new_key() -> String {
    new_session_key()
}

/// Starts a fresh session under a new id (no fixation). The row is written by the session store
/// when the response is sent.
pub async fn start_session(state: &AppState, session: &Session, new: NewSession<'_>) -> Result<()> {
    let now = state.now();
    session.cycle_id().await?;
    let auth = SessionAuth {
        user_id: new.user.id,
        key: new.key,
        issued_at: new.issued_at,
        authenticated_at: now,
        ip: new.meta.ip.clone(),
        user_agent: new.meta.user_agent.clone(),
        device: new.meta.device.clone(),
        location: new.location,
        task: new.task,
        continues_past_compromise: None,
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
    auth.issued_at = fresh_time(
        state.order_time().await?,
        user.as_ref(),
        &state.security.get(),
    );
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

/// Lets this session continue past the compromise of its own user's password made at `at` (the
/// administrator who just acted keeps the console).
pub async fn continue_past_compromise(session: &Session, at: i64) -> Result<()> {
    if let Some(mut auth) = session.get::<SessionAuth>(AUTH_KEY).await? {
        auth.continues_past_compromise = Some(at);
        session.insert(AUTH_KEY, auth).await?;
    }
    Ok(())
}

/// Restricts this session to the reset-password task now (the administrator who chose to change
/// their compromised password).
pub async fn restrict(session: &Session) -> Result<()> {
    if let Some(mut auth) = session.get::<SessionAuth>(AUTH_KEY).await? {
        auth.task.get_or_insert_with(ResetTask::default);
        auth.continues_past_compromise = None;
        session.insert(AUTH_KEY, auth).await?;
    }
    Ok(())
}

/// What the validity rule and the password state make of a signed-in session now.
enum Judgement {
    /// It ends, with this reason.
    Ended(EndReason),
    /// A full session whose password is compromised: restricted to the reset-password task from
    /// now on, exactly like a sign-in with that password.
    Restrict,
    /// It counts; `let_through` when it may continue past its own user's compromise.
    Counts { let_through: bool },
}

/// The one judgement of a session with its user, for pages and forward-auth alike:
/// - the validity rule: a session whose user is gone or disabled, that a watermark caught, or
///   that passed its limits ends with its reason;
/// - the password state: a full session whose user's password is compromised (by the user's or
///   the instance watermark) is restricted; when the reset task is switched off it ends instead.
///
/// It reads the user row and the in-memory snapshot only (O(1)).
fn judge(auth: &SessionAuth, user: Option<&users::UserRow>, state: &AppState) -> Judgement {
    let now = state.now();
    let snap = state.security.get();
    // The store already judged the limits on load; the user's state and the watermarks apply to
    // the issue time the session carries.
    let times = SessionTimes {
        issued_at: auth.issued_at,
        created_at: now,
        last_seen_at: now,
        expires_at: i64::MAX,
    };
    let Some(u) = user else {
        return Judgement::Ended(EndReason::AccountDeleted);
    };
    if let Some((_, reason)) = validity::verdict(&times, Some(u), &snap, now) {
        return Judgement::Ended(reason);
    }
    let compromise = password_compromise(u, &snap);
    let let_through = compromise
        .as_ref()
        .is_some_and(|c| auth.continues_past_compromise.is_some_and(|at| c.at <= at));
    if auth.task.is_none() && compromise.is_some() && !let_through {
        return if snap.reset_task_enabled {
            Judgement::Restrict
        } else {
            Judgement::Ended(EndReason::PasswordCompromised)
        };
    }
    Judgement::Counts { let_through }
}

/// The user of a session, from this node's cache or the database.
async fn user_of(state: &AppState, user_id: i64) -> Result<Option<std::sync::Arc<users::UserRow>>> {
    Ok(state
        .session_cache
        .user(user_id, || async move {
            let mut conn = state.conn().await?;
            users::find_by_id(&mut conn, user_id)
                .await
                .context("load session user")
        })
        .await?)
}

/// Records that a session was restricted to the reset-password task.
async fn record_restriction(
    state: &AppState,
    meta: &RequestMeta,
    user_id: i64,
    key: &str,
) -> Result<()> {
    let mut tx = AuditedTx::begin(state, meta).await?;
    let details = json!({"session": &key[..12.min(key.len())]});
    tx.record(
        &Actor::System,
        AuditAction::SessionRestricted,
        Some(user_id),
        None,
        details,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

fn viewer(u: &users::UserRow, auth: SessionAuth, let_through: bool) -> Result<Viewer> {
    let role = Role::parse(&u.role).with_context(|| format!("unknown role {:?}", u.role))?;
    Ok(Viewer {
        user_id: u.id,
        email: u.email.clone(),
        role,
        authenticated_at: auth.authenticated_at,
        reset_required: auth.task.is_some(),
        password_compromised: let_through,
        session_key: auth.key,
    })
}

/// Resolves the signed-in user of a session, on every request, by [`judge`]: an ended session is
/// ended on its row and signed out; a restricted one is marked so in its data. A database error
/// is an error, never "signed out".
pub async fn viewer_of(
    state: &AppState,
    session: &Session,
    meta: &RequestMeta,
) -> Result<Option<Viewer>> {
    let Some(mut auth) = session.get::<SessionAuth>(AUTH_KEY).await? else {
        return Ok(None);
    };
    let user = user_of(state, auth.user_id).await?;
    let let_through = match judge(&auth, user.as_deref(), state) {
        Judgement::Ended(reason) => {
            if let Some(id) = session.id() {
                super::DbSessionStore::of(state)
                    .end(&hash_session_id(&id), reason)
                    .await?;
            }
            session.flush().await?;
            return Ok(None);
        }
        Judgement::Restrict => {
            auth.task = Some(ResetTask::default());
            session.insert(AUTH_KEY, auth.clone()).await?;
            record_restriction(state, meta, auth.user_id, &auth.key).await?;
            false
        }
        Judgement::Counts { let_through } => let_through,
    };
    let u = user.context("judged without a user")?;
    Ok(Some(viewer(&u, auth, let_through)?))
}

/// What a session cookie is worth to forward-auth (a proxy asking whether a request may pass).
pub enum Passage {
    /// No live session: sign in.
    Anonymous,
    /// Restricted to the reset-password task: only that.
    ResetTask,
    /// A signed-in user, with the name to pass on.
    User {
        viewer: Viewer,
        name: Option<String>,
    },
}

/// Judges the session of a cookie (its id hash) for forward-auth, from this node's cache: no
/// database round trip for a cached session and user. The same rule as [`viewer_of`]; a session
/// it restricts is marked so in its stored data.
pub async fn passage(
    state: &AppState,
    store: &super::DbSessionStore,
    id_hash: &str,
    meta: &RequestMeta,
) -> Result<Passage> {
    let Some(entry) = store.live(id_hash).await? else {
        return Ok(Passage::Anonymous);
    };
    let auth = entry.decoded(|e| {
        serde_json::from_str::<std::collections::HashMap<String, serde_json::Value>>(&e.row.data)
            .ok()
            .and_then(|mut data| data.remove(AUTH_KEY))
            .and_then(|v| serde_json::from_value::<SessionAuth>(v).ok())
    });
    let Some(auth) = auth.as_ref().clone() else {
        return Ok(Passage::Anonymous);
    };
    let user = user_of(state, auth.user_id).await?;
    match judge(&auth, user.as_deref(), state) {
        Judgement::Ended(reason) => {
            store.end(id_hash, reason).await?;
            Ok(Passage::Anonymous)
        }
        Judgement::Restrict => {
            let mut data: std::collections::HashMap<String, serde_json::Value> =
                serde_json::from_str(&entry.row.data).context("decode session data")?;
            let mut restricted = auth.clone();
            restricted.task = Some(ResetTask::default());
            data.insert(
                AUTH_KEY.to_owned(),
                serde_json::to_value(&restricted).context("encode")?,
            );
            let text = serde_json::to_string(&data).context("encode session data")?;
            let mut conn = state.conn().await?;
            sessions::update_data(&mut conn, id_hash, Some(auth.user_id), &text, state.now())
                .await
                .context("restrict session")?;
            drop(conn);
            state.session_cache.forget_session(id_hash);
            record_restriction(state, meta, auth.user_id, &auth.key).await?;
            Ok(Passage::ResetTask)
        }
        Judgement::Counts { .. } if auth.task.is_some() => Ok(Passage::ResetTask),
        Judgement::Counts { let_through } => {
            let u = user.context("judged without a user")?;
            let name = u.name.clone();
            Ok(Passage::User {
                viewer: viewer(&u, auth, let_through)?,
                name,
            })
        }
    }
}
