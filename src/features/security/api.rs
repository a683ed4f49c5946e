//! Admin server functions for instance-wide containment and security settings. Each checks the
//! admin role first; dangerous ones check the typed confirmation and step-up on the server.

use leptos::prelude::*;

use crate::error::AppError;

use super::types::*;

/// Requires: admin.
#[server(endpoint = "admin_security_overview")]
pub async fn get_security_overview() -> Result<SecurityOverview, AppError> {
    use crate::runtime::request::{require_admin, respond, state};
    respond(
        async {
            let admin = require_admin()?;
            let state = state()?;
            let impact = super::service::impact(&state).await?;
            let step_up_needed = crate::features::sessions::step_up::needed(
                &state,
                &admin,
                crate::features::sessions::step_up::ADMIN_WINDOW_MS,
            );
            Ok(SecurityOverview {
                settings: super::service::settings(&state),
                impact,
                step_up_needed,
            })
        }
        .await,
    )
}

/// Requires: admin, the typed phrase and a recent password. Sets every password as
/// compromised; with `sign_out`, signs out every session too (the admin's own is re-issued
/// unless `sign_out_me` is set).
#[server(endpoint = "admin_compromise_all")]
pub async fn compromise_all_passwords(
    reason: Option<String>,
    confirmation: Option<String>,
    password: Option<String>,
    sign_out: Option<String>,
    sign_out_me: Option<String>,
) -> Result<(), AppError> {
    use crate::runtime::request::{request_meta, require_admin, respond, session, state};
    respond(
        async {
            let admin = require_admin()?;
            let state = state()?;
            let reason = super::service::guard_dangerous(
                &state,
                &admin,
                COMPROMISE_ALL_PHRASE,
                reason,
                confirmation,
                password,
            )
            .await?;
            let op = crate::domain::Actor::admin(&admin);
            let sign_out = sign_out.is_some();
            let at =
                super::service::compromise_all(&state, &op, sign_out, &reason, &request_meta())
                    .await?;
            // The acting administrator keeps working (their password is compromised too; the
            // console says so and offers to change it now).
            if !(sign_out && sign_out_me.is_some()) {
                let session = session().await?;
                if sign_out {
                    crate::features::sessions::service::reissue_session(&state, &session).await?;
                }
                crate::features::sessions::service::continue_past_compromise(&session, at).await?;
            }
            leptos_axum::redirect(if sign_out && sign_out_me.is_some() {
                "/sign-in"
            } else {
                "/admin/security?done=compromised"
            });
            Ok(())
        }
        .await,
    )
}

/// Requires: admin, the typed phrase and a recent password. Signs out every session.
#[server(endpoint = "admin_sign_out_everyone")]
pub async fn sign_out_everyone(
    reason: Option<String>,
    confirmation: Option<String>,
    password: Option<String>,
    sign_out_me: Option<String>,
) -> Result<(), AppError> {
    use crate::runtime::request::{request_meta, require_admin, respond, session, state};
    respond(
        async {
            let admin = require_admin()?;
            let state = state()?;
            let reason = super::service::guard_dangerous(
                &state,
                &admin,
                SIGN_OUT_ALL_PHRASE,
                reason,
                confirmation,
                password,
            )
            .await?;
            super::service::sign_out_everyone(
                &state,
                &crate::domain::Actor::admin(&admin),
                &reason,
                &request_meta(),
            )
            .await?;
            if sign_out_me.is_none() {
                crate::features::sessions::service::reissue_session(&state, &session().await?)
                    .await?;
            }
            leptos_axum::redirect(if sign_out_me.is_some() {
                "/sign-in"
            } else {
                "/admin/security?done=signed_out"
            });
            Ok(())
        }
        .await,
    )
}

/// Requires: admin.
#[server(endpoint = "admin_save_security_settings")]
pub async fn save_security_settings(
    reset_task_enabled: Option<String>,
    password_min_length: String,
    session_idle_timeout_minutes: String,
    session_absolute_lifetime_hours: String,
) -> Result<(), AppError> {
    use crate::runtime::request::{request_meta, require_admin, respond, state};
    respond(
        async {
            let admin = require_admin()?;
            let state = state()?;
            let number = |field: &str, v: &str| {
                v.trim()
                    .parse::<i64>()
                    .map_err(|_| AppError::field(field, "Enter a whole number."))
            };
            let mut new = super::service::settings(&state);
            new.reset_task_enabled = reset_task_enabled.is_some();
            new.password_min_length = number("password_min_length", &password_min_length)?;
            new.session_idle_timeout_minutes = number(
                "session_idle_timeout_minutes",
                &session_idle_timeout_minutes,
            )?;
            new.session_absolute_lifetime_hours = number(
                "session_absolute_lifetime_hours",
                &session_absolute_lifetime_hours,
            )?;
            super::service::save_settings(
                &state,
                &crate::domain::Actor::admin(&admin),
                &new,
                &request_meta(),
            )
            .await
        }
        .await,
    )
}

/// Requires: admin. The new-device alert: on/off, also on a new country, and the path of the
/// "This wasn't me" page its links open.
#[server(endpoint = "admin_save_alert_settings")]
pub async fn save_alert_settings(
    new_device_alerts: Option<String>,
    alert_on_new_country: Option<String>,
    device_alert_path: String,
) -> Result<(), AppError> {
    use crate::runtime::request::{request_meta, require_admin, respond, state};
    respond(
        async {
            let admin = require_admin()?;
            super::service::save_alert_settings(
                &state()?,
                &crate::domain::Actor::admin(&admin),
                new_device_alerts.is_some(),
                alert_on_new_country.is_some(),
                &device_alert_path,
                &request_meta(),
            )
            .await
        }
        .await,
    )
}
