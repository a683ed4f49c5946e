//! A tower-sessions [`SessionStore`] over the `sessions` table. The table is the one source of
//! truth for sessions: it carries the user, IP and user agent so sessions can be listed and ended
//! by user. Idle and absolute limits are enforced here with the injectable clock, so an expired
//! session is refused however old its cookie.

use std::collections::HashMap;

use async_trait::async_trait;
use time::OffsetDateTime;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};

use super::data::{hash_session_id, SessionAuth, AUTH_KEY};
use super::validity::{self, SessionTimes};
use crate::domain::EndReason;
use crate::runtime::clock::SharedClock;
use crate::runtime::security::SecurityCache;
use crate::storage::{self, sessions, Store};

/// `last_seen_at` is written at most this often per session, to keep requests cheap.
const TOUCH_EVERY_MS: i64 = 60_000;

#[derive(Clone)]
pub struct DbSessionStore {
    store: Store,
    clock: SharedClock,
    /// Idle and absolute limits are runtime settings: read on every load.
    security: SecurityCache,
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
    pub fn new(store: Store, clock: SharedClock, security: SecurityCache) -> Self {
        Self {
            store,
            clock,
            security,
        }
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
            match sessions::insert(&mut conn, row).await {
                Ok(()) => return Ok(()),
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
        sessions::update_data(
            &mut conn,
            &hash_session_id(&record.id),
            user_id,
            &data,
            self.clock.now_ms(),
        )
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let id_hash = hash_session_id(id);
        let mut conn = self.conn().await?;
        let Some(row) = sessions::find(&mut conn, &id_hash).await.map_err(backend)? else {
            return Ok(None);
        };
        if row.ended_at.is_some() {
            return Ok(None);
        }
        let now = self.clock.now_ms();
        // Only the limits here: the user's state and the watermarks are applied once the user is
        // loaded (`super::service::viewer_of`), by the same rule.
        if let Some((_, reason)) =
            validity::verdict(&SessionTimes::of(&row), None, &self.security.get(), now)
        {
            sessions::end(&mut conn, &id_hash, reason, now)
                .await
                .map_err(backend)?;
            return Ok(None);
        }
        if now - row.last_seen_at >= TOUCH_EVERY_MS {
            sessions::touch(&mut conn, &id_hash, now)
                .await
                .map_err(backend)?;
        }
        let data: HashMap<String, serde_json::Value> = serde_json::from_str(&row.data)
            .map_err(|e| session_store::Error::Decode(e.to_string()))?;
        let expiry_date =
            OffsetDateTime::from_unix_timestamp(row.expires_at / 1000).map_err(backend)?;
        Ok(Some(Record {
            id: *id,
            data,
            expiry_date,
        }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        let mut conn = self.conn().await?;
        sessions::end(
            &mut conn,
            &hash_session_id(id),
            EndReason::SignedOut,
            self.clock.now_ms(),
        )
        .await
        .map_err(backend)?;
        Ok(())
    }
}
