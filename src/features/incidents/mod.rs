//! Incidents: a record of one response (severity, the reference users are told, detection time),
//! the cohorts of affected users it contains (previewed, then frozen and acted on by a durable
//! job: containment first, then the notice), and the timeline of what was done.
//!
//! Built so far: the record, cohorts and their job, the command line. Not yet: the console pages,
//! the banner, temporary tightening, the dashboard and the evidence bundle (issue 12).

#[cfg(feature = "ssr")]
pub mod cohort;
#[cfg(feature = "ssr")]
pub mod job;
#[cfg(feature = "ssr")]
pub mod service;
pub mod types;

pub use types::{CohortPreview, CohortView, IncidentView};
