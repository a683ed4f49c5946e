//! Opening a session after a proof of the password: the device is remembered (and, when it is new
//! for the user, the new-device alert queued) in one unit of work, then the session starts.

use tower_sessions::Session;

use crate::domain::RequestMeta;
use crate::error::Result;
use crate::features::devices::alerts::{self, SignIn};
use crate::features::sessions::service::{self as sessions, NewSession};
use crate::features::sessions::ResetTask;
use crate::runtime::{AppState, AuditedTx};
use crate::storage::users::UserRow;

/// Starts a session for `user`; `task` makes it a restricted one.
pub async fn open_session(
    state: &AppState,
    session: &Session,
    user: &UserRow,
    meta: &RequestMeta,
    task: Option<ResetTask>,
) -> Result<()> {
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
    let mut tx = AuditedTx::begin(state, meta).await?;
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
    };
    sessions::start_session(state, session, new).await
}
