//! The data the server functions exchange with the pages (isomorphic).

use serde::{Deserialize, Serialize};

/// The figures on the admin home.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overview {
    pub users: i64,
    pub admins: i64,
    pub disabled: i64,
    pub active_sessions: i64,
    pub database: String,
}
