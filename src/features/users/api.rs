//! Admin server functions for users. Each checks the admin role on its first line.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserListItem {
    pub id: i64,
    pub email: String,
    pub name: Option<String>,
    pub role: String,
    pub status: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserListPage {
    pub users: Vec<UserListItem>,
    /// Cursor for the next page (keyset on id), if there is one.
    pub next_after: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompromiseInfo {
    /// "This user" or "Instance-wide".
    pub scope: String,
    pub at: i64,
    pub by: Option<String>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordStatus {
    pub set_at: i64,
    /// The compromise in force now, if the password is compromised.
    pub compromised: Option<CompromiseInfo>,
    /// Earlier compromises of this user that a new password has since resolved.
    pub resolved: Vec<(CompromiseInfo, i64)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryItem {
    pub at: i64,
    pub action: String,
    pub actor: String,
    pub reason: Option<String>,
    pub ip: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserDetails {
    pub id: i64,
    pub email: String,
    pub name: Option<String>,
    pub role: String,
    pub status: String,
    pub created_at: i64,
    pub disabled_at: Option<i64>,
    pub is_self: bool,
    pub password: PasswordStatus,
    /// Live sessions, then those ended in the last 30 days (the user's Devices page shows the same).
    pub sessions: Vec<crate::features::devices::DeviceSession>,
    pub ended_sessions: Vec<crate::features::devices::DeviceSession>,
    pub history: Vec<HistoryItem>,
}

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
            super::service::details(&state()?, &admin, id).await
        }
        .await,
    )
}

/// Requires: admin. Sets the user's current password as compromised; `sign_out` also signs out
/// all of their sessions.
#[server(endpoint = "admin_compromise_user")]
pub async fn compromise_user(
    user_id: i64,
    reason: String,
    sign_out: Option<String>,
) -> Result<(), AppError> {
    use crate::runtime::request::{request_meta, require_admin, respond, state};
    respond(
        async {
            let admin = require_admin()?;
            super::service::compromise(
                &state()?,
                &crate::domain::Actor::admin(&admin),
                user_id,
                &reason,
                sign_out.is_some(),
                &request_meta(),
            )
            .await
        }
        .await,
    )
}

/// Requires: admin.
#[server(endpoint = "admin_sign_out_user")]
pub async fn sign_out_user(user_id: i64) -> Result<(), AppError> {
    use crate::runtime::request::{request_meta, require_admin, respond, state};
    respond(
        async {
            let admin = require_admin()?;
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
pub async fn revoke_session(user_id: i64, session: String) -> Result<(), AppError> {
    use crate::runtime::request::{request_meta, require_admin, respond, state};
    respond(
        async {
            let admin = require_admin()?;
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
pub async fn set_user_disabled(user_id: i64, disabled: bool) -> Result<(), AppError> {
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
