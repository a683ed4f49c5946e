//! Isomorphic domain types: parsed once at the edge, trusted everywhere after.
//! They compile for wasm too, so a form shows the same message the server enforces.

mod api_key;
mod application;
mod audit_action;
mod email;
mod end_reason;
mod incident;
mod password;
mod role;
pub mod time;
mod viewer;

pub use api_key::{
    check_key_name, looks_like_key, parse_lifetime, parse_scopes, scopes_text, ApiScope,
    KEY_HEX_LEN, KEY_PREFIX, MAX_KEY_LIFETIME_DAYS,
};
pub use application::{host_of, ApplicationInput, HostPattern};
pub use audit_action::AuditAction;
pub use email::{Email, EmailError};
pub use end_reason::EndReason;
pub use incident::{
    cidr_contains, emails_from_text, incident_reference, parse_cidr, parse_incident_reference,
    CohortActions, CohortCriteria, IncidentState, Severity, Tightening, Window, MAX_COHORT_EMAILS,
};
#[cfg(feature = "ssr")]
pub use password::check_common_password;
pub use password::{
    NewPassword, PasswordError, PasswordPolicy, MAX_LENGTH, MIN_LENGTH_FLOOR, STRENGTH_CHECK_CHARS,
};
pub use role::Role;
pub use viewer::{needs_sign_in, sign_in_url, Actor, RequestMeta, Viewer};

/// Where "This wasn't me" links point unless an administrator chose another path.
pub const DEFAULT_ALERT_PATH: &str = "/unauthorized-sign-in";
