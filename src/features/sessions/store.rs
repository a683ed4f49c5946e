//! A tower-sessions [`SessionStore`] over the `sessions` table. The table is the one source of
//! truth for sessions: it carries the user, IP and user agent so sessions can be listed and ended
//! by user. Idle and absolute limits are enforced here with the injectable clock, so an expired
//! session is refused however old its cookie.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use time::OffsetDateTime;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};

use super::data::{hash_session_id, SessionAuth, AUTH_KEY};
use super::validity::{self, SessionTimes};
use crate::domain::EndReason;
use crate::runtime::clock::SharedClock;
use crate::runtime::security::SecurityCache;
use crate::runtime::session_cache::{CachedSession, SessionCache};
use crate::storage::{self, sessions, Store};

/// Without the session cache, `last_seen_at` is written at most this often per session, to keep
/// requests cheap (with it, activity is written behind: see `runtime::session_cache`).
const TOUCH_EVERY_MS: i64 = 60_000;

#[derive(Clone)]
pub struct DbSessionStore {
    store: Store,
    clock: SharedClock,
    /// Idle and absolute limits are runtime settings: read on every load.
    security: SecurityCache,
    cache: SessionCache,
}

impl std::fmt::Debug for DbSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbSessionStore").finish_non_exhaustive()
    }
}

fn backend(e: impl std::fmt::Display) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

impl DbSessionStore {
    pub fn new(
        store: Store,
        clock: SharedClock,
        security: SecurityCache,
        cache: SessionCache,
    ) -> Self {
        Self {
            store,
            clock,
            security,
            cache,
        }
    }

    /// The store over this node's state.
    pub fn of(state: &crate::runtime::AppState) -> Self {
        Self::new(
            state.store.clone(),
            state.clock.clone(),
            state.security.clone(),
            state.session_cache.clone(),
        )
    }

    /// The live session with this id hash, from the cache or the database, judged by its limits
    /// (idle, absolute, expiry) at this node's time. A session past them is ended with its reason
    /// and `None` returned. The user's state and the watermarks are judged once the user is
    /// loaded (`super::service`).
    pub async fn live(&self, id_hash: &str) -> anyhow::Result<Option<Arc<CachedSession>>> {
        let Some(entry) = self.cache.session(id_hash, || self.read(id_hash)).await? else {
            return Ok(None);
        };
        let now = self.clock.now_ms();
        let snap = self.security.get();
        let mut times = SessionTimes::of(&entry.row);
        times.last_seen_at = times.last_seen_at.max(entry.last_seen());
        let Some((_, reason)) = validity::verdict(&times, None, &snap, now) else {
            self.touch(&entry, now).await?;
            return Ok(Some(entry));
        };
        self.cache.forget_session(id_hash);
        // Another node may have seen later activity than this cached copy: judge the stored row.
        let stored = if self.cache.enabled() {
            self.read(id_hash).await?
        } else {
            None
        };
        if let Some(fresh) = stored {
            if validity::verdict(&SessionTimes::of(&fresh.row), None, &snap, now).is_none() {
                let fresh = Arc::new(fresh);
                self.touch(&fresh, now).await?;
                return Ok(Some(fresh));
            }
        }
        let mut conn = self.conn_anyhow().await?;
        sessions::end(&mut conn, id_hash, reason, now)
            .await
            .context("end session")?;
        Ok(None)
    }

    /// Reads a live row from the database (`None`: unknown or ended).
    async fn read(&self, id_hash: &str) -> anyhow::Result<Option<CachedSession>> {
        let mut conn = self.conn_anyhow().await?;
        let Some(row) = sessions::find(&mut conn, id_hash)
            .await
            .context("load session")?
        else {
            return Ok(None);
        };
        if row.ended_at.is_some() {
            return Ok(None);
        }
        Ok(Some(CachedSession::new(row)))
    }

    /// Records activity: written behind with the cache, at most once a minute without it.
    async fn touch(&self, entry: &Arc<CachedSession>, now: i64) -> anyhow::Result<()> {
        if self.cache.enabled() {
            self.cache.touch(entry, now);
        } else if now - entry.row.last_seen_at >= TOUCH_EVERY_MS {
            let mut conn = self.conn_anyhow().await?;
            sessions::touch(&mut conn, &entry.row.id_hash, now)
                .await
                .context("touch session")?;
        }
        Ok(())
    }

    /// Ends a session with a reason (and forgets it here at once).
    pub async fn end(&self, id_hash: &str, reason: EndReason) -> anyhow::Result<()> {
        let mut conn = self.conn_anyhow().await?;
        sessions::end(&mut conn, id_hash, reason, self.clock.now_ms())
            .await
            .context("end session")?;
        self.cache.forget_session(id_hash);
        Ok(())
    }

    async fn conn_anyhow(&self) -> anyhow::Result<sqlx::pool::PoolConnection<sqlx::Any>> {
        self.store
            .pool()
            .acquire()
            .await
            .context("acquire connection")
    }

    fn auth_of(record: &Record) -> Option<SessionAuth> {
        record
            .data
            .get(AUTH_KEY)
            .and_then(|v| serde_json::from_value(v.clone()).ok())
    }

    async fn conn(&self) -> session_store::Result<sqlx::pool::PoolConnection<sqlx::Any>> {
        self.store.pool().acquire().await.map_err(backend)
    }
}

#[async_trait]
impl SessionStore for DbSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let data = serde_json::to_string(&record.data)
            .map_err(|e| session_store::Error::Encode(e.to_string()))?;
        let auth = Self::auth_of(record);
        // The lifetime runs on this node's clock; the watermarks compare the issue time, which
        // came from the database clock.
        let now = self.clock.now_ms();
        let issued_at = auth.as_ref().map_or(now, |a| a.issued_at);
        let absolute_ms = self.security.get().absolute_ms;
        let mut conn = self.conn().await?;
        for _ in 0..3 {
            let id_hash = hash_session_id(&record.id);
            let row = sessions::NewSession {
                id_hash: &id_hash,
                user_id: auth.as_ref().map(|a| a.user_id),
                data: &data,
                now,
                issued_at,
                expires_at: now.saturating_add(absolute_ms),
                ip: auth.as_ref().and_then(|a| a.ip.as_deref()),
                user_agent: auth.as_ref().and_then(|a| a.user_agent.as_deref()),
                public_id: auth
                    .as_ref()
                    .map(|a| a.key.as_str())
                    .filter(|k| !k.is_empty()),
                device_hash: auth.as_ref().and_then(|a| a.device.as_deref()),
                location: auth.as_ref().and_then(|a| a.location.as_deref()),
            };
            let stored = self.cache.enabled().then(|| row.as_row());
            match sessions::insert(&mut conn, self.store.backend(), row).await {
                Ok(()) => {
                    if let Some(stored) = stored {
                        self.cache.remember_new_session(CachedSession::new(stored));
                    }
                    return Ok(());
                }
                Err(e) if storage::is_unique_violation(&e, "sessions_pkey") => {
                    record.id = Id::default()
                }
                Err(e) => return Err(backend(e)),
            }
        }
        Err(backend("could not allocate a unique session id"))
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let data = serde_json::to_string(&record.data)
            .map_err(|e| session_store::Error::Encode(e.to_string()))?;
        let user_id = Self::auth_of(record).map(|a| a.user_id);
        let mut conn = self.conn().await?;
        // Zero rows means the session ended meanwhile: it stays ended.
        let id_hash = hash_session_id(&record.id);
        sessions::update_data(&mut conn, &id_hash, user_id, &data, self.clock.now_ms())
            .await
            .map_err(backend)?;
        self.cache.forget_session(&id_hash);
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let Some(entry) = self.live(&hash_session_id(id)).await.map_err(backend)? else {
            // Expected after a sign-out, a revocation or an expiry: the browser still sends the
            // cookie of a session that has ended. The request goes on signed out.
            tracing::debug!(
                "session cookie names a session that has ended or never existed; signed out"
            );
            return Ok(None);
        };
        let expiry_date =
            OffsetDateTime::from_unix_timestamp(entry.row.expires_at / 1000).map_err(backend)?;
        Ok(Some(Record {
            id: *id,
            data: serde_json::from_str::<HashMap<String, serde_json::Value>>(&entry.row.data)
                .map_err(|e| session_store::Error::Decode(e.to_string()))?,
            expiry_date,
        }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        let id_hash = hash_session_id(id);
        // A sign-in ended the session it replaces in its own transaction (already forgotten).
        if self.cache.take_ended_by_commit(&id_hash) {
            return Ok(());
        }
        self.end(&id_hash, EndReason::SignedOut)
            .await
            .map_err(backend)
    }
}
