//! The one rule for "does this session still count". The session store's load, the viewer
//! resolution, the device lists, the live-session count and the sweeper all use it: the first
//! three through [`verdict`], the SQL ones through the same [`Cutoffs`].
//!
//! A session ends when (first match wins):
//! - its user is disabled (a deleted user is the caller's case: there is no row to judge);
//! - it was issued at or before the user's session watermark, or the instance one;
//! - it is past its expiry: the fixed `expires_at`, the absolute lifetime counted from its issue
//!   (following the current setting, whatever it was at sign-in), or the idle timeout counted
//!   from its last activity. A limit reached in this very millisecond has ended it.

use crate::domain::EndReason;
use crate::runtime::security::{session_revocation, Snapshot};
use crate::storage::sessions::SessionRow;
use crate::storage::users::UserRow;

/// The times a verdict needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionTimes {
    /// When it counts from for the watermarks (the database clock, shared by every node).
    pub issued_at: i64,
    /// When its lifetime started (the clock of the node that issued it, like `now`).
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
}

impl SessionTimes {
    pub fn of(row: &SessionRow) -> Self {
        Self {
            issued_at: row.issued_at.unwrap_or(row.created_at),
            created_at: row.created_at,
            last_seen_at: row.last_seen_at,
            expires_at: row.expires_at,
        }
    }
}

/// The limits as cut-off times at `now`: a session last seen at or before `idle`, or created at
/// or before `absolute`, has expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cutoffs {
    pub idle: i64,
    pub absolute: i64,
}

impl Cutoffs {
    pub fn at(now: i64, snap: &Snapshot) -> Self {
        Self {
            idle: now.saturating_sub(snap.idle_ms),
            absolute: now.saturating_sub(snap.absolute_ms),
        }
    }
}

/// When the session expires by its limits alone.
pub fn expires_at(t: &SessionTimes, snap: &Snapshot) -> i64 {
    t.expires_at
        .min(t.created_at.saturating_add(snap.absolute_ms))
        .min(t.last_seen_at.saturating_add(snap.idle_ms))
}

/// `None` while the session counts; otherwise when and why it stopped counting. Without `user`
/// only the limits are judged (the session store, before the user is loaded).
pub fn verdict(
    t: &SessionTimes,
    user: Option<&UserRow>,
    snap: &Snapshot,
    now: i64,
) -> Option<(i64, EndReason)> {
    if let Some(u) = user {
        if let Some(at) = u.disabled_at {
            return Some((at, EndReason::AccountDisabled));
        }
        if let Some(reason) = session_revocation(t.issued_at, u, snap) {
            let at = match reason {
                EndReason::InstanceSignOut => snap.row.sessions_revoked_before,
                _ => u.sessions_revoked_before.unwrap_or(now),
            };
            return Some((at, reason));
        }
    }
    let expires = expires_at(t, snap);
    (now >= expires).then_some((expires, EndReason::Expired))
}

/// What the SQL statements test, written with the cut-offs: must agree with [`verdict`]'s limits.
pub fn expired_by_cutoffs(t: &SessionTimes, c: &Cutoffs, now: i64) -> bool {
    t.expires_at <= now || t.last_seen_at <= c.idle || t.created_at <= c.absolute
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::security::SecurityRow;

    const IDLE: i64 = 30 * 60 * 1000;
    const ABSOLUTE: i64 = 12 * 60 * 60 * 1000;

    fn snap(instance_sessions: i64) -> Snapshot {
        Snapshot {
            row: SecurityRow {
                sessions_revoked_before: instance_sessions,
                ..Default::default()
            },
            idle_ms: IDLE,
            absolute_ms: ABSOLUTE,
            ..Default::default()
        }
    }

    fn user(revoked_before: Option<i64>, disabled_at: Option<i64>) -> UserRow {
        UserRow {
            disabled_at,
            sessions_revoked_before: revoked_before,
            sessions_revoked_reason: revoked_before.map(|_| "password_compromised".into()),
            ..UserRow::sample(0)
        }
    }

    #[test]
    fn the_session_validity_rule() {
        let t0 = 1_000_000_000_000;
        let live = SessionTimes {
            issued_at: t0,
            created_at: t0,
            last_seen_at: t0,
            expires_at: t0 + 100 * ABSOLUTE,
        };
        let nobody = user(None, None);
        struct Case {
            name: &'static str,
            times: SessionTimes,
            user: UserRow,
            instance: i64,
            now: i64,
            want: Option<(i64, EndReason)>,
        }
        let cases = [
            Case {
                name: "fresh",
                times: live,
                user: nobody.clone(),
                instance: 0,
                now: t0,
                want: None,
            },
            Case {
                name: "idle, one ms before the timeout",
                times: live,
                user: nobody.clone(),
                instance: 0,
                now: t0 + IDLE - 1,
                want: None,
            },
            Case {
                name: "idle, at the timeout",
                times: live,
                user: nobody.clone(),
                instance: 0,
                now: t0 + IDLE,
                want: Some((t0 + IDLE, EndReason::Expired)),
            },
            Case {
                name: "active, one ms before the absolute lifetime",
                times: SessionTimes {
                    last_seen_at: t0 + ABSOLUTE - 1,
                    ..live
                },
                user: nobody.clone(),
                instance: 0,
                now: t0 + ABSOLUTE - 1,
                want: None,
            },
            Case {
                name: "active, at the absolute lifetime",
                times: SessionTimes {
                    last_seen_at: t0 + ABSOLUTE - 1,
                    ..live
                },
                user: nobody.clone(),
                instance: 0,
                now: t0 + ABSOLUTE,
                want: Some((t0 + ABSOLUTE, EndReason::Expired)),
            },
            Case {
                name: "fixed expiry earlier than the limits",
                times: SessionTimes {
                    expires_at: t0 + 10,
                    ..live
                },
                user: nobody.clone(),
                instance: 0,
                now: t0 + 10,
                want: Some((t0 + 10, EndReason::Expired)),
            },
            Case {
                name: "user watermark in the same millisecond",
                times: live,
                user: user(Some(t0), None),
                instance: 0,
                now: t0 + 5,
                want: Some((t0, EndReason::PasswordCompromised)),
            },
            Case {
                name: "user watermark one ms before issue",
                times: live,
                user: user(Some(t0 - 1), None),
                instance: 0,
                now: t0 + 5,
                want: None,
            },
            Case {
                name: "instance watermark in the same millisecond",
                times: live,
                user: nobody.clone(),
                instance: t0,
                now: t0 + 5,
                want: Some((t0, EndReason::InstanceSignOut)),
            },
            Case {
                name: "instance watermark one ms before issue",
                times: live,
                user: nobody.clone(),
                instance: t0 - 1,
                now: t0 + 5,
                want: None,
            },
            Case {
                name: "user watermark wins over instance",
                times: live,
                user: user(Some(t0 + 1), None),
                instance: t0 + 2,
                now: t0 + 5,
                want: Some((t0 + 1, EndReason::PasswordCompromised)),
            },
            Case {
                name: "disabled user",
                times: live,
                user: user(None, Some(t0 + 3)),
                instance: 0,
                now: t0 + 5,
                want: Some((t0 + 3, EndReason::AccountDisabled)),
            },
        ];
        for c in cases {
            let s = snap(c.instance);
            assert_eq!(
                verdict(&c.times, Some(&c.user), &s, c.now),
                c.want,
                "{}",
                c.name
            );
            // The SQL form of the limits agrees with the function.
            let expired = matches!(c.want, Some((_, EndReason::Expired)));
            assert_eq!(
                expired_by_cutoffs(&c.times, &Cutoffs::at(c.now, &s), c.now),
                expired,
                "{} (cut-offs)",
                c.name
            );
        }
    }

    #[test]
    fn without_a_user_only_the_limits_are_judged() {
        let t = SessionTimes {
            issued_at: 100,
            created_at: 100,
            last_seen_at: 100,
            expires_at: i64::MAX,
        };
        let s = snap(500);
        assert_eq!(
            verdict(&t, None, &s, 200),
            None,
            "the instance watermark needs the user row"
        );
        assert_eq!(
            verdict(&t, None, &s, 100 + IDLE),
            Some((100 + IDLE, EndReason::Expired))
        );
    }
}
