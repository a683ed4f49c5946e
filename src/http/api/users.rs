//! Users, their sessions and passwords, and bulk actions on many users at once.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::problem::{max_chars, ApiResult, Body, Params, Problem, Segment};
use super::shapes::{Criteria, RoleName};
use super::Authed;
use crate::domain::CohortActions;
use crate::features::{auth, incidents, security, users};
use crate::runtime::AppState;
use axum::extract::State;

#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatusFilter {
    Active,
    Compromised,
    ResetPending,
    Disabled,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    /// Prefix of the e-mail address or of the name (case-insensitive).
    #[param(max_length = 320)]
    q: Option<String>,
    status: Option<StatusFilter>,
    role: Option<RoleName>,
    /// `next_cursor` of the previous page.
    #[param(pattern = "^[0-9]{0,18}$")]
    cursor: Option<String>,
    /// Users per page, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
}

/// A user as lists show them. Times are Unix milliseconds (UTC).
#[derive(Debug, Serialize, ToSchema)]
pub struct UserSummary {
    id: i64,
    email: String,
    name: Option<String>,
    /// `admin` or `member`.
    role: String,
    /// `Active`, `Password compromised`, `Reset pending` or `Disabled`.
    status: String,
    created_at: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserPage {
    users: Vec<UserSummary>,
    /// Pass as `cursor` for the next page; absent on the last page.
    next_cursor: Option<String>,
}

/// A session (never its cookie).
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionOut {
    /// The session's public id: what ending it takes.
    key: String,
    browser: String,
    os: String,
    device_type: String,
    ip: Option<String>,
    location: Option<String>,
    created_at: i64,
    last_seen_at: i64,
    ended_at: Option<i64>,
    end_reason: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserOut {
    id: i64,
    email: String,
    name: Option<String>,
    role: String,
    status: String,
    created_at: i64,
    disabled_at: Option<i64>,
    password_set_at: i64,
    /// Whether the current password is set as compromised (by this user's or an instance-wide
    /// action).
    password_compromised: bool,
    live_sessions: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionList {
    live: Vec<SessionOut>,
    /// Ended in the last 30 days, newest first.
    ended: Vec<SessionOut>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Done {
    /// What was done, in words.
    result: String,
}

fn done(result: impl Into<String>) -> Json<Done> {
    Json(Done {
        result: result.into(),
    })
}

fn session_out(s: crate::features::devices::DeviceSession) -> SessionOut {
    SessionOut {
        key: s.key,
        browser: s.browser,
        os: s.os,
        device_type: s.device_type,
        ip: s.ip,
        location: s.location,
        created_at: s.created_at,
        last_seen_at: s.last_seen_at,
        ended_at: s.ended_at,
        end_reason: s.end_reason,
    }
}

/// 404 unless the user exists (the services answer a validation error instead).
async fn existing(state: &AppState, id: i64) -> ApiResult<()> {
    let mut conn = state.conn().await.map_err(crate::error::AppError::from)?;
    match crate::storage::users::find_by_id(&mut conn, id).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(Problem::not_found("user")),
        Err(e) => Err(crate::error::AppError::from(e).into()),
    }
}

/// List users (keyset pagination).
#[utoipa::path(get, path = "/api/v1/users", operation_id = "list_users", tag = "users", params(UserQuery),
    security(("api_key" = ["users:read"])),
    responses((status = 200, description = "A page of users in id order", body = UserPage)))]
pub async fn list(
    State(state): State<AppState>,
    Params(q): Params<UserQuery>,
) -> ApiResult<Json<UserPage>> {
    max_chars("q", q.q.as_deref(), 320)?;
    let after = match q.cursor.as_deref() {
        None | Some("") => 0,
        Some(c) => c
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| Problem::validation("cursor", "Not a cursor this API gave."))?,
    };
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(Problem::validation("limit", "Between 1 and 200."));
    }
    let status = q.status.map(|s| {
        match s {
            StatusFilter::Active => "active",
            StatusFilter::Compromised => "compromised",
            StatusFilter::ResetPending => "reset_pending",
            StatusFilter::Disabled => "disabled",
        }
        .to_owned()
    });
    let role = q.role.map(|r| r.role().as_str().to_owned());
    let page = users::service::list_page(&state, q.q, status, role, after, limit).await?;
    Ok(Json(UserPage {
        users: page
            .users
            .into_iter()
            .map(|u| UserSummary {
                id: u.id,
                email: u.email,
                name: u.name,
                role: u.role,
                status: u.status,
                created_at: u.created_at,
            })
            .collect(),
        next_cursor: page.next_after.map(|n| n.to_string()),
    }))
}

/// Get one user.
#[utoipa::path(get, path = "/api/v1/users/{id}", operation_id = "get_user", tag = "users",
    params(("id" = i64, Path, description = "User id")),
    security(("api_key" = ["users:read"])),
    responses((status = 200, description = "The user", body = UserOut)))]
pub async fn get_one(
    State(state): State<AppState>,
    Segment(id): Segment<i64>,
) -> ApiResult<Json<UserOut>> {
    existing(&state, id).await?;
    let d = users::service::details(&state, None, id).await?;
    Ok(Json(UserOut {
        id: d.id,
        email: d.email,
        name: d.name,
        role: d.role,
        status: d.status,
        created_at: d.created_at,
        disabled_at: d.disabled_at,
        password_set_at: d.password.set_at,
        password_compromised: d.password.compromised.is_some(),
        live_sessions: d.sessions.len(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    #[schema(max_length = 320)]
    email: String,
    /// Checked against the password policy (length, common passwords).
    #[schema(min_length = 8, max_length = 256)]
    password: String,
    role: Option<RoleName>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Created {
    id: i64,
}

/// Create a user.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = NewUser,
    security(("api_key" = ["users:write"])),
    responses((status = 201, description = "Created", body = Created)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Authed,
    Body(body): Body<NewUser>,
) -> ApiResult<Response> {
    let role = body.role.unwrap_or(RoleName::Member).role();
    let id = auth::service::create_user(
        &state,
        &body.email,
        SecretString::from(body.password),
        role,
        Some(caller.actor()),
        &caller.meta,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(Created { id })).into_response())
}

async fn set_disabled(state: &AppState, caller: &Authed, id: i64, disabled: bool) -> ApiResult<()> {
    existing(state, id).await?;
    users::service::set_disabled(state, &caller.actor(), id, disabled, &caller.meta).await?;
    Ok(())
}

/// Disable a user (every session ends).
#[utoipa::path(post, path = "/api/v1/users/{id}/disable", tag = "users",
    params(("id" = i64, Path, description = "User id")),
    security(("api_key" = ["users:write"])),
    responses((status = 200, description = "Disabled", body = Done)))]
pub async fn disable(
    State(state): State<AppState>,
    caller: Authed,
    Segment(id): Segment<i64>,
) -> ApiResult<Json<Done>> {
    set_disabled(&state, &caller, id, true).await?;
    Ok(done("disabled"))
}

/// Enable a disabled user.
#[utoipa::path(post, path = "/api/v1/users/{id}/enable", tag = "users",
    params(("id" = i64, Path, description = "User id")),
    security(("api_key" = ["users:write"])),
    responses((status = 200, description = "Enabled", body = Done)))]
pub async fn enable(
    State(state): State<AppState>,
    caller: Authed,
    Segment(id): Segment<i64>,
) -> ApiResult<Json<Done>> {
    set_disabled(&state, &caller, id, false).await?;
    Ok(done("enabled"))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleChange {
    role: RoleName,
}

/// Set a user's role (the last enabled administrator stays one).
#[utoipa::path(post, path = "/api/v1/users/{id}/role", tag = "users", request_body = RoleChange,
    params(("id" = i64, Path, description = "User id")),
    security(("api_key" = ["users:write"])),
    responses((status = 200, description = "Role set", body = Done)))]
pub async fn set_role(
    State(state): State<AppState>,
    caller: Authed,
    Segment(id): Segment<i64>,
    Body(body): Body<RoleChange>,
) -> ApiResult<Json<Done>> {
    existing(&state, id).await?;
    let role = body.role.role();
    users::service::set_role(&state, &caller.actor(), id, role, &caller.meta).await?;
    Ok(done(format!("role is {}", role.as_str())))
}

/// A user's sessions: live ones, and those ended in the last 30 days.
#[utoipa::path(get, path = "/api/v1/users/{id}/sessions", tag = "sessions",
    params(("id" = i64, Path, description = "User id")),
    security(("api_key" = ["sessions:read"])),
    responses((status = 200, description = "Sessions", body = SessionList)))]
pub async fn sessions(
    State(state): State<AppState>,
    Segment(id): Segment<i64>,
) -> ApiResult<Json<SessionList>> {
    existing(&state, id).await?;
    let d = users::service::details(&state, None, id).await?;
    Ok(Json(SessionList {
        live: d.sessions.into_iter().map(session_out).collect(),
        ended: d.ended_sessions.into_iter().map(session_out).collect(),
    }))
}

/// End every session of a user.
#[utoipa::path(delete, path = "/api/v1/users/{id}/sessions", tag = "sessions",
    params(("id" = i64, Path, description = "User id")),
    security(("api_key" = ["sessions:write"])),
    responses((status = 200, description = "Signed out", body = Done)))]
pub async fn end_all_sessions(
    State(state): State<AppState>,
    caller: Authed,
    Segment(id): Segment<i64>,
) -> ApiResult<Json<Done>> {
    existing(&state, id).await?;
    users::service::sign_out_all(&state, &caller.actor(), id, &caller.meta).await?;
    Ok(done("every session ended"))
}

/// End one session of a user.
#[utoipa::path(delete, path = "/api/v1/users/{id}/sessions/{session}", tag = "sessions",
    params(("id" = i64, Path, description = "User id"),
           ("session" = String, Path, description = "The session's public id (`key`)")),
    security(("api_key" = ["sessions:write"])),
    responses((status = 200, description = "Signed out", body = Done)))]
pub async fn end_session(
    State(state): State<AppState>,
    caller: Authed,
    Segment((id, session)): Segment<(i64, String)>,
) -> ApiResult<Json<Done>> {
    existing(&state, id).await?;
    users::service::revoke_one(&state, &caller.actor(), id, &session, &caller.meta).await?;
    Ok(done("session ended"))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Compromise {
    /// Why (kept in the audit trail), 3–500 characters.
    #[schema(min_length = 3, max_length = 500)]
    reason: String,
    /// Also end every session now (otherwise live sessions are restricted to the reset task).
    #[serde(default)]
    sign_out: bool,
}

/// Set a user's password as compromised.
#[utoipa::path(post, path = "/api/v1/users/{id}/password/compromise", tag = "users",
    request_body = Compromise,
    params(("id" = i64, Path, description = "User id")),
    security(("api_key" = ["users:write"])),
    responses((status = 200, description = "Compromised", body = Done)))]
pub async fn compromise_password(
    State(state): State<AppState>,
    caller: Authed,
    Segment(id): Segment<i64>,
    Body(body): Body<Compromise>,
) -> ApiResult<Json<Done>> {
    existing(&state, id).await?;
    users::service::compromise(
        &state,
        &caller.actor(),
        id,
        &body.reason,
        body.sign_out,
        &caller.meta,
    )
    .await?;
    Ok(done(if body.sign_out {
        "password compromised, every session ended"
    } else {
        "password compromised, live sessions restricted to the reset"
    }))
}

/// Send a user a password-reset e-mail.
#[utoipa::path(post, path = "/api/v1/users/{id}/password/reset-email", tag = "users",
    params(("id" = i64, Path, description = "User id")),
    security(("api_key" = ["users:write"])),
    responses((status = 200, description = "Queued", body = Done)))]
pub async fn send_reset(
    State(state): State<AppState>,
    caller: Authed,
    Segment(id): Segment<i64>,
) -> ApiResult<Json<Done>> {
    existing(&state, id).await?;
    users::service::send_reset(&state, &caller.actor(), id, &caller.meta).await?;
    Ok(done("reset e-mail queued"))
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum BulkAction {
    /// Set passwords compromised (live sessions restricted to the reset task).
    CompromisePassword,
    /// Set passwords compromised and end every session.
    CompromiseAndSignOut,
    /// End every session (force re-authentication, no reset).
    SignOut,
    /// Queue the incident notice (needs `incident`).
    Notify,
}

/// Whom a bulk action is for: `"all"`, or an object with a `filter` (the cohort criteria), or
/// lists of `ids` and/or `emails`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Target {
    All(AllUsers),
    Some(Box<Selection>),
}

/// `"all"`, or a [`Selection`] (documented by hand: an untagged enum of a string and an object).
fn target_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
    OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(["all"])),
        )
        .item(utoipa::openapi::Ref::from_schema_name("Selection"))
        .description(Some("\"all\", or a filter and/or lists of ids and e-mails"))
        .build()
        .into()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AllUsers {
    All,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Selection {
    /// Cohort criteria, as `POST /api/v1/incidents/{reference}/cohorts` takes them.
    #[serde(default)]
    filter: Option<Criteria>,
    /// User ids, at most 100 000.
    #[serde(default)]
    #[schema(max_items = 100000)]
    ids: Vec<i64>,
    /// E-mail addresses, at most 100 000.
    #[serde(default)]
    #[schema(max_items = 100000)]
    emails: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRequest {
    action: BulkAction,
    #[schema(schema_with = target_schema)]
    target: Target,
    /// Why (kept in the audit trail), 3–500 characters.
    #[schema(min_length = 3, max_length = 500)]
    reason: String,
    /// The incident this is part of (its reference, e.g. `KW-2026-0007`). Required for a filter
    /// or a list (the frozen cohort and its job belong to it); optional with `"all"`.
    incident: Option<String>,
    /// Refuse the whole call when any listed id or address is unknown (default: report them).
    #[serde(default)]
    strict: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BulkDone {
    /// What was done, in words.
    result: String,
    /// The watermark written (Unix ms): every password set before it, or every session started
    /// before it, is affected.
    at: i64,
}

/// Act on many users in one call: everyone (O(1), answered at once), or a filter or a list (a
/// frozen cohort and a background job, answered 202 with the job's URL).
#[utoipa::path(post, path = "/api/v1/users/actions", tag = "users", request_body = BulkRequest,
    security(("api_key" = ["incident:write"])),
    responses((status = 200, description = "Done at once (target \"all\")", body = BulkDone),
              (status = 202, description = "Cohort frozen; its job runs in the background", body = super::shapes::Accepted)))]
pub async fn bulk(
    State(state): State<AppState>,
    caller: Authed,
    Body(body): Body<BulkRequest>,
) -> ApiResult<Response> {
    let mut meta = caller.meta.clone();
    if let Some(reference) = body.incident.as_deref() {
        meta.incident = Some(incidents::service::attachable(&state, reference).await?);
    }
    let actor = caller.actor();
    match body.target {
        Target::All(AllUsers::All) => {
            let (at, result) = match body.action {
                BulkAction::CompromisePassword | BulkAction::CompromiseAndSignOut => {
                    let sign_out = body.action == BulkAction::CompromiseAndSignOut;
                    let at = security::service::compromise_all(
                        &state,
                        &actor,
                        sign_out,
                        &body.reason,
                        &meta,
                    )
                    .await?;
                    (at, "every password set as compromised")
                }
                BulkAction::SignOut => {
                    let at =
                        security::service::sign_out_everyone(&state, &actor, &body.reason, &meta)
                            .await?;
                    (at, "everyone signed out")
                }
                BulkAction::Notify => {
                    return Err(Problem::validation(
                        "target",
                        "The incident notice goes to a cohort: give a filter or a list.",
                    ))
                }
            };
            Ok(Json(BulkDone {
                result: result.into(),
                at,
            })
            .into_response())
        }
        Target::Some(selection) => {
            let selection = *selection;
            let Some(reference) = body.incident.as_deref() else {
                return Err(Problem::validation(
                    "incident",
                    "A filter or a list becomes a cohort of an incident: give its reference (open one with POST /api/v1/incidents).",
                ));
            };
            let mut criteria = selection.filter.unwrap_or_default().into_domain();
            criteria.emails.extend(selection.emails);
            criteria.user_ids.extend(selection.ids);
            let actions = match body.action {
                BulkAction::CompromisePassword => CohortActions {
                    compromise: true,
                    sign_out: false,
                    notify: false,
                },
                BulkAction::CompromiseAndSignOut => CohortActions {
                    compromise: true,
                    sign_out: true,
                    notify: false,
                },
                BulkAction::SignOut => CohortActions {
                    compromise: false,
                    sign_out: true,
                    notify: false,
                },
                BulkAction::Notify => CohortActions {
                    compromise: false,
                    sign_out: false,
                    notify: true,
                },
            };
            let applied = incidents::cohort::apply_checked(
                &state,
                &actor,
                reference,
                &criteria,
                actions,
                &body.reason,
                body.strict,
                &caller.meta,
            )
            .await?;
            let row = incidents::service::find(&state, reference).await?;
            Ok(super::shapes::accepted(&row.reference, applied))
        }
    }
}
