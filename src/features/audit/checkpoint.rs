//! `GET /admin/audit/checkpoint.txt`: the last stored audit checkpoint, as the signed file, for
//! an administrator to keep outside the server.

use axum::extract::State;
use axum::http::{header, request::Parts, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::runtime::checkpoint::{self, Checkpoint};
use crate::runtime::request::same_origin_admin;
use crate::runtime::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/admin/audit/checkpoint.txt", get(download))
}

/// Requires: admin, same origin. 404 before the first checkpoint.
async fn download(State(state): State<AppState>, parts: Parts) -> Response {
    if let Err(refusal) = same_origin_admin(&parts, &state.config.base_url) {
        return refusal.into_response();
    }
    let row = match checkpoint::latest(&state).await {
        Ok(Some(row)) => row,
        Ok(None) => {
            return (
                StatusCode::NOT_FOUND,
                "No checkpoint yet: the first is taken within a day, or run keywarden audit checkpoint.",
            )
                .into_response()
        }
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "cannot read the last audit checkpoint");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong on our side. Please try again.",
            )
                .into_response();
        }
    };
    let filename = Checkpoint::parse(&row.text)
        .map(|c| checkpoint::file_name(&c))
        .unwrap_or_else(|_| "keywarden-audit-checkpoint.txt".to_owned());
    let mut response = row.text.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
