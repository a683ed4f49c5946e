//! Incidents and their cohorts: open, read, close; preview a cohort, freeze it (a background
//! job contains, then notifies it), follow and cancel the job.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::problem::{ApiResult, Body, Problem, Segment};
use super::shapes::{accepted, Accepted, Criteria};
use super::Authed;
use crate::domain::CohortActions;
use crate::features::incidents::{self, CohortView, IncidentView};
use crate::runtime::AppState;

/// Incidents as the API shows them. Times are Unix milliseconds (UTC).
#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentOut {
    id: i64,
    /// The reference users see, e.g. `KW-2026-0007`.
    reference: String,
    title: String,
    /// `low`, `medium`, `high` or `critical`.
    severity: String,
    description: String,
    /// What affected users are told.
    notice: String,
    /// `open`, `contained` or `closed`.
    state: String,
    opened_by: String,
    opened_at: i64,
    detected_at: i64,
    contained_at: Option<i64>,
    closed_at: Option<i64>,
}

fn incident_out(v: IncidentView) -> IncidentOut {
    IncidentOut {
        id: v.id,
        reference: v.reference,
        title: v.title,
        severity: v.severity,
        description: v.description,
        notice: v.notice,
        state: v.state,
        opened_by: v.opened_by,
        opened_at: v.opened_at,
        detected_at: v.detected_at,
        contained_at: v.contained_at,
        closed_at: v.closed_at,
    }
}

/// A frozen cohort and its job's progress.
#[derive(Debug, Serialize, ToSchema)]
pub struct CohortOut {
    id: i64,
    /// The actions, in words.
    actions: String,
    size: i64,
    /// SHA-256 of the sorted member ids, one per line (as the audit entry records it).
    ids_sha256: String,
    /// `running`, `done` or `cancelled`.
    state: String,
    /// Members whose sessions are already invalid.
    contained: i64,
    /// Members whose notice is queued.
    notified: i64,
    created_at: i64,
    contained_at: Option<i64>,
    finished_at: Option<i64>,
}

fn cohort_out(c: CohortView) -> CohortOut {
    CohortOut {
        id: c.id,
        actions: c.actions,
        size: c.size,
        ids_sha256: c.ids_sha256,
        state: c.state,
        contained: c.contained,
        notified: c.notified,
        created_at: c.created_at,
        contained_at: c.contained_at,
        finished_at: c.finished_at,
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentDetail {
    incident: IncidentOut,
    cohorts: Vec<CohortOut>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentList {
    incidents: Vec<IncidentOut>,
}

/// The incident a reference names, or 404.
async fn found(state: &AppState, reference: &str) -> ApiResult<(IncidentView, Vec<CohortView>)> {
    incidents::service::status(state, reference)
        .await
        .map_err(|e| match e {
            crate::error::AppError::Field { .. } => {
                Problem::new("not-found", format!("No incident {reference}."))
            }
            other => other.into(),
        })
}

/// List incidents, newest first.
#[utoipa::path(get, path = "/api/v1/incidents", operation_id = "list_incidents", tag = "incidents",
    security(("api_key" = ["incident:read"])),
    responses((status = 200, description = "Incidents", body = IncidentList)))]
pub async fn list(State(state): State<AppState>) -> ApiResult<Json<IncidentList>> {
    let all = incidents::service::list(&state).await?;
    Ok(Json(IncidentList {
        incidents: all.into_iter().map(incident_out).collect(),
    }))
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SeverityName {
    Low,
    Medium,
    High,
    Critical,
}

impl SeverityName {
    fn as_str(self) -> &'static str {
        match self {
            SeverityName::Low => "low",
            SeverityName::Medium => "medium",
            SeverityName::High => "high",
            SeverityName::Critical => "critical",
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewIncident {
    #[schema(min_length = 1, max_length = 200)]
    title: String,
    /// `medium` without it.
    severity: Option<SeverityName>,
    #[serde(default)]
    #[schema(max_length = 10000)]
    description: String,
    /// What happened and what to do, in words for the affected users.
    #[serde(default)]
    #[schema(max_length = 4000)]
    notice: String,
    /// When the compromise was detected (Unix ms); now without it.
    detected_at: Option<i64>,
}

/// Open an incident.
#[utoipa::path(post, path = "/api/v1/incidents", operation_id = "open_incident", tag = "incidents", request_body = NewIncident,
    security(("api_key" = ["incident:write"])),
    responses((status = 201, description = "Opened", body = IncidentOut)))]
pub async fn open(
    State(state): State<AppState>,
    caller: Authed,
    Body(body): Body<NewIncident>,
) -> ApiResult<Response> {
    let view = incidents::service::open(
        &state,
        &caller.actor(),
        &incidents::service::OpenIncident {
            title: &body.title,
            severity: body.severity.map_or("medium", SeverityName::as_str),
            description: &body.description,
            notice: &body.notice,
            detected_at: body.detected_at,
        },
        &caller.meta,
    )
    .await?;
    let location = format!("/api/v1/incidents/{}", view.reference);
    let mut response = (StatusCode::CREATED, Json(incident_out(view))).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

/// Get an incident and its cohorts.
#[utoipa::path(get, path = "/api/v1/incidents/{reference}", operation_id = "get_incident", tag = "incidents",
    params(("reference" = String, Path, description = "e.g. KW-2026-0007, or the numeric id")),
    security(("api_key" = ["incident:read"])),
    responses((status = 200, description = "The incident", body = IncidentDetail)))]
pub async fn get_one(
    State(state): State<AppState>,
    Segment(reference): Segment<String>,
) -> ApiResult<Json<IncidentDetail>> {
    let (incident, cohorts) = found(&state, &reference).await?;
    Ok(Json(IncidentDetail {
        incident: incident_out(incident),
        cohorts: cohorts.into_iter().map(cohort_out).collect(),
    }))
}

/// Close an incident (its temporary tightening reverts).
#[utoipa::path(post, path = "/api/v1/incidents/{reference}/close", operation_id = "close_incident", tag = "incidents",
    params(("reference" = String, Path, description = "e.g. KW-2026-0007, or the numeric id")),
    security(("api_key" = ["incident:write"])),
    responses((status = 200, description = "Closed", body = IncidentOut)))]
pub async fn close(
    State(state): State<AppState>,
    caller: Authed,
    Segment(reference): Segment<String>,
) -> ApiResult<Json<IncidentOut>> {
    found(&state, &reference).await?;
    let view = incidents::service::close(&state, &caller.actor(), &reference, &caller.meta).await?;
    Ok(Json(incident_out(view)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Match {
    id: i64,
    email: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Preview {
    /// Exactly how many users the criteria take now.
    count: i64,
    /// The first 20 matches by id.
    first: Vec<Match>,
    with_live_sessions: i64,
    admins: i64,
    unknown_emails: Vec<String>,
    unknown_ids: Vec<i64>,
}

/// Preview a cohort (a dry run: nothing changes).
#[utoipa::path(post, path = "/api/v1/incidents/{reference}/cohorts/preview", tag = "incidents",
    request_body = Criteria,
    params(("reference" = String, Path, description = "e.g. KW-2026-0007, or the numeric id")),
    security(("api_key" = ["incident:read"])),
    responses((status = 200, description = "What applying would take", body = Preview)))]
pub async fn preview(
    State(state): State<AppState>,
    Segment(reference): Segment<String>,
    Body(body): Body<Criteria>,
) -> ApiResult<Json<Preview>> {
    found(&state, &reference).await?;
    let p = incidents::cohort::preview(&state, &body.into_domain()).await?;
    Ok(Json(Preview {
        count: p.count,
        first: p
            .first
            .into_iter()
            .map(|(id, email)| Match { id, email })
            .collect(),
        with_live_sessions: p.with_live_sessions,
        admins: p.admins,
        unknown_emails: p.unknown_emails,
        unknown_ids: p.unknown_ids,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Apply {
    criteria: Criteria,
    /// Set passwords compromised (live sessions restricted to the reset task).
    #[serde(default)]
    compromise: bool,
    /// End every session (alone: force re-authentication without a reset).
    #[serde(default)]
    sign_out: bool,
    /// Queue the incident notice (after containment).
    #[serde(default)]
    notify: bool,
    /// Why (kept in the audit trail), 3–500 characters.
    #[schema(min_length = 3, max_length = 500)]
    reason: String,
    /// Refuse when a listed address or id is unknown (default: report them).
    #[serde(default)]
    strict: bool,
}

/// Freeze a cohort and start its job (contain first, then notify).
#[utoipa::path(post, path = "/api/v1/incidents/{reference}/cohorts", tag = "incidents",
    request_body = Apply,
    params(("reference" = String, Path, description = "e.g. KW-2026-0007, or the numeric id")),
    security(("api_key" = ["incident:write"])),
    responses((status = 202, description = "Frozen; the job runs in the background", body = Accepted)))]
pub async fn apply(
    State(state): State<AppState>,
    caller: Authed,
    Segment(reference): Segment<String>,
    Body(body): Body<Apply>,
) -> ApiResult<Response> {
    let (incident, _) = found(&state, &reference).await?;
    let actions = CohortActions {
        compromise: body.compromise,
        sign_out: body.sign_out,
        notify: body.notify,
    };
    let applied = incidents::cohort::apply_checked(
        &state,
        &caller.actor(),
        &incident.reference,
        &body.criteria.into_domain(),
        actions,
        &body.reason,
        body.strict,
        &caller.meta,
    )
    .await?;
    Ok(accepted(&incident.reference, applied))
}

/// The cohort of this incident, or 404.
async fn cohort_of(state: &AppState, reference: &str, cohort: i64) -> ApiResult<CohortView> {
    let (_, cohorts) = found(state, reference).await?;
    cohorts
        .into_iter()
        .find(|c| c.id == cohort)
        .ok_or_else(|| Problem::not_found("cohort in this incident"))
}

/// A cohort job's progress.
#[utoipa::path(get, path = "/api/v1/incidents/{reference}/cohorts/{cohort}", tag = "incidents",
    params(("reference" = String, Path, description = "e.g. KW-2026-0007, or the numeric id"),
           ("cohort" = i64, Path, description = "Cohort id")),
    security(("api_key" = ["incident:read"])),
    responses((status = 200, description = "Progress", body = CohortOut)))]
pub async fn cohort(
    State(state): State<AppState>,
    Segment((reference, cohort)): Segment<(String, i64)>,
) -> ApiResult<Json<CohortOut>> {
    Ok(Json(cohort_out(
        cohort_of(&state, &reference, cohort).await?,
    )))
}

/// Cancel a cohort job (batches already done stay done).
#[utoipa::path(post, path = "/api/v1/incidents/{reference}/cohorts/{cohort}/cancel", tag = "incidents",
    params(("reference" = String, Path, description = "e.g. KW-2026-0007, or the numeric id"),
           ("cohort" = i64, Path, description = "Cohort id")),
    security(("api_key" = ["incident:write"])),
    responses((status = 200, description = "Cancelled", body = CohortOut)))]
pub async fn cancel(
    State(state): State<AppState>,
    caller: Authed,
    Segment((reference, cohort)): Segment<(String, i64)>,
) -> ApiResult<Json<CohortOut>> {
    cohort_of(&state, &reference, cohort).await?;
    incidents::job::cancel(&state, &caller.actor(), cohort, &caller.meta).await?;
    Ok(Json(cohort_out(
        cohort_of(&state, &reference, cohort).await?,
    )))
}
