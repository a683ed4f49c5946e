//! Each operation's scope is the one its OpenAPI annotation documents
//! (`security(("api_key" = ["users:read"]))`): read from the generated document and enforced
//! here, after routing and before the handler reads its input, so the reference and the
//! enforcement cannot disagree. An operation without a documented scope is refused (fail closed).

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::problem::Problem;
use super::Caller;
use crate::domain::ApiScope;
use crate::runtime::AppState;

fn scopes() -> &'static HashMap<(Method, String), ApiScope> {
    static SCOPES: OnceLock<HashMap<(Method, String), ApiScope>> = OnceLock::new();
    SCOPES.get_or_init(|| {
        let mut out = HashMap::new();
        for (path, item) in &super::openapi::spec().paths.paths {
            for (method, op) in [
                (Method::GET, &item.get),
                (Method::POST, &item.post),
                (Method::PUT, &item.put),
                (Method::DELETE, &item.delete),
            ] {
                let scope = op
                    .iter()
                    .flat_map(|op| op.security.iter().flatten())
                    .filter_map(|s| serde_json::to_value(s).ok())
                    .filter_map(|v| v.get("api_key").cloned())
                    .filter_map(|v| serde_json::from_value::<Vec<String>>(v).ok())
                    .flatten()
                    .find_map(|s| ApiScope::parse(&s));
                if let Some(scope) = scope {
                    out.insert((method, path.clone()), scope);
                }
            }
        }
        out
    })
}

/// The scope the operation at this method and route needs (HEAD: its GET's).
pub fn needed(method: &Method, route: &str) -> Option<ApiScope> {
    let method = if method == Method::HEAD {
        Method::GET
    } else {
        method.clone()
    };
    scopes().get(&(method, route.to_owned())).copied()
}

/// The documented methods of a route, for `Allow`.
fn allowed(route: &str) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = scopes()
        .keys()
        .filter(|(_, r)| r == route)
        .map(|(m, _)| match *m {
            Method::GET => "GET",
            Method::POST => "POST",
            Method::PUT => "PUT",
            _ => "DELETE",
        })
        .collect();
    out.sort_unstable();
    out
}

pub async fn require(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_default();
    let Some(caller) = req.extensions().get::<Caller>() else {
        return Problem::new("unauthenticated", "An API key is required.").into_response();
    };
    match needed(req.method(), &route) {
        None if !allowed(&route).is_empty() => {
            let allow = allowed(&route).join(", ");
            let mut response = Problem::new(
                "method-not-allowed",
                format!("{} is not allowed here; use {allow}.", req.method()),
            )
            .into_response();
            if let Ok(v) = axum::http::HeaderValue::from_str(&allow) {
                response.headers_mut().insert(axum::http::header::ALLOW, v);
            }
            response
        }
        None => {
            tracing::error!(route, "API operation without a documented scope: refused");
            Problem::new("forbidden", "This operation is not available to API keys.")
                .into_response()
        }
        Some(scope) => match caller.need(scope) {
            Ok(caller) => {
                // Writes are audited by their services; reads are counted (see api_usage).
                if req.method() == Method::GET || req.method() == Method::HEAD {
                    state.api_usage.read(
                        caller.key.key_id,
                        &caller.key.name,
                        &format!("GET {route}"),
                        caller.meta.ip.as_deref(),
                        state.now(),
                    );
                }
                next.run(req).await
            }
            Err(problem) => problem.into_response(),
        },
    }
}
