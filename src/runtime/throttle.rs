//! Progressive sign-in delays per account (ASVS 6.3.1), held in the database so every node and a
//! restarted one apply the same: after [`THRESHOLD`] attempts without a success, each further
//! attempt waits twice as long as the one before (1 s, 2 s, 4 s ... at most 15 minutes). A
//! success starts the count again (the owner signing in from a known device clears the account's
//! count too, as Okta and Keycloak do); a day without attempts forgets it.
//!
//! The count is kept per e-mail as typed, so an unknown e-mail is throttled exactly like a known
//! one. A device the account already knows has its own count: an attacker who throttles the
//! account cannot lock its owner out of their own browser. A refused attempt never reaches
//! argon2, and refusals are reported in the audit trail as one entry per account and window.

use anyhow::Context;
use serde_json::json;

use super::{token, AppState, AuditedTx};
use crate::domain::{time, Actor, AuditAction, RequestMeta};
use crate::error::{AppError, Result};
use crate::storage::throttle::{self, Claim};
use crate::storage::users::UserRow;

/// Attempts allowed before the delays start.
pub const THRESHOLD: i64 = 5;
/// The longest delay.
pub const MAX_DELAY_MS: i64 = 15 * 60 * 1000;
/// A count with no attempt for this long starts again.
pub const FORGET_AFTER_MS: i64 = 24 * 60 * 60 * 1000;
/// Refusals are reported once per key and window.
pub const REPORT_WINDOW_MS: i64 = 15 * 60 * 1000;
/// Concurrent attempts on one key retry their claim this often before giving up (refused).
const CLAIM_TRIES: usize = 8;

/// The wait after the `attempts`-th attempt without a success.
pub fn delay_ms(attempts: i64) -> i64 {
    if attempts < THRESHOLD {
        return 0;
    }
    let doublings = u32::try_from(attempts - THRESHOLD)
        .unwrap_or(u32::MAX)
        .min(20);
    (1000_i64 << doublings).min(MAX_DELAY_MS)
}

/// An attempt allowed to check its password, already counted.
#[derive(Debug, Clone)]
pub struct Attempt {
    key: String,
    /// The e-mail's own count (the same as `key` unless the device is known).
    account_key: String,
    /// Whether it came from a device the account knows (its own count).
    pub known_device: bool,
    /// Attempts without a success, this one included.
    pub attempts: i64,
    /// The database clock when it was counted (see [`AppState::order_time`]).
    pub clock: i64,
}

impl Attempt {
    /// The wait this attempt imposes on the next one if it fails, in seconds.
    pub fn wait_after_failure_secs(&self) -> i64 {
        delay_ms(self.attempts) / 1000
    }
}

/// The e-mail as the throttle counts it: normalised when it parses, else as typed (lowercase,
/// trimmed, bounded).
fn label(typed: &str, normalized: Option<&str>) -> String {
    match normalized {
        Some(n) => n.to_owned(),
        None => typed.trim().to_lowercase().chars().take(254).collect(),
    }
}

/// Looks up the account of the e-mail and counts a sign-in attempt before its password is
/// checked, or refuses it with the wait ([`AppError::Throttled`]) while its key is throttled.
/// Returns the account (`None` for an unknown e-mail) and the counted attempt.
pub async fn admit(
    state: &AppState,
    typed: &str,
    normalized: Option<&str>,
    meta: &RequestMeta,
) -> Result<(Option<UserRow>, Attempt)> {
    let email = label(typed, normalized);
    let mut conn = state.conn().await?;
    // The account, both keys' rows and the device in one statement, asked for unknown e-mails
    // too (of no account), so both take the same steps.
    let device = meta.device.as_deref().unwrap_or("");
    let account_key = token::hash(&email);
    let device_key = match meta.device.as_deref() {
        Some(device) => token::hash(format!("{email}\n{device}")),
        None => account_key.clone(),
    };
    let throttle::FirstLook {
        user,
        known_device,
        seen,
    } = throttle::first_look(&mut conn, normalized, device, &account_key, &device_key)
        .await
        .context("look up the account and its sign-in throttle")?;
    let key = if known_device {
        device_key
    } else {
        account_key.clone()
    };
    let mut first = Some(seen.into_iter().find(|(k, _)| *k == key).map(|(_, r)| r));
    let user_id = user.as_ref().map(|u| u.id);
    for _ in 0..CLAIM_TRIES {
        let row = match first.take() {
            Some(row) => row,
            None => throttle::find(&mut conn, &key)
                .await
                .context("read the sign-in throttle")?,
        };
        let now = state.now();
        if row
            .as_ref()
            .and_then(|r| r.refused_since)
            .is_some_and(|since| since <= now - REPORT_WINDOW_MS)
        {
            // Not this request's address: the entry sums many requests.
            report_refusals(state, &key, now, &RequestMeta::default()).await?;
        }
        if let Some(r) = row.as_ref().filter(|r| r.locked_until > now) {
            let wait_ms = r.locked_until - now;
            throttle::count_refused(&mut conn, &key, now)
                .await
                .context("count a refused sign-in")?;
            return Err(AppError::Throttled {
                retry_after_secs: u64::try_from(wait_ms).unwrap_or(1000).div_ceil(1000).max(1),
            });
        }
        let before = row
            .as_ref()
            .filter(|r| now - r.last_failure_at <= FORGET_AFTER_MS)
            .map_or(0, |r| r.failures);
        let attempts = before + 1;
        let claim = Claim {
            key: &key,
            user_id,
            email: &email,
            failures: attempts,
            locked_until: now + delay_ms(attempts),
            now,
        };
        if let Some(clock) = throttle::claim(&mut conn, state.store.backend(), row.as_ref(), claim)
            .await
            .context("count a sign-in attempt")?
        {
            let attempt = Attempt {
                key,
                account_key,
                known_device,
                attempts,
                clock,
            };
            return Ok((user, attempt));
        }
    }
    Err(AppError::Throttled {
        retry_after_secs: 1,
    })
}

/// A correct password: the count starts again, for the account and (when it came from one) its
/// known device, and the session it `replaces` ends, in the caller's unit of work (the one that
/// records the sign-in). Returns the user row as it is now in that unit of work; on PostgreSQL the
/// audit head is advanced for the sign-in's entry in the same round trip.
pub async fn succeeded(
    tx: &mut AuditedTx<'_>,
    attempt: &Attempt,
    user_id: i64,
    replaces: Option<&str>,
) -> Result<Option<UserRow>> {
    let backend = tx.state().store.backend();
    let settle = throttle::Settle {
        keys: (&attempt.key, &attempt.account_key),
        user_id,
        replaces,
        now: tx.now(),
    };
    let settled = throttle::settle_sign_in(tx, backend, settle)
        .await
        .context("reset the sign-in throttle")?;
    if let Some((seq, prev_hash)) = settled.head {
        tx.head_advanced(seq, prev_hash);
    }
    if let Some(id_hash) = replaces.filter(|_| settled.replaced) {
        tx.session_ended(id_hash);
    }
    Ok(settled.user)
}

/// Writes one audit entry for the refusals of `key` that began a window or more before `now`.
async fn report_refusals(state: &AppState, key: &str, now: i64, meta: &RequestMeta) -> Result<()> {
    let mut tx = AuditedTx::begin(state, meta).await?;
    let Some(r) = throttle::take_refused(&mut tx, key, now - REPORT_WINDOW_MS, now)
        .await
        .context("take refused sign-ins")?
    else {
        return Ok(());
    };
    let mut details = json!({
        "refused": r.refused,
        "since": time::utc_seconds(r.refused_since),
        "summary": format!("{} sign-in attempts refused while throttled", r.refused),
    });
    if r.user_id.is_none() {
        details["email"] = json!(r.email);
    }
    tx.record(
        &Actor::Anonymous,
        AuditAction::SignInThrottled,
        r.user_id,
        None,
        details,
    )
    .await?;
    tx.commit().await
}

/// Reports every key whose refusals began a window or more ago, and forgets keys with no attempt
/// for a day (the sweeper, once a minute). Returns how many entries were written.
pub async fn report_due(state: &AppState) -> Result<usize> {
    let now = state.now();
    let mut conn = state.conn().await?;
    let keys = throttle::keys_due(&mut conn, now - REPORT_WINDOW_MS, 500)
        .await
        .context("find refusals to report")?;
    throttle::sweep(&mut conn, now - FORGET_AFTER_MS)
        .await
        .context("forget old sign-in counts")?;
    drop(conn);
    let meta = RequestMeta::default();
    for key in &keys {
        report_refusals(state, key, now, &meta).await?;
    }
    Ok(keys.len())
}

#[cfg(test)]
mod tests {
    use super::delay_ms;

    #[test]
    fn the_delay_doubles_after_the_threshold_and_stops_at_fifteen_minutes() {
        assert_eq!(delay_ms(4), 0);
        assert_eq!(delay_ms(5), 1000);
        assert_eq!(delay_ms(6), 2000);
        assert_eq!(delay_ms(7), 4000);
        assert_eq!(delay_ms(14), 512_000);
        assert_eq!(delay_ms(15), 15 * 60 * 1000);
        assert_eq!(delay_ms(10_000), 15 * 60 * 1000);
    }
}
