//! `GET /admin/audit/export.csv` and `/admin/audit/export.jsonl`: every entry matching the page's
//! filters, streamed in keyset batches so a long trail never sits in memory.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, request::Parts, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::mpsc;
use tower_http::services::fs::AsyncReadBody;

use super::query::{self, ExportPlan, EXPORT_BATCH};
use super::{AuditEntryDto, AuditFilter};
use crate::runtime::request::same_origin_admin;
use crate::runtime::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/admin/audit/export.csv",
            get(|s: State<AppState>, p: Parts| export(s, p, Format::Csv)),
        )
        .route(
            "/admin/audit/export.jsonl",
            get(|s: State<AppState>, p: Parts| export(s, p, Format::JsonLines)),
        )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    JsonLines,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::JsonLines => "jsonl",
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::JsonLines => "application/x-ndjson; charset=utf-8",
        }
    }
}

/// Requires: admin. Anonymous → 401, member → 403 (the page gate redirects anonymous browsers to
/// sign in before this runs). Records `audit.exported`, then streams.
async fn export(State(state): State<AppState>, parts: Parts, format: Format) -> Response {
    let admin = match same_origin_admin(&parts, &state.config.base_url) {
        Ok(admin) => admin,
        Err(refusal) => return refusal.into_response(),
    };
    let Ok(Query(filter)) = Query::<AuditFilter>::try_from_uri(&parts.uri) else {
        return (StatusCode::BAD_REQUEST, "Invalid filters.").into_response();
    };
    let plan = match query::start_export(
        &state,
        &crate::domain::Actor::admin(&admin),
        &filter,
        format.name(),
        &crate::runtime::request::meta_of(&parts),
    )
    .await
    {
        Ok(plan) => plan,
        Err(e) => {
            return (
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                e.to_string(),
            )
                .into_response()
        }
    };
    stream(state, plan, format)
}

/// Streams the entries of a started export (see [`query::start_export`]) as a download.
pub fn stream(state: AppState, plan: ExportPlan, format: Format) -> Response {
    let filename = format!(
        "keywarden-audit-{}.{}",
        query::file_date(state.now()),
        format.name()
    );
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(write_entries(state, plan, format, tx));
    let mut response = Body::new(AsyncReadBody::with_capacity(
        ChannelReader::new(rx),
        16 * 1024,
    ))
    .into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Writes batch after batch into the response. A read failure ends the response with an error, so
/// the client sees a broken download rather than a silently short file.
async fn write_entries(
    state: AppState,
    plan: ExportPlan,
    format: Format,
    tx: mpsc::Sender<io::Result<Vec<u8>>>,
) {
    if format == Format::Csv && tx.send(Ok(csv_header())).await.is_err() {
        return;
    }
    let mut before = plan.before;
    loop {
        let batch = match query::export_batch(&state, &plan.criteria, before).await {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "audit export failed");
                let _ = tx.send(Err(io::Error::other("audit export failed"))).await;
                return;
            }
        };
        let Some(last) = batch.last() else { return };
        before = last.seq;
        let mut chunk = Vec::with_capacity(batch.len() * 256);
        for entry in &batch {
            match format {
                Format::Csv => csv_row(&mut chunk, entry),
                Format::JsonLines => json_line(&mut chunk, entry),
            }
        }
        // The receiver is gone when the client hung up: stop reading.
        if tx.send(Ok(chunk)).await.is_err() || (batch.len() as i64) < EXPORT_BATCH {
            return;
        }
    }
}

const CSV_COLUMNS: [&str; 12] = [
    "seq",
    "time",
    "at_ms",
    "actor_kind",
    "actor",
    "action",
    "target_user_id",
    "target_email",
    "ip",
    "user_agent",
    "reason",
    "details",
];

fn csv_header() -> Vec<u8> {
    let mut out = Vec::new();
    write_csv_record(&mut out, CSV_COLUMNS.iter().map(|c| (*c).to_owned()));
    out
}

fn csv_row(out: &mut Vec<u8>, e: &AuditEntryDto) {
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    let fields = [
        e.seq.to_string(),
        e.time.clone(),
        e.at.to_string(),
        e.actor_kind.clone(),
        opt(&e.actor_label),
        e.action.clone(),
        e.target_user_id.map(|i| i.to_string()).unwrap_or_default(),
        opt(&e.target_email),
        opt(&e.ip),
        opt(&e.user_agent),
        opt(&e.reason),
        e.details.clone(),
    ];
    write_csv_record(out, fields.into_iter());
}

/// RFC 4180 with every field quoted. A field a spreadsheet would run as a formula gets a leading
/// apostrophe (OWASP "CSV injection").
fn write_csv_record(out: &mut Vec<u8>, fields: impl Iterator<Item = String>) {
    for (i, field) in fields.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'"');
        if field.starts_with(['=', '+', '-', '@', '\t', '\r']) {
            out.push(b'\'');
        }
        out.extend_from_slice(field.replace('"', "\"\"").as_bytes());
        out.push(b'"');
    }
    out.extend_from_slice(b"\r\n");
}

fn json_line(out: &mut Vec<u8>, e: &AuditEntryDto) {
    let details: Value =
        serde_json::from_str(&e.details).unwrap_or_else(|_| Value::String(e.details.clone()));
    let line = json!({
        "seq": e.seq,
        "at": e.at,
        "time": e.time,
        "actor_kind": e.actor_kind,
        "actor": e.actor_label,
        "action": e.action,
        "target_user_id": e.target_user_id,
        "target_email": e.target_email,
        "ip": e.ip,
        "user_agent": e.user_agent,
        "reason": e.reason,
        "details": details,
    });
    out.extend_from_slice(line.to_string().as_bytes());
    out.push(b'\n');
}

/// Reads the chunks sent through a channel, so the writer task can feed the response body.
struct ChannelReader {
    rx: mpsc::Receiver<io::Result<Vec<u8>>>,
    chunk: Vec<u8>,
    pos: usize,
}

impl ChannelReader {
    fn new(rx: mpsc::Receiver<io::Result<Vec<u8>>>) -> Self {
        Self {
            rx,
            chunk: Vec::new(),
            pos: 0,
        }
    }
}

impl AsyncRead for ChannelReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.pos < this.chunk.len() {
                let n = buf.remaining().min(this.chunk.len() - this.pos);
                buf.put_slice(&this.chunk[this.pos..this.pos + n]);
                this.pos += n;
                return Poll::Ready(Ok(()));
            }
            match ready!(this.rx.poll_recv(cx)) {
                Some(Ok(chunk)) => {
                    this.chunk = chunk;
                    this.pos = 0;
                }
                Some(Err(e)) => return Poll::Ready(Err(e)),
                None => return Poll::Ready(Ok(())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        let mut out = Vec::new();
        write_csv_record(
            &mut out,
            [
                "a \"b\", c".to_owned(),
                "=1+1".to_owned(),
                "-2".to_owned(),
                "@x".to_owned(),
                String::new(),
            ]
            .into_iter(),
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"a \"\"b\"\", c\",\"'=1+1\",\"'-2\",\"'@x\",\"\"\r\n"
        );
    }
}
