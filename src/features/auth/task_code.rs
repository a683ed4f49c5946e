//! The e-mail code of the reset-password task (ASVS 6.5, 6.6.3). The code is 6 digits, so what
//! stops guessing is counted in the database, where every node and every restart sees it:
//!
//! - each code allows 5 tries, taken with one atomic `UPDATE … RETURNING`, so concurrent
//!   guesses cannot take more;
//! - each user has a budget of 20 wrong codes and 10 codes sent per 24-hour window (the window
//!   starts with the first of them and ends 24 hours later; it is not rolling). A new code does
//!   not refill it. Once the wrong codes are spent, no code is checked or sent until the window
//!   ends, and the page says until when.
//!
//! The code is stored as HMAC-SHA256 under the server key, bound to the user id, so a copy of
//! the database alone does not reverse it.

use anyhow::Context;
use rand::Rng;
use serde_json::json;

use crate::domain::time::utc;
use crate::domain::{Actor, AuditAction, RequestMeta};
use crate::email::MailKind;
use crate::error::{AppError, Result};
use crate::runtime::server_key::Purpose;
use crate::runtime::{AppState, AuditedTx};
use crate::storage::resets::{self, Budget, BudgetLimits, Spend};
use crate::storage::users::UserRow;

pub const CODE_TTL_MS: i64 = 10 * 60 * 1000;
/// Tries per code.
pub const MAX_TRIES: i64 = 5;
/// The per-user budget.
pub const LIMITS: BudgetLimits = BudgetLimits {
    window_ms: 24 * 60 * 60 * 1000,
    max_failures: 20,
    max_codes_sent: 10,
};

/// What the database keeps for `code`: bound to the user, keyed by the server key.
fn code_mac(state: &AppState, user_id: i64, code: &str) -> String {
    state
        .server_key
        .mac(Purpose::ResetCode, format!("{user_id}:{code}"))
}

fn user_actor(u: &UserRow) -> Actor {
    Actor::account(u.id, &u.email)
}

/// Why no code can be checked or sent now, and until when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    /// The wrong codes of the window are spent: nothing is checked or sent.
    TooManyWrongCodes { until: i64 },
    /// The codes of the window are sent: the live code (if any) can still be entered.
    TooManyCodesSent { until: i64 },
}

impl Lock {
    fn of(b: &Budget, now: i64) -> Option<Self> {
        let until = b.window_start + LIMITS.window_ms;
        if until <= now {
            None
        } else if b.failures >= LIMITS.max_failures {
            Some(Lock::TooManyWrongCodes { until })
        } else if b.codes_sent >= LIMITS.max_codes_sent {
            Some(Lock::TooManyCodesSent { until })
        } else {
            None
        }
    }

    /// What the page says: what happened, until when, and what to do instead.
    pub fn message(self, now: i64) -> String {
        match self {
            Lock::TooManyWrongCodes { until } => format!(
                "Too many wrong codes were entered for this account. To protect it, no code can be checked or sent until {} ({}). If you need access sooner, contact your administrator.",
                utc(until),
                in_words(until - now)
            ),
            Lock::TooManyCodesSent { until } => format!(
                "Too many codes were sent to this account. You can ask for a new one after {} ({}); a code you already received still works until it expires. If you need access sooner, contact your administrator.",
                utc(until),
                in_words(until - now)
            ),
        }
    }
}

/// "in about 3 hours", "in about 12 minutes".
fn in_words(ms: i64) -> String {
    let minutes = (ms + 59_999) / 60_000;
    match minutes {
        ..=1 => "in about a minute".to_owned(),
        2..=90 => format!("in about {minutes} minutes"),
        _ => format!("in about {} hours", (minutes + 30) / 60),
    }
}

/// The lock on `user_id` now, if any.
pub async fn lock(state: &AppState, user_id: i64) -> Result<Option<Lock>> {
    let mut conn = state.conn().await?;
    let budget = resets::budget(&mut conn, user_id)
        .await
        .context("load reset budget")?;
    Ok(budget.and_then(|b| Lock::of(&b, state.now())))
}

/// What [`send_code`] did. A sign-in may ignore it: the task page it lands on shows the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    Sent,
    /// Nothing was sent: the budget is spent.
    Locked(Lock),
}

/// Sends a new code (replacing any earlier one) and records `action`, unless the user's budget
/// is spent.
pub async fn send_code(
    state: &AppState,
    user: &UserRow,
    meta: &RequestMeta,
    action: AuditAction,
) -> Result<Sent> {
    let mut tx = AuditedTx::begin(state, meta).await?;
    let now = tx.now();
    if resets::spend_budget(&mut tx, user.id, now, Spend::CodeSent, LIMITS)
        .await
        .context("spend reset budget")?
        .is_none()
    {
        drop(tx);
        return Ok(match lock(state, user.id).await? {
            Some(lock) => Sent::Locked(lock),
            // The window ended in between: the next try starts a new one.
            None => Sent::Locked(Lock::TooManyCodesSent { until: now }),
        });
    }
    let code = format!("{:06}", rand::rng().random_range(0..1_000_000u32));
    resets::put_code(
        &mut tx,
        user.id,
        &code_mac(state, user.id, &code),
        now,
        now + CODE_TTL_MS,
    )
    .await
    .context("store code")?;
    let vars = json!({"code": code, "expires_in_minutes": CODE_TTL_MS / 60_000});
    tx.queue_mail(MailKind::ResetCode, &user.email, vars)
        .await?;
    tx.record(&user_actor(user), action, Some(user.id), None, json!({}))
        .await?;
    tx.commit().await?;
    Ok(Sent::Sent)
}

fn code_error(message: impl ToString) -> AppError {
    AppError::field("code", message)
}

/// Checks a code: one try of the live code and one unit of the user's budget, taken atomically;
/// a right code gives the unit back. Refused without checking when the budget is spent.
pub async fn check_code(
    state: &AppState,
    user: &UserRow,
    code: &str,
    meta: &RequestMeta,
) -> Result<()> {
    let mut tx = AuditedTx::begin(state, meta).await?;
    let now = tx.now();
    let Some(budget) = resets::spend_budget(&mut tx, user.id, now, Spend::Failure, LIMITS)
        .await
        .context("spend reset budget")?
    else {
        drop(tx);
        let lock = lock(state, user.id)
            .await?
            .unwrap_or(Lock::TooManyWrongCodes { until: now });
        return Err(code_error(lock.message(now)));
    };
    let Some((stored, tries)) = resets::take_code_try(&mut tx, user.id, now, MAX_TRIES)
        .await
        .context("take a try")?
    else {
        // Nothing was checked: the rollback gives the budget unit back.
        drop(tx);
        return Err(code_error(no_try_left(state, user.id, now).await?));
    };
    let input = format!("{}:{code}", user.id);
    if state
        .server_key
        .mac_matches(Purpose::ResetCode, input, &stored)
    {
        resets::refund_failure(&mut tx, user.id)
            .await
            .context("refund budget")?;
        resets::delete_code(&mut tx, user.id)
            .await
            .context("use code")?;
        tx.record(
            &user_actor(user),
            AuditAction::ResetTaskEmailVerified,
            Some(user.id),
            None,
            json!({}),
        )
        .await?;
        return tx.commit().await;
    }
    let tries_left = MAX_TRIES - tries;
    let failures_left = LIMITS.max_failures - budget.failures;
    let details = json!({"tries_left": tries_left, "failures_left_today": failures_left});
    tx.record(
        &user_actor(user),
        AuditAction::ResetTaskCodeFailed,
        Some(user.id),
        None,
        details,
    )
    .await?;
    let spent = Lock::of(&budget, now);
    if let Some(Lock::TooManyWrongCodes { until }) = spent {
        // Once per window: the statement that spent the last unit is the only one that sees
        // the count reach the limit.
        let details = json!({"failures": budget.failures, "locked_until": until});
        tx.record(
            &user_actor(user),
            AuditAction::ResetTaskCodeBudgetSpent,
            Some(user.id),
            None,
            details,
        )
        .await?;
    }
    tx.commit().await?;
    Err(code_error(match spent {
        Some(lock @ Lock::TooManyWrongCodes { .. }) => lock.message(now),
        _ if tries_left > 0 => format!(
            "That code is not correct. {tries_left} {} left.",
            if tries_left == 1 { "try" } else { "tries" }
        ),
        _ => "That code is not correct and no tries are left. Send a new code.".to_owned(),
    }))
}

/// Why there was no try to take.
async fn no_try_left(state: &AppState, user_id: i64, now: i64) -> Result<String> {
    let mut conn = state.conn().await?;
    let code = resets::code(&mut conn, user_id)
        .await
        .context("load code")?;
    Ok(match code {
        None => "This code is no longer valid. Send a new code.",
        Some((_, expires_at, _)) if expires_at <= now => "This code has expired. Send a new code.",
        Some(_) => "Too many wrong codes. Send a new code.",
    }
    .to_owned())
}
