//! Server functions for accounts, and the DTOs they exchange with pages. Each is a thin adapter:
//! read the request, call the service, map the result.

use leptos::prelude::*;

use crate::error::AppError;

#[server(endpoint = "sign_up")]
pub async fn sign_up(email: String, password: String) -> Result<(), AppError> {
    use crate::runtime::request::{hash_place, request_meta, respond, state};
    respond(
        async {
            let state = state()?;
            super::service::sign_up(
                &state,
                hash_place(&state)?,
                &email,
                password.into(),
                &request_meta(),
            )
            .await?;
            leptos_axum::redirect("/sign-in?registered=1");
            Ok(())
        }
        .await,
    )
}

/// Anyone. Whether self-service sign-up takes new accounts now (an incident may pause it).
#[server(endpoint = "sign_up_open")]
pub async fn sign_up_open() -> Result<bool, AppError> {
    use crate::runtime::request::{respond, state};
    respond(async { Ok(!state()?.security.get().sign_up_paused) }.await)
}

#[server(endpoint = "sign_in")]
pub async fn sign_in(
    email: String,
    password: String,
    next: Option<String>,
    #[server(default)] rd: Option<String>,
) -> Result<(), AppError> {
    use crate::runtime::request::{request_meta, respond, session, state};
    respond(
        async {
            let state = state()?;
            let meta = request_meta();
            let place = crate::runtime::request::hash_place(&state)?;
            let proved =
                super::service::authenticate_in(&state, place, &email, password.into(), &meta)
                    .await?;
            use super::sign_in::{complete_sign_in, SignedIn};
            match complete_sign_in(&state, &session().await?, &proved, &meta).await? {
                SignedIn::Full => leptos_axum::redirect(
                    &super::service::application_return(&state, rd.as_deref())
                        .unwrap_or_else(|| super::safe_next(next.as_deref())),
                ),
                SignedIn::ResetTask => leptos_axum::redirect("/reset-task"),
            }
            Ok(())
        }
        .await,
    )
}

#[server(endpoint = "sign_out")]
pub async fn sign_out() -> Result<(), AppError> {
    use crate::runtime::request::{request_meta, respond, session, state, viewer};
    respond(
        async {
            super::service::sign_out(
                &state()?,
                &session().await?,
                viewer().as_ref(),
                &request_meta(),
            )
            .await?;
            leptos_axum::redirect("/sign-in?signed_out=1");
            Ok(())
        }
        .await,
    )
}
