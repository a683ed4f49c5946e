//! `Idempotency-Key` on POST: the first answer to a key is kept 24 hours (per API key), and a
//! retry with the same key and the same request gets it again without acting a second time. The
//! same key with another request is refused (422); a retry while the first call still runs is
//! told to wait (409). A call that failed on the server's side (5xx) keeps nothing, so its retry
//! acts.
//!
//! The claim is written before the call runs, in its own statement: if the process dies between
//! the call's commit and the answer being kept, the key stays "in progress" until it expires
//! (24 hours), and a retry gets 409 rather than acting twice.

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::problem::{Problem, PROBLEM_JSON};
use super::{Caller, MAX_BODY_BYTES};
use crate::runtime::AppState;
use crate::storage::api_keys;

const KEEP_MS: i64 = 24 * 60 * 60 * 1000;
const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

fn valid_key(key: &str) -> bool {
    (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic())
}

fn stored(status: i64, body: String) -> Response {
    let status = u16::try_from(status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    let content_type = if status.is_client_error() || status.is_server_error() {
        PROBLEM_JSON
    } else {
        "application/json"
    };
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
        .headers_mut()
        .insert(REPLAYED, HeaderValue::from_static("true"));
    response
}

pub async fn replay(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    let Some(idem_key) = req
        .headers()
        .get("idempotency-key")
        .map(|v| v.to_str().map(str::to_owned))
    else {
        return next.run(req).await;
    };
    let idem_key = match idem_key {
        Ok(k) if valid_key(&k) => k,
        _ => {
            return Problem::new(
                "malformed-request",
                "Idempotency-Key must be 1 to 255 visible ASCII characters.",
            )
            .into_response()
        }
    };
    let Some(caller) = req.extensions().get::<Caller>().cloned() else {
        return next.run(req).await;
    };
    let (parts, body) = req.into_parts();
    let bytes = match to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            return Problem::new(
                "payload-too-large",
                format!("The body may be at most {MAX_BODY_BYTES} bytes."),
            )
            .into_response()
        }
    };
    let mut hasher = Sha256::new();
    hasher.update(parts.method.as_str().as_bytes());
    hasher.update(b" ");
    hasher.update(parts.uri.to_string().as_bytes());
    hasher.update(b"\n");
    hasher.update(&bytes);
    let fingerprint = hex::encode(hasher.finalize());
    let key_id = caller.key.key_id;
    let now = state.now();
    let claimed = async {
        let mut conn = state.conn().await?;
        api_keys::expire(&mut conn, now - KEEP_MS).await?;
        anyhow::Ok(api_keys::claim(&mut conn, key_id, &idem_key, &fingerprint, now).await?)
    }
    .await;
    match claimed {
        Err(e) => return Problem::from(crate::error::AppError::internal(e)).into_response(),
        Ok(Some(answer)) if answer.fingerprint != fingerprint => {
            return Problem::new(
                "idempotency-key-reused",
                "This Idempotency-Key was already used with another request.",
            )
            .into_response()
        }
        Ok(Some(answer)) if answer.status == 0 => {
            let mut p = Problem::new(
                "idempotency-in-progress",
                "The first call with this Idempotency-Key is still running; retry in a moment.",
            );
            p.retry_after = Some(1);
            return p.into_response();
        }
        Ok(Some(answer)) => return stored(answer.status, answer.body),
        Ok(None) => {}
    }
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let (mut parts, body) = response.into_parts();
    // Answers are small JSON documents; a streamed one (none on POST) would be cut here.
    let body = to_bytes(body, MAX_BODY_BYTES).await.unwrap_or_default();
    let kept = async {
        let mut conn = state.conn().await?;
        if parts.status.is_server_error() {
            api_keys::release(&mut conn, key_id, &idem_key).await?;
        } else {
            let text = String::from_utf8_lossy(&body);
            api_keys::finish(
                &mut conn,
                key_id,
                &idem_key,
                i64::from(parts.status.as_u16()),
                &text,
            )
            .await?;
        }
        anyhow::Ok(())
    }
    .await;
    if let Err(e) = kept {
        tracing::error!(
            error = format!("{e:#}"),
            "could not keep an idempotent answer"
        );
    }
    parts
        .headers
        .insert(REPLAYED, HeaderValue::from_static("false"));
    Response::from_parts(parts, Body::from(body))
}
