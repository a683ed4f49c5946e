//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` annotations and the
//! request and response types (`utoipa` 5: derive macros next to the code they describe, no
//! runtime router rewrite, and it emits 3.1), and the reference page rendered from it on the
//! server (no script from elsewhere: the page works offline).

use std::fmt::Write;
use std::sync::OnceLock;

use axum::http::{header, HeaderValue};
use axum::response::{Html, IntoResponse, Response};
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as Document, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::problem::{ProblemDocument, KINDS, PROBLEM_JSON};
use super::{audit, incidents, instance, shapes, users};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Keywarden management API",
        description = "Everything the console does, scriptable: one call for one user, a cohort or everyone. \
Authenticate with an API key as `Authorization: Bearer kw_live_…` (created under Admin console → API keys, or \
`keywarden api-key create`); each operation names the scope it needs. Errors are RFC 9457 problem documents. \
Every POST honours `Idempotency-Key`. Each key has a token bucket (`RateLimit-Limit`, `RateLimit-Remaining`, \
`RateLimit-Reset` on every answer; 429 with `Retry-After` past it). Times are Unix milliseconds (UTC).",
        version = "1"
    ),
    paths(
        users::list, users::create, users::get_one, users::disable, users::enable, users::set_role,
        users::sessions, users::end_all_sessions, users::end_session,
        users::compromise_password, users::send_reset, users::bulk,
        instance::compromise_all, instance::sign_out_everyone, instance::get_settings,
        instance::put_settings, instance::outbox,
        audit::list, audit::export, audit::verify,
        incidents::list, incidents::open, incidents::get_one, incidents::close,
        incidents::preview, incidents::apply, incidents::cohort, incidents::cancel,
    ),
    components(schemas(ProblemDocument, users::Selection, users::StatusFilter, shapes::RoleName)),
    modifiers(&Conventions),
    tags(
        (name = "users", description = "Users, their passwords, and bulk actions"),
        (name = "sessions", description = "Users' sessions"),
        (name = "instance", description = "Instance-wide containment and the outbox"),
        (name = "settings", description = "Security settings"),
        (name = "audit", description = "The tamper-evident audit trail"),
        (name = "incidents", description = "Incidents, cohorts and their jobs"),
    )
)]
struct ApiDoc;

/// What every operation shares, added once instead of on each handler: the bearer scheme, the
/// `Idempotency-Key` header on POST, and the problem documents each can answer with.
struct Conventions;

fn problem_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            PROBLEM_JSON,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ProblemDocument")))
                .build(),
        )
        .build()
}

fn add_problems(op: &mut Operation, has_body: bool, is_post: bool) {
    let mut codes = vec![
        ("400", "Malformed request (`malformed-request`)"),
        ("401", "No key, or an unknown, expired or revoked key"),
        (
            "403",
            "The key lacks the operation's scope (`insufficient-scope`)",
        ),
        ("404", "No such resource (`not-found`)"),
        ("422", "Invalid input (`validation`), each field named"),
        (
            "429",
            "Too many calls with this key (`rate-limited`, see `Retry-After`)",
        ),
        ("500", "Something went wrong on our side (`internal`)"),
        ("503", "Busy; try again later (`unavailable`)"),
    ];
    if has_body {
        codes.push(("413", "Body larger than 8 MiB (`payload-too-large`)"));
        codes.push(("415", "Body not sent as JSON (`unsupported-media-type`)"));
    }
    if is_post {
        codes.push((
            "409",
            "The first call with this Idempotency-Key is still running",
        ));
    }
    for (code, description) in codes {
        op.responses
            .responses
            .entry(code.to_owned())
            .or_insert_with(|| problem_response(description).into());
    }
}

impl Modify for Conventions {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        let idempotency = utoipa::openapi::path::ParameterBuilder::new()
            .name("Idempotency-Key")
            .parameter_in(utoipa::openapi::path::ParameterIn::Header)
            .required(utoipa::openapi::Required::False)
            .description(Some(
                "Any unique string (1–255 visible ASCII characters): a retry with the same key \
                 and the same request gets the first answer and acts once (kept 24 hours).",
            ))
            .schema(Some(
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .min_length(Some(1))
                    .max_length(Some(255))
                    .pattern(Some("^[!-~]+$")),
            ))
            .build();
        for item in doc.paths.paths.values_mut() {
            for (op, has_body, is_post) in [
                (item.get.as_mut(), false, false),
                (item.delete.as_mut(), false, false),
                (item.put.as_mut(), true, false),
                (item.post.as_mut(), true, true),
            ] {
                let Some(op) = op else { continue };
                let has_body = has_body && op.request_body.is_some();
                add_problems(op, has_body, is_post);
                if is_post {
                    op.parameters
                        .get_or_insert_with(Vec::new)
                        .push(idempotency.clone());
                }
            }
        }
    }
}

/// The document, built once.
pub fn spec() -> &'static Document {
    static SPEC: OnceLock<Document> = OnceLock::new();
    SPEC.get_or_init(ApiDoc::openapi)
}

/// `GET /api/v1/openapi.json` (public: it holds no data).
pub async fn document() -> Response {
    let json = spec().to_json().unwrap_or_else(|_| "{}".to_owned());
    let mut response = json.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Escaped text with its `code spans` (the doc comments' Markdown) as `<code>`.
fn prose(text: &str) -> String {
    escape(text)
        .split('`')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 {
                format!("<code>{part}</code>")
            } else {
                part.to_owned()
            }
        })
        .collect()
}

/// `GET /api/docs`: every operation with its scope, parameters, body and answers, and every kind
/// of problem, rendered from the same document.
pub async fn reference_page() -> Html<String> {
    static PAGE: OnceLock<String> = OnceLock::new();
    Html(PAGE.get_or_init(render).clone())
}

fn render() -> String {
    let doc = spec();
    let mut out = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Keywarden API reference</title><style>\
         body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1a1a1a}\
         code,pre{font-family:ui-monospace,monospace;background:#f3f3f3;padding:.1em .3em;border-radius:3px}\
         pre{padding:.6em;overflow:auto}.op{border-top:1px solid #ddd;padding:.6rem 0}\
         .m{font-weight:700;display:inline-block;min-width:4.5em}.scope{color:#7a3e00}\
         table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.2em .5em;text-align:left}\
         </style></head><body><main><h1>Keywarden management API</h1>",
    );
    let _ = write!(
        out,
        "<p>{}</p><p>The machine-readable document: <a href=\"/api/v1/openapi.json\">/api/v1/openapi.json</a> (OpenAPI 3.1).</p>",
        prose(doc.info.description.as_deref().unwrap_or(""))
    );
    out.push_str("<h2>Operations</h2>");
    for (path, item) in &doc.paths.paths {
        for (method, op) in [
            ("GET", &item.get),
            ("POST", &item.post),
            ("PUT", &item.put),
            ("DELETE", &item.delete),
        ] {
            let Some(op) = op else { continue };
            let scopes: Vec<String> = op
                .security
                .iter()
                .flatten()
                .filter_map(|s| serde_json::to_value(s).ok())
                .filter_map(|v| v.get("api_key").cloned())
                .filter_map(|v| serde_json::from_value::<Vec<String>>(v).ok())
                .flatten()
                .collect();
            let _ = write!(
                out,
                "<section class=\"op\"><div><span class=\"m\">{method}</span><code>{}</code></div><p>{}</p><p>{}</p><p>Scope: <span class=\"scope\">{}</span></p>",
                escape(path),
                prose(op.summary.as_deref().unwrap_or("")),
                prose(op.description.as_deref().unwrap_or("")),
                escape(&scopes.join(", ")),
            );
            let params: Vec<String> = op
                .parameters
                .iter()
                .flatten()
                .map(|p| {
                    format!(
                        "<li><code>{}</code> ({}) {}</li>",
                        escape(&p.name),
                        escape(
                            serde_json::to_value(&p.parameter_in)
                                .ok()
                                .and_then(|v| v.as_str().map(str::to_owned))
                                .as_deref()
                                .unwrap_or("")
                        ),
                        prose(p.description.as_deref().unwrap_or(""))
                    )
                })
                .collect();
            if !params.is_empty() {
                let _ = write!(out, "<p>Parameters:</p><ul>{}</ul>", params.concat());
            }
            if let Some(body) = &op.request_body {
                if let Some(content) = body.content.get("application/json") {
                    let schema = serde_json::to_string(&content.schema).unwrap_or_default();
                    let _ = write!(out, "<p>Body: <code>{}</code></p>", escape(&schema));
                }
            }
            let answers: Vec<String> = op
                .responses
                .responses
                .iter()
                .filter(|(code, _)| code.starts_with('2'))
                .map(|(code, _)| code.clone())
                .collect();
            let _ = write!(out, "<p>Success: {}</p></section>", answers.join(", "));
        }
    }
    out.push_str("<h2 id=\"problems\">Problems</h2><p>Every error is an <code>application/problem+json</code> document whose <code>type</code> is one of these.</p><table><tr><th>type</th><th>status</th><th>title</th></tr>");
    for (slug, status, title) in KINDS {
        let _ = write!(
            out,
            "<tr id=\"problem-{slug}\"><td><code>/api/docs#problem-{slug}</code></td><td>{status}</td><td>{}</td></tr>",
            escape(title)
        );
    }
    out.push_str("</table></main></body></html>");
    out
}
