//! A user's devices: their sessions, live and recently ended with the reason, and signing out
//! one, the others or all of them. Whether a session still counts is decided by the session
//! validity rule, as everywhere else.

use anyhow::Context;
use serde_json::json;
use tower_sessions::Session;

use super::{DeviceSession, MyDevices};
use crate::domain::{Actor, AuditAction, EndReason, RequestMeta, Viewer};
use crate::error::{AppError, Result};
use crate::features::sessions::service as session_service;
use crate::features::sessions::step_up::{self, DEVICES_WINDOW_MS};
use crate::features::sessions::validity::{verdict, SessionTimes};
use crate::runtime::security::Snapshot;
use crate::runtime::{user_agent, AppState, AuditedTx};
use crate::storage::sessions::{self, SessionRow};
use crate::storage::users::{self, UserRow};
use crate::storage::Conn;

/// Ended sessions stay listed this long.
const ENDED_LISTED_MS: i64 = 30 * 24 * 60 * 60 * 1000;
const SESSIONS_SHOWN: i64 = 200;

fn key_of(row: &SessionRow) -> String {
    row.public_id.clone().unwrap_or_else(|| row.id_hash.clone())
}

/// A user's sessions split into live ones and those ended in the last 30 days. Rows replaced by a
/// re-issued session of the same sign-in are left out.
pub fn classify(
    rows: Vec<SessionRow>,
    user: &UserRow,
    snap: &Snapshot,
    now: i64,
    current: &str,
) -> (Vec<DeviceSession>, Vec<DeviceSession>) {
    let mut active = Vec::new();
    let mut gone = Vec::new();
    for row in rows {
        if row.end_reason.as_deref() == Some(EndReason::Reissued.as_str()) {
            continue;
        }
        let ua = user_agent::parse(row.user_agent.as_deref());
        let end = match (row.ended_at, row.end_reason.as_deref()) {
            (Some(at), Some(reason)) => Some((at, EndReason::label_of(reason))),
            _ => verdict(&SessionTimes::of(&row), Some(user), snap, now)
                .map(|(at, r)| (at, r.label())),
        };
        let key = key_of(&row);
        let item = DeviceSession {
            current: !current.is_empty() && key == current && end.is_none(),
            key,
            browser: ua.browser,
            os: ua.os,
            device_type: ua.device_type,
            ip: row.ip,
            location: row.location,
            created_at: row.created_at,
            last_seen_at: row.last_seen_at,
            ended_at: end.as_ref().map(|(at, _)| *at),
            end_reason: end.as_ref().map(|(_, label)| (*label).to_owned()),
        };
        match end {
            None => active.push(item),
            Some((at, _)) if now - at <= ENDED_LISTED_MS => gone.push(item),
            Some(_) => {}
        }
    }
    // The current device first, then the most recently active.
    active.sort_by_key(|d| (!d.current, -d.last_seen_at));
    gone.sort_by_key(|d| -d.ended_at.unwrap_or(0));
    (active, gone)
}

/// Every session of `user_id`, classified (shared by the user's page and the admin's).
pub async fn sessions_of(
    conn: &mut Conn,
    state: &AppState,
    user: &UserRow,
    current: &str,
) -> Result<(Vec<DeviceSession>, Vec<DeviceSession>)> {
    let rows = sessions::for_user(conn, user.id, SESSIONS_SHOWN)
        .await
        .context("load sessions")?;
    Ok(classify(
        rows,
        user,
        &state.security.get(),
        state.now(),
        current,
    ))
}

pub(super) async fn load_user(conn: &mut Conn, id: i64) -> Result<UserRow> {
    users::find_by_id(conn, id)
        .await
        .context("load user")?
        .ok_or(AppError::Unauthenticated)
}

pub async fn my_devices(state: &AppState, viewer: &Viewer, current: &str) -> Result<MyDevices> {
    let mut conn = state.conn().await?;
    let user = load_user(&mut conn, viewer.user_id).await?;
    let (active, ended) = sessions_of(&mut conn, state, &user, current).await?;
    Ok(MyDevices {
        active,
        ended,
        step_up_needed: step_up::needed(state, viewer, DEVICES_WINDOW_MS),
    })
}

/// Step-up for ending sessions: the password, unless it was proved in the last 10 minutes. A
/// proof restarts the window for this session.
pub async fn step_up(
    state: &AppState,
    viewer: &Viewer,
    session: &Session,
    password: Option<&str>,
) -> Result<()> {
    let proved = step_up::check(state, viewer, password.unwrap_or(""), DEVICES_WINDOW_MS).await?;
    if proved {
        session_service::mark_authenticated(state, session).await?;
    }
    Ok(())
}

pub(super) fn short(key: &str) -> &str {
    &key[..12.min(key.len())]
}

/// Ends one of the user's other sessions ("signed out from another device").
pub async fn sign_out_one(
    state: &AppState,
    viewer: &Viewer,
    current: &str,
    key: &str,
    meta: &RequestMeta,
) -> Result<()> {
    if key.is_empty() {
        return Err(AppError::field("session", "Choose a session to sign out."));
    }
    if key == current {
        return Err(AppError::field(
            "session",
            "This is the session you are using: use \"Sign out everywhere\" or the Sign out button instead.",
        ));
    }
    let mut tx = AuditedTx::begin(state, meta).await?;
    let now = tx.now();
    let ended = sessions::end_for_user(
        &mut tx,
        key,
        viewer.user_id,
        EndReason::SignedOutFromDevice,
        now,
    )
    .await
    .context("end session")?;
    if ended != 1 {
        return Err(AppError::field(
            "session",
            "This session has already ended.",
        ));
    }
    let details = json!({"session": short(key)});
    tx.record(
        &Actor::user(viewer),
        AuditAction::SessionSignedOutByUser,
        Some(viewer.user_id),
        None,
        details,
    )
    .await?;
    tx.commit().await
}

/// Ends every session of the user except the current one. Returns how many ended.
pub async fn sign_out_others(
    state: &AppState,
    viewer: &Viewer,
    current: &str,
    meta: &RequestMeta,
) -> Result<u64> {
    let mut tx = AuditedTx::begin(state, meta).await?;
    let now = tx.now();
    let ended = sessions::end_all_except(
        &mut tx,
        viewer.user_id,
        current,
        EndReason::SignedOutFromDevice,
        now,
    )
    .await
    .context("end sessions")?;
    let details = json!({"sessions_ended": ended});
    tx.record(
        &Actor::user(viewer),
        AuditAction::SessionSignedOutOthers,
        Some(viewer.user_id),
        None,
        details,
    )
    .await?;
    tx.commit().await?;
    Ok(ended)
}

/// Ends every session of the user, this one last (its cookie is refused from now on).
pub async fn sign_out_everywhere(
    state: &AppState,
    viewer: &Viewer,
    session: &Session,
    current: &str,
    meta: &RequestMeta,
) -> Result<()> {
    sign_out_others(state, viewer, current, meta).await?;
    session_service::end_current(session).await?;
    let mut tx = AuditedTx::begin(state, meta).await?;
    tx.record(
        &Actor::user(viewer),
        AuditAction::SignOut,
        Some(viewer.user_id),
        None,
        json!({}),
    )
    .await?;
    tx.commit().await
}
