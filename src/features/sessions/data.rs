//! What a signed-in session carries in its data, and how its ids are made and stored.

use serde::{Deserialize, Serialize};
use tower_sessions::session::Id;

use crate::runtime::token;

/// The session key under which [`SessionAuth`] is kept.
pub const AUTH_KEY: &str = "auth";

/// What a signed-in session knows about its user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionAuth {
    pub user_id: i64,
    /// The session's public id: what pages, admin actions and alert links refer to (the
    /// cookie's id is a secret and only its hash is stored).
    #[serde(default)]
    pub key: String,
    /// When this session was issued: compared with the session watermarks.
    pub issued_at: i64,
    /// When the user last proved their password (for step-up checks).
    pub authenticated_at: i64,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// SHA-256 of the browser's device cookie.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// Approximate location ("Lyon, France") when a GeoIP database is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Present while the session is restricted to the reset-password task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<ResetTask>,
    /// The compromise (its time) this session may continue past without the reset task: set for
    /// the administrator who set their own password as compromised, so the console keeps working
    /// in the middle of an incident. A later compromise restricts it like any other.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continues_past_compromise: Option<i64>,
}

/// The reset-password task of a restricted session.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ResetTask {
    /// Set once this session proved control of the account's e-mail with the code.
    pub email_verified: bool,
}

/// A new public session id: 128 random bits, hex.
pub fn new_session_key() -> String {
    token::random_hex(16)
}

/// The id is a bearer secret: only its SHA-256 is stored.
pub fn hash_session_id(id: &Id) -> String {
    token::hash(id.0.to_le_bytes())
}
