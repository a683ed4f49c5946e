//! Instance-wide containment and security settings. Each action is one transaction: one row
//! written plus one audit entry, whatever the number of users (O(1)); this node's cache is
//! refreshed right after the commit, so the very next request sees it.

use anyhow::Context;
use serde_json::json;

use super::{Impact, SecuritySettings};
use crate::domain::{Actor, AuditAction, RequestMeta, Viewer};
use crate::error::{AppError, Result};
use crate::features::sessions::step_up::{self, ADMIN_WINDOW_MS};
use crate::features::sessions::validity::Cutoffs;
use crate::runtime::checkpoint::{self, Cause};
use crate::runtime::security::fresh_time;
use crate::runtime::{AppState, AuditedTx};
use crate::storage::{security, sessions, users};

/// What an instance-wide action would touch, for the confirmation dialog.
pub async fn impact(state: &AppState) -> Result<Impact> {
    let snap = state.security.get();
    let mut conn = state.conn().await?;
    let users_with_password = users::count_with_password(&mut conn)
        .await
        .context("count users")?;
    let now = state.now();
    let cut = Cutoffs::at(now, &snap);
    let live_sessions = sessions::count_live(
        &mut conn,
        now,
        cut.idle,
        cut.absolute,
        snap.row.sessions_revoked_before,
    )
    .await
    .context("count sessions")?;
    Ok(Impact {
        users_with_password,
        live_sessions,
    })
}

/// Sets every existing password as compromised, optionally signing out every session too.
pub async fn compromise_all(
    state: &AppState,
    op: &Actor,
    sign_out: bool,
    reason: &str,
    meta: &RequestMeta,
) -> Result<i64> {
    let reason = check_reason(reason)?;
    let mut tx = AuditedTx::begin(state, meta).await?;
    // The database clock: every node and the CLI order their stamps by the same clock.
    let at = fresh_time(tx.order_time().await?, None, &state.security.get());
    security::compromise_passwords(&mut tx, at, &op.label(), reason)
        .await
        .context("set password watermark")?;
    if sign_out {
        security::revoke_sessions(&mut tx, at, &op.label(), reason)
            .await
            .context("set session watermark")?;
    }
    let details = json!({"watermark": at, "signed_out_sessions": sign_out});
    tx.record(
        op,
        AuditAction::InstancePasswordsCompromised,
        None,
        Some(reason),
        details,
    )
    .await?;
    tx.security_changed();
    tx.commit().await?;
    // After the commit, so the signed head includes this action's entry.
    checkpoint::after_instance_action(state, Cause::PasswordsCompromised).await;
    Ok(at)
}

/// Signs out every session issued until now.
pub async fn sign_out_everyone(
    state: &AppState,
    op: &Actor,
    reason: &str,
    meta: &RequestMeta,
) -> Result<i64> {
    let reason = check_reason(reason)?;
    let mut tx = AuditedTx::begin(state, meta).await?;
    // The database clock: every node and the CLI order their stamps by the same clock.
    let at = fresh_time(tx.order_time().await?, None, &state.security.get());
    security::revoke_sessions(&mut tx, at, &op.label(), reason)
        .await
        .context("set session watermark")?;
    tx.record(
        op,
        AuditAction::InstanceSessionsRevoked,
        None,
        Some(reason),
        json!({"watermark": at}),
    )
    .await?;
    tx.security_changed();
    tx.commit().await?;
    checkpoint::after_instance_action(state, Cause::SessionsRevoked).await;
    Ok(at)
}

pub fn check_reason(reason: &str) -> Result<&str> {
    let reason = reason.trim();
    if reason.chars().count() < 3 || reason.chars().count() > 500 {
        return Err(AppError::field(
            "reason",
            "Give a reason of 3 to 500 characters; it is kept in the audit trail.",
        ));
    }
    Ok(reason)
}

/// The typed confirmation must match exactly (case-sensitive, surrounding spaces ignored).
pub fn check_phrase(typed: &str, expected: &str) -> Result<()> {
    if typed.trim() == expected {
        Ok(())
    } else {
        Err(AppError::field(
            "confirmation",
            format!("Type {expected} exactly to confirm."),
        ))
    }
}

/// The checks every instance-wide action makes before anything changes: the typed phrase, a
/// reason, and step-up. Returns the trimmed reason.
pub async fn guard_dangerous(
    state: &AppState,
    admin: &Viewer,
    phrase: &str,
    reason: Option<String>,
    confirmation: Option<String>,
    password: Option<String>,
) -> Result<String> {
    check_phrase(confirmation.as_deref().unwrap_or(""), phrase)?;
    let reason = check_reason(reason.as_deref().unwrap_or(""))?.to_owned();
    step_up::check(
        state,
        admin,
        password.as_deref().unwrap_or(""),
        ADMIN_WINDOW_MS,
    )
    .await?;
    Ok(reason)
}

pub fn settings(state: &AppState) -> SecuritySettings {
    let s = state.security.get();
    SecuritySettings {
        reset_task_enabled: s.reset_task_enabled,
        password_min_length: s.password_min_length as i64,
        session_idle_timeout_minutes: s.base_idle_ms / 60_000,
        session_absolute_lifetime_hours: s.base_absolute_ms / 3_600_000,
        passwords_compromised_before: (s.row.passwords_compromised_before > 0)
            .then_some(s.row.passwords_compromised_before),
        passwords_compromised_by: s.row.passwords_compromised_by.clone(),
        passwords_compromised_reason: s.row.passwords_compromised_reason.clone(),
        sessions_revoked_before: (s.row.sessions_revoked_before > 0)
            .then_some(s.row.sessions_revoked_before),
        sessions_revoked_by: s.row.sessions_revoked_by.clone(),
        sessions_revoked_reason: s.row.sessions_revoked_reason.clone(),
        new_device_alerts: s.base_new_device_alerts,
        alert_on_new_country: s.alert_on_new_country,
        device_alert_path: s.device_alert_path.clone(),
        geoip_enabled: state.geo.is_enabled(),
        tightening_in_force: tightening_in_force(&s),
    }
}

/// What the incidents not closed tighten, against the settings.
fn tightening_in_force(s: &crate::runtime::security::Snapshot) -> Vec<String> {
    let mut out = Vec::new();
    if s.idle_ms < s.base_idle_ms {
        out.push(format!(
            "session idle timeout {} min (setting: {} min)",
            s.idle_ms / 60_000,
            s.base_idle_ms / 60_000
        ));
    }
    if s.absolute_ms < s.base_absolute_ms {
        out.push(format!(
            "session lifetime {} h (setting: {} h)",
            s.absolute_ms / 3_600_000,
            s.base_absolute_ms / 3_600_000
        ));
    }
    if s.new_device_alerts && !s.base_new_device_alerts {
        out.push("new-device alerts on (setting: off)".to_owned());
    }
    if s.sign_up_paused {
        out.push("self-service sign-up paused".to_owned());
    }
    if s.strict_forgot {
        out.push("forgot-password throttled harder".to_owned());
    }
    out
}

/// First path segments the application itself uses: the alert page cannot take them.
const RESERVED_SEGMENTS: [&str; 14] = [
    "api",
    "pkg",
    "admin",
    "account",
    "sign-in",
    "sign-up",
    "sign-out",
    "forgot-password",
    "reset-password",
    "reset-task",
    "healthz",
    "readyz",
    "favicon.svg",
    "audit",
];

/// A path for the "This wasn't me" page: one segment of lowercase letters, digits and dashes.
pub fn check_alert_path(raw: &str) -> Result<String> {
    let path = raw.trim();
    let segment = path.strip_prefix('/').unwrap_or(path);
    let well_formed = (2..=64).contains(&segment.len())
        && segment
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !segment.starts_with('-');
    if !well_formed {
        return Err(AppError::field(
            "device_alert_path",
            "Use one path segment of 2 to 64 lowercase letters, digits and dashes, such as /unauthorized-sign-in.",
        ));
    }
    if RESERVED_SEGMENTS.contains(&segment) {
        return Err(AppError::field(
            "device_alert_path",
            format!("/{segment} is already used by Keywarden: choose another path."),
        ));
    }
    Ok(format!("/{segment}"))
}

pub async fn save_alert_settings(
    state: &AppState,
    op: &Actor,
    enabled: bool,
    on_new_country: bool,
    path: &str,
    meta: &RequestMeta,
) -> Result<()> {
    let path = check_alert_path(path)?;
    let mut tx = AuditedTx::begin(state, meta).await?;
    security::update_alert_settings(&mut tx, enabled, on_new_country, &path)
        .await
        .context("save alert settings")?;
    tx.record(
        op,
        AuditAction::SettingsDeviceAlertsUpdated,
        None,
        None,
        json!({
            "new_device_alerts": enabled,
            "alert_on_new_country": on_new_country,
            "device_alert_path": path,
        }),
    )
    .await?;
    tx.security_changed();
    tx.commit().await?;
    Ok(())
}

pub async fn save_settings(
    state: &AppState,
    op: &Actor,
    new: &SecuritySettings,
    meta: &RequestMeta,
) -> Result<()> {
    if !(8..=256).contains(&new.password_min_length) {
        return Err(AppError::field(
            "password_min_length",
            "Choose a minimum length between 8 and 256.",
        ));
    }
    if !(5..=7 * 24 * 60).contains(&new.session_idle_timeout_minutes) {
        return Err(AppError::field(
            "session_idle_timeout_minutes",
            "Choose an idle timeout between 5 minutes and 7 days.",
        ));
    }
    if !(1..=24 * 90).contains(&new.session_absolute_lifetime_hours)
        || new.session_absolute_lifetime_hours * 60 < new.session_idle_timeout_minutes
    {
        return Err(AppError::field(
            "session_absolute_lifetime_hours",
            "Choose a lifetime between 1 hour and 90 days, and at least as long as the idle timeout.",
        ));
    }
    let mut tx = AuditedTx::begin(state, meta).await?;
    security::update_settings(
        &mut tx,
        new.reset_task_enabled,
        new.password_min_length,
        new.session_idle_timeout_minutes * 60,
        new.session_absolute_lifetime_hours * 3600,
    )
    .await
    .context("save settings")?;
    let details = json!({
        "reset_task_enabled": new.reset_task_enabled,
        "password_min_length": new.password_min_length,
        "session_idle_timeout_minutes": new.session_idle_timeout_minutes,
        "session_absolute_lifetime_hours": new.session_absolute_lifetime_hours,
    });
    tx.record(
        op,
        AuditAction::SettingsSecurityUpdated,
        None,
        None,
        details,
    )
    .await?;
    tx.security_changed();
    tx.commit().await?;
    Ok(())
}
