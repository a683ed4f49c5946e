//! Admin server functions for users. Each checks the admin role on its first line.

use leptos::prelude::*;

use crate::error::AppError;

use super::types::*;

/// Requires: admin. Prefix search on e-mail or name, status and role filters, 50 per page.
#[server(endpoint = "admin_list_users")]
pub async fn list_users(
    q: Option<String>,
    status: Option<String>,
    role: Option<String>,
    after: Option<i64>,
) -> Result<UserListPage, AppError> {
    use crate::runtime::request::{require_admin, respond, state};
    respond(
        async {
            require_admin()?;
            super::service::list(&state()?, q, status, role, after.unwrap_or(0)).await
        }
        .await,
    )
}

/// Requires: admin.
#[server(endpoint = "admin_user_details")]
pub async fn get_user_details(id: i64) -> Result<UserDetails, AppError> {
    use crate::runtime::request::{require_admin, respond, state};
    respond(
        async {
            let admin = require_admin()?;
            super::service::details(&state()?, Some(&admin), id).await
        }
        .await,
    )
}

/// Requires: admin. Sets the user's password as compromised: their live sessions are restricted
/// to the reset-password task at their next request; with `sign_out` they end outright.
#[server(endpoint = "admin_compromise_user")]
pub async fn compromise_user(
    user_id: i64,
    reason: String,
    sign_out: Option<String>,
    password: Option<String>,
) -> Result<(), AppError> {
    use crate::runtime::request::{request_meta, require_admin, respond, session, state};
    respond(
        async {
            let admin = require_admin()?;
            step_up_for_target(&admin, user_id, password).await?;
            let at = super::service::compromise(
                &state()?,
                &crate::domain::Actor::admin(&admin),
                user_id,
                &reason,
                sign_out.is_some(),
                &request_meta(),
            )
            .await?;
            // An administrator who set their own password as compromised keeps this session.
            if user_id == admin.user_id && sign_out.is_none() {
                crate::features::sessions::service::continue_past_compromise(&session().await?, at)
                    .await?;
            }
            Ok(())
        }
        .await,
    )
}

/// Requires: admin.
#[server(endpoint = "admin_sign_out_user")]
pub async fn sign_out_user(user_id: i64, password: Option<String>) -> Result<(), AppError> {
    use crate::runtime::request::{request_meta, require_admin, respond, state};
    respond(
        async {
            let admin = require_admin()?;
            step_up_for_target(&admin, user_id, password).await?;
            super::service::sign_out_all(
                &state()?,
                &crate::domain::Actor::admin(&admin),
                user_id,
                &request_meta(),
            )
            .await
        }
        .await,
    )
}

/// Requires: admin. Ends one session of the user.
#[server(endpoint = "admin_revoke_session")]
pub async fn revoke_session(
    user_id: i64,
    session: String,
    password: Option<String>,
) -> Result<(), AppError> {
    use crate::runtime::request::{request_meta, require_admin, respond, state};
    respond(
        async {
            let admin = require_admin()?;
            step_up_for_target(&admin, user_id, password).await?;
            super::service::revoke_one(
                &state()?,
                &crate::domain::Actor::admin(&admin),
                user_id,
                &session,
                &request_meta(),
            )
            .await
        }
        .await,
    )
}

/// Requires: admin. Sends the user a password-reset link.
#[server(endpoint = "admin_send_reset")]
pub async fn send_reset_email(user_id: i64) -> Result<(), AppError> {
    use crate::runtime::request::{request_meta, require_admin, respond, state};
    respond(
        async {
            let admin = require_admin()?;
            super::service::send_reset(
                &state()?,
                &crate::domain::Actor::admin(&admin),
                user_id,
                &request_meta(),
            )
            .await
        }
        .await,
    )
}

/// Requires: admin. Disabling signs out every session; an admin cannot disable themselves.
#[server(endpoint = "admin_set_disabled")]
pub async fn set_user_disabled(
    user_id: i64,
    disabled: bool,
    password: Option<String>,
) -> Result<(), AppError> {
    use crate::runtime::request::{request_meta, require_admin, respond, state};
    respond(
        async {
            let admin = require_admin()?;
            if disabled && admin.user_id == user_id {
                return Err(AppError::field(
                    "disabled",
                    "You cannot disable your own account.",
                ));
            }
            step_up_for_target(&admin, user_id, password).await?;
            super::service::set_disabled(
                &state()?,
                &crate::domain::Actor::admin(&admin),
                user_id,
                disabled,
                &request_meta(),
            )
            .await
        }
        .await,
    )
}

/// Step-up before acting on another administrator; a proved password restarts this session's
/// window.
#[cfg(feature = "ssr")]
async fn step_up_for_target(
    admin: &crate::domain::Viewer,
    user_id: i64,
    password: Option<String>,
) -> Result<(), AppError> {
    use crate::runtime::request::{session, state};
    let state = state()?;
    if super::service::guard_admin_target(&state, admin, user_id, password.as_deref()).await? {
        crate::features::sessions::service::mark_authenticated(&state, &session().await?).await?;
    }
    Ok(())
}
