//! Forward-auth: a reverse proxy asks, before each request to a protected application, whether it
//! may pass. Two conventions:
//! - `GET /auth/forward` (Traefik ForwardAuth, Caddy `forward_auth`): 200 with the `Remote-*`
//!   headers, 302 to sign in (`rd` = the original URL) or to the reset task, 403 when refused;
//! - `GET /auth/nginx` (nginx `auth_request`, which only understands 2xx, 401 and 403): the same,
//!   with 401 and a `Location` header where the other answers 302, for `error_page 401` to follow.
//!
//! The original request is described by `X-Forwarded-Method/-Proto/-Host/-Uri/-For` (or nginx's
//! `X-Original-URL`), believed only from `trusted_proxies`. A host no enabled application matches
//! is refused: that is the default. The check reads this node's memory only (the applications,
//! the session cache, the security snapshot): no database round trip for a cached session.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tower_sessions::session::Id;

use crate::domain::{host_of, RequestMeta};
use crate::features::sessions::service::{passage, Passage};
use crate::features::sessions::{hash_session_id, DbSessionStore};
use crate::runtime::AppState;

/// How the proxy wants to be told "go elsewhere".
#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    /// Traefik, Caddy: a 302 the proxy returns to the browser.
    Redirect,
    /// nginx: 401 with `Location`, turned into a redirect by `error_page 401`.
    Unauthorized,
}

pub async fn forward(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    decide(&state, peer, request.headers(), Style::Redirect).await
}

pub async fn nginx(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    decide(&state, peer, request.headers(), Style::Unauthorized).await
}

fn text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The URL the browser asked the proxy for, from the forwarded headers.
fn original_url(headers: &HeaderMap, state: &AppState) -> Option<url::Url> {
    if let Some(original) = text(headers, "x-original-url") {
        return url::Url::parse(&original).ok();
    }
    let proto = match text(headers, "x-forwarded-proto").as_deref() {
        Some("http") => "http",
        Some("https") => "https",
        Some(_) => return None,
        None => state.config.base_url.scheme(),
    };
    let host = text(headers, "x-forwarded-host")?;
    let uri = text(headers, "x-forwarded-uri").unwrap_or_else(|| "/".to_owned());
    if !uri.starts_with('/') {
        return None;
    }
    url::Url::parse(&format!("{proto}://{host}{uri}")).ok()
}

/// The session id the browser sent in the session cookie, if any.
fn session_id(headers: &HeaderMap, name: &str) -> Option<Id> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .and_then(|(_, v)| v.parse::<Id>().ok())
}

fn refuse(why: &'static str) -> Response {
    tracing::info!(why, "forward-auth refused");
    (
        StatusCode::FORBIDDEN,
        [(header::CACHE_CONTROL, "no-store")],
        why,
    )
        .into_response()
}

fn go_to(style: Style, location: &str) -> Response {
    let status = match style {
        Style::Redirect => StatusCode::FOUND,
        Style::Unauthorized => StatusCode::UNAUTHORIZED,
    };
    let Ok(value) = HeaderValue::from_str(location) else {
        return refuse("unusable redirect");
    };
    (
        status,
        [
            (header::LOCATION, value),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
    )
        .into_response()
}

async fn decide(state: &AppState, peer: SocketAddr, headers: &HeaderMap, style: Style) -> Response {
    let config = &state.config;
    if !config
        .trusted_proxies
        .iter()
        .any(|n| n.contains(&peer.ip()))
    {
        return refuse("forward-auth answers trusted proxies only (trusted_proxies)");
    }
    let Some(original) = original_url(headers, state) else {
        return refuse("no usable X-Forwarded-Host/-Proto/-Uri");
    };
    let Some(host) = original.host_str().and_then(host_of) else {
        return refuse("no usable host");
    };
    let app = match state.applications.find(&host) {
        Some(app) if app.enabled => app,
        Some(_) => return refuse("application disabled"),
        None => return refuse("no application for this host"),
    };
    let passage = match session_id(headers, config.session_cookie_name()) {
        None => Ok(Passage::Anonymous),
        Some(id) => {
            let meta = RequestMeta {
                ip: Some(
                    crate::net::client_ip(
                        peer.ip(),
                        headers
                            .get_all("x-forwarded-for")
                            .iter()
                            .filter_map(|v| v.to_str().ok()),
                        &config.trusted_proxies,
                    )
                    .to_string(),
                ),
                user_agent: text(headers, "user-agent"),
                device: None,
                incident: None,
            };
            let store = DbSessionStore::of(state);
            passage(state, &store, &hash_session_id(&id), &meta).await
        }
    };
    let base = config.base_url.as_str().trim_end_matches('/');
    match passage {
        Err(e) => {
            tracing::error!(error = %e, "forward-auth could not judge a session");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::CACHE_CONTROL, "no-store")],
                "Service temporarily unavailable.",
            )
                .into_response()
        }
        Ok(Passage::Anonymous) => {
            let rd: String =
                url::form_urlencoded::byte_serialize(original.as_str().as_bytes()).collect();
            go_to(style, &format!("{base}/sign-in?rd={rd}"))
        }
        Ok(Passage::ResetTask) => go_to(style, &format!("{base}/reset-task")),
        Ok(Passage::User { viewer, .. }) if !app.admits(viewer.role) => {
            refuse("role not admitted by this application")
        }
        Ok(Passage::User { viewer, name }) => {
            state
                .session_cache
                .record_access(app.id, &viewer.session_key, state.now());
            let mut response = StatusCode::OK.into_response();
            let out = response.headers_mut();
            let mut put = |name: &'static str, value: &str| {
                if let Ok(v) = HeaderValue::from_str(value) {
                    out.insert(HeaderName::from_static(name), v);
                }
            };
            put("remote-user", &viewer.user_id.to_string());
            put("remote-email", &viewer.email);
            put("remote-name", name.as_deref().unwrap_or(&viewer.email));
            put("remote-groups", viewer.role.as_str());
            put("remote-session", &viewer.session_key);
            put("cache-control", "no-store");
            response
        }
    }
}
