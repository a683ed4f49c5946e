//! What pages and the command line show of incidents and cohorts.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentView {
    pub id: i64,
    pub reference: String,
    pub title: String,
    pub severity: String,
    pub description: String,
    pub notice: String,
    pub state: String,
    pub opened_by: String,
    pub opened_at: i64,
    pub detected_at: i64,
    pub contained_at: Option<i64>,
    pub closed_at: Option<i64>,
}

/// What applying a cohort would take, computed from the data as it is now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CohortPreview {
    pub count: i64,
    /// The first matches (by id): (id, e-mail).
    pub first: Vec<(i64, String)>,
    pub with_live_sessions: i64,
    pub admins: i64,
    /// Listed addresses no account has.
    pub unknown_emails: Vec<String>,
}

/// A frozen cohort and its job's progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CohortView {
    pub id: i64,
    pub actions: String,
    pub size: i64,
    pub ids_sha256: String,
    pub state: String,
    pub contained: i64,
    pub notified: i64,
    pub created_at: i64,
    pub contained_at: Option<i64>,
    pub finished_at: Option<i64>,
}
