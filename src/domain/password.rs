//! Password policy after NIST SP 800-63B §5.1.1.2 and OWASP ASVS 6.2: length, not composition;
//! checked exactly as received (no trimming, no truncation); no password containing the account's
//! e-mail. The common-password check (zxcvbn, with its offline frequency lists) runs on the server
//! only, to keep the dictionaries out of the browser bundle.

use std::fmt;

/// The longest password accepted. ASVS asks for at least 64; argon2 makes any length cheap to store.
pub const MAX_LENGTH: usize = 256;
/// How much of a password the common-password check reads.
pub const STRENGTH_CHECK_CHARS: usize = 100;
/// The floor below which no configuration may go.
pub const MIN_LENGTH_FLOOR: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    pub min_length: usize,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self { min_length: 12 }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("Use at least {0} characters.")]
    TooShort(usize),
    #[error("Use at most {MAX_LENGTH} characters.")]
    TooLong,
    #[error("Your password must not contain your email address.")]
    ContainsEmail,
    #[error("This password is too common or easy to guess. {0}")]
    TooCommon(String),
}

/// A password that satisfied the policy. Its `Debug` never shows the value.
#[derive(Clone)]
pub struct NewPassword(String);

impl NewPassword {
    /// Applies the checks that need no dictionary. The server adds [`NewPassword::check_common`].
    pub fn parse(
        input: &str,
        email_local_part: Option<&str>,
        policy: PasswordPolicy,
    ) -> Result<Self, PasswordError> {
        let min = policy.min_length.max(MIN_LENGTH_FLOOR);
        let length = input.chars().count();
        if length < min {
            return Err(PasswordError::TooShort(min));
        }
        if length > MAX_LENGTH {
            return Err(PasswordError::TooLong);
        }
        if let Some(local) = email_local_part {
            if local.chars().count() >= 3 && input.to_lowercase().contains(&local.to_lowercase()) {
                return Err(PasswordError::ContainsEmail);
            }
        }
        Ok(Self(input.to_owned()))
    }

    /// Refuses passwords found in zxcvbn's common-password and word lists or built from the
    /// user's own details (see [`check_common_password`]).
    #[cfg(feature = "ssr")]
    pub fn check_common(self, user_inputs: &[&str]) -> Result<Self, PasswordError> {
        check_common_password(&self.0, user_inputs).map(|()| self)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// zxcvbn's verdict: refused below a score of 3 of 4 (fewer than ~10^8 guesses). Only the first
/// [`STRENGTH_CHECK_CHARS`] characters are estimated: zxcvbn's time grows steeply with length,
/// and 100 characters that pass are strong whatever follows.
#[cfg(feature = "ssr")]
pub fn check_common_password(password: &str, user_inputs: &[&str]) -> Result<(), PasswordError> {
    let head: String = password.chars().take(STRENGTH_CHECK_CHARS).collect();
    let estimate = zxcvbn::zxcvbn(&head, user_inputs);
    if estimate.score() >= zxcvbn::Score::Three {
        return Ok(());
    }
    let hint = estimate
        .feedback()
        .and_then(|f| f.warning().map(|w| w.to_string()))
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "Try a longer passphrase of unrelated words.".to_owned());
    Err(PasswordError::TooCommon(hint))
}

impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPassword(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: PasswordPolicy = PasswordPolicy { min_length: 12 };

    #[test]
    fn length_is_counted_in_characters_and_not_trimmed() {
        assert_eq!(
            NewPassword::parse("short", None, POLICY).unwrap_err(),
            PasswordError::TooShort(12)
        );
        // eleven characters plus a space is twelve: spaces count, nothing is trimmed
        assert!(NewPassword::parse("ééééééééééé ", None, POLICY).is_ok());
        assert!(NewPassword::parse(&"x".repeat(64), None, POLICY).is_ok());
        assert_eq!(
            NewPassword::parse(&"x".repeat(257), None, POLICY).unwrap_err(),
            PasswordError::TooLong
        );
    }

    #[test]
    fn the_configured_minimum_never_goes_below_eight() {
        let lax = PasswordPolicy { min_length: 4 };
        assert_eq!(
            NewPassword::parse("abcdefg", None, lax).unwrap_err(),
            PasswordError::TooShort(8)
        );
    }

    #[test]
    fn a_password_containing_the_email_local_part_is_refused() {
        let err =
            NewPassword::parse("my-Grace.Hopper-secret", Some("grace.hopper"), POLICY).unwrap_err();
        assert_eq!(err, PasswordError::ContainsEmail);
    }

    #[cfg(feature = "ssr")]
    #[test]
    fn common_passwords_are_refused_and_passphrases_accepted() {
        let common = NewPassword::parse("password1234", None, POLICY).unwrap();
        assert!(matches!(
            common.check_common(&[]),
            Err(PasswordError::TooCommon(_))
        ));
        let good = NewPassword::parse("Vivid-Harbor-Lantern-2931", None, POLICY).unwrap();
        assert!(good.check_common(&[]).is_ok());
    }

    #[test]
    fn debug_never_shows_the_password() {
        let p = NewPassword::parse("Vivid-Harbor-Lantern-2931", None, POLICY).unwrap();
        assert!(!format!("{p:?}").contains("Harbor"));
    }
}
