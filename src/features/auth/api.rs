//! Server functions for accounts, and the DTOs they exchange with pages. Each is a thin adapter:
//! read the request, call the service, map the result.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::domain::Role;
use crate::error::AppError;

/// The signed-in user, as pages see them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Viewer {
    pub user_id: i64,
    pub email: String,
    pub role: Role,
    /// When this session last proved the password (step-up checks).
    pub authenticated_at: i64,
    /// A restricted session: the only thing it may do is the reset-password task.
    pub reset_required: bool,
}

impl Viewer {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin && !self.reset_required
    }
}

/// Only a path on this site may be a post-sign-in destination (no open redirect).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.starts_with("/\\") => {
            n.to_owned()
        }
        _ => "/account".to_owned(),
    }
}

#[server(endpoint = "sign_up")]
pub async fn sign_up(email: String, password: String) -> Result<(), AppError> {
    use crate::http::context::{request_meta, respond, state};
    respond(
        async {
            let state = state()?;
            super::service::create_user(
                &state,
                &email,
                password.into(),
                Role::Member,
                None,
                &request_meta(),
            )
            .await?;
            leptos_axum::redirect("/sign-in?registered=1");
            Ok(())
        }
        .await,
    )
}

#[server(endpoint = "sign_in")]
pub async fn sign_in(
    email: String,
    password: String,
    next: Option<String>,
) -> Result<(), AppError> {
    use crate::http::context::{request_meta, respond, session, state};
    respond(
        async {
            let state = state()?;
            let meta = request_meta();
            let user = super::service::authenticate(&state, &email, password.into(), &meta).await?;
            match super::service::complete_sign_in(&state, &session().await?, &user, &meta).await? {
                super::service::SignedIn::Full => {
                    leptos_axum::redirect(&safe_next(next.as_deref()))
                }
                super::service::SignedIn::ResetTask => leptos_axum::redirect("/reset-task"),
            }
            Ok(())
        }
        .await,
    )
}

#[server(endpoint = "sign_out")]
pub async fn sign_out() -> Result<(), AppError> {
    use crate::http::context::{request_meta, respond, session, state, viewer};
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

/// The signed-in user, or `None` for an anonymous visitor.
#[server(endpoint = "whoami")]
pub async fn whoami() -> Result<Option<Viewer>, AppError> {
    Ok(crate::http::context::viewer())
}
