//! Admin server functions for API keys. Each checks the admin role on its first line; creating a
//! key also asks for the administrator's password (step-up), as other powerful actions do.

use leptos::prelude::*;

use crate::error::AppError;

use super::types::{ApiKeyView, CreatedApiKey};

/// Requires: admin. Every key, newest first (revoked and expired ones too).
#[server(endpoint = "admin_list_api_keys")]
pub async fn list_api_keys() -> Result<Vec<ApiKeyView>, AppError> {
    use crate::runtime::request::{require_admin, respond, state};
    respond(
        async {
            require_admin()?;
            super::service::list(&state()?).await
        }
        .await,
    )
}

/// Requires: admin and step-up. Creates a key; the answer holds its secret, shown once.
/// `scopes[]` are the ticked scopes; `expires_in_days` at most 366.
#[server(endpoint = "admin_create_api_key")]
pub async fn create_api_key(
    name: String,
    #[server(default)] scopes: Vec<String>,
    expires_in_days: String,
    #[server(default)] password: Option<String>,
) -> Result<CreatedApiKey, AppError> {
    use crate::domain::Actor;
    use crate::features::sessions::step_up::{self, ADMIN_WINDOW_MS};
    use crate::runtime::request::{request_meta, require_admin, respond, session, state};
    respond(
        async {
            let admin = require_admin()?;
            let state = state()?;
            let days: i64 = expires_in_days
                .trim()
                .parse()
                .ok()
                .filter(|d| (1..=crate::domain::MAX_KEY_LIFETIME_DAYS).contains(d))
                .ok_or_else(|| {
                    AppError::field(
                        "expires_in_days",
                        format!(
                            "Between 1 and {} days.",
                            crate::domain::MAX_KEY_LIFETIME_DAYS
                        ),
                    )
                })?;
            let new = super::service::NewKey {
                name: &name,
                scopes: &scopes.join(","),
                lifetime_ms: days * 86_400_000,
            };
            // The input is checked before the password, so a typo does not cost a try.
            crate::domain::check_key_name(new.name).map_err(|m| AppError::field("name", m))?;
            crate::domain::parse_scopes(new.scopes).map_err(|m| AppError::field("scopes", m))?;
            let proved = step_up::check(
                &state,
                &admin,
                password.as_deref().unwrap_or(""),
                ADMIN_WINDOW_MS,
            )
            .await?;
            if proved {
                crate::features::sessions::service::mark_authenticated(&state, &session().await?)
                    .await?;
            }
            super::service::create(&state, &Actor::admin(&admin), &new, &request_meta()).await
        }
        .await,
    )
}

/// Requires: admin. Revokes a key at once (its next call gets 401 on every node).
#[server(endpoint = "admin_revoke_api_key")]
pub async fn revoke_api_key(id: i64) -> Result<ApiKeyView, AppError> {
    use crate::domain::Actor;
    use crate::runtime::request::{request_meta, require_admin, respond, state};
    respond(
        async {
            let admin = require_admin()?;
            super::service::revoke(
                &state()?,
                &Actor::admin(&admin),
                &id.to_string(),
                &request_meta(),
            )
            .await
        }
        .await,
    )
}
