//! Instance-wide containment (O(1) whatever the number of users), security settings and the
//! outbox's state.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::problem::{ApiResult, Body};
use super::Authed;
use crate::features::{incidents, mail, security};
use crate::runtime::AppState;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstanceAction {
    /// Why (kept in the audit trail), 3–500 characters.
    #[schema(min_length = 3, max_length = 500)]
    reason: String,
    /// With compromise-passwords: also end every session now.
    #[serde(default)]
    sign_out: bool,
    /// Attach the audit entry to this incident (its reference).
    incident: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Watermark {
    /// What was done, in words.
    result: String,
    /// The watermark written (Unix ms).
    at: i64,
}

async fn meta_for(
    state: &AppState,
    caller: &Authed,
    incident: Option<&str>,
) -> ApiResult<crate::domain::RequestMeta> {
    let mut meta = caller.meta.clone();
    if let Some(reference) = incident {
        meta.incident = Some(incidents::service::attachable(state, reference).await?);
    }
    Ok(meta)
}

/// Set every password as compromised (O(1): one watermark).
#[utoipa::path(post, path = "/api/v1/instance/compromise-passwords", tag = "instance",
    request_body = InstanceAction,
    security(("api_key" = ["incident:write"])),
    responses((status = 200, description = "Done", body = Watermark)))]
pub async fn compromise_all(
    State(state): State<AppState>,
    caller: Authed,
    Body(body): Body<InstanceAction>,
) -> ApiResult<Json<Watermark>> {
    let meta = meta_for(&state, &caller, body.incident.as_deref()).await?;
    let at = security::service::compromise_all(
        &state,
        &caller.actor(),
        body.sign_out,
        &body.reason,
        &meta,
    )
    .await?;
    Ok(Json(Watermark {
        result: if body.sign_out {
            "every password set as compromised, everyone signed out"
        } else {
            "every password set as compromised"
        }
        .into(),
        at,
    }))
}

/// Sign everyone out (O(1): one watermark).
#[utoipa::path(post, path = "/api/v1/instance/sign-out-everyone", tag = "instance",
    request_body = InstanceAction,
    security(("api_key" = ["incident:write"])),
    responses((status = 200, description = "Done", body = Watermark)))]
pub async fn sign_out_everyone(
    State(state): State<AppState>,
    caller: Authed,
    Body(body): Body<InstanceAction>,
) -> ApiResult<Json<Watermark>> {
    let meta = meta_for(&state, &caller, body.incident.as_deref()).await?;
    let at =
        security::service::sign_out_everyone(&state, &caller.actor(), &body.reason, &meta).await?;
    Ok(Json(Watermark {
        result: "everyone signed out".into(),
        at,
    }))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Whether a compromised password's sessions are restricted to an in-app reset task (off:
    /// the user must use "Forgot your password?").
    reset_task_enabled: bool,
    #[schema(minimum = 8, maximum = 256)]
    password_min_length: i64,
    #[schema(minimum = 5, maximum = 10080)]
    session_idle_timeout_minutes: i64,
    #[schema(minimum = 1, maximum = 2160)]
    session_absolute_lifetime_hours: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SettingsOut {
    reset_task_enabled: bool,
    password_min_length: i64,
    session_idle_timeout_minutes: i64,
    session_absolute_lifetime_hours: i64,
    new_device_alerts: bool,
    alert_on_new_country: bool,
    /// The instance-wide watermarks (Unix ms), when set.
    passwords_compromised_before: Option<i64>,
    sessions_revoked_before: Option<i64>,
    /// What open incidents tighten now, in words.
    tightening_in_force: Vec<String>,
}

fn settings_out(s: security::SecuritySettings) -> SettingsOut {
    SettingsOut {
        reset_task_enabled: s.reset_task_enabled,
        password_min_length: s.password_min_length,
        session_idle_timeout_minutes: s.session_idle_timeout_minutes,
        session_absolute_lifetime_hours: s.session_absolute_lifetime_hours,
        new_device_alerts: s.new_device_alerts,
        alert_on_new_country: s.alert_on_new_country,
        passwords_compromised_before: s.passwords_compromised_before,
        sessions_revoked_before: s.sessions_revoked_before,
        tightening_in_force: s.tightening_in_force,
    }
}

/// Read the security settings.
#[utoipa::path(get, path = "/api/v1/settings/security", tag = "settings",
    security(("api_key" = ["settings:read"])),
    responses((status = 200, description = "The settings", body = SettingsOut)))]
pub async fn get_settings(State(state): State<AppState>) -> ApiResult<Json<SettingsOut>> {
    Ok(Json(settings_out(security::service::settings(&state))))
}

/// Replace the security settings.
#[utoipa::path(put, path = "/api/v1/settings/security", tag = "settings", request_body = Settings,
    security(("api_key" = ["settings:write"])),
    responses((status = 200, description = "The settings now", body = SettingsOut)))]
pub async fn put_settings(
    State(state): State<AppState>,
    caller: Authed,
    Body(body): Body<Settings>,
) -> ApiResult<Json<SettingsOut>> {
    let mut new = security::service::settings(&state);
    new.reset_task_enabled = body.reset_task_enabled;
    new.password_min_length = body.password_min_length;
    new.session_idle_timeout_minutes = body.session_idle_timeout_minutes;
    new.session_absolute_lifetime_hours = body.session_absolute_lifetime_hours;
    security::service::save_settings(&state, &caller.actor(), &new, &caller.meta).await?;
    Ok(Json(settings_out(security::service::settings(&state))))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Outbox {
    /// `file` or `smtp`.
    transport: String,
    queued: i64,
    sent: i64,
    failed: i64,
}

/// The e-mail outbox: how many mails wait, went out, or failed for good.
#[utoipa::path(get, path = "/api/v1/outbox", tag = "instance",
    security(("api_key" = ["outbox:read"])),
    responses((status = 200, description = "Counts by state", body = Outbox)))]
pub async fn outbox(State(state): State<AppState>) -> ApiResult<Json<Outbox>> {
    let o = mail::service::overview(&state).await?;
    Ok(Json(Outbox {
        transport: o.transport,
        queued: o.queued,
        sent: o.sent,
        failed: o.failed,
    }))
}
