//! The management API under `/api/v1`: JSON in and out, API keys as `Authorization: Bearer`
//! only (never cookies, never a query parameter, so browser CSRF does not apply), one token
//! bucket per key with `RateLimit-*` headers, `Idempotency-Key` on every POST, and RFC 9457
//! problem documents for every error. Handlers are thin: they check the scope on their first line
//! and call the same services as the console and the command line.
//!
//! The OpenAPI 3.1 document is generated from the handlers (`utoipa`) at
//! `/api/v1/openapi.json`; `/api/docs` renders it as a reference page.

mod audit;
mod idempotency;
mod incidents;
mod instance;
pub mod openapi;
pub mod problem;
mod scope;
mod shapes;
mod users;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderName, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Extension, Router};

use crate::domain::{ApiScope, RequestMeta};
use crate::features::api_keys::service::{self as keys, ApiCaller, KeyRefusal};
use crate::runtime::AppState;
use problem::{ApiResult, Problem};

/// The largest request body (a bulk call with 100 000 addresses fits).
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// The authenticated caller of this request: the key, and the request's metadata for the audit
/// trail.
#[derive(Clone)]
pub struct Caller {
    pub key: ApiCaller,
    pub meta: RequestMeta,
}

impl Caller {
    /// The operation's scope (see [`scope`]), or 403 naming it.
    pub fn need(&self, scope: ApiScope) -> ApiResult<&Self> {
        if self.key.may(scope) {
            Ok(self)
        } else {
            Err(Problem::new(
                "insufficient-scope",
                format!(
                    "This operation needs the scope \"{}\", which the key \"{}\" does not have.",
                    scope.as_str(),
                    self.key.name
                ),
            )
            .with("scope", serde_json::json!(scope.as_str())))
        }
    }

    pub fn actor(&self) -> crate::domain::Actor {
        self.key.actor()
    }
}

pub fn router(state: AppState) -> Router<AppState> {
    let v1 = Router::new()
        .route("/users", get(users::list).post(users::create))
        .route("/users/actions", post(users::bulk))
        .route("/users/{id}", get(users::get_one))
        .route("/users/{id}/disable", post(users::disable))
        .route("/users/{id}/enable", post(users::enable))
        .route("/users/{id}/role", post(users::set_role))
        .route(
            "/users/{id}/sessions",
            get(users::sessions).delete(users::end_all_sessions),
        )
        .route("/users/{id}/sessions/{session}", delete(users::end_session))
        .route(
            "/users/{id}/password/compromise",
            post(users::compromise_password),
        )
        .route("/users/{id}/password/reset-email", post(users::send_reset))
        .route(
            "/instance/compromise-passwords",
            post(instance::compromise_all),
        )
        .route(
            "/instance/sign-out-everyone",
            post(instance::sign_out_everyone),
        )
        .route(
            "/settings/security",
            get(instance::get_settings).put(instance::put_settings),
        )
        .route("/outbox", get(instance::outbox))
        .route("/audit", get(audit::list))
        .route("/audit/export", get(audit::export))
        .route("/audit/verify", get(audit::verify))
        .route("/incidents", get(incidents::list).post(incidents::open))
        .route("/incidents/{reference}", get(incidents::get_one))
        .route("/incidents/{reference}/close", post(incidents::close))
        .route(
            "/incidents/{reference}/cohorts/preview",
            post(incidents::preview),
        )
        .route("/incidents/{reference}/cohorts", post(incidents::apply))
        .route(
            "/incidents/{reference}/cohorts/{cohort}",
            get(incidents::cohort),
        )
        .route(
            "/incidents/{reference}/cohorts/{cohort}/cancel",
            post(incidents::cancel),
        )
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            scope::require,
        ))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            idempotency::replay,
        ))
        .layer(middleware::from_fn_with_state(state, authenticate))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES));
    Router::new()
        .route("/api/v1/openapi.json", get(openapi::document))
        .route("/api/docs", get(openapi::reference_page))
        .nest("/api/v1", v1)
}

async fn not_found() -> Problem {
    Problem::new("not-found", "No such API operation.")
}

fn bearer(req: &Request) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn meta_of(state: &AppState, req: &Request) -> RequestMeta {
    let ip = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| {
        let forwarded = req
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok());
        crate::net::client_ip(c.0.ip(), forwarded, &state.config.trusted_proxies)
    });
    RequestMeta {
        ip: ip.map(|ip| ip.to_string()),
        user_agent: req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(512).collect()),
        device: None,
        incident: None,
    }
}

fn rate_headers(response: &mut Response, quota: &crate::runtime::limiter::ApiQuota) {
    let headers = response.headers_mut();
    for (name, value) in [
        ("ratelimit-limit", u64::from(quota.limit)),
        ("ratelimit-remaining", u64::from(quota.remaining)),
        ("ratelimit-reset", quota.reset_secs),
    ] {
        headers.insert(HeaderName::from_static(name), HeaderValue::from(value));
    }
}

/// Lets in a request with a valid key and takes one call from its bucket. Keys in the URL are
/// refused outright, so they never reach access logs as a working credential.
async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    if req
        .uri()
        .query()
        .is_some_and(|q| q.contains(crate::domain::KEY_PREFIX))
    {
        return Problem::new(
            "malformed-request",
            "API keys are accepted only in the Authorization header (Bearer), never in the URL. Revoke this key: it may now be in logs.",
        )
        .into_response();
    }
    let meta = meta_of(&state, &req);
    let Some(secret) = bearer(&req) else {
        return Problem::new(
            "unauthenticated",
            "Send an API key as Authorization: Bearer kw_live_….",
        )
        .into_response();
    };
    let key = match keys::authenticate(&state, secret, meta.ip.as_deref()).await {
        Ok(Ok(key)) => key,
        Ok(Err(refusal)) => {
            let detail = match refusal {
                KeyRefusal::Unknown => "This API key is not known.",
                KeyRefusal::Expired => "This API key has expired.",
                KeyRefusal::Revoked => "This API key was revoked.",
            };
            return Problem::new("invalid-key", detail).into_response();
        }
        Err(e) => return Problem::from(e).into_response(),
    };
    let quota = state.limiter.check_api(key.key_id);
    if !quota.allowed {
        let mut problem = Problem::new(
            "rate-limited",
            format!(
                "This key made too many calls; try again in {}.",
                crate::error::wait_phrase(quota.reset_secs)
            ),
        );
        problem.retry_after = Some(quota.reset_secs);
        let mut response = problem.into_response();
        rate_headers(&mut response, &quota);
        return response;
    }
    req.extensions_mut().insert(Caller { key, meta });
    let mut response = next.run(req).await;
    rate_headers(&mut response, &quota);
    response
}

/// The caller put in by [`authenticate`].
pub type Authed = Extension<Caller>;
