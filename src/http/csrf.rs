//! Cross-site request forgery guard for every state-changing request (OWASP: verify the origin
//! with standard headers). Browsers send `Sec-Fetch-Site` and `Origin` on POST; a request whose
//! origin is not this site's is refused before it reaches a handler.

use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::runtime::AppState;

pub async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if is_safe_method(req.method()) || is_same_origin(&state, &req) {
        return next.run(req).await;
    }
    tracing::warn!(method = %req.method(), path = req.uri().path(), "cross-site request refused");
    (StatusCode::FORBIDDEN, "Cross-site request refused.").into_response()
}

fn is_safe_method(m: &Method) -> bool {
    matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn is_same_origin(state: &AppState, req: &Request) -> bool {
    let headers = req.headers();
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site") {
        // "none" is a user-initiated navigation (typed URL, bookmark).
        return site == "same-origin" || site == "none";
    }
    let allowed = |origin: &str| {
        let origin = origin.trim_end_matches('/');
        let base = state.config.base_url.origin().ascii_serialization();
        origin == base
            || text(header::HOST.as_str()).is_some_and(|host| {
                origin == format!("http://{host}") || origin == format!("https://{host}")
            })
    };
    if let Some(origin) = text(header::ORIGIN.as_str()) {
        return origin != "null" && allowed(origin);
    }
    if let Some(referer) = text(header::REFERER.as_str()) {
        return url::Url::parse(referer).is_ok_and(|u| allowed(&u.origin().ascii_serialization()));
    }
    // No browser sends a state-changing request without any of these headers.
    false
}
