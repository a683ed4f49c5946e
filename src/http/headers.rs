//! Response headers for pages that carry a secret in their URL.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// Pages whose URL holds a token (and the configured "This wasn't me" page): the token must not
/// leak through the Referer header or a cache.
const TOKEN_PAGES: [&str; 1] = ["/reset-password"];

pub async fn protect_token_pages(
    State(state): State<crate::runtime::AppState>,
    req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path();
    let sensitive = TOKEN_PAGES.contains(&path) || path == state.security.get().device_alert_path;
    let mut response = next.run(req).await;
    if sensitive {
        let h = response.headers_mut();
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
