//! The audit trail: list with filters, export as a JSON Lines stream, verify the hash chain.

use axum::extract::State;
use axum::response::Response;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::problem::{max_chars, ApiResult, Params, Problem};
use super::Authed;
use crate::features::audit::export::{self, Format};
use crate::features::audit::query;
use crate::features::audit::{AuditFilter, ChainStatus};
use crate::runtime::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// An actor kind (`admin`, `user`, `cli`, `api_key`, `system`, `anonymous`) or label (an
    /// e-mail or a key name).
    #[param(max_length = 320)]
    actor: Option<String>,
    /// The target user's e-mail.
    #[param(max_length = 320)]
    target: Option<String>,
    /// An action code (`user.password_compromised`) or a prefix ending in a dot (`incident.`).
    #[param(max_length = 100)]
    action: Option<String>,
    /// First day, `YYYY-MM-DD` (UTC).
    #[param(pattern = "^([0-9]{4}-[0-9]{2}-[0-9]{2})?$")]
    from: Option<String>,
    /// Last day, `YYYY-MM-DD` (UTC).
    #[param(pattern = "^([0-9]{4}-[0-9]{2}-[0-9]{2})?$")]
    to: Option<String>,
    /// `next_cursor` of the previous page.
    #[param(pattern = "^[0-9]{0,18}$")]
    cursor: Option<String>,
    /// Entries per page, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
}

/// One audit entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct Entry {
    /// Position in the hash chain.
    seq: i64,
    /// Unix milliseconds, UTC.
    at: i64,
    actor_kind: String,
    actor_label: Option<String>,
    action: String,
    target_user_id: Option<i64>,
    target_email: Option<String>,
    ip: Option<String>,
    reason: Option<String>,
    /// Compact JSON.
    details: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EntryPage {
    entries: Vec<Entry>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    next_cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Verification {
    intact: bool,
    /// How many entries the chain holds (when intact).
    entries: Option<i64>,
    /// The first entry that does not verify, and why.
    broken_at: Option<i64>,
    problem: Option<String>,
}

/// The filters within their documented lengths.
fn check_lengths(
    actor: &Option<String>,
    target: &Option<String>,
    action: &Option<String>,
) -> ApiResult<()> {
    max_chars("actor", actor.as_deref(), 320)?;
    max_chars("target", target.as_deref(), 320)?;
    max_chars("action", action.as_deref(), 100)
}

fn filter_of(q: &AuditQuery) -> AuditFilter {
    AuditFilter {
        actor: q.actor.clone(),
        target: q.target.clone(),
        action: q.action.clone(),
        from: q.from.clone(),
        to: q.to.clone(),
    }
}

/// List audit entries, newest first.
#[utoipa::path(get, path = "/api/v1/audit", operation_id = "list_audit", tag = "audit", params(AuditQuery),
    security(("api_key" = ["audit:read"])),
    responses((status = 200, description = "A page of entries", body = EntryPage)))]
pub async fn list(
    State(state): State<AppState>,
    Params(q): Params<AuditQuery>,
) -> ApiResult<Json<EntryPage>> {
    check_lengths(&q.actor, &q.target, &q.action)?;
    let before = match q.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(
            c.parse::<i64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| Problem::validation("cursor", "Not a cursor this API gave."))?,
        ),
    };
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(Problem::validation("limit", "Between 1 and 200."));
    }
    let (entries, next) = query::page_before(&state, &filter_of(&q), before, limit).await?;
    Ok(Json(EntryPage {
        entries: entries
            .into_iter()
            .map(|e| Entry {
                seq: e.seq,
                at: e.at,
                actor_kind: e.actor_kind,
                actor_label: e.actor_label,
                action: e.action,
                target_user_id: e.target_user_id,
                target_email: e.target_email,
                ip: e.ip,
                reason: e.reason,
                details: e.details,
            })
            .collect(),
        next_cursor: next.map(|n| n.to_string()),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    #[param(max_length = 320)]
    actor: Option<String>,
    #[param(max_length = 320)]
    target: Option<String>,
    #[param(max_length = 100)]
    action: Option<String>,
    #[param(pattern = "^([0-9]{4}-[0-9]{2}-[0-9]{2})?$")]
    from: Option<String>,
    #[param(pattern = "^([0-9]{4}-[0-9]{2}-[0-9]{2})?$")]
    to: Option<String>,
}

/// Export every matching entry as JSON Lines (one entry per line, newest first), streamed. The
/// export itself is recorded in the trail first.
#[utoipa::path(get, path = "/api/v1/audit/export", tag = "audit", params(ExportQuery),
    security(("api_key" = ["audit:read"])),
    responses((status = 200, description = "The entries, one JSON object per line",
               content_type = "application/x-ndjson", body = String)))]
pub async fn export(
    State(state): State<AppState>,
    caller: Authed,
    Params(q): Params<ExportQuery>,
) -> ApiResult<Response> {
    check_lengths(&q.actor, &q.target, &q.action)?;
    let filter = AuditFilter {
        actor: q.actor,
        target: q.target,
        action: q.action,
        from: q.from,
        to: q.to,
    };
    let plan = query::start_export(&state, &caller.actor(), &filter, "jsonl", &caller.meta).await?;
    Ok(export::stream(state, plan, Format::JsonLines))
}

/// Walk the whole hash chain.
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "audit",
    security(("api_key" = ["audit:read"])),
    responses((status = 200, description = "The chain's state", body = Verification)))]
pub async fn verify(State(state): State<AppState>) -> ApiResult<Json<Verification>> {
    Ok(Json(match query::verify_chain(&state).await? {
        ChainStatus::Intact { entries } => Verification {
            intact: true,
            entries: Some(entries),
            broken_at: None,
            problem: None,
        },
        ChainStatus::Broken { seq, problem } => Verification {
            intact: false,
            entries: None,
            broken_at: Some(seq),
            problem: Some(problem),
        },
    }))
}
