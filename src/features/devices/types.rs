//! The data the server functions exchange with the pages (isomorphic).

use serde::{Deserialize, Serialize};

/// One session as the Devices pages show it (the user's and the admin's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceSession {
    /// The session's public id (never the cookie).
    pub key: String,
    pub browser: String,
    pub os: String,
    pub device_type: String,
    pub ip: Option<String>,
    pub location: Option<String>,
    pub created_at: i64,
    pub last_seen_at: i64,
    /// The session this request came with.
    pub current: bool,
    pub ended_at: Option<i64>,
    /// Why it ended, in words.
    pub end_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MyDevices {
    pub active: Vec<DeviceSession>,
    /// Ended in the last 30 days, newest first.
    pub ended: Vec<DeviceSession>,
    /// The last proof of the password is older than 10 minutes: ending sessions asks for it.
    pub step_up_needed: bool,
}

/// What a "This wasn't me" link leads to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AlertLink {
    Valid {
        session: DeviceSession,
        /// Whether the session is still signed in.
        active: bool,
    },
    Used,
    Expired,
    Unknown,
}

/// The outcome of pressing "Sign out that device".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotMeOutcome {
    /// Live sessions ended: the device's (0 when they had already ended), or the account's.
    pub sessions_ended: i64,
    pub signed_out_everywhere: bool,
    pub password_compromised: bool,
}
