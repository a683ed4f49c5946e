//! Server functions for the Devices page and the "This wasn't me" page.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// One session as the Devices pages show it (the user's and the admin's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceSession {
    /// The session's public id (never the cookie).
    pub key: String,
    pub browser: String,
    pub os: String,
    pub device_type: String,
    pub ip: Option<String>,
    pub location: Option<String>,
    pub created_at: i64,
    pub last_seen_at: i64,
    /// The session this request came with.
    pub current: bool,
    pub ended_at: Option<i64>,
    /// Why it ended, in words.
    pub end_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MyDevices {
    pub active: Vec<DeviceSession>,
    /// Ended in the last 30 days, newest first.
    pub ended: Vec<DeviceSession>,
    /// The last proof of the password is older than 10 minutes: ending sessions asks for it.
    pub step_up_needed: bool,
}

/// What a "This wasn't me" link leads to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AlertLink {
    Valid {
        session: DeviceSession,
        /// Whether the session is still signed in.
        active: bool,
    },
    Used,
    Expired,
    Unknown,
}

/// The outcome of pressing "Sign out that device".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotMeOutcome {
    /// False when the session had already ended by other means.
    pub signed_out: bool,
    pub password_compromised: bool,
}

/// What ending sessions needs: a full session whose password was proved in the last 10 minutes
/// (or is proved now with `password`).
#[cfg(feature = "ssr")]
struct Ending {
    viewer: crate::domain::Viewer,
    state: crate::runtime::AppState,
    session: tower_sessions::Session,
    current: String,
}

#[cfg(feature = "ssr")]
async fn ending(password: Option<&str>) -> Result<Ending, AppError> {
    use crate::runtime::request::{require_viewer, session, state};
    let viewer = require_viewer()?;
    let state = state()?;
    let session = session().await?;
    super::service::step_up(&state, &viewer, &session, password).await?;
    let current = crate::features::sessions::service::current_key(&session).await?;
    Ok(Ending {
        viewer,
        state,
        session,
        current,
    })
}

/// Requires: a signed-in user.
#[server(endpoint = "my_devices")]
pub async fn get_my_devices() -> Result<MyDevices, AppError> {
    use crate::runtime::request::{require_viewer, respond, session, state};
    respond(
        async {
            let viewer = require_viewer()?;
            let state = state()?;
            let current = crate::features::sessions::service::current_key(&session().await?).await?;
            super::service::my_devices(&state, &viewer, &current).await
        }
        .await,
    )
}

/// Requires: a signed-in user and a recent password. Ends one of the user's other sessions.
#[server(endpoint = "devices_sign_out_one")]
pub async fn sign_out_device(key: String, password: Option<String>) -> Result<(), AppError> {
    use crate::runtime::request::{request_meta, respond};
    respond(
        async {
            let e = ending(password.as_deref()).await?;
            super::service::sign_out_one(&e.state, &e.viewer, &e.current, &key, &request_meta())
                .await
        }
        .await,
    )
}

/// Requires: a signed-in user and a recent password. Ends every session but this one.
#[server(endpoint = "devices_sign_out_others")]
pub async fn sign_out_other_devices(password: Option<String>) -> Result<u64, AppError> {
    use crate::runtime::request::{request_meta, respond};
    respond(
        async {
            let e = ending(password.as_deref()).await?;
            super::service::sign_out_others(&e.state, &e.viewer, &e.current, &request_meta()).await
        }
        .await,
    )
}

/// Requires: a signed-in user and a recent password. Ends every session, this one included,
/// and sends the browser to the sign-in page.
#[server(endpoint = "devices_sign_out_everywhere")]
pub async fn sign_out_everywhere(password: Option<String>) -> Result<(), AppError> {
    use crate::runtime::request::{request_meta, respond};
    respond(
        async {
            let e = ending(password.as_deref()).await?;
            super::service::sign_out_everywhere(&e.state, &e.viewer, &e.session, &e.current, &request_meta())
                .await?;
            leptos_axum::redirect("/sign-in?signed_out=everywhere");
            Ok(())
        }
        .await,
    )
}

/// Anyone holding the link (it is the credential). Reads only: mail scanners open links.
#[server(endpoint = "device_alert_link")]
pub async fn get_alert_link(token: String) -> Result<AlertLink, AppError> {
    use crate::runtime::request::{respond, state};
    respond(async { super::alerts::alert_link(&state()?, &token).await }.await)
}

/// Anyone holding the link. Signs out exactly the session the alert was about, once; with
/// `compromise_password`, also sets the account's password as compromised.
#[server(endpoint = "device_alert_not_me")]
pub async fn report_not_me(
    token: String,
    compromise_password: Option<String>,
) -> Result<NotMeOutcome, AppError> {
    use crate::runtime::request::{request_meta, respond, state};
    respond(
        async {
            super::alerts::report_not_me(
                &state()?,
                &token,
                compromise_password.is_some(),
                &request_meta(),
            )
            .await
        }
        .await,
    )
}
