//! Server functions for forgot-password and reset-password.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// Whether a reset link can still be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResetLink {
    Valid,
    Invalid,
    Expired,
}

/// Always the same answer, known e-mail or not.
#[server(endpoint = "forgot_password")]
pub async fn forgot_password(email: String) -> Result<(), AppError> {
    use crate::runtime::request::{request_meta, respond, state};
    respond(
        async {
            super::reset::request_reset(&state()?, &email, &request_meta()).await?;
            leptos_axum::redirect("/forgot-password?sent=1");
            Ok(())
        }
        .await,
    )
}

/// Read-only check of a link, for the reset page.
#[server(endpoint = "reset_link_state")]
pub async fn reset_link_state(token: String) -> Result<ResetLink, AppError> {
    use super::reset::LinkState;
    use crate::runtime::request::{respond, state};
    respond(
        async {
            Ok(match super::reset::link_state(&state()?, &token).await? {
                LinkState::Valid => ResetLink::Valid,
                LinkState::Invalid => ResetLink::Invalid,
                LinkState::Expired => ResetLink::Expired,
            })
        }
        .await,
    )
}

#[server(endpoint = "reset_password")]
pub async fn reset_password(
    token: String,
    password: String,
    password_confirm: String,
) -> Result<(), AppError> {
    use crate::runtime::request::{request_meta, respond, state};
    respond(
        async {
            if password != password_confirm {
                return Err(AppError::field(
                    "password_confirm",
                    "The two passwords do not match.",
                ));
            }
            super::reset::complete_reset(&state()?, &token, password.into(), &request_meta())
                .await?;
            leptos_axum::redirect("/sign-in?reset=1");
            Ok(())
        }
        .await,
    )
}
