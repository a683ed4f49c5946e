//! (ssr) The rules for applications: every change is audited with what changed, and this node's
//! directory is reloaded at commit (other nodes hear of it through the cache events).

use anyhow::Context;
use serde_json::json;

use super::types::ApplicationView;
use crate::domain::{time, Actor, ApplicationInput, AuditAction, RequestMeta};
use crate::error::{AppError, Result};
use crate::runtime::{AppState, AuditedTx};
use crate::storage::{self, applications};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

pub async fn list(state: &AppState) -> Result<Vec<ApplicationView>> {
    let mut conn = state.conn().await?;
    let rows = applications::all_with_stats(&mut conn, state.now() - DAY_MS)
        .await
        .context("list applications")?;
    Ok(rows
        .into_iter()
        .map(|s| ApplicationView {
            id: s.app.id,
            name: s.app.name,
            host: s.app.host,
            roles: s
                .app
                .allowed_roles
                .split(',')
                .filter(|r| !r.is_empty())
                .map(str::to_owned)
                .collect(),
            enabled: s.app.enabled != 0,
            last_access: s.app.last_access_at.map(time::utc),
            sessions_24h: s.sessions_seen,
        })
        .collect())
}

fn duplicate_host(e: &sqlx::Error) -> bool {
    storage::is_unique_violation(e, "applications_host_key")
}

fn host_taken() -> AppError {
    AppError::field("host", "Another application already uses this host.")
}

fn snapshot(input: &ApplicationInput) -> serde_json::Value {
    json!({
        "name": input.name,
        "host": input.host.to_string(),
        "roles": input.roles_text(),
        "enabled": input.enabled,
    })
}

/// Adds an application. Returns its id.
pub async fn create(
    state: &AppState,
    actor: &Actor,
    input: &ApplicationInput,
    meta: &RequestMeta,
) -> Result<i64> {
    let mut tx = AuditedTx::begin(state, meta).await?;
    let host = input.host.to_string();
    let roles = input.roles_text();
    let new = applications::NewApplication {
        name: &input.name,
        host: &host,
        allowed_roles: &roles,
        enabled: input.enabled,
        now: tx.now(),
    };
    let id = match applications::insert(&mut tx, new).await {
        Ok(id) => id,
        Err(e) if duplicate_host(&e) => return Err(host_taken()),
        Err(e) => return Err(anyhow::Error::new(e).context("add application").into()),
    };
    let details = json!({"application": id, "new": snapshot(input)});
    tx.record(actor, AuditAction::ApplicationCreated, None, None, details)
        .await?;
    tx.applications_changed();
    tx.commit().await?;
    Ok(id)
}

/// Replaces an application's settings; the audit entry carries what it was and what it is.
pub async fn update(
    state: &AppState,
    actor: &Actor,
    id: i64,
    input: &ApplicationInput,
    meta: &RequestMeta,
) -> Result<()> {
    let mut tx = AuditedTx::begin(state, meta).await?;
    let Some(old) = applications::find(&mut tx, id)
        .await
        .context("load application")?
    else {
        return Err(AppError::field("application", "No such application."));
    };
    let host = input.host.to_string();
    let roles = input.roles_text();
    let new = applications::NewApplication {
        name: &input.name,
        host: &host,
        allowed_roles: &roles,
        enabled: input.enabled,
        now: tx.now(),
    };
    match applications::update(&mut tx, id, new).await {
        Ok(_) => {}
        Err(e) if duplicate_host(&e) => return Err(host_taken()),
        Err(e) => return Err(anyhow::Error::new(e).context("update application").into()),
    }
    let details = json!({
        "application": id,
        "old": {"name": old.name, "host": old.host, "roles": old.allowed_roles, "enabled": old.enabled != 0},
        "new": snapshot(input),
    });
    tx.record(actor, AuditAction::ApplicationUpdated, None, None, details)
        .await?;
    tx.applications_changed();
    tx.commit().await?;
    Ok(())
}

/// Switches an application on or off (only that: a concurrent edit of its other settings stays).
pub async fn set_enabled(
    state: &AppState,
    actor: &Actor,
    id: i64,
    enabled: bool,
    meta: &RequestMeta,
) -> Result<()> {
    let mut tx = AuditedTx::begin(state, meta).await?;
    let Some(old) = applications::find(&mut tx, id)
        .await
        .context("load application")?
    else {
        return Err(AppError::field("application", "No such application."));
    };
    let now = tx.now();
    applications::set_enabled(&mut tx, id, enabled, now)
        .await
        .context("switch application")?;
    let details = json!({
        "application": id,
        "host": old.host,
        "old": {"enabled": old.enabled != 0},
        "new": {"enabled": enabled},
    });
    tx.record(actor, AuditAction::ApplicationUpdated, None, None, details)
        .await?;
    tx.applications_changed();
    tx.commit().await?;
    Ok(())
}

pub async fn delete(state: &AppState, actor: &Actor, id: i64, meta: &RequestMeta) -> Result<()> {
    let mut tx = AuditedTx::begin(state, meta).await?;
    let Some(old) = applications::find(&mut tx, id)
        .await
        .context("load application")?
    else {
        return Err(AppError::field("application", "No such application."));
    };
    applications::delete(&mut tx, id)
        .await
        .context("remove application")?;
    let details = json!({"application": id, "old": {"name": old.name, "host": old.host, "roles": old.allowed_roles}});
    tx.record(actor, AuditAction::ApplicationDeleted, None, None, details)
        .await?;
    tx.applications_changed();
    tx.commit().await?;
    Ok(())
}
