//! Management API keys: what a key may do (its scopes), how long it may live, and the shape of the
//! secret itself (`kw_live_` then 64 hex digits, 256 random bits).

use serde::{Deserialize, Serialize};

/// What an API key prefixes its secret with, so a leaked key is recognisable (secret scanners).
pub const KEY_PREFIX: &str = "kw_live_";
/// Hex digits after the prefix (256 bits).
pub const KEY_HEX_LEN: usize = 64;
/// The longest a key may live.
pub const MAX_KEY_LIFETIME_DAYS: i64 = 366;
/// A key name: 1 to this many characters.
pub const MAX_KEY_NAME: usize = 64;

macro_rules! scopes {
    ($($variant:ident => $code:literal, $label:literal;)*) => {
        /// One permission an API key may hold. Each API operation needs exactly one.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum ApiScope {
            $(#[serde(rename = $code)] $variant,)*
        }

        impl ApiScope {
            pub const ALL: &'static [ApiScope] = &[$(ApiScope::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(ApiScope::$variant => $code,)*
                }
            }

            /// Words for the console.
            pub fn label(self) -> &'static str {
                match self {
                    $(ApiScope::$variant => $label,)*
                }
            }

            pub fn parse(code: &str) -> Option<Self> {
                match code {
                    $($code => Some(ApiScope::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

scopes! {
    UsersRead => "users:read", "Read users";
    UsersWrite => "users:write", "Create, disable, enable users, change roles, send resets";
    SessionsRead => "sessions:read", "Read users' sessions";
    SessionsWrite => "sessions:write", "Sign users' sessions out";
    IncidentRead => "incident:read", "Read incidents and cohort jobs";
    IncidentWrite => "incident:write", "Compromise passwords, sign out everyone, run incidents and bulk actions";
    AuditRead => "audit:read", "Read, export and verify the audit trail";
    SettingsRead => "settings:read", "Read security settings";
    SettingsWrite => "settings:write", "Change security settings";
    OutboxRead => "outbox:read", "Read the e-mail outbox state";
}

/// Parses a comma-separated scope list: at least one, each known, no repeats (sorted as
/// [`ApiScope::ALL`] lists them).
pub fn parse_scopes(text: &str) -> Result<Vec<ApiScope>, String> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let scope = ApiScope::parse(part).ok_or_else(|| {
            let known: Vec<&str> = ApiScope::ALL.iter().map(|s| s.as_str()).collect();
            format!("Unknown scope \"{part}\" (known: {}).", known.join(", "))
        })?;
        if !out.contains(&scope) {
            out.push(scope);
        }
    }
    if out.is_empty() {
        return Err("Choose at least one scope.".into());
    }
    out.sort_by_key(|s| ApiScope::ALL.iter().position(|a| a == s));
    Ok(out)
}

/// The stored form: codes joined by commas.
pub fn scopes_text(scopes: &[ApiScope]) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// A lifetime such as `30d`, `12h` or `90m` (or a bare number of days), in milliseconds:
/// at least one minute, at most [`MAX_KEY_LIFETIME_DAYS`].
pub fn parse_lifetime(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let (digits, unit_ms) = match text.chars().last() {
        Some('d') => (&text[..text.len() - 1], 86_400_000),
        Some('h') => (&text[..text.len() - 1], 3_600_000),
        Some('m') => (&text[..text.len() - 1], 60_000),
        Some(c) if c.is_ascii_digit() => (text, 86_400_000),
        _ => {
            return Err(format!(
                "\"{text}\" is not a lifetime such as 30d, 12h or 90m."
            ))
        }
    };
    let n: i64 = digits
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("\"{text}\" is not a lifetime such as 30d, 12h or 90m."))?;
    let ms = n.saturating_mul(unit_ms);
    if ms > MAX_KEY_LIFETIME_DAYS * 86_400_000 {
        return Err(format!("A key lives at most {MAX_KEY_LIFETIME_DAYS} days."));
    }
    Ok(ms)
}

/// A key name: trimmed, 1–64 printable characters.
pub fn check_key_name(name: &str) -> Result<String, String> {
    let name = name.trim();
    if name.is_empty() {
        return Err("Required.".into());
    }
    if name.chars().count() > MAX_KEY_NAME {
        return Err(format!("At most {MAX_KEY_NAME} characters."));
    }
    if name.chars().any(char::is_control) {
        return Err("Control characters are not allowed.".into());
    }
    Ok(name.to_owned())
}

/// Whether a presented secret has a key's shape (checked before any lookup).
pub fn looks_like_key(secret: &str) -> bool {
    secret.strip_prefix(KEY_PREFIX).is_some_and(|hex| {
        hex.len() == KEY_HEX_LEN
            && hex
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_in_a_stable_order_and_refuse_unknown_ones() {
        assert_eq!(
            parse_scopes("audit:read, users:read,users:read").unwrap(),
            vec![ApiScope::UsersRead, ApiScope::AuditRead]
        );
        assert!(parse_scopes("users:admin")
            .unwrap_err()
            .contains("users:admin"));
        assert!(parse_scopes(" , ").is_err());
    }

    #[test]
    fn lifetimes_are_bounded_to_a_year() {
        assert_eq!(parse_lifetime("30d"), Ok(30 * 86_400_000));
        assert_eq!(parse_lifetime("2h"), Ok(7_200_000));
        assert_eq!(parse_lifetime("366"), Ok(366 * 86_400_000));
        assert!(parse_lifetime("367d").is_err());
        assert!(parse_lifetime("0d").is_err());
        assert!(parse_lifetime("-1d").is_err());
        assert!(parse_lifetime("forever").is_err());
    }

    #[test]
    fn only_well_formed_secrets_look_like_keys() {
        let good = format!("{KEY_PREFIX}{}", "ab".repeat(32));
        assert!(looks_like_key(&good));
        assert!(!looks_like_key(&good[..good.len() - 1]));
        assert!(!looks_like_key(&good.to_uppercase()));
        assert!(!looks_like_key("Bearer x"));
    }
}
