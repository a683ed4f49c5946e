//! Server functions of the reset-password task (restricted sessions only).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskStatus {
    /// The address the code went to, partly masked.
    pub masked_email: String,
    pub email_verified: bool,
    /// Why no code can be checked or sent now (the user's budget is spent), with the time to
    /// wait and what to do instead.
    pub locked: Option<String>,
}

/// Masks `ada.lovelace@example.org` as `a•••••••••e@example.org`.
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let chars: Vec<char> = local.chars().collect();
            let masked = match chars.len() {
                0..=2 => "•".repeat(chars.len().max(1)),
                n => format!("{}{}{}", chars[0], "•".repeat(n - 2), chars[n - 1]),
            };
            format!("{masked}@{domain}")
        }
        None => "•••".into(),
    }
}

/// Requires: a restricted session. Sends the code if this session has none yet (a session that
/// was restricted while signed in, when its password was set as compromised).
#[server(endpoint = "reset_task_status")]
pub async fn reset_task_status() -> Result<TaskStatus, AppError> {
    use crate::runtime::request::{request_meta, require_task_viewer, respond, session, state};
    respond(
        async {
            let v = require_task_viewer()?;
            let email_verified = super::task::email_verified(&session().await?).await?;
            let locked = if email_verified {
                None
            } else {
                super::task::ensure_code(&state()?, &v, &request_meta()).await?
            };
            Ok(TaskStatus {
                masked_email: mask_email(&v.email),
                email_verified,
                locked,
            })
        }
        .await,
    )
}

/// Requires: a signed-in administrator whose own password is compromised but whose session was
/// kept (they set it). Restricts this session to the reset-password task now.
#[server(endpoint = "start_password_change")]
pub async fn start_password_change() -> Result<(), AppError> {
    use crate::runtime::request::{require_viewer, respond, session};
    respond(
        async {
            let v = require_viewer()?;
            if !v.password_compromised {
                return Err(AppError::Forbidden);
            }
            crate::features::sessions::service::restrict(&session().await?).await?;
            leptos_axum::redirect("/reset-task");
            Ok(())
        }
        .await,
    )
}

#[server(endpoint = "reset_task_verify_code")]
pub async fn reset_task_verify_code(code: String) -> Result<(), AppError> {
    use crate::runtime::request::{request_meta, require_task_viewer, respond, session, state};
    respond(
        async {
            let v = require_task_viewer()?;
            super::task::verify_code(&state()?, &session().await?, &v, &code, &request_meta()).await
        }
        .await,
    )
}

#[server(endpoint = "reset_task_resend_code")]
pub async fn reset_task_resend_code() -> Result<(), AppError> {
    use crate::runtime::request::{request_meta, require_task_viewer, respond, state};
    respond(
        async {
            let v = require_task_viewer()?;
            super::task::resend_code(&state()?, &v, &request_meta()).await
        }
        .await,
    )
}

#[server(endpoint = "reset_task_complete")]
pub async fn reset_task_complete(
    password: String,
    password_confirm: String,
) -> Result<(), AppError> {
    use crate::runtime::request::{request_meta, require_task_viewer, respond, session, state};
    respond(
        async {
            let v = require_task_viewer()?;
            if password != password_confirm {
                return Err(AppError::field(
                    "password_confirm",
                    "The two passwords do not match.",
                ));
            }
            super::task::complete(
                &state()?,
                &session().await?,
                &v,
                password.into(),
                &request_meta(),
            )
            .await?;
            leptos_axum::redirect("/account?password_changed=1");
            Ok(())
        }
        .await,
    )
}
