//! The data the server functions exchange with the pages (isomorphic).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecuritySettings {
    pub reset_task_enabled: bool,
    pub password_min_length: i64,
    pub session_idle_timeout_minutes: i64,
    pub session_absolute_lifetime_hours: i64,
    pub passwords_compromised_before: Option<i64>,
    pub passwords_compromised_by: Option<String>,
    pub passwords_compromised_reason: Option<String>,
    pub sessions_revoked_before: Option<i64>,
    pub sessions_revoked_by: Option<String>,
    pub sessions_revoked_reason: Option<String>,
    pub new_device_alerts: bool,
    pub alert_on_new_country: bool,
    pub device_alert_path: String,
    /// Whether a GeoIP database is configured (locations and new-country alerts need one).
    pub geoip_enabled: bool,
    /// What open incidents tighten now, in words (the settings above stay as saved and apply
    /// again when those incidents close).
    pub tightening_in_force: Vec<String>,
}

/// What an instance-wide action touches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Impact {
    pub users_with_password: i64,
    pub live_sessions: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityOverview {
    pub settings: SecuritySettings,
    pub impact: Impact,
    /// Whether the admin must type their password again (no proof in the last 5 minutes).
    pub step_up_needed: bool,
}

pub const COMPROMISE_ALL_PHRASE: &str = "COMPROMISE ALL PASSWORDS";

pub const SIGN_OUT_ALL_PHRASE: &str = "SIGN OUT EVERYONE";
