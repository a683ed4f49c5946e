//! The data the server functions exchange with the pages (isomorphic).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserListItem {
    pub id: i64,
    pub email: String,
    pub name: Option<String>,
    pub role: String,
    pub status: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserListPage {
    pub users: Vec<UserListItem>,
    /// Cursor for the next page (keyset on id), if there is one.
    pub next_after: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompromiseInfo {
    /// "This user" or "Instance-wide".
    pub scope: String,
    pub at: i64,
    pub by: Option<String>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordStatus {
    pub set_at: i64,
    /// The compromise in force now, if the password is compromised.
    pub compromised: Option<CompromiseInfo>,
    /// Earlier compromises of this user that a new password has since resolved.
    pub resolved: Vec<(CompromiseInfo, i64)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryItem {
    pub at: i64,
    pub action: String,
    pub actor: String,
    pub reason: Option<String>,
    pub ip: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserDetails {
    pub id: i64,
    pub email: String,
    pub name: Option<String>,
    pub role: String,
    pub status: String,
    pub created_at: i64,
    pub disabled_at: Option<i64>,
    pub is_self: bool,
    /// Another administrator, and the viewer's last password proof is older than 5 minutes:
    /// actions on this user ask for the viewer's password.
    pub step_up_needed: bool,
    pub password: PasswordStatus,
    /// Live sessions, then those ended in the last 30 days (the user's Devices page shows the same).
    pub sessions: Vec<crate::features::devices::DeviceSession>,
    pub ended_sessions: Vec<crate::features::devices::DeviceSession>,
    pub history: Vec<HistoryItem>,
}
