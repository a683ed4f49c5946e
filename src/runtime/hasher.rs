//! argon2id on the blocking pool, with a bound on concurrent hashes so a sign-in flood queues
//! instead of starving every other request.

use std::sync::Arc;

use anyhow::Context;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

/// Holds the next password verification at its start until released (tests of races with a
/// sign-in in flight: an action commits while the verification waits).
#[derive(Debug, Default)]
pub struct VerifyGate {
    /// Notified when a verification reached the gate.
    pub entered: tokio::sync::Notify,
    /// Notify to let it go on.
    pub release: tokio::sync::Notify,
}

#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    permits: Arc<Semaphore>,
    gate: Arc<arc_swap::ArcSwapOption<VerifyGate>>,
    /// Verified against when the e-mail is unknown, so both paths cost one argon2 run.
    dummy_hash: Arc<str>,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl PasswordHasher {
    pub fn new(
        memory_kib: u32,
        iterations: u32,
        parallelism: u32,
        max_concurrent: usize,
    ) -> anyhow::Result<Self> {
        let params = Params::new(memory_kib, iterations, parallelism, None)
            .map_err(|e| anyhow::anyhow!("invalid argon2 parameters: {e}"))?;
        let dummy_hash = hash_blocking(&params, "keywarden-dummy-password-for-timing")?;
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(max_concurrent)),
            gate: Arc::default(),
            dummy_hash: dummy_hash.into(),
        })
    }

    /// Makes the next verification wait at its start until the returned gate is released.
    pub fn hold_next_verification(&self) -> Arc<VerifyGate> {
        let gate = Arc::new(VerifyGate::default());
        self.gate.store(Some(Arc::clone(&gate)));
        gate
    }

    /// Hashes a new password into a PHC string (argon2id, random salt).
    #[tracing::instrument(skip_all)]
    pub async fn hash(&self, password: SecretString) -> anyhow::Result<String> {
        let _permit = self.permits.acquire().await.context("hasher closed")?;
        let params = self.params.clone();
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            span.in_scope(|| hash_blocking(&params, password.expose_secret()))
        })
        .await
        .context("hashing task failed")?
    }

    /// Checks a password against a stored hash, or against the dummy hash when there is no user,
    /// so that an unknown e-mail takes as long as a wrong password.
    #[tracing::instrument(skip_all)]
    pub async fn verify(
        &self,
        password: SecretString,
        stored: Option<String>,
    ) -> anyhow::Result<bool> {
        if let Some(gate) = self.gate.swap(None) {
            gate.entered.notify_one();
            gate.release.notified().await;
        }
        let _permit = self.permits.acquire().await.context("hasher closed")?;
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| self.dummy_hash.to_string());
        let span = tracing::Span::current();
        let ok = tokio::task::spawn_blocking(move || {
            span.in_scope(|| -> anyhow::Result<bool> {
                let parsed = PasswordHash::new(&hash)
                    .map_err(|e| anyhow::anyhow!("stored hash is malformed: {e}"))?;
                Ok(Argon2::default()
                    .verify_password(password.expose_secret().as_bytes(), &parsed)
                    .is_ok())
            })
        })
        .await
        .context("verification task failed")??;
        Ok(ok && known)
    }
}

fn hash_blocking(params: &Params, password: &str) -> anyhow::Result<String> {
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let hash = argon
        .hash_password(password.as_bytes())
        .map_err(|e| anyhow::anyhow!("argon2 failed: {e}"))?;
    Ok(hash.to_string())
}
