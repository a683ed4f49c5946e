//! Admin server functions for applications. Each checks the admin role on its first line.
//!
//! No step-up here, as for the other settings forms (security rules, alerts, sender details):
//! the password is asked again for actions on people and sessions, for instance-wide
//! containment and for what mail users receive. An application change only decides which
//! signed-in users a proxy lets through, and every change is in the audit trail.

use leptos::prelude::*;

use crate::error::AppError;

use super::types::ApplicationView;

/// Requires: admin. Every application with its last access and sessions of the last 24 hours.
#[server(endpoint = "admin_list_applications")]
pub async fn list_applications() -> Result<Vec<ApplicationView>, AppError> {
    use crate::runtime::request::{require_admin, respond, state};
    respond(
        async {
            require_admin()?;
            super::service::list(&state()?).await
        }
        .await,
    )
}

/// Requires: admin. Adds an application (no `id`) or replaces one's settings. The form sends
/// checked roles as `roles[]` and `enabled` as `true` when ticked; a bad field changes nothing
/// and names the field.
#[server(endpoint = "admin_save_application")]
pub async fn save_application(
    #[server(default)] id: Option<i64>,
    name: String,
    host: String,
    #[server(default)] roles: Vec<String>,
    #[server(default)] enabled: bool,
) -> Result<(), AppError> {
    use crate::domain::{Actor, ApplicationInput};
    use crate::runtime::request::{request_meta, require_admin, respond, state};
    respond(
        async {
            let admin = require_admin()?;
            let input = ApplicationInput::parse(&name, &host, &roles, enabled)
                .map_err(|(field, message)| AppError::field(field, message))?;
            let (state, actor, meta) = (state()?, Actor::admin(&admin), request_meta());
            match id {
                None => super::service::create(&state, &actor, &input, &meta)
                    .await
                    .map(|_| ()),
                Some(id) => super::service::update(&state, &actor, id, &input, &meta).await,
            }
        }
        .await,
    )
}

/// Requires: admin. Switches one application on or off, nothing else.
#[server(endpoint = "admin_set_application_enabled")]
pub async fn set_application_enabled(
    id: i64,
    #[server(default)] enabled: bool,
) -> Result<(), AppError> {
    use crate::runtime::request::{request_meta, require_admin, respond, state};
    respond(
        async {
            let admin = require_admin()?;
            super::service::set_enabled(
                &state()?,
                &crate::domain::Actor::admin(&admin),
                id,
                enabled,
                &request_meta(),
            )
            .await
        }
        .await,
    )
}

/// Requires: admin. Removes an application: requests for its host are refused from then on
/// (unless a wildcard still covers it).
#[server(endpoint = "admin_delete_application")]
pub async fn delete_application(id: i64) -> Result<(), AppError> {
    use crate::runtime::request::{request_meta, require_admin, respond, state};
    respond(
        async {
            let admin = require_admin()?;
            super::service::delete(
                &state()?,
                &crate::domain::Actor::admin(&admin),
                id,
                &request_meta(),
            )
            .await
        }
        .await,
    )
}
