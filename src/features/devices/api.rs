//! Server functions for the Devices page and the "This wasn't me" page.

use leptos::prelude::*;

use crate::error::AppError;

use super::types::*;

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
            let current =
                crate::features::sessions::service::current_key(&session().await?).await?;
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
            super::service::sign_out_everywhere(
                &e.state,
                &e.viewer,
                &e.session,
                &e.current,
                &request_meta(),
            )
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

/// Anyone holding the link, once. Signs out every session of the device the alert was about
/// (with `sign_out_everywhere`, every session of the account); with `compromise_password`, also
/// sets the account's password as compromised.
#[server(endpoint = "device_alert_not_me")]
pub async fn report_not_me(
    token: String,
    compromise_password: Option<String>,
    sign_out_everywhere: Option<String>,
) -> Result<NotMeOutcome, AppError> {
    use crate::runtime::request::{request_meta, respond, state};
    respond(
        async {
            super::alerts::report_not_me(
                &state()?,
                &token,
                super::alerts::NotMeChoices {
                    compromise_password: compromise_password.is_some(),
                    sign_out_everywhere: sign_out_everywhere.is_some(),
                },
                &request_meta(),
            )
            .await
        }
        .await,
    )
}
