//! Admin server functions for the audit trail, and the DTOs they share with the page. Every one
//! checks the admin role on its first line.

use leptos::prelude::*;

use crate::error::AppError;

use super::types::*;

/// Requires: admin. One page of entries matching the filters, older than `before` when given.
#[server(endpoint = "admin_list_audit")]
pub async fn list_audit(
    actor: Option<String>,
    target: Option<String>,
    action: Option<String>,
    from: Option<String>,
    to: Option<String>,
    before: Option<i64>,
) -> Result<AuditPage, AppError> {
    use crate::runtime::request::{require_admin, respond, state};
    respond(
        async {
            require_admin()?;
            let filter = AuditFilter {
                actor,
                target,
                action,
                from,
                to,
            };
            super::query::list(&state()?, &filter, before).await
        }
        .await,
    )
}

/// Requires: admin. Walks the whole chain, as `keywarden audit verify` does.
#[server(endpoint = "admin_verify_audit_chain")]
pub async fn verify_audit_chain() -> Result<ChainStatus, AppError> {
    use crate::runtime::request::{require_admin, respond, state};
    respond(
        async {
            require_admin()?;
            super::query::verify_chain(&state()?).await
        }
        .await,
    )
}

/// Requires: admin. The last stored checkpoint, if one was taken.
#[server(endpoint = "admin_last_audit_checkpoint")]
pub async fn last_audit_checkpoint() -> Result<Option<CheckpointSummary>, AppError> {
    use crate::runtime::request::{require_admin, respond, state};
    respond(
        async {
            require_admin()?;
            super::query::last_checkpoint(&state()?).await
        }
        .await,
    )
}
