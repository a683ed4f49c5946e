//! What several groups of operations share: a role, the cohort criteria, and the answer to a
//! frozen cohort.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::{CohortCriteria, Role, Window};
use crate::features::incidents;

#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoleName {
    Admin,
    Member,
}

impl RoleName {
    pub fn role(self) -> Role {
        match self {
            RoleName::Admin => Role::Admin,
            RoleName::Member => Role::Member,
        }
    }
}

/// A time window, Unix milliseconds.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowIn {
    from: i64,
    to: i64,
}

/// Who is affected. Every criterion given must hold.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Criteria {
    role: Option<RoleName>,
    created_before: Option<i64>,
    created_after: Option<i64>,
    /// Signed in within this window.
    signed_in: Option<WindowIn>,
    /// Signed in from a device first seen within this window.
    new_device: Option<WindowIn>,
    /// Signed in from this address range (CIDR), within `signed_in` when given.
    ip_range: Option<String>,
    /// Signed in from this country (ISO 3166-1 alpha-2; needs a GeoIP database).
    country: Option<String>,
    /// Password set or reset within this window.
    password_set: Option<WindowIn>,
    /// Only these addresses (at most 100 000).
    #[serde(default)]
    #[schema(max_items = 100000)]
    emails: Vec<String>,
    /// Only these user ids (at most 100 000).
    #[serde(default)]
    #[schema(max_items = 100000)]
    ids: Vec<i64>,
}

impl Criteria {
    pub fn into_domain(self) -> CohortCriteria {
        let window = |w: Option<WindowIn>| {
            w.map(|w| Window {
                from: w.from,
                to: w.to,
            })
        };
        CohortCriteria {
            role: self.role.map(|r| r.role().as_str().to_owned()),
            created_before: self.created_before,
            created_after: self.created_after,
            signed_in: window(self.signed_in),
            new_device: window(self.new_device),
            ip_range: self.ip_range,
            country: self.country,
            password_set: window(self.password_set),
            emails: self.emails,
            user_ids: self.ids,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    /// Follow this for progress.
    job: String,
    cohort: i64,
    size: i64,
    unknown_ids: Vec<i64>,
    unknown_emails: Vec<String>,
}

/// The answer to a frozen cohort: 202 with its job's URL (also in `Location`).
pub fn accepted(reference: &str, applied: incidents::cohort::Applied) -> Response {
    let job = format!(
        "/api/v1/incidents/{reference}/cohorts/{}",
        applied.cohort_id
    );
    let mut response = (
        StatusCode::ACCEPTED,
        Json(Accepted {
            job: job.clone(),
            cohort: applied.cohort_id,
            size: applied.size,
            unknown_ids: applied.unknown_ids,
            unknown_emails: applied.unknown_emails,
        }),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&job) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}
