//! Admin read models.

use anyhow::Context;

use super::{ChainFigures, CheckpointFigures, InstanceAction, Overview, SignInHour};
use crate::domain::{time, AuditAction};
use crate::error::Result;
use crate::features::audit::actor_in_words;
use crate::features::sessions::validity::Cutoffs;
use crate::runtime::checkpoint::Cause;
use crate::runtime::AppState;
use crate::storage::overview::{self, LiveCut};
use crate::storage::{audit, checkpoints, Backend, Conn};

const HOUR_MS: i64 = 3_600_000;
/// How old the stored live-session count may be before a view asks for a recount.
pub const LIVE_COUNT_FRESH_MS: i64 = 60_000;
const LIVE_SESSIONS: &str = "live_sessions";
const DAY_MS: i64 = 24 * HOUR_MS;
/// Hours in the sign-in chart, the current one included.
pub const CHART_HOURS: i64 = 24;
/// Instance-wide actions listed.
const INSTANCE_ACTIONS_SHOWN: i64 = 3;
/// What "instance-wide" means here: the two actions that act on every account at once.
const INSTANCE_ACTIONS: [AuditAction; 2] = [
    AuditAction::InstancePasswordsCompromised,
    AuditAction::InstanceSessionsRevoked,
];

/// The figures of the admin home, each from an index or a small counter table (see
/// `storage::overview`): its cost does not grow with the number of users or audit entries.
pub async fn overview(state: &AppState) -> Result<Overview> {
    let mut conn = state.conn().await?;
    let snap = state.security.get();
    let now = state.now();
    let people = overview::user_figures(&mut conn, snap.row.passwords_compromised_before)
        .await
        .context("count users")?;
    let (active_sessions, active_sessions_at) = active_sessions(state, &mut conn, now).await?;
    // Today and the six days before, whole UTC days (what the audit filter's dates select).
    let week_start = now - now.rem_euclid(DAY_MS) - 6 * DAY_MS;
    let mut week = [0_i64; 3];
    for (n, action) in week.iter_mut().zip([
        AuditAction::ResetTaskCompleted,
        AuditAction::SessionNewDeviceAlert,
        AuditAction::SessionReportedNotMe,
    ]) {
        *n = overview::entries_since(&mut conn, action.as_str(), week_start)
            .await
            .with_context(|| format!("count {action} entries"))?;
    }
    let [resets_completed, new_device_alerts, not_me_reports] = week;
    let first_hour = now - now.rem_euclid(HOUR_MS) - (CHART_HOURS - 1) * HOUR_MS;
    let counted = overview::sign_in_hours(&mut conn, first_hour)
        .await
        .context("read sign-ins by hour")?;
    let instance_actions =
        overview::latest_of(&mut conn, &INSTANCE_ACTIONS, INSTANCE_ACTIONS_SHOWN)
            .await
            .context("read instance-wide actions")?
            .into_iter()
            .map(|r| InstanceAction {
                seq: r.seq,
                what: AuditAction::parse(&r.action)
                    .map_or(r.action.clone(), |a| a.label().to_owned()),
                who: actor_in_words(&r.actor_kind, r.actor_label.as_deref()),
                when: time::utc(r.at),
                reason: r.reason,
            })
            .collect();
    let (head_seq, _) = audit::head(&mut conn).await.context("read audit head")?;
    let checkpoint = match checkpoints::latest(&mut conn)
        .await
        .context("read the last checkpoint")?
    {
        None => None,
        Some(cp) => {
            let stored = overview::hash_at(&mut conn, cp.seq)
                .await
                .context("read the checkpointed entry")?;
            Some(CheckpointFigures {
                seq: cp.seq,
                when: time::utc(cp.at),
                cause: Cause::parse(&cp.cause)
                    .map_or("unknown", Cause::label)
                    .to_owned(),
                entry_matches: stored.as_deref() == Some(cp.hash.as_str()),
            })
        }
    };
    let (outbox_pending, outbox_failed) = overview::outbox_health(&mut conn)
        .await
        .context("count mails")?;
    let database = match state.store.backend() {
        Backend::Sqlite => "SQLite",
        Backend::Postgres => "PostgreSQL",
    };
    Ok(Overview {
        database: database.into(),
        at: now,
        users: people.total,
        admins: people.admins,
        disabled: people.disabled,
        compromised: people.compromised,
        reset_pending: people.reset_pending,
        resets_completed,
        active_sessions,
        active_sessions_at,
        week_from: time::utc(week_start)[..10].to_owned(),
        new_device_alerts,
        not_me_reports,
        sign_ins: by_hour(first_hour, &counted),
        instance_actions,
        chain: ChainFigures {
            head_seq,
            checkpoint,
        },
        outbox_pending,
        outbox_failed,
    })
}

/// The live sessions as last counted, and when. A count older than [`LIVE_COUNT_FRESH_MS`] is
/// shown as it is while one node (the one whose claim succeeds) recounts in the background: the
/// exact count reads an index entry per live session, over 100 ms at a million on PostgreSQL.
/// With no count stored yet, it is taken now.
async fn active_sessions(state: &AppState, conn: &mut Conn, now: i64) -> Result<(i64, i64)> {
    let stored = overview::stored_count(conn, LIVE_SESSIONS)
        .await
        .context("read the live-session count")?;
    match stored {
        Some((n, at)) if at > now - LIVE_COUNT_FRESH_MS => Ok((n, at)),
        Some((n, at)) => {
            let claimed =
                overview::claim_recount(conn, LIVE_SESSIONS, now, now - LIVE_COUNT_FRESH_MS)
                    .await
                    .context("claim the live-session recount")?;
            if claimed {
                let state = state.clone();
                tokio::spawn(async move {
                    if let Err(e) = count_live_sessions(&state).await {
                        tracing::warn!(error = %e, "live-session recount failed");
                    }
                });
            }
            Ok((n, at))
        }
        None => Ok((count_live_sessions(state).await?, now)),
    }
}

/// Counts the live sessions exactly (the session validity rule's cut-offs) and stores the count.
pub async fn count_live_sessions(state: &AppState) -> Result<i64> {
    let now = state.now();
    let snap = state.security.get();
    let cut = Cutoffs::at(now, &snap);
    let mut conn = state.conn().await?;
    let n = overview::live_sessions(
        &mut conn,
        LiveCut {
            now,
            idle: cut.idle,
            absolute: cut.absolute,
            revoked_before: snap.row.sessions_revoked_before,
        },
    )
    .await
    .context("count sessions")?;
    overview::store_count(&mut conn, LIVE_SESSIONS, n, now)
        .await
        .context("store the live-session count")?;
    Ok(n)
}

/// The chart's hours from the counted outcomes. A sign-in that containment restricts or refuses
/// records `auth.sign_in` (the password was right) and then `reset_task.started` or
/// `auth.sign_in_blocked` in the same request, so those are taken out of the successes.
fn by_hour(first_hour: i64, counted: &[(i64, String, i64)]) -> Vec<SignInHour> {
    (0..CHART_HOURS)
        .map(|h| {
            let hour = first_hour + h * HOUR_MS;
            let of = |action: AuditAction| {
                counted
                    .iter()
                    .filter(|(at, code, _)| *at == hour && code == action.as_str())
                    .map(|(_, _, n)| *n)
                    .sum::<i64>()
            };
            let refused = of(AuditAction::ResetTaskStarted) + of(AuditAction::SignInBlocked);
            SignInHour {
                hour,
                succeeded: (of(AuditAction::SignIn) - refused).max(0),
                failed: of(AuditAction::SignInFailed),
                refused,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_sign_in_is_not_counted_as_a_success_too() {
        let h = 10 * HOUR_MS;
        let counted = vec![
            (h, "auth.sign_in".to_owned(), 5),
            (h, "reset_task.started".to_owned(), 2),
            (h, "auth.sign_in_failed".to_owned(), 3),
            (h + HOUR_MS, "auth.sign_in_blocked".to_owned(), 1),
            (h + HOUR_MS, "auth.sign_in".to_owned(), 1),
        ];
        let hours = by_hour(h, &counted);
        assert_eq!(hours.len(), CHART_HOURS as usize);
        assert_eq!(
            (hours[0].succeeded, hours[0].failed, hours[0].refused),
            (3, 3, 2)
        );
        assert_eq!(
            (hours[1].succeeded, hours[1].failed, hours[1].refused),
            (0, 0, 1)
        );
        assert_eq!(hours[2].succeeded + hours[2].failed + hours[2].refused, 0);
    }
}
