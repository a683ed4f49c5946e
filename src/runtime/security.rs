//! The containment rules, computed from watermarks held in memory.
//!
//! A password is compromised when it was set at or before the instance password watermark or the
//! user's own one. A session is signed out when it was issued at or before the instance session
//! watermark or the user's own one. Setting a watermark is one row written, whatever the number of
//! users; checking one is a comparison. New passwords and sessions are stamped strictly after every
//! watermark ([`fresh_time`]), so an action and a re-issue in the same millisecond stay ordered.

use std::sync::Arc;

use anyhow::Context;
use arc_swap::ArcSwap;

use crate::config::Config;
use crate::domain::EndReason;
use crate::storage::security::{self, SecurityRow};
use crate::storage::users::UserRow;
use crate::storage::Store;

/// The instance security state as this node last read it.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub row: SecurityRow,
    pub password_min_length: usize,
    /// The idle timeout and lifetime in force: the settings, shortened while an incident that
    /// tightens them is not closed. They apply to live sessions as well as new ones.
    pub idle_ms: i64,
    pub absolute_ms: i64,
    /// The settings themselves (the Security page edits these).
    pub base_idle_ms: i64,
    pub base_absolute_ms: i64,
    pub reset_task_enabled: bool,
    /// New-device alerts in force: the setting, or forced on by an incident.
    pub new_device_alerts: bool,
    /// The setting itself.
    pub base_new_device_alerts: bool,
    /// Self-service sign-up is paused by an incident.
    pub sign_up_paused: bool,
    /// Forgot-password is throttled harder by an incident.
    pub strict_forgot: bool,
    pub alert_on_new_country: bool,
    /// Path of the "This wasn't me" page that new-device alert links open.
    pub device_alert_path: String,
}

impl Snapshot {
    fn from_row(row: SecurityRow, config: &Config) -> Self {
        let secs = |v: Option<i64>, d: u64| v.and_then(|s| u64::try_from(s).ok()).unwrap_or(d);
        let ms = |s: u64| i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX);
        let base_idle_ms = ms(secs(
            row.session_idle_timeout_secs,
            config.session_idle_timeout_secs,
        ));
        let base_absolute_ms = ms(secs(
            row.session_absolute_lifetime_secs,
            config.session_absolute_lifetime_secs,
        ));
        // A tightening only ever shortens: never longer than the settings.
        let tightened = |base: i64, tight: Option<i64>| match tight {
            Some(t) if t > 0 => base.min(t.saturating_mul(1000)),
            _ => base,
        };
        Self {
            password_min_length: row
                .password_min_length
                .and_then(|v| usize::try_from(v).ok())
                .unwrap_or(config.password_min_length),
            idle_ms: tightened(base_idle_ms, row.tight_idle_secs),
            absolute_ms: tightened(base_absolute_ms, row.tight_lifetime_secs),
            base_idle_ms,
            base_absolute_ms,
            reset_task_enabled: row.reset_task_enabled != 0,
            new_device_alerts: row.new_device_alerts_enabled != 0 || row.tight_alerts != 0,
            base_new_device_alerts: row.new_device_alerts_enabled != 0,
            sign_up_paused: row.tight_sign_up_paused != 0,
            strict_forgot: row.tight_forgot != 0,
            alert_on_new_country: row.alert_on_new_country != 0,
            device_alert_path: row
                .device_alert_path
                .clone()
                .unwrap_or_else(|| crate::domain::DEFAULT_ALERT_PATH.to_owned()),
            row,
        }
    }
}

/// Shared by every request of this node; replaced whole after each change. Reading it takes no
/// lock, so there is nothing to poison: a reader always gets a complete snapshot (fail closed,
/// never an all-zero default).
#[derive(Clone)]
pub struct SecurityCache {
    current: Arc<ArcSwap<Snapshot>>,
    config: Arc<Config>,
}

impl SecurityCache {
    pub async fn load(store: &Store, config: Arc<Config>) -> anyhow::Result<Self> {
        let mut conn = store.pool().acquire().await.context("acquire connection")?;
        let row = security::load(&mut conn)
            .await
            .context("load security state")?;
        let snapshot = Snapshot::from_row(row, &config);
        Ok(Self {
            current: Arc::new(ArcSwap::from_pointee(snapshot)),
            config,
        })
    }

    pub fn get(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Re-reads the row (after a change here, or when another node says it changed). A snapshot
    /// older than the one held (a slow read overtaken by a newer one) is not installed.
    pub async fn refresh(&self, store: &Store) -> anyhow::Result<()> {
        let mut conn = store.pool().acquire().await.context("acquire connection")?;
        self.refresh_on(&mut conn).await
    }

    /// The same on a given connection (the propagation task keeps its own, so a refresh never
    /// waits behind request traffic for a pooled one).
    pub async fn refresh_on(&self, conn: &mut crate::storage::Conn) -> anyhow::Result<()> {
        let row = security::load(conn).await.context("load security state")?;
        self.install(Snapshot::from_row(row, &self.config));
        Ok(())
    }

    fn install(&self, new: Snapshot) {
        let new = Arc::new(new);
        self.current.rcu(|held| {
            if new.row.version >= held.row.version {
                Arc::clone(&new)
            } else {
                Arc::clone(held)
            }
        });
    }
}

/// Where a compromise came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    User,
    Instance,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compromise {
    pub scope: Scope,
    pub at: i64,
    pub by: Option<String>,
    pub reason: Option<String>,
}

/// Whether the user's current password is compromised, and by which watermark.
pub fn password_compromise(user: &UserRow, s: &Snapshot) -> Option<Compromise> {
    if let Some(at) = user
        .password_compromised_at
        .filter(|at| user.password_set_at <= *at)
    {
        return Some(Compromise {
            scope: Scope::User,
            at,
            by: user.password_compromised_by.clone(),
            reason: user.password_compromised_reason.clone(),
        });
    }
    let at = s.row.passwords_compromised_before;
    (at > 0 && user.password_set_at <= at).then(|| Compromise {
        scope: Scope::Instance,
        at,
        by: s.row.passwords_compromised_by.clone(),
        reason: s.row.passwords_compromised_reason.clone(),
    })
}

/// Why a session issued at `issued_at` no longer counts, if it does not.
pub fn session_revocation(issued_at: i64, user: &UserRow, s: &Snapshot) -> Option<EndReason> {
    if user
        .sessions_revoked_before
        .is_some_and(|at| issued_at <= at)
    {
        return Some(
            user.sessions_revoked_reason
                .as_deref()
                .and_then(EndReason::parse)
                .unwrap_or(EndReason::SignedOutByAdmin),
        );
    }
    let at = s.row.sessions_revoked_before;
    (at > 0 && issued_at <= at).then_some(EndReason::InstanceSignOut)
}

/// A timestamp for a new password or session: now, but strictly after every watermark that
/// could apply, so it is never caught by an action taken in the same millisecond.
pub fn fresh_time(now: i64, user: Option<&UserRow>, s: &Snapshot) -> i64 {
    let mut floor = s
        .row
        .passwords_compromised_before
        .max(s.row.sessions_revoked_before);
    if let Some(u) = user {
        floor = floor
            .max(u.password_compromised_at.unwrap_or(0))
            .max(u.sessions_revoked_before.unwrap_or(0));
    }
    now.max(floor + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_older_snapshot_never_replaces_a_newer_one() {
        let config = Arc::new(Config::defaults().unwrap());
        let cache = SecurityCache {
            current: Arc::new(ArcSwap::from_pointee(snapshot(0, 0))),
            config,
        };
        let mut newer = snapshot(500, 0);
        newer.row.version = 7;
        cache.install(newer);
        let mut stale = snapshot(0, 0);
        stale.row.version = 6;
        cache.install(stale);
        assert_eq!(cache.get().row.version, 7);
        assert_eq!(cache.get().row.passwords_compromised_before, 500);
    }

    fn user(password_set_at: i64) -> UserRow {
        UserRow::sample(password_set_at)
    }

    fn snapshot(pw: i64, sessions: i64) -> Snapshot {
        Snapshot {
            row: SecurityRow {
                passwords_compromised_before: pw,
                sessions_revoked_before: sessions,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn an_instance_watermark_catches_older_passwords_only() {
        let s = snapshot(100, 0);
        assert_eq!(
            password_compromise(&user(100), &s).unwrap().scope,
            Scope::Instance
        );
        assert!(password_compromise(&user(101), &s).is_none());
        assert!(
            password_compromise(&user(5), &snapshot(0, 0)).is_none(),
            "no watermark, nothing compromised"
        );
    }

    #[test]
    fn a_user_watermark_wins_and_a_new_password_clears_it() {
        let mut u = user(50);
        u.password_compromised_at = Some(60);
        assert_eq!(
            password_compromise(&u, &snapshot(0, 0)).unwrap().scope,
            Scope::User
        );
        u.password_set_at = fresh_time(60, Some(&u), &snapshot(0, 0));
        assert!(password_compromise(&u, &snapshot(0, 0)).is_none());
    }

    #[test]
    fn sessions_issued_at_or_before_a_watermark_are_revoked() {
        let s = snapshot(0, 200);
        assert_eq!(
            session_revocation(200, &user(0), &s),
            Some(EndReason::InstanceSignOut)
        );
        assert!(session_revocation(fresh_time(200, None, &s), &user(0), &s).is_none());
        let mut u = user(0);
        u.sessions_revoked_before = Some(300);
        u.sessions_revoked_reason = Some("password_compromised".into());
        assert_eq!(
            session_revocation(250, &u, &s),
            Some(EndReason::PasswordCompromised)
        );
    }
}
