//! What the Applications page shows and sends.

use serde::{Deserialize, Serialize};

/// One application as the admin page lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplicationView {
    pub id: i64,
    pub name: String,
    /// `app.example.com` or `*.example.com`.
    pub host: String,
    /// Role names that may enter ("admin", "member").
    pub roles: Vec<String>,
    pub enabled: bool,
    /// When a signed-in request last passed to it (UTC text), if ever.
    pub last_access: Option<String>,
    /// Distinct sessions that reached it in the last 24 hours.
    pub sessions_24h: i64,
}
