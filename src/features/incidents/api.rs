//! Admin server functions for incidents. Each checks the admin role on its first line; applying
//! a cohort also needs the typed confirmation (the incident's reference) and step-up, as the
//! Security page's instance-wide actions do.

use leptos::prelude::*;

use crate::error::AppError;

use super::types::{IncidentPageData, IncidentRecord, IncidentView, PreviewResult};

/// Requires: admin. The incidents, newest first.
#[server(endpoint = "admin_list_incidents")]
pub async fn list_incidents() -> Result<Vec<IncidentView>, AppError> {
    use crate::runtime::request::{require_admin, respond, state};
    respond(
        async {
            require_admin()?;
            super::service::list(&state()?).await
        }
        .await,
    )
}

/// Requires: admin. Opens an incident, then goes to its page.
#[server(endpoint = "admin_open_incident")]
pub async fn open_incident(
    title: String,
    severity: String,
    #[server(default)] detected_at: String,
    #[server(default)] description: String,
    #[server(default)] notice: String,
) -> Result<(), AppError> {
    use crate::runtime::request::{request_meta, require_admin, respond, state};
    respond(
        async {
            let admin = require_admin()?;
            let detected_at = super::dashboard::parse_time("detected_at", &detected_at)?;
            let input = super::service::OpenIncident {
                title: &title,
                severity: &severity,
                description: &description,
                notice: &notice,
                detected_at,
            };
            let op = crate::domain::Actor::admin(&admin);
            let opened = super::service::open(&state()?, &op, &input, &request_meta()).await?;
            leptos_axum::redirect(&format!("/admin/incidents/{}", opened.id));
            Ok(())
        }
        .await,
    )
}

/// Requires: admin. The incident record, and whether applying a cohort will ask for the password.
#[server(endpoint = "admin_incident_record")]
pub async fn get_incident_record(id: i64) -> Result<IncidentRecord, AppError> {
    use crate::runtime::request::{require_admin, respond, state};
    respond(
        async {
            let admin = require_admin()?;
            let state = state()?;
            let step_up_needed = crate::features::sessions::step_up::needed(
                &state,
                &admin,
                crate::features::sessions::step_up::ADMIN_WINDOW_MS,
            );
            let row = super::service::find(&state, &id.to_string()).await?;
            Ok(IncidentRecord {
                incident: super::service::view(row),
                step_up_needed,
            })
        }
        .await,
    )
}

/// Requires: admin. The incident, its cohorts, timeline and remediation figures.
#[server(endpoint = "admin_incident")]
pub async fn get_incident(id: i64) -> Result<IncidentPageData, AppError> {
    use crate::runtime::request::{require_admin, respond, state};
    respond(
        async {
            require_admin()?;
            super::dashboard::page(&state()?, &id.to_string()).await
        }
        .await,
    )
}

/// Requires: admin. Which users the criteria take now. Writes nothing.
#[server(endpoint = "admin_preview_cohort")]
#[allow(clippy::too_many_arguments)]
pub async fn preview_cohort(
    #[server(default)] role: String,
    #[server(default)] created_before: String,
    #[server(default)] created_after: String,
    #[server(default)] signed_in_from: String,
    #[server(default)] signed_in_to: String,
    #[server(default)] new_device_from: String,
    #[server(default)] new_device_to: String,
    #[server(default)] ip_range: String,
    #[server(default)] country: String,
    #[server(default)] password_set_from: String,
    #[server(default)] password_set_to: String,
    #[server(default)] emails: String,
) -> Result<PreviewResult, AppError> {
    use crate::runtime::request::{require_admin, respond, state};
    respond(
        async {
            require_admin()?;
            let state = state()?;
            let form = super::dashboard::CriteriaForm {
                role,
                created_before,
                created_after,
                signed_in_from,
                signed_in_to,
                new_device_from,
                new_device_to,
                ip_range,
                country,
                password_set_from,
                password_set_to,
                emails,
            };
            let criteria = form.parse(state.now())?;
            let preview = super::cohort::preview(&state, &criteria).await?;
            Ok(PreviewResult {
                preview,
                fields: form.fields(),
            })
        }
        .await,
    )
}

/// Requires: admin, the incident's reference typed, a reason and a recent password. Freezes
/// the cohort the criteria take now and starts its job.
#[server(endpoint = "admin_apply_cohort")]
#[allow(clippy::too_many_arguments)]
pub async fn apply_cohort(
    incident_id: i64,
    #[server(default)] role: String,
    #[server(default)] created_before: String,
    #[server(default)] created_after: String,
    #[server(default)] signed_in_from: String,
    #[server(default)] signed_in_to: String,
    #[server(default)] new_device_from: String,
    #[server(default)] new_device_to: String,
    #[server(default)] ip_range: String,
    #[server(default)] country: String,
    #[server(default)] password_set_from: String,
    #[server(default)] password_set_to: String,
    #[server(default)] emails: String,
    #[server(default)] compromise: Option<String>,
    #[server(default)] sign_out: Option<String>,
    #[server(default)] notify: Option<String>,
    #[server(default)] reason: Option<String>,
    #[server(default)] confirmation: Option<String>,
    #[server(default)] password: Option<String>,
) -> Result<(), AppError> {
    use crate::domain::{Actor, CohortActions};
    use crate::runtime::request::{request_meta, require_admin, respond, state};
    respond(
        async {
            let admin = require_admin()?;
            let state = state()?;
            let incident = super::service::find(&state, &incident_id.to_string()).await?;
            let form = super::dashboard::CriteriaForm {
                role,
                created_before,
                created_after,
                signed_in_from,
                signed_in_to,
                new_device_from,
                new_device_to,
                ip_range,
                country,
                password_set_from,
                password_set_to,
                emails,
            };
            let criteria = form.parse(state.now())?;
            criteria
                .check()
                .map_err(|(field, message)| AppError::field(field, message))?;
            let reason = crate::features::security::service::guard_dangerous(
                &state,
                &admin,
                &incident.reference,
                reason,
                confirmation,
                password,
            )
            .await?;
            let actions = CohortActions {
                compromise: compromise.is_some(),
                sign_out: sign_out.is_some(),
                notify: notify.is_some(),
            };
            super::cohort::apply(
                &state,
                &Actor::admin(&admin),
                &incident.reference,
                &criteria,
                actions,
                &reason,
                &request_meta(),
            )
            .await?;
            leptos_axum::redirect(&format!("/admin/incidents/{incident_id}?done=applied"));
            Ok(())
        }
        .await,
    )
}

/// Requires: admin. Stops a cohort's job; batches already committed stay done.
#[server(endpoint = "admin_cancel_cohort")]
pub async fn cancel_cohort(cohort_id: i64) -> Result<(), AppError> {
    use crate::runtime::request::{request_meta, require_admin, respond, state};
    respond(
        async {
            let admin = require_admin()?;
            super::job::cancel(
                &state()?,
                &crate::domain::Actor::admin(&admin),
                cohort_id,
                &request_meta(),
            )
            .await
        }
        .await,
    )
}

/// Requires: admin. Sets the incident's temporary tightening (the form's switches replace the
/// ones before; none lifts it). It reverts when the incident closes.
#[server(endpoint = "admin_tighten_incident")]
pub async fn tighten_incident(
    incident_id: i64,
    #[server(default)] tight_idle_minutes: String,
    #[server(default)] tight_lifetime_hours: String,
    #[server(default)] force_alerts: Option<String>,
    #[server(default)] pause_sign_up: Option<String>,
    #[server(default)] strict_forgot: Option<String>,
) -> Result<(), AppError> {
    use crate::runtime::request::{request_meta, require_admin, respond, state};
    respond(
        async {
            let admin = require_admin()?;
            let number = |field: &str, text: &str| -> Result<Option<i64>, AppError> {
                let text = text.trim();
                if text.is_empty() {
                    return Ok(None);
                }
                text.parse::<i64>()
                    .map(Some)
                    .map_err(|_| AppError::field(field, "Enter a whole number, or leave it empty."))
            };
            let tightening = crate::domain::Tightening {
                idle_minutes: number("tight_idle_minutes", &tight_idle_minutes)?,
                lifetime_hours: number("tight_lifetime_hours", &tight_lifetime_hours)?,
                force_alerts: force_alerts.is_some(),
                pause_sign_up: pause_sign_up.is_some(),
                strict_forgot: strict_forgot.is_some(),
            };
            super::service::tighten(
                &state()?,
                &crate::domain::Actor::admin(&admin),
                &incident_id.to_string(),
                &tightening,
                &request_meta(),
            )
            .await?;
            leptos_axum::redirect(&format!("/admin/incidents/{incident_id}?done=tightened"));
            Ok(())
        }
        .await,
    )
}

/// Requires: admin. Closes an incident (its cohort jobs must have finished or been cancelled).
#[server(endpoint = "admin_close_incident")]
pub async fn close_incident(incident_id: i64) -> Result<(), AppError> {
    use crate::runtime::request::{request_meta, require_admin, respond, state};
    respond(
        async {
            let admin = require_admin()?;
            super::service::close(
                &state()?,
                &crate::domain::Actor::admin(&admin),
                &incident_id.to_string(),
                &request_meta(),
            )
            .await
            .map(|_| ())
        }
        .await,
    )
}

/// Requires: signed in (a session restricted to the reset task too). The incident banner for
/// this user, if any.
#[server(endpoint = "incident_banner")]
pub async fn incident_banner() -> Result<Option<super::types::IncidentBannerView>, AppError> {
    use crate::runtime::request::{respond, state, viewer};
    respond(
        async {
            let v = viewer().ok_or(AppError::Unauthenticated)?;
            super::service::banner(&state()?, v.user_id).await
        }
        .await,
    )
}

/// Requires: signed in. Dismisses this user's banner of one incident.
#[server(endpoint = "dismiss_incident_banner")]
pub async fn dismiss_incident_banner(incident_id: i64) -> Result<(), AppError> {
    use crate::runtime::request::{request_meta, respond, state, viewer};
    respond(
        async {
            let v = viewer().ok_or(AppError::Unauthenticated)?;
            let actor = crate::domain::Actor::user(&v);
            super::service::dismiss_banner(
                &state()?,
                &actor,
                v.user_id,
                incident_id,
                &request_meta(),
            )
            .await
        }
        .await,
    )
}
