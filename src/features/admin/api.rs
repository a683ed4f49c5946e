//! Admin server functions. Every one checks the admin role on its first line.

use leptos::prelude::*;

use crate::error::AppError;

use super::types::*;

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
