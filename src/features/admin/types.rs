//! The data the server functions exchange with the pages (isomorphic).

use serde::{Deserialize, Serialize};

/// The figures on the admin home. Each count equals the rows of the list it links to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overview {
    pub database: String,
    /// When the figures were read (Unix ms).
    pub at: i64,
    pub users: i64,
    pub admins: i64,
    pub disabled: i64,
    /// Enabled users whose password is compromised and who have not started a reset.
    pub compromised: i64,
    /// Enabled users whose password is compromised and who were sent a reset code.
    pub reset_pending: i64,
    /// New passwords chosen after a compromise since `week_from`.
    pub resets_completed: i64,
    pub active_sessions: i64,
    /// When the live sessions were counted (Unix ms): the count may be up to a minute old.
    pub active_sessions_at: i64,
    /// The first day (UTC, `YYYY-MM-DD`) of the 7-day window: today and the six days before,
    /// whole days, so the audit trail's date filter shows exactly the counted entries.
    pub week_from: String,
    pub new_device_alerts: i64,
    pub not_me_reports: i64,
    /// The last 24 hours, oldest first, the current hour last.
    pub sign_ins: Vec<SignInHour>,
    /// The newest instance-wide actions, newest first.
    pub instance_actions: Vec<InstanceAction>,
    pub chain: ChainFigures,
    pub outbox_pending: i64,
    pub outbox_failed: i64,
}

/// Sign-in outcomes in one hour (UTC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInHour {
    /// Start of the hour, Unix ms.
    pub hour: i64,
    /// Full sessions opened.
    pub succeeded: i64,
    /// Wrong password, unknown address or disabled account.
    pub failed: i64,
    /// Right password, but compromised: restricted to the reset, or refused.
    pub refused: i64,
}

/// One instance-wide action, in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceAction {
    pub seq: i64,
    pub what: String,
    pub who: String,
    /// `YYYY-MM-DD HH:MM UTC`.
    pub when: String,
    pub reason: Option<String>,
}

/// The audit chain as far as it can be told without walking it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainFigures {
    /// The number of the last entry (entries are numbered from 1 without gaps).
    pub head_seq: i64,
    pub checkpoint: Option<CheckpointFigures>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointFigures {
    pub seq: i64,
    /// `YYYY-MM-DD HH:MM UTC`.
    pub when: String,
    /// Why it was taken, in words.
    pub cause: String,
    /// Whether the entry it signed still has the signed hash (one lookup, not a verification
    /// of the chain).
    pub entry_matches: bool,
}
