//! Everything a request needs, built once at start-up and shared.

use std::sync::Arc;

use tokio::sync::Notify;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;

use crate::clock::SharedClock;
use crate::config::Config;
use crate::domain::PasswordPolicy;
use crate::features::auth::PasswordHasher;
use crate::features::security::watermarks::SecurityCache;
use crate::ratelimit::RateLimiter;
use crate::storage::Store;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Store,
    pub clock: SharedClock,
    pub hasher: PasswordHasher,
    pub leptos_options: LeptosOptions,
    pub limiter: RateLimiter,
    /// Wakes this node's mail worker after a transaction queued mail.
    pub mail_wake: Arc<Notify>,
    /// Watermarks and runtime security settings, held in memory for cheap session checks.
    pub security: SecurityCache,
    /// Approximate locations of sign-ins (unknown everywhere without a database).
    pub geo: Arc<crate::geo::GeoIp>,
}

impl AppState {
    pub fn password_policy(&self) -> PasswordPolicy {
        PasswordPolicy {
            min_length: self.security.get().password_min_length,
        }
    }

    /// Call after committing a change to the security row: this node sees it on its next request.
    pub async fn security_changed(&self) -> anyhow::Result<()> {
        self.security.refresh(&self.store).await
    }

    /// A pooled connection for reads and single statements (writes that go together use
    /// `store.begin()`).
    pub async fn conn(&self) -> anyhow::Result<sqlx::pool::PoolConnection<sqlx::Any>> {
        use anyhow::Context;
        self.store
            .pool()
            .acquire()
            .await
            .context("acquire connection")
    }

    pub fn now(&self) -> i64 {
        self.clock.now_ms()
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}
