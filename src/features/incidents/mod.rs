//! Incidents: a record of one response (severity, the reference users are told, detection time),
//! the cohorts of affected users it contains (previewed, then frozen and acted on by a durable
//! job: containment first, then the notice), and the timeline of what was done.
//!
//! Built so far: the record, cohorts and their job, the command line, the console pages with the
//! remediation figures. The evidence bundle (`bundle`). Not yet: the in-app banner and temporary tightening.

pub mod api;
#[cfg(feature = "ssr")]
pub mod bundle;
#[cfg(feature = "ssr")]
pub mod cohort;
#[cfg(feature = "ssr")]
pub mod dashboard;
#[cfg(feature = "ssr")]
pub mod download;
#[cfg(feature = "ssr")]
pub mod job;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod service;
pub mod types;

pub use api::*;
pub use types::{
    CohortPreview, CohortView, IncidentBannerView, IncidentPageData, IncidentRecord, IncidentView,
    Kpis, PreviewResult, TimelineItem,
};
