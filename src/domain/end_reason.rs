//! Why a session ended. The stable string form is stored on the session row.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EndReason {
    SignedOut,
    SignedOutFromDevice,
    ReportedNotMe,
    Expired,
    PasswordChanged,
    SignedOutByAdmin,
    PasswordCompromised,
    InstanceSignOut,
    AccountDisabled,
    AccountDeleted,
    /// Replaced by a re-issued session of the same sign-in (never listed).
    Reissued,
}

impl EndReason {
    pub const ALL: &'static [EndReason] = &[
        EndReason::SignedOut,
        EndReason::SignedOutFromDevice,
        EndReason::ReportedNotMe,
        EndReason::Expired,
        EndReason::PasswordChanged,
        EndReason::SignedOutByAdmin,
        EndReason::PasswordCompromised,
        EndReason::InstanceSignOut,
        EndReason::AccountDisabled,
        EndReason::AccountDeleted,
        EndReason::Reissued,
    ];

    /// The stable form stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::SignedOut => "signed_out",
            EndReason::SignedOutFromDevice => "signed_out_from_device",
            EndReason::ReportedNotMe => "reported_not_me",
            EndReason::Expired => "expired",
            EndReason::PasswordChanged => "password_changed",
            EndReason::SignedOutByAdmin => "signed_out_by_admin",
            EndReason::PasswordCompromised => "password_compromised",
            EndReason::InstanceSignOut => "instance_sign_out",
            EndReason::AccountDisabled => "account_disabled",
            EndReason::AccountDeleted => "account_deleted",
            EndReason::Reissued => "reissued",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|r| r.as_str() == code)
    }

    /// Words for pages.
    pub fn label(self) -> &'static str {
        match self {
            EndReason::SignedOut => "Signed out by you",
            EndReason::SignedOutFromDevice => "Signed out from another device",
            EndReason::ReportedNotMe => "Reported as not me from the alert e-mail",
            EndReason::Expired => "Expired",
            EndReason::PasswordChanged => "Password changed",
            EndReason::SignedOutByAdmin => "Signed out by an administrator",
            EndReason::PasswordCompromised => "Password set as compromised",
            EndReason::InstanceSignOut => "Everyone signed out by an administrator",
            EndReason::AccountDisabled => "Account disabled",
            EndReason::AccountDeleted => "Account deleted",
            EndReason::Reissued => "Replaced by a newer session",
        }
    }

    /// The label of a stored reason ("Ended" for one this version does not know).
    pub fn label_of(code: &str) -> &'static str {
        Self::parse(code).map_or("Ended", Self::label)
    }
}

#[cfg(test)]
mod tests {
    use super::EndReason;

    #[test]
    fn every_reason_round_trips_through_its_stored_form() {
        for r in EndReason::ALL {
            assert_eq!(EndReason::parse(r.as_str()), Some(*r));
        }
        assert_eq!(EndReason::label_of("something_new"), "Ended");
    }
}
