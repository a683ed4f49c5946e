//! Per-IP limits on the endpoints that take a password or a reset secret from whoever asks:
//! sign-in, sign-up, forgot password, the reset link and code, and step-up confirmations. A
//! refusal comes before the session is loaded or anything is hashed: 429 with `Retry-After`, and
//! for the page the same typed error a server function would send. Accounts have their own
//! progressive delay (`runtime::throttle`); this bounds one address spraying many of them.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::AppError;
use crate::runtime::limiter::Limit;
use crate::runtime::request::ClientInfo;
use crate::runtime::AppState;

/// Server functions that confirm a sensitive action with the password (step-up).
const STEP_UP: &[&str] = &[
    "devices_sign_out_one",
    "devices_sign_out_others",
    "devices_sign_out_everywhere",
    "admin_compromise_all",
    "admin_sign_out_everyone",
];

/// The largest form a limited endpoint reads here (a password is at most 256 characters).
const MAX_FORM_BYTES: usize = 64 * 1024;

fn limit_of(endpoint: &str) -> Option<Limit> {
    match endpoint {
        "sign_in" => Some(Limit::SignInPerIp),
        "sign_up" => Some(Limit::SignUpPerIp),
        "forgot_password"
        | "reset_password"
        | "reset_task_verify_code"
        | "reset_task_resend_code" => Some(Limit::ResetPerIp),
        e if STEP_UP.contains(&e) => Some(Limit::StepUpPerIp),
        _ => None,
    }
}

pub async fn per_ip(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let limit = match (req.method(), req.uri().path().strip_prefix("/api/")) {
        (&Method::POST, Some(endpoint)) => limit_of(endpoint),
        _ => None,
    };
    let Some(limit) = limit else {
        return next.run(req).await;
    };
    let req = if limit == Limit::StepUpPerIp {
        // Only a typed password counts: the same form without one uses a recent sign-in.
        let (parts, body) = req.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM_BYTES).await else {
            return (StatusCode::PAYLOAD_TOO_LARGE, "The form is too large.").into_response();
        };
        let has_password =
            url::form_urlencoded::parse(&bytes).any(|(k, v)| k == "password" && !v.is_empty());
        let req = Request::from_parts(parts, Body::from(bytes));
        if !has_password {
            return next.run(req).await;
        }
        req
    } else {
        req
    };
    // A full hash queue refuses first: a client that waits as told is not counted against its
    // address for requests that were never tried.
    if matches!(
        limit,
        Limit::SignInPerIp | Limit::SignUpPerIp | Limit::StepUpPerIp
    ) {
        if let Some(retry_after_secs) = state.hasher.busy() {
            return refuse(&req, AppError::Busy { retry_after_secs });
        }
    }
    let ip = req
        .extensions()
        .get::<ClientInfo>()
        .and_then(|c| c.ip)
        .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
    match state.limiter.check(limit, &ip) {
        Ok(()) => next.run(req).await,
        Err(wait) => {
            tracing::debug!(%ip, ?limit, "per-IP limit reached");
            let retry_after_secs = (wait.as_secs_f64().ceil() as u64).max(1);
            refuse(&req, AppError::Throttled { retry_after_secs })
        }
    }
}

/// 429 or 503 with `Retry-After`; the typed error for the page, plain words for a form post.
fn refuse(req: &Request, error: AppError) -> Response {
    let retry_after = error.retry_after_secs().unwrap_or(1);
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::TOO_MANY_REQUESTS);
    let wants_html = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    let mut response = if wants_html {
        (status, error.to_string()).into_response()
    } else {
        let body = serde_json::to_string(&error).unwrap_or_default();
        (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
    };
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    response
}
