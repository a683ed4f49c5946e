//! (ssr) The rules for API keys: created with a name, scopes and an expiry of at most a year,
//! shown once, kept as the SHA-256 of the secret (256 random bits: nothing to brute-force), and
//! checked on every call, so a revocation holds on every node at the next request.

use anyhow::Context;
use rand::RngCore;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::types::{ApiKeyView, CreatedApiKey};
use crate::domain::{
    check_key_name, looks_like_key, parse_scopes, scopes_text, Actor, ApiScope, AuditAction,
    RequestMeta, KEY_PREFIX, MAX_KEY_LIFETIME_DAYS,
};
use crate::error::{AppError, Result};
use crate::runtime::{AppState, AuditedTx};
use crate::storage::{self, api_keys};

const DAY_MS: i64 = 86_400_000;
/// A key's use is written at most this often per node (the list shows it to the minute).
const TOUCH_EVERY_MS: i64 = 60_000;

fn key_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn view(row: api_keys::ApiKeyRow, now: i64) -> ApiKeyView {
    let status = if row.revoked_at.is_some() {
        "Revoked"
    } else if row.expires_at <= now {
        "Expired"
    } else {
        "Active"
    };
    ApiKeyView {
        id: row.id,
        name: row.name,
        hint: format!("{KEY_PREFIX}{}…", row.hint),
        scopes: row
            .scopes
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        created_by: row.created_by,
        created_at: row.created_at,
        expires_at: row.expires_at,
        revoked_at: row.revoked_at,
        revoked_by: row.revoked_by,
        last_used_at: row.last_used_at,
        last_used_ip: row.last_used_ip,
        status: status.into(),
    }
}

/// What a new key is asked to be.
pub struct NewKey<'a> {
    pub name: &'a str,
    /// Comma-separated scopes.
    pub scopes: &'a str,
    /// How long it lives, in milliseconds (at most a year).
    pub lifetime_ms: i64,
}

/// Creates a key and returns it with its secret (the only time the secret exists outside the
/// caller's hands). Audited with the scopes and expiry, never the secret.
pub async fn create(
    state: &AppState,
    op: &Actor,
    new: &NewKey<'_>,
    meta: &RequestMeta,
) -> Result<CreatedApiKey> {
    let name = check_key_name(new.name).map_err(|m| AppError::field("name", m))?;
    let scopes = parse_scopes(new.scopes).map_err(|m| AppError::field("scopes", m))?;
    if new.lifetime_ms <= 0 || new.lifetime_ms > MAX_KEY_LIFETIME_DAYS * DAY_MS {
        return Err(AppError::field(
            "expires_in",
            format!("A key lives at least a minute and at most {MAX_KEY_LIFETIME_DAYS} days."),
        ));
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let hex = hex::encode(bytes);
    let secret = format!("{KEY_PREFIX}{hex}");
    let scopes = scopes_text(&scopes);
    let mut tx = AuditedTx::begin(state, meta).await?;
    let now = tx.now();
    let expires_at = now + new.lifetime_ms;
    let created_by = op.label();
    let inserted = api_keys::insert(
        &mut tx,
        &api_keys::NewApiKey {
            name: &name,
            hint: &hex[..8],
            key_hash: &key_hash(&secret),
            scopes: &scopes,
            created_by: &created_by,
            created_at: now,
            expires_at,
        },
    )
    .await;
    let id = match inserted {
        Ok(id) => id,
        Err(e) if storage::is_unique_violation(&e, "api_keys_live_name") => {
            return Err(AppError::field(
                "name",
                "A key with this name exists: revoke it first or choose another name.",
            ))
        }
        Err(e) => return Err(anyhow::Error::new(e).context("store API key").into()),
    };
    tx.record(
        op,
        AuditAction::ApiKeyCreated,
        None,
        None,
        json!({"api_key": id, "name": name, "scopes": scopes, "expires_at": expires_at}),
    )
    .await?;
    let row = api_keys::find_by_id(&mut tx, id)
        .await
        .context("read the new key")?
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("new API key vanished")))?;
    tx.commit().await?;
    Ok(CreatedApiKey {
        key: view(row, now),
        secret,
    })
}

pub async fn list(state: &AppState) -> Result<Vec<ApiKeyView>> {
    let mut conn = state.conn().await?;
    let now = state.now();
    Ok(api_keys::list(&mut conn)
        .await
        .context("list API keys")?
        .into_iter()
        .map(|r| view(r, now))
        .collect())
}

/// Revokes the live key of this name (or numeric id). Takes effect at the next call on every
/// node: keys are checked against the database on each call.
pub async fn revoke(
    state: &AppState,
    op: &Actor,
    name_or_id: &str,
    meta: &RequestMeta,
) -> Result<ApiKeyView> {
    let mut tx = AuditedTx::begin(state, meta).await?;
    let found = match name_or_id.trim().parse::<i64>() {
        Ok(id) => api_keys::find_by_id(&mut tx, id).await,
        Err(_) => api_keys::find_live_by_name(&mut tx, name_or_id.trim()).await,
    }
    .context("find API key")?;
    let row = found.ok_or_else(|| AppError::field("key", "No such API key."))?;
    let now = tx.now();
    let changed = api_keys::revoke(&mut tx, row.id, &op.label(), now)
        .await
        .context("revoke API key")?;
    if changed == 0 {
        return Err(AppError::field("key", "This key is already revoked."));
    }
    tx.record(
        op,
        AuditAction::ApiKeyRevoked,
        None,
        None,
        json!({"api_key": row.id, "name": row.name}),
    )
    .await?;
    let row = api_keys::find_by_id(&mut tx, row.id)
        .await
        .context("read the revoked key")?
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("revoked API key vanished")))?;
    tx.commit().await?;
    Ok(view(row, now))
}

/// A caller the API let in: which key, and what it may do.
#[derive(Debug, Clone)]
pub struct ApiCaller {
    pub key_id: i64,
    pub name: String,
    pub scopes: Vec<ApiScope>,
}

impl ApiCaller {
    pub fn actor(&self) -> Actor {
        Actor::ApiKey {
            id: self.key_id,
            name: self.name.clone(),
        }
    }

    pub fn may(&self, scope: ApiScope) -> bool {
        self.scopes.contains(&scope)
    }
}

/// Why a presented key was refused (each a 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRefusal {
    Unknown,
    Expired,
    Revoked,
}

/// Checks a presented secret. A use is recorded (time and address) at most once a minute.
pub async fn authenticate(
    state: &AppState,
    secret: &str,
    ip: Option<&str>,
) -> Result<std::result::Result<ApiCaller, KeyRefusal>> {
    if !looks_like_key(secret) {
        return Ok(Err(KeyRefusal::Unknown));
    }
    let mut conn = state.conn().await?;
    let Some(row) = api_keys::find_by_hash(&mut conn, &key_hash(secret))
        .await
        .context("look up API key")?
    else {
        return Ok(Err(KeyRefusal::Unknown));
    };
    let now = state.now();
    if row.revoked_at.is_some() {
        return Ok(Err(KeyRefusal::Revoked));
    }
    if row.expires_at <= now {
        return Ok(Err(KeyRefusal::Expired));
    }
    let stale = row.last_used_at.is_none_or(|t| now - t >= TOUCH_EVERY_MS);
    if stale || row.last_used_ip.as_deref() != ip {
        api_keys::touch(&mut conn, row.id, now, ip)
            .await
            .context("record API key use")?;
    }
    Ok(Ok(ApiCaller {
        key_id: row.id,
        scopes: parse_scopes(&row.scopes).unwrap_or_default(),
        name: row.name,
    }))
}
