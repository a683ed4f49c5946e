//! RFC 9457 problem documents: every error of the management API, with a stable `type` per kind
//! (a link to its entry on the reference page, `/api/docs#problem-…`), and the extractors that
//! turn malformed input into one instead of axum's plain-text rejections.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::FromRequest;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::error::AppError;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// Every kind of problem the API answers with: (slug, HTTP status, title). The slug is the
/// stable part of `type`; the reference page lists them all.
pub const KINDS: &[(&str, u16, &str)] = &[
    ("malformed-request", 400, "The request could not be read"),
    ("unauthenticated", 401, "An API key is required"),
    ("invalid-key", 401, "The API key is not valid"),
    ("insufficient-scope", 403, "The API key lacks a scope"),
    ("forbidden", 403, "Not allowed"),
    ("not-found", 404, "Not found"),
    ("method-not-allowed", 405, "This method is not allowed here"),
    (
        "idempotency-in-progress",
        409,
        "The first call with this Idempotency-Key is still running",
    ),
    ("payload-too-large", 413, "The request body is too large"),
    ("unsupported-media-type", 415, "The body must be JSON"),
    ("validation", 422, "The request is not valid"),
    (
        "idempotency-key-reused",
        422,
        "This Idempotency-Key was used for another request",
    ),
    ("rate-limited", 429, "Too many requests"),
    ("internal", 500, "Something went wrong on our side"),
    ("unavailable", 503, "Try again later"),
];

#[derive(Debug, Clone)]
pub struct Problem {
    pub slug: &'static str,
    pub status: StatusCode,
    pub detail: String,
    pub extra: Map<String, Value>,
    pub retry_after: Option<u64>,
}

/// The JSON shape of a problem document (for the OpenAPI document).
#[derive(Serialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ProblemDocument {
    /// `/api/docs#problem-<kind>`: stable per kind of error.
    #[schema(example = "/api/docs#problem-validation")]
    r#type: String,
    title: String,
    status: u16,
    detail: String,
    /// With `validation`: each field and what is wrong with it.
    #[schema(nullable = false)]
    errors: Option<Vec<FieldError>>,
    /// With `insufficient-scope`: the scope the operation needs.
    #[schema(nullable = false)]
    scope: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct FieldError {
    field: String,
    message: String,
}

impl Problem {
    pub fn new(slug: &'static str, detail: impl Into<String>) -> Self {
        let status = KINDS
            .iter()
            .find(|(s, _, _)| *s == slug)
            .map(|(_, status, _)| *status)
            .unwrap_or(500);
        Self {
            slug,
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            detail: detail.into(),
            extra: Map::new(),
            retry_after: None,
        }
    }

    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.extra.insert(key.to_owned(), value);
        self
    }

    pub fn not_found(what: &str) -> Self {
        Self::new("not-found", format!("No such {what}."))
    }

    pub fn validation(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::new("validation", message.clone())
            .with("errors", json!([{"field": field, "message": message}]))
    }

    pub fn title(&self) -> &'static str {
        KINDS
            .iter()
            .find(|(s, _, _)| *s == self.slug)
            .map(|(_, _, t)| *t)
            .unwrap_or("Error")
    }

    /// The document as JSON text (kept as the answer of an idempotent call).
    pub fn body(&self) -> Value {
        let mut doc = Map::new();
        doc.insert(
            "type".into(),
            json!(format!("/api/docs#problem-{}", self.slug)),
        );
        doc.insert("title".into(), json!(self.title()));
        doc.insert("status".into(), json!(self.status.as_u16()));
        doc.insert("detail".into(), json!(self.detail));
        for (k, v) in &self.extra {
            doc.insert(k.clone(), v.clone());
        }
        Value::Object(doc)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body().to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"keywarden-api\""),
            );
        }
        response
    }
}

impl From<AppError> for Problem {
    fn from(e: AppError) -> Self {
        let retry = e.retry_after_secs();
        let mut p = match &e {
            AppError::Field { field, message } => Problem::validation(field, message.clone()),
            AppError::Unauthenticated | AppError::InvalidCredentials => {
                Problem::new("unauthenticated", e.to_string())
            }
            AppError::Forbidden
            | AppError::PasswordResetRequired
            | AppError::PasswordCompromised => Problem::new("forbidden", e.to_string()),
            AppError::RateLimited | AppError::Throttled { .. } => {
                Problem::new("rate-limited", e.to_string())
            }
            AppError::Busy { .. } | AppError::SignUpPaused => {
                Problem::new("unavailable", e.to_string())
            }
            AppError::Internal => Problem::new("internal", e.to_string()),
            AppError::Request(m) => Problem::new("malformed-request", m.clone()),
        };
        p.retry_after = retry;
        p
    }
}

impl From<JsonRejection> for Problem {
    fn from(r: JsonRejection) -> Self {
        let detail = r.body_text();
        match r.status() {
            StatusCode::PAYLOAD_TOO_LARGE => Problem::new("payload-too-large", detail),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Problem::new(
                "unsupported-media-type",
                "Send the body as JSON with Content-Type: application/json.",
            ),
            StatusCode::UNPROCESSABLE_ENTITY => Problem::new("validation", detail),
            _ => Problem::new("malformed-request", detail),
        }
    }
}

impl From<QueryRejection> for Problem {
    fn from(r: QueryRejection) -> Self {
        Problem::new("malformed-request", r.body_text())
    }
}

impl From<PathRejection> for Problem {
    fn from(r: PathRejection) -> Self {
        Problem::new("malformed-request", r.body_text())
    }
}

/// A JSON body; anything malformed is a problem document and nothing runs.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(Problem))]
pub struct Body<T>(pub T);

/// Query parameters; unknown or malformed ones are a problem document.
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(Problem))]
pub struct Params<T>(pub T);

/// Path parameters.
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(Problem))]
pub struct Segment<T>(pub T);

pub type ApiResult<T> = Result<T, Problem>;

/// A text parameter within its documented length (in characters, as JSON Schema counts them).
pub fn max_chars(field: &str, value: Option<&str>, max: usize) -> ApiResult<()> {
    match value {
        Some(v) if v.chars().count() > max => Err(Problem::validation(
            field,
            format!("At most {max} characters."),
        )),
        _ => Ok(()),
    }
}
