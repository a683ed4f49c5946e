//! Who is on the other end of a request: the client IP (through trusted proxies only) and the
//! browser's device cookie, a long-lived random value that recognises the same browser across
//! sign-ins. Only its SHA-256 is stored.

use std::net::SocketAddr;

use crate::runtime::request::ClientInfo;
use crate::runtime::{token, AppState};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// Browsers cap cookie lifetimes at 400 days.
const DEVICE_COOKIE_MAX_AGE_SECS: u64 = 400 * 24 * 60 * 60;

fn cookie_value<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// 128 random bits as 32 lowercase hex digits; anything else in the cookie is replaced.
fn is_device_id(v: &str) -> bool {
    v.len() == 32
        && v.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

pub fn hash_device(id: &str) -> String {
    token::hash(id)
}

pub async fn identify(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    if req.uri().path().starts_with("/pkg/") {
        return next.run(req).await;
    }
    let config = &state.config;
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .map(|peer| {
            let forwarded = req
                .headers()
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok());
            crate::net::client_ip(peer, forwarded, &config.trusted_proxies)
        });
    let name = config.device_cookie_name();
    let existing = cookie_value(&req, name)
        .filter(|v| is_device_id(v))
        .map(str::to_owned);
    let (id, minted) = match existing {
        Some(id) => (id, false),
        None => (token::random_hex(16), true),
    };
    req.extensions_mut().insert(ClientInfo {
        ip,
        device_hash: hash_device(&id),
    });
    let mut response = next.run(req).await;
    if minted {
        let secure = if config.cookies_secure() {
            "; Secure"
        } else {
            ""
        };
        let cookie = format!(
            "{name}={id}; Path=/; Max-Age={DEVICE_COOKIE_MAX_AGE_SECS}; HttpOnly; SameSite=Lax{secure}"
        );
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}
