//! Response headers: the page policy (CSP) and what pages that carry a secret in their URL add.

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

/// The `Content-Security-Policy` of a page. Scripts run only from this origin (the site's module
/// and wasm) or inline with this response's nonce (Leptos' hydration and resource scripts carry
/// it); the wasm needs `'wasm-unsafe-eval'` to be compiled, nothing needs `eval`. No plugins, no
/// `<base>` rewriting, no framing; images, fonts and requests from this origin only.
///
/// Inline styles are allowed: the template editor previews administrator-written mail (inline
/// styles are how mail is styled) in a sandboxed `srcdoc` frame, which inherits this policy, and
/// chart legends colour their swatches inline. Styles cannot run code, and every value a page
/// shows is escaped, so no visitor's text can add a style.
pub fn content_security_policy(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; \
         connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    )
}

/// Adds the page's `Content-Security-Policy`, built on the nonce Leptos made for this response.
/// Called in the context of every rendered page (server functions have no nonce and no policy:
/// they answer JSON, and their redirects lead to pages that have one).
pub fn add_page_policy() {
    use leptos::prelude::use_context;
    let (Some(nonce), Some(response)) = (
        leptos::nonce::use_nonce(),
        use_context::<leptos_axum::ResponseOptions>(),
    ) else {
        return;
    };
    if let Ok(value) = HeaderValue::from_str(&content_security_policy(&nonce)) {
        response.insert_header(header::CONTENT_SECURITY_POLICY, value);
    }
}
