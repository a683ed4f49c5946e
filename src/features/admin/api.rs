//! Admin server functions. Every one checks the admin role on its first line.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// The figures on the admin home.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overview {
    pub users: i64,
    pub admins: i64,
    pub disabled: i64,
    pub active_sessions: i64,
    pub database: String,
}

/// Requires: admin.
#[server(endpoint = "admin_overview")]
pub async fn admin_overview() -> Result<Overview, AppError> {
    use crate::runtime::request::{require_admin, respond, state};
    respond(
        async {
            require_admin()?;
            super::service::overview(&state()?).await
        }
        .await,
    )
}
