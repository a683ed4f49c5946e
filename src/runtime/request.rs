//! What a server function may ask of the current request. Permission helpers are meant to be the
//! first line of every server function that needs them. The HTTP edge (`crate::http`) puts what
//! they read into the request: the [`ClientInfo`] and the resolved [`Viewer`].

use http::request::Parts;
use http::StatusCode;
use leptos::prelude::*;
use leptos_axum::ResponseOptions;
use tower_sessions::Session;

use super::state::AppState;
use crate::domain::{RequestMeta, Viewer};
use crate::error::{AppError, Result};

pub fn state() -> Result<AppState> {
    use_context::<AppState>()
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("AppState missing from context")))
}

/// The signed-in user, resolved once per request by the HTTP gate.
pub fn viewer() -> Option<Viewer> {
    use_context::<Parts>().and_then(|p| p.extensions.get::<Viewer>().cloned())
}

/// A signed-in user with a full session (a restricted session gets "password reset required").
pub fn require_viewer() -> Result<Viewer> {
    let v = viewer().ok_or(AppError::Unauthenticated)?;
    if v.reset_required {
        return Err(AppError::PasswordResetRequired);
    }
    Ok(v)
}

/// A signed-in user whose session is restricted to the reset-password task.
pub fn require_task_viewer() -> Result<Viewer> {
    let v = viewer().ok_or(AppError::Unauthenticated)?;
    if !v.reset_required {
        return Err(AppError::Forbidden);
    }
    Ok(v)
}

/// Admins only: checked before anything else is read.
pub fn require_admin() -> Result<Viewer> {
    let v = require_viewer()?;
    if v.is_admin() {
        Ok(v)
    } else {
        Err(AppError::Forbidden)
    }
}

pub async fn session() -> Result<Session> {
    leptos_axum::extract::<Session>()
        .await
        .map_err(|e| AppError::internal(anyhow::anyhow!("session layer missing: {e}")))
}

/// The client's IP (through trusted proxies), user agent and device, for sessions and the audit
/// trail.
pub fn request_meta() -> RequestMeta {
    use_context::<Parts>()
        .map(|p| meta_of(&p))
        .unwrap_or_default()
}

/// Gives a failed server function the HTTP status that matches its error. A plain form post
/// (no JavaScript) is left alone: the framework answers it with a redirect back to the form.
pub fn respond<T>(result: Result<T>) -> Result<T> {
    let is_plain_form_post = use_context::<Parts>().is_some_and(|p| {
        p.headers
            .get(http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html"))
    });
    if let (Err(e), false) = (&result, is_plain_form_post) {
        if let (Some(opts), Ok(status)) = (
            use_context::<ResponseOptions>(),
            http::StatusCode::from_u16(e.status()),
        ) {
            opts.set_status(status);
            if let Some(secs) = e.retry_after_secs() {
                opts.insert_header(http::header::RETRY_AFTER, http::HeaderValue::from(secs));
            }
        }
    }
    result
}

/// Put into the request extensions by the HTTP edge (`crate::http::client::identify`).
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub ip: Option<std::net::IpAddr>,
    /// SHA-256 (hex) of the device cookie.
    pub device_hash: String,
}

/// The client's IP, user agent and device, for sessions and the audit trail.
pub fn meta_of(parts: &Parts) -> RequestMeta {
    meta_from(&parts.headers, &parts.extensions)
}

/// The same, from a request's headers and extensions (middleware).
pub fn meta_from(headers: &http::HeaderMap, extensions: &http::Extensions) -> RequestMeta {
    let client = extensions.get::<ClientInfo>();
    let user_agent = headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(512).collect());
    RequestMeta {
        ip: client.and_then(|c| c.ip).map(|ip| ip.to_string()),
        user_agent,
        device: client.map(|c| c.device_hash.clone()),
        incident: None,
    }
}

/// A place in the hash queue the HTTP edge reserved for this request before counting it against
/// the client's address (`crate::http::throttle`); taken once by the server function.
#[derive(Clone)]
pub struct HashPlace(pub std::sync::Arc<std::sync::Mutex<Option<super::hasher::Reservation>>>);

/// The place the edge reserved, or a new one (503 at once when the queue is full).
pub fn hash_place(state: &AppState) -> Result<super::hasher::Reservation> {
    let reserved = use_context::<Parts>()
        .and_then(|p| p.extensions.get::<HashPlace>().cloned())
        .and_then(|h| h.0.lock().ok().and_then(|mut slot| slot.take()));
    match reserved {
        Some(place) => Ok(place),
        None => Ok(state.hasher.reserve()?),
    }
}

/// The signed-in administrator behind a download, or the refusal to send: anonymous → 401,
/// member → 403, a request from anything but this site's own pages (`base_url`'s origin) → 403:
/// a page of another origin, another subdomain included, could make an admin's browser start an
/// export, and its audit entry.
pub fn same_origin_admin(
    parts: &Parts,
    base_url: &url::Url,
) -> Result<Viewer, (StatusCode, &'static str)> {
    let admin = match parts.extensions.get::<Viewer>() {
        None => return Err((StatusCode::UNAUTHORIZED, "Please sign in to continue.")),
        Some(v) if !v.is_admin() => {
            return Err((
                StatusCode::FORBIDDEN,
                "You do not have permission to do this.",
            ))
        }
        Some(v) => v.clone(),
    };
    if !crate::net::is_same_origin(&parts.headers, base_url) {
        return Err((StatusCode::FORBIDDEN, "Cross-site request refused."));
    }
    Ok(admin)
}
