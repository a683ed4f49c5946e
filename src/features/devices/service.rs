//! Devices and new-device alerts.
//!
//! A session row carries its public id, the hash of the browser's device cookie, the parsed user
//! agent and an approximate location. Whether a session still counts is decided as everywhere
//! else: its row (ended with a reason), the session watermarks, and the idle and absolute limits.

use anyhow::Context;
use serde_json::json;
use sha2::{Digest, Sha256};
use tower_sessions::Session;

use super::{AlertLink, DeviceSession, MyDevices, NotMeOutcome};
use crate::email::{self, MailKind};
use crate::error::{AppError, Result};
use crate::features::audit::{self, Actor, Event, RequestMeta};
use crate::features::auth::Viewer;
use crate::features::security::watermarks::{session_revocation, Snapshot};
use crate::features::sessions::{hash_session_id, SessionAuth, AUTH_KEY};
use crate::state::AppState;
use crate::storage::sessions::SessionRow;
use crate::storage::users::{self, UserRow};
use crate::storage::{devices, sessions, Conn};
use crate::ui::format;

/// Ending sessions asks for the password when the last proof is older than this (ASVS 7.5.2).
pub const STEP_UP_WINDOW_MS: i64 = 10 * 60 * 1000;
/// Ended sessions stay listed this long.
const ENDED_LISTED_MS: i64 = 30 * 24 * 60 * 60 * 1000;
/// How long a "This wasn't me" link works.
const ALERT_TTL_MS: i64 = 7 * 24 * 60 * 60 * 1000;
const SESSIONS_SHOWN: i64 = 200;

/// Browser, OS and device type from a user agent, by the woothee parser.
pub struct UserAgent {
    pub browser: String,
    pub os: String,
    pub device_type: String,
}

pub fn parse_user_agent(user_agent: Option<&str>) -> UserAgent {
    let unknown = || UserAgent {
        browser: "Unknown browser".into(),
        os: "Unknown".into(),
        device_type: "Unknown".into(),
    };
    let Some(ua) = user_agent.filter(|u| !u.trim().is_empty()) else {
        return unknown();
    };
    let Some(r) = woothee::parser::Parser::new().parse(ua) else {
        return unknown();
    };
    let known = |s: &str| (!s.is_empty() && s != "UNKNOWN").then(|| s.to_owned());
    let major = r.version.split('.').next().unwrap_or_default();
    let browser = match known(r.name) {
        Some(name) if !major.is_empty() && major != "UNKNOWN" => format!("{name} {major}"),
        Some(name) => name,
        None => "Unknown browser".into(),
    };
    let os = match (known(r.os), known(&r.os_version)) {
        (Some(os), Some(v)) if !os.contains(&v) => format!("{os} {v}"),
        (Some(os), _) => os,
        (None, _) => "Unknown".into(),
    };
    let device_type = match r.category {
        "pc" => "Desktop",
        "smartphone" => "Phone",
        "mobilephone" => "Mobile phone",
        "appliance" => "Appliance",
        "crawler" => "Crawler",
        _ => "Unknown",
    };
    UserAgent {
        browser,
        os,
        device_type: device_type.into(),
    }
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

fn key_of(row: &SessionRow) -> String {
    row.public_id.clone().unwrap_or_else(|| row.id_hash.clone())
}

/// When and why a session stopped counting, if it did.
fn ended(row: &SessionRow, user: &UserRow, snap: &Snapshot, now: i64) -> Option<(i64, String)> {
    if let (Some(at), Some(reason)) = (row.ended_at, row.end_reason.as_deref()) {
        return Some((at, reason.to_owned()));
    }
    if let Some(reason) = session_revocation(row.created_at, user, snap) {
        let at = if reason == "instance_sign_out" {
            snap.row.sessions_revoked_before
        } else {
            user.sessions_revoked_before.unwrap_or(now)
        };
        return Some((at, reason));
    }
    let expires = row
        .expires_at
        .min(row.created_at.saturating_add(snap.absolute_ms))
        .min(row.last_seen_at.saturating_add(snap.idle_ms));
    (now >= expires).then(|| (expires, "expired".to_owned()))
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
        if row.end_reason.as_deref() == Some("reissued") {
            continue;
        }
        let ua = parse_user_agent(row.user_agent.as_deref());
        let end = ended(&row, user, snap, now);
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
            end_reason: end
                .as_ref()
                .map(|(_, reason)| format::end_reason(reason).to_owned()),
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

async fn load_user(conn: &mut Conn, id: i64) -> Result<UserRow> {
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
        step_up_needed: state.now() - viewer.authenticated_at > STEP_UP_WINDOW_MS,
    })
}

/// Step-up for ending sessions: the password, unless it was proved in the last 10 minutes. A
/// proof resets the window for this session.
pub async fn step_up(
    state: &AppState,
    viewer: &Viewer,
    session: &Session,
    password: Option<&str>,
) -> Result<()> {
    let password = password.unwrap_or("");
    crate::features::security::service::check_step_up(
        state,
        viewer.user_id,
        viewer.authenticated_at,
        password,
        STEP_UP_WINDOW_MS,
    )
    .await?;
    if !password.is_empty() {
        if let Some(mut auth) = session.get::<SessionAuth>(AUTH_KEY).await? {
            auth.authenticated_at = state.now();
            session.insert(AUTH_KEY, auth).await?;
        }
    }
    Ok(())
}

fn user_actor(viewer: &Viewer) -> Actor {
    Actor::User {
        id: viewer.user_id,
        email: viewer.email.clone(),
    }
}

fn short(key: &str) -> &str {
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
    let now = state.now();
    let mut tx = state.store.begin().await.context("begin")?;
    let ended = sessions::end_for_user(&mut tx, key, viewer.user_id, "signed_out_from_device", now)
        .await
        .context("end session")?;
    if ended != 1 {
        return Err(AppError::field(
            "session",
            "This session has already ended.",
        ));
    }
    let event = Event {
        actor: user_actor(viewer),
        action: "session.signed_out_by_user",
        target_user_id: Some(viewer.user_id),
        reason: None,
        details: json!({"session": short(key)}),
    };
    audit::record(&mut tx, now, meta, event).await?;
    tx.commit().await.context("commit")?;
    Ok(())
}

/// Ends every session of the user except the current one. Returns how many ended.
pub async fn sign_out_others(
    state: &AppState,
    viewer: &Viewer,
    current: &str,
    meta: &RequestMeta,
) -> Result<u64> {
    let now = state.now();
    let mut tx = state.store.begin().await.context("begin")?;
    let ended = sessions::end_all_except(
        &mut tx,
        viewer.user_id,
        current,
        "signed_out_from_device",
        now,
    )
    .await
    .context("end sessions")?;
    let event = Event {
        actor: user_actor(viewer),
        action: "session.signed_out_others",
        target_user_id: Some(viewer.user_id),
        reason: None,
        details: json!({"sessions_ended": ended}),
    };
    audit::record(&mut tx, now, meta, event).await?;
    tx.commit().await.context("commit")?;
    Ok(ended)
}

/// What a sign-in left to record about its device.
pub struct SignIn<'a> {
    pub user: &'a UserRow,
    /// The new session's public id.
    pub key: &'a str,
    pub at: i64,
    pub method: &'a str,
    pub location: Option<&'a crate::geo::Location>,
}

/// Remembers the device (and country) of a successful sign-in and, when it is new for the user,
/// queues the new-device alert with a "This wasn't me" link bound to exactly this session. The
/// very first device of an account raises no alert: there is nothing yet to compare with.
/// Returns whether an alert was queued.
pub async fn record_sign_in(
    conn: &mut Conn,
    state: &AppState,
    s: SignIn<'_>,
    meta: &RequestMeta,
) -> Result<bool> {
    let Some(device) = meta.device.as_deref() else {
        return Ok(false);
    };
    let user_id = s.user.id;
    let had_devices = devices::count_devices(conn, user_id)
        .await
        .context("count devices")?
        > 0;
    let new_device = devices::remember_device(conn, user_id, device, s.at)
        .await
        .context("remember device")?;
    let mut new_country = false;
    if let Some(code) = s.location.and_then(|l| l.country_code.as_deref()) {
        let had_countries = devices::count_countries(conn, user_id)
            .await
            .context("count countries")?
            > 0;
        new_country = devices::remember_country(conn, user_id, code, s.at)
            .await
            .context("remember country")?
            && had_countries;
    }
    let snap = state.security.get();
    let alert = snap.new_device_alerts
        && had_devices
        && (new_device || (snap.alert_on_new_country && new_country));
    if !alert {
        return Ok(false);
    }
    let token = hex::encode(rand::random::<[u8; 32]>());
    devices::insert_alert(
        conn,
        &hash_token(&token),
        user_id,
        s.key,
        s.at,
        s.at + ALERT_TTL_MS,
    )
    .await
    .context("store alert link")?;
    let base = &state.config.base_url;
    let mut not_me = base
        .join(&snap.device_alert_path)
        .context("alert link URL")?;
    not_me.set_query(Some(&format!("token={token}")));
    let devices_url = base.join("/account/devices").context("devices URL")?;
    let ua = parse_user_agent(meta.user_agent.as_deref());
    let vars = json!({
        "signed_in_at": format::utc(s.at),
        "device_type": ua.device_type,
        "browser": ua.browser,
        "os": ua.os,
        "ip": meta.ip.clone().unwrap_or_else(|| "unknown".into()),
        "location": s.location.and_then(|l| l.label()).unwrap_or_else(|| "unknown".into()),
        "method": s.method,
        "not_me_url": not_me.as_str(),
        "expires_in_days": ALERT_TTL_MS / (24 * 60 * 60 * 1000),
        "devices_url": devices_url.as_str(),
    });
    email::queue(conn, s.at, base, MailKind::NewDevice, &s.user.email, vars).await?;
    let event = Event {
        actor: Actor::System,
        action: "session.new_device_alert",
        target_user_id: Some(user_id),
        reason: None,
        details: json!({
            "session": short(s.key),
            "new_device": new_device,
            "new_country": new_country,
        }),
    };
    audit::record(conn, s.at, meta, event).await?;
    Ok(true)
}

fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.trim().as_bytes()))
}

/// What a link shows, without changing anything.
pub async fn alert_link(state: &AppState, token: &str) -> Result<AlertLink> {
    let mut conn = state.conn().await?;
    let Some(alert) = devices::find_alert(&mut conn, &hash_token(token))
        .await
        .context("load alert link")?
    else {
        return Ok(AlertLink::Unknown);
    };
    if alert.used_at.is_some() {
        return Ok(AlertLink::Used);
    }
    if state.now() >= alert.expires_at {
        return Ok(AlertLink::Expired);
    }
    let user = load_user(&mut conn, alert.user_id).await?;
    let (active, ended) = sessions_of(&mut conn, state, &user, "").await?;
    let found =
        |list: Vec<DeviceSession>| list.into_iter().find(|d| d.key == alert.session_public_id);
    Ok(match found(active) {
        Some(session) => AlertLink::Valid {
            session,
            active: true,
        },
        None => match found(ended) {
            Some(session) => AlertLink::Valid {
                session,
                active: false,
            },
            // The session row is gone (ended long ago): nothing left to sign out.
            None => AlertLink::Expired,
        },
    })
}

/// Spends the link: signs out exactly its session ("reported as not me"), forgets its device and,
/// when asked, sets the password as compromised so the reset-password task starts at the next sign-in. One
/// transaction.
pub async fn report_not_me(
    state: &AppState,
    token: &str,
    compromise: bool,
    meta: &RequestMeta,
) -> Result<NotMeOutcome> {
    let now = state.now();
    let hash = hash_token(token);
    let mut tx = state.store.begin().await.context("begin")?;
    let Some(alert) = devices::use_alert(&mut tx, &hash, now)
        .await
        .context("use alert link")?
    else {
        drop(tx);
        let why = match alert_link(state, token).await? {
            AlertLink::Used => "This link has already been used.",
            AlertLink::Expired => "This link has expired.",
            _ => "This link is not valid.",
        };
        return Err(AppError::field("token", why));
    };
    let user = load_user(&mut tx, alert.user_id).await?;
    // The device is not the user's: forget it, so its next sign-in raises an alert again.
    let device = sessions::find_for_user(&mut tx, user.id, &alert.session_public_id)
        .await
        .context("load session")?
        .and_then(|s| s.device_hash);
    if let Some(device) = &device {
        devices::forget_device(&mut tx, user.id, device)
            .await
            .context("forget device")?;
    }
    let signed_out = sessions::end_for_user(
        &mut tx,
        &alert.session_public_id,
        user.id,
        "reported_not_me",
        now,
    )
    .await
    .context("end session")?
        == 1;
    if compromise {
        users::compromise_password(
            &mut tx,
            user.id,
            now.max(user.password_set_at),
            &user.email,
            "Reported an unrecognised sign-in from the new-device alert",
        )
        .await
        .context("set password compromised")?;
    }
    let event = Event {
        actor: Actor::User {
            id: user.id,
            email: user.email.clone(),
        },
        action: "session.reported_not_me",
        target_user_id: Some(user.id),
        reason: Some("Reported from the new-device alert e-mail"),
        details: json!({
            "session": short(&alert.session_public_id),
            "signed_out": signed_out,
            "password_compromised": compromise,
        }),
    };
    audit::record(&mut tx, now, meta, event).await?;
    tx.commit().await.context("commit")?;
    Ok(NotMeOutcome {
        signed_out,
        password_compromised: compromise,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agents_are_parsed_into_browser_os_and_type() {
        let ua = parse_user_agent(Some(
            "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
        ));
        assert_eq!(ua.browser, "Firefox 132");
        assert_eq!(ua.os, "Linux");
        assert_eq!(ua.device_type, "Desktop");
        let phone = parse_user_agent(Some("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"));
        assert_eq!(phone.device_type, "Phone");
        assert!(phone.os.starts_with("iPhone"), "{}", phone.os);
        let none = parse_user_agent(None);
        assert_eq!(none.browser, "Unknown browser");
    }
}
