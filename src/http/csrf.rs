//! Cross-site request forgery guard for every state-changing request (OWASP: verify the origin
//! with standard headers). Browsers send `Sec-Fetch-Site` and `Origin` on POST; a request whose
//! origin is not this site's is refused before it reaches a handler.

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
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
    crate::net::is_same_origin(req.headers(), &state.config.base_url)
}
