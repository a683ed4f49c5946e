//! Everything a request needs, built once at start-up and shared.

use std::sync::Arc;

use tokio::sync::Notify;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;

use super::applications::Directory;
use super::clock::SharedClock;
use super::hasher::PasswordHasher;
use super::limiter::RateLimiter;
use super::security::SecurityCache;
use super::server_key::ServerKey;
use super::session_cache::SessionCache;
use super::supervise::Health;
use crate::config::Config;
use crate::domain::PasswordPolicy;
use crate::storage::Store;

/// Cheap to clone (one reference count): axum hands every handler and middleware its own copy.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] shares.
pub struct Shared {
    pub config: Arc<Config>,
    pub store: Store,
    pub clock: SharedClock,
    pub hasher: PasswordHasher,
    pub leptos_options: LeptosOptions,
    pub limiter: RateLimiter,
    /// Wakes this node's mail worker after a transaction queued mail.
    pub mail_wake: Arc<Notify>,
    /// Wakes this node's incident job runner after a cohort was applied.
    pub incident_wake: Arc<Notify>,
    /// Watermarks and runtime security settings, held in memory for cheap session checks.
    pub security: SecurityCache,
    /// Approximate locations of sign-ins (unknown everywhere without a database).
    pub geo: Arc<crate::geo::GeoIp>,
    /// Background workers and caches report here; `/readyz` reads it.
    pub health: Health,
    /// The key outside the database: HMAC of short secrets, checkpoint signatures.
    pub server_key: Arc<ServerKey>,
    /// Sessions and their users in memory (see [`SessionCache`]).
    pub session_cache: SessionCache,
    /// The applications behind forward-auth, in memory.
    pub applications: Directory,
    /// Management API reads counted per key until they are written to the audit trail.
    pub api_usage: Arc<super::api_usage::ApiUsage>,
}

impl AppState {
    pub fn password_policy(&self) -> PasswordPolicy {
        PasswordPolicy {
            min_length: self.security.get().password_min_length,
        }
    }

    /// A pooled connection for reads and single statements (writes that go together use
    /// [`super::uow::AuditedTx`]).
    pub async fn conn(&self) -> anyhow::Result<sqlx::pool::PoolConnection<sqlx::Any>> {
        use anyhow::Context;
        self.store
            .pool()
            .acquire()
            .await
            .context("acquire connection")
    }

    /// This node's clock: lifetimes, expiry, audit times.
    pub fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The database's clock: the one source of time for ordering (watermarks, `password_set_at`,
    /// session issue times), so nodes with skewed clocks still agree on what came first.
    pub async fn order_time(&self) -> anyhow::Result<i64> {
        use anyhow::Context;
        let mut conn = self.conn().await?;
        crate::storage::now_ms(&mut conn, self.store.backend())
            .await
            .context("read the database clock")
    }

    /// Re-reads the security row into this node's cache, recording the outcome for `/readyz`.
    pub async fn refresh_security(&self) -> anyhow::Result<()> {
        let result = self.security.refresh(&self.store).await;
        self.record_refresh(result)
    }

    /// The same on a connection of the caller's.
    pub async fn refresh_security_on(&self, conn: &mut crate::storage::Conn) -> anyhow::Result<()> {
        let result = self.security.refresh_on(conn).await;
        self.record_refresh(result)
    }

    /// Applies the cache events of a transaction this node just committed (see
    /// [`SessionCache::sync`]), and reloads the applications when they changed.
    pub async fn sync_caches(&self, applications_changed: bool) -> anyhow::Result<()> {
        let changed = self.session_cache.sync(&self.store, self.now()).await?;
        if changed || applications_changed {
            self.reload_applications().await?;
        }
        Ok(())
    }

    pub async fn reload_applications(&self) -> anyhow::Result<()> {
        let mut conn = self.conn().await?;
        self.applications.reload(&mut conn).await
    }

    fn record_refresh(&self, result: anyhow::Result<()>) -> anyhow::Result<()> {
        match &result {
            Ok(()) => self.health.up(super::supervise::SECURITY_CACHE),
            Err(e) => self.health.down(
                super::supervise::SECURITY_CACHE,
                format!("refresh failed: {e:#}"),
            ),
        }
        result
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
