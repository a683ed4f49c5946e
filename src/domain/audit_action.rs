//! Every kind of audit entry. The stable string form is what the database keeps and what filters
//! and exports use; the label is for pages.

use serde::{Deserialize, Serialize};

macro_rules! actions {
    ($($variant:ident => $code:literal, $label:literal;)*) => {
        /// What an audit entry records.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum AuditAction {
            $($variant,)*
        }

        impl AuditAction {
            pub const ALL: &'static [AuditAction] = &[$(AuditAction::$variant,)*];

            /// The stable form stored in the database (never change one).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(AuditAction::$variant => $code,)*
                }
            }

            /// Words for pages.
            pub fn label(self) -> &'static str {
                match self {
                    $(AuditAction::$variant => $label,)*
                }
            }

            pub fn parse(code: &str) -> Option<Self> {
                match code {
                    $($code => Some(AuditAction::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

actions! {
    ApiKeyCreated => "api_key.created", "API key created";
    ApiKeyReads => "api_key.reads", "API reads by a key (counted per minute)";
    ApiKeyRevoked => "api_key.revoked", "API key revoked";
    ApplicationCreated => "application.created", "Application added";
    ApplicationDeleted => "application.deleted", "Application removed";
    ApplicationUpdated => "application.updated", "Application changed";
    AuditExported => "audit.exported", "Audit trail exported";
    SignIn => "auth.sign_in", "Signed in";
    SignInBlocked => "auth.sign_in_blocked", "Sign-in blocked";
    SignInFailed => "auth.sign_in_failed", "Sign-in failed";
    SignInThrottled => "auth.sign_in_throttled", "Sign-in attempts refused while throttled";
    SignOut => "auth.sign_out", "Signed out";
    SignUpExisting => "auth.sign_up_existing", "Sign-up tried with an existing address (owner told by mail)";
    EmailTemplateReset => "email_template.reset", "E-mail template reset to the default";
    EmailTemplateUpdated => "email_template.updated", "E-mail template updated";
    IncidentBannerDismissed => "incident.banner_dismissed", "Incident notice dismissed by the user";
    IncidentClosed => "incident.closed", "Incident closed";
    IncidentCohortApplied => "incident.cohort_applied", "Cohort applied to an incident";
    IncidentCohortBatch => "incident.cohort_batch", "Cohort batch contained";
    IncidentCohortCancelled => "incident.cohort_cancelled", "Cohort job cancelled";
    IncidentCohortSessionsEnded => "incident.cohort_sessions_ended", "Sessions of contained cohort members recorded as ended";
    IncidentCohortFinished => "incident.cohort_finished", "Cohort job finished";
    IncidentExported => "incident.exported", "Incident evidence bundle exported";
    IncidentContained => "incident.contained", "Incident contained (every cohort member's sessions invalid)";
    IncidentNoticesQueued => "incident.notices_queued", "Incident notices queued";
    IncidentOpened => "incident.opened", "Incident opened";
    IncidentTightened => "incident.tightened", "Temporary tightening set for an incident";
    IncidentTighteningReverted => "incident.tightening_reverted", "Temporary tightening reverted at the incident's close";
    InstancePasswordsCompromised => "instance.passwords_compromised", "All passwords set as compromised";
    InstanceSessionsRevoked => "instance.sessions_revoked", "Everyone signed out";
    PasswordResetCompleted => "password_reset.completed", "Password reset completed";
    PasswordResetLinkExpired => "password_reset.link_expired", "Expired reset link used";
    PasswordResetLinkInvalid => "password_reset.link_invalid", "Invalid reset link used";
    PasswordResetRateLimited => "password_reset.rate_limited", "Password reset request throttled";
    PasswordResetRequested => "password_reset.requested", "Password reset requested";
    PasswordResetSentByAdmin => "password_reset.sent_by_admin", "Password reset e-mail sent by an administrator";
    ResetTaskCodeBudgetSpent => "reset_task.code_budget_spent", "Too many wrong reset codes: codes locked for the day";
    ResetTaskCodeFailed => "reset_task.code_failed", "Wrong reset code entered";
    ResetTaskCodeResent => "reset_task.code_resent", "Reset code sent again";
    ResetTaskCompleted => "reset_task.completed", "New password chosen after a compromise";
    ResetTaskEmailVerified => "reset_task.email_verified", "E-mail confirmed with the reset code";
    ResetTaskStarted => "reset_task.started", "Password reset required at sign-in";
    SessionNewDeviceAlert => "session.new_device_alert", "New-device alert sent";
    SessionReportedNotMe => "session.reported_not_me", "Sign-in reported as not me";
    SessionRestricted => "session.restricted", "Session restricted to the password reset (password compromised)";
    SessionRevoked => "session.revoked", "Session signed out by an administrator";
    SessionSignedOutByUser => "session.signed_out_by_user", "Session signed out from another device";
    SessionSignedOutOthers => "session.signed_out_others", "Other sessions signed out";
    SettingsDeviceAlertsUpdated => "settings.device_alerts_updated", "New-device alert settings changed";
    SettingsMailUpdated => "settings.mail_updated", "E-mail settings changed";
    SettingsSecurityUpdated => "settings.security_updated", "Security settings changed";
    UserCreated => "user.created", "Account created";
    UserDisabled => "user.disabled", "Account disabled";
    UserEnabled => "user.enabled", "Account enabled";
    UserRoleChanged => "user.role_changed", "Role changed";
    UserPasswordCompromised => "user.password_compromised", "Password set as compromised";
    UserSessionsRevoked => "user.sessions_revoked", "All sessions signed out by an administrator";
}

impl std::fmt::Display for AuditAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::AuditAction;

    #[test]
    fn every_action_round_trips_through_its_stored_form() {
        let mut seen = std::collections::HashSet::new();
        for a in AuditAction::ALL {
            assert_eq!(AuditAction::parse(a.as_str()), Some(*a));
            assert!(seen.insert(a.as_str()), "{} is used twice", a.as_str());
            assert!(!a.label().is_empty());
        }
        assert_eq!(AuditAction::parse("nope"), None);
    }
}
