//! Resolves the signed-in user once per request and guards pages: an anonymous visitor is sent
//! to sign in, a member asking for an admin page gets 403 (the page itself renders "Access
//! denied"; admin server functions check the role again, first thing).

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use tower_sessions::Session;

use crate::domain::{needs_sign_in, sign_in_url};
use crate::error::AppError;
use crate::features::sessions::service;
use crate::runtime::AppState;

/// What a session restricted to the reset-password task may reach (the "This wasn't me" page
/// too: its link is the credential, not the session; and the incident banner, read-only but for
/// its dismissal).
fn task_may_reach(path: &str, alert_path: &str) -> bool {
    path == "/reset-task"
        || path.starts_with("/api/reset_task_")
        || path == "/api/sign_out"
        || path == "/api/whoami"
        // The incident notice of the incident that restricted the session.
        || path == "/api/incident_banner"
        || path == "/api/dismiss_incident_banner"
        || path == alert_path
        || path.starts_with("/api/device_alert_")
}

fn is_admin_page(path: &str) -> bool {
    path == "/admin" || path.starts_with("/admin/")
}

pub async fn resolve_viewer(
    State(state): State<AppState>,
    session: Session,
    mut req: Request,
    next: Next,
) -> Response {
    // Static assets need no user: skip the session look-up.
    if req.uri().path().starts_with("/pkg/") || req.uri().path() == "/favicon.svg" {
        return next.run(req).await;
    }
    let meta = crate::runtime::request::meta_from(req.headers(), req.extensions());
    let viewer = match service::viewer_of(&state, &session, &meta).await {
        Ok(v) => v,
        Err(_) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "Service temporarily unavailable.",
            )
                .into_response()
        }
    };
    let path = req.uri().path().to_owned();
    let is_page = req.method() == Method::GET && !path.starts_with("/api/");
    if is_page && needs_sign_in(&path) && viewer.is_none() {
        let back = match req.uri().query() {
            Some(query) => format!("{path}?{query}"),
            None => path.clone(),
        };
        return Redirect::to(&sign_in_url(&back)).into_response();
    }
    // A restricted session may only do the reset-password task.
    if viewer.as_ref().is_some_and(|v| v.reset_required)
        && !task_may_reach(&path, &state.security.get().device_alert_path)
    {
        if is_page {
            return Redirect::to("/reset-task").into_response();
        }
        let body = serde_json::to_string(&AppError::PasswordResetRequired).unwrap_or_default();
        return (
            StatusCode::FORBIDDEN,
            [(http::header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response();
    }
    if is_page && path == "/reset-task" && viewer.as_ref().is_some_and(|v| !v.reset_required) {
        return Redirect::to("/account").into_response();
    }
    let forbidden =
        is_page && is_admin_page(&path) && !viewer.as_ref().is_some_and(|v| v.is_admin());
    if let Some(v) = viewer {
        req.extensions_mut().insert(v);
    }
    let mut response = next.run(req).await;
    if forbidden {
        *response.status_mut() = StatusCode::FORBIDDEN;
    }
    response
}
