//! `GET /admin/incidents/{id}/evidence.tar.gz`: the evidence bundle, for a signed-in
//! administrator on this site's own pages (same origin, as the audit exports).

use axum::extract::{Path, State};
use axum::http::{header, request::Parts, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::domain::Actor;
use crate::runtime::request::{meta_of, same_origin_admin};
use crate::runtime::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/admin/incidents/{id}/evidence.tar.gz", get(download))
}

async fn download(State(state): State<AppState>, Path(id): Path<i64>, parts: Parts) -> Response {
    let admin = match same_origin_admin(&parts, &state.config.base_url) {
        Ok(admin) => admin,
        Err(refusal) => return refusal.into_response(),
    };
    let built = super::bundle::build(
        &state,
        &Actor::admin(&admin),
        &id.to_string(),
        &meta_of(&parts),
    )
    .await;
    let (name, bytes) = match built {
        Ok(b) => b,
        Err(e) => {
            return (
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                e.to_string(),
            )
                .into_response()
        }
    };
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/gzip"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
