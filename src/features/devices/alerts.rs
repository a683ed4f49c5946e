//! New-device alerts: a sign-in from a device (or, optionally, a country) new to the account
//! queues a mail with a single-use "This wasn't me" link bound to exactly that session. The link
//! page only reads; pressing its button signs that session out.

use anyhow::Context;
use serde_json::json;

use super::service::{load_user, sessions_of, short};
use super::{AlertLink, DeviceSession, NotMeOutcome};
use crate::domain::{time, Actor, AuditAction, EndReason, RequestMeta};
use crate::email::MailKind;
use crate::error::{AppError, Result};
use crate::features::sessions::service::end_all_of_user;
use crate::runtime::{token, user_agent, AppState, AuditedTx};
use crate::storage::users::{self, UserRow};
use crate::storage::{devices, sessions, Conn};

/// How long a "This wasn't me" link works.
const ALERT_TTL_MS: i64 = 7 * 24 * 60 * 60 * 1000;

fn hash_token(secret: &str) -> String {
    token::hash(secret.trim())
}

/// What a sign-in left to record about its device.
pub struct SignIn<'a> {
    pub user: &'a UserRow,
    /// The new session's public id.
    pub key: &'a str,
    pub method: &'a str,
    pub location: Option<&'a crate::geo::Location>,
}

/// Remembers the device (and country) of a successful sign-in and, when it is new for the user,
/// queues the new-device alert with a "This wasn't me" link bound to exactly this session. The
/// very first device of an account raises no alert: there is nothing yet to compare with.
/// Returns whether an alert was queued.
pub async fn record_sign_in(tx: &mut AuditedTx<'_>, s: SignIn<'_>) -> Result<bool> {
    let state = tx.state();
    let meta = tx.meta();
    let at = tx.now();
    let conn: &mut Conn = tx;
    let Some(device) = meta.device.as_deref() else {
        return Ok(false);
    };
    let user_id = s.user.id;
    let devices::DeviceSeen {
        had_devices,
        new_device,
    } = devices::record_device(conn, state.store.backend(), user_id, device, at)
        .await
        .context("remember device")?;
    let mut new_country = false;
    if let Some(code) = s.location.and_then(|l| l.country_code.as_deref()) {
        let had_countries = devices::count_countries(conn, user_id)
            .await
            .context("count countries")?
            > 0;
        new_country = devices::remember_country(conn, user_id, code, at)
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
    let secret = token::random_hex(32);
    devices::insert_alert(
        conn,
        &hash_token(&secret),
        user_id,
        s.key,
        at,
        at + ALERT_TTL_MS,
    )
    .await
    .context("store alert link")?;
    let base = &state.config.base_url;
    let mut not_me = base
        .join(&snap.device_alert_path)
        .context("alert link URL")?;
    not_me.set_query(Some(&format!("token={secret}")));
    let devices_url = base.join("/account/devices").context("devices URL")?;
    let ua = user_agent::parse(meta.user_agent.as_deref());
    let vars = json!({
        "signed_in_at": time::utc(at),
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
    tx.queue_mail(MailKind::NewDevice, &s.user.email, vars)
        .await?;
    let details = json!({
        "session": short(s.key),
        "new_device": new_device,
        "new_country": new_country,
    });
    tx.record(
        &Actor::System,
        AuditAction::SessionNewDeviceAlert,
        Some(user_id),
        None,
        details,
    )
    .await?;
    Ok(true)
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

/// What the person who reports a sign-in as not theirs asks for.
#[derive(Debug, Clone, Copy, Default)]
pub struct NotMeChoices {
    /// "My password may be known": set it compromised (live sessions are restricted to the
    /// reset task; the next sign-in confirms the e-mail and sets a new password).
    pub compromise_password: bool,
    /// "Sign out everywhere": end every session of the account, not only that device's.
    pub sign_out_everywhere: bool,
}

/// Spends the link: signs out every live session of the reported device (an attacker may have
/// signed in more than once from it), or every session of the account when asked; forgets the
/// device, so its next sign-in alerts again; and, when asked, sets the password as compromised.
/// One transaction.
pub async fn report_not_me(
    state: &AppState,
    token: &str,
    choices: NotMeChoices,
    meta: &RequestMeta,
) -> Result<NotMeOutcome> {
    let hash = hash_token(token);
    let mut tx = AuditedTx::begin(state, meta).await?;
    let now = tx.now();
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
    let device = sessions::find_for_user(&mut tx, user.id, &alert.session_public_id)
        .await
        .context("load session")?
        .and_then(|s| s.device_hash);
    // The device is not the user's: forget it, so its next sign-in raises an alert again.
    if let Some(device) = &device {
        devices::forget_device(&mut tx, user.id, device)
            .await
            .context("forget device")?;
    }
    let reason = EndReason::ReportedNotMe;
    let signed_out = if choices.sign_out_everywhere {
        end_all_of_user(&mut tx, user.id, reason).await?
    } else {
        let from_device = match &device {
            Some(device) => sessions::end_for_device(&mut tx, user.id, device, reason, now)
                .await
                .context("end the device's sessions")?,
            None => 0,
        };
        // A session without a device cookie is still ended by its own id.
        from_device
            + sessions::end_for_user(&mut tx, &alert.session_public_id, user.id, reason, now)
                .await
                .context("end session")?
    };
    if choices.compromise_password {
        let at = tx.order_time().await?.max(user.password_set_at);
        users::compromise_password(
            &mut tx,
            user.id,
            at,
            &user.email,
            "Reported an unrecognised sign-in from the new-device alert",
        )
        .await
        .context("set password compromised")?;
    }
    let details = json!({
        "session": short(&alert.session_public_id),
        "sessions_ended": signed_out,
        "sign_out_everywhere": choices.sign_out_everywhere,
        "password_compromised": choices.compromise_password,
    });
    tx.record(
        &Actor::account(user.id, &user.email),
        AuditAction::SessionReportedNotMe,
        Some(user.id),
        Some("Reported from the new-device alert e-mail"),
        details,
    )
    .await?;
    tx.commit().await?;
    Ok(NotMeOutcome {
        sessions_ended: signed_out as i64,
        signed_out_everywhere: choices.sign_out_everywhere,
        password_compromised: choices.compromise_password,
    })
}
