//! Opening a session after a proof of the password: the device is remembered (and, when it is new
//! for the user, the new-device alert queued) in the unit of work that decided the sign-in, then
//! the session starts.

use tower_sessions::Session;

use crate::domain::RequestMeta;
use crate::error::Result;
use crate::features::devices::alerts::{self, SignIn};
use crate::features::sessions::service::{self as sessions, NewSession};
use crate::features::sessions::ResetTask;
use crate::runtime::security::fresh_time;
use crate::runtime::{AppState, AuditedTx};
use crate::storage::users::UserRow;

/// Inside `tx` (which decided the sign-in): records the device, commits, then starts the session
/// issued at `issued_at`; `task` makes it a restricted one.
pub async fn record_and_start(
    mut tx: AuditedTx<'_>,
    session: &Session,
    user: &UserRow,
    task: Option<ResetTask>,
    issued_at: i64,
) -> Result<()> {
    let state = tx.state();
    let meta = tx.meta();
    let key = sessions::new_key();
    let location = meta
        .ip
        .as_deref()
        .and_then(|ip| ip.parse().ok())
        .and_then(|ip| state.geo.locate(ip));
    let method = if task.is_some() {
        "Password (a password reset is required)"
    } else {
        "Password"
    };
    let sign_in = SignIn {
        user,
        key: &key,
        method,
        location: location.as_ref(),
    };
    alerts::record_sign_in(&mut tx, sign_in).await?;
    tx.commit().await?;
    let new = NewSession {
        user,
        key,
        meta,
        location: location.and_then(|l| l.label()),
        task,
        issued_at,
    };
    sessions::start_session(state, session, new).await
}

/// A full session right after a new password was set (the reset task), issued after every
/// watermark.
pub async fn open_session(
    state: &AppState,
    session: &Session,
    user: &UserRow,
    meta: &RequestMeta,
) -> Result<()> {
    let mut tx = AuditedTx::begin(state, meta).await?;
    let issued_at = fresh_time(tx.order_time().await?, Some(user), &state.security.get());
    record_and_start(tx, session, user, None, issued_at).await
}
