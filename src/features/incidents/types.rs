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
    /// The temporary tightening it applies while not closed (kept as a record after).
    pub tightening: crate::domain::Tightening,
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
    /// Listed ids no account has.
    #[serde(default)]
    pub unknown_ids: Vec<i64>,
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

/// One entry of an incident's timeline (its attached audit entries).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineItem {
    pub seq: i64,
    pub at: i64,
    pub actor: String,
    /// Words for the action; the stored code stays available beside it.
    pub label: String,
    pub code: String,
    pub summary: String,
}

/// The remediation figures, each computed from recorded facts: cohort member lists, user rows
/// (`password_set_at`), the outbox and the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kpis {
    /// Distinct users in the incident's cohorts (cancelled ones included: they were acted on).
    pub members: i64,
    /// Sessions the cohort jobs ended.
    pub sessions_ended: i64,
    /// From detection to containment of every cohort, when reached.
    pub mttr_ms: Option<i64>,
    /// Members whose password was set as compromised by a cohort.
    pub compromised_members: i64,
    /// Of those, how many have chosen a new password since.
    pub reset_completed: i64,
    /// (hour start, members who had completed the reset by the end of that hour), from the
    /// first cohort on, at most 72 hours.
    pub completion_by_hour: Vec<(i64, i64)>,
    pub notices_sent: i64,
    pub notices_failed: i64,
    pub notices_pending: i64,
    /// "This wasn't me" reports since the incident was opened (whole instance).
    pub not_me_reports: i64,
    /// Sign-ins stopped by containment since opening (sent to the reset task, or blocked).
    pub refused_sign_ins: i64,
}

/// The incident page's record part: read once per load and after an apply or a close (the
/// figures, which cost more, are read apart, every second while a job runs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentRecord {
    pub incident: IncidentView,
    pub step_up_needed: bool,
}

/// Everything the incident page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentPageData {
    pub incident: IncidentView,
    pub cohorts: Vec<CohortView>,
    pub timeline: Vec<TimelineItem>,
    pub kpis: Kpis,
    /// Milliseconds since the Unix epoch when this was read (progress rates and ETAs).
    pub now: i64,
}

/// The in-app banner an affected user sees until they complete the reset or dismiss it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentBannerView {
    pub incident_id: i64,
    pub reference: String,
    pub title: String,
    pub what_happened: String,
    pub what_to_do: String,
}

/// A preview as the console shows it, with the criteria fields it was computed from (the apply
/// form sends exactly these).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviewResult {
    pub preview: CohortPreview,
    pub fields: Vec<(String, String)>,
}
