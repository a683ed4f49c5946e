//! The data the server functions exchange with the pages (isomorphic).

use leptos_router::params::ParamsMap;
use serde::{Deserialize, Serialize};

/// One entry as an admin sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntryDto {
    pub seq: i64,
    /// Unix milliseconds, UTC.
    pub at: i64,
    /// `YYYY-MM-DD HH:MM:SS UTC`.
    pub time: String,
    pub actor_kind: String,
    pub actor_label: Option<String>,
    pub action: String,
    pub target_user_id: Option<i64>,
    /// `None` when there is no target or the user no longer exists.
    pub target_email: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// "Firefox 132 on Linux": the user agent in words, short enough for a table cell.
    pub user_agent_summary: Option<String>,
    pub reason: Option<String>,
    /// Compact JSON.
    pub details: String,
    /// This entry's hash in the chain (64 hex digits); exports and the API leave it out.
    pub hash: String,
}

/// Who acted, as the console says it: the e-mail for people, "command line (root)" for the CLI,
/// "API key (deploy)" for a key, "Keywarden (automatic)" for the system. `kind` and `label` are
/// the stored `actor_kind` and `actor_label`, which exports keep as they are.
pub fn actor_in_words(kind: &str, label: Option<&str>) -> String {
    let label = label.map(str::trim).filter(|l| !l.is_empty());
    match (kind, label) {
        ("anonymous", _) => "anonymous visitor".into(),
        ("user" | "admin", Some(email)) => email.into(),
        ("user", None) => "a user".into(),
        ("admin", None) => "an administrator".into(),
        // The CLI records "unknown" when neither USER nor LOGNAME is set.
        ("cli", Some("unknown") | None) => "command line (OS user unknown)".into(),
        ("cli", Some(os_user)) => format!("command line ({os_user})"),
        ("api_key", Some(name)) => format!("API key ({name})"),
        ("api_key", None) => "API key".into(),
        ("system", _) => "Keywarden (automatic)".into(),
        (other, Some(label)) => format!("{label} ({other})"),
        (other, None) => other.into(),
    }
}

/// One page, newest first. `next_before` is the cursor for the older page; `newer` says whether
/// a newer page exists and, if it is not the first one, its cursor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPage {
    pub entries: Vec<AuditEntryDto>,
    pub next_before: Option<i64>,
    pub newer: Option<NewerPage>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewerPage {
    /// `None`: the newer page is the first page (no cursor).
    pub before: Option<i64>,
}

/// The filters as typed in the form and carried in the URL. Empty strings mean "no filter".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub target: Option<String>,
    pub action: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}

impl AuditFilter {
    pub fn from_query(query: &ParamsMap) -> Self {
        let get = |k: &str| query.get(k).filter(|v| !v.trim().is_empty());
        Self {
            actor: get("actor"),
            target: get("target"),
            action: get("action"),
            from: get("from"),
            to: get("to"),
        }
    }

    /// The filters that are set, in form order.
    pub fn pairs(&self) -> Vec<(&'static str, &str)> {
        [
            ("actor", &self.actor),
            ("target", &self.target),
            ("action", &self.action),
            ("from", &self.from),
            ("to", &self.to),
        ]
        .into_iter()
        .filter_map(|(k, v)| {
            v.as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(|v| (k, v))
        })
        .collect()
    }

    /// `?actor=…&before=…`, or an empty string when nothing is set.
    pub fn query_string(&self, before: Option<i64>) -> String {
        let before = before.map(|b| b.to_string());
        let mut pairs = self.pairs();
        if let Some(b) = &before {
            pairs.push(("before", b));
        }
        if pairs.is_empty() {
            return String::new();
        }
        let encoded: Vec<String> = pairs
            .into_iter()
            .map(|(k, v)| format!("{k}={}", encode_component(v)))
            .collect();
        format!("?{}", encoded.join("&"))
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters, the same on server and browser
/// (so server-rendered and hydrated links agree).
fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b))
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The result of walking the hash chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChainStatus {
    Intact { entries: i64 },
    Broken { seq: i64, problem: String },
}

/// The last signed checkpoint, as the audit page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointSummary {
    /// The last entry it covers.
    pub seq: i64,
    /// `YYYY-MM-DD HH:MM:SS UTC`.
    pub time: String,
    /// The first 16 hex digits of that entry's hash.
    pub short_hash: String,
    /// Why it was taken, in words.
    pub cause: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_string_carries_only_the_set_filters_encoded() {
        let f = AuditFilter {
            actor: Some("ada+x@example.org".into()),
            action: Some(" ".into()),
            to: Some("2026-01-31".into()),
            ..Default::default()
        };
        assert_eq!(
            f.query_string(Some(42)),
            "?actor=ada%2Bx%40example.org&to=2026-01-31&before=42"
        );
        assert_eq!(AuditFilter::default().query_string(None), "");
    }

    #[test]
    fn actors_read_as_words_for_every_kind() {
        assert_eq!(actor_in_words("anonymous", None), "anonymous visitor");
        assert_eq!(
            actor_in_words("admin", Some("ada@example.org")),
            "ada@example.org"
        );
        assert_eq!(
            actor_in_words("user", Some("bo@example.org")),
            "bo@example.org"
        );
        assert_eq!(actor_in_words("cli", Some("root")), "command line (root)");
        assert_eq!(
            actor_in_words("cli", Some("unknown")),
            "command line (OS user unknown)"
        );
        assert_eq!(
            actor_in_words("api_key", Some("deploy")),
            "API key (deploy)"
        );
        assert_eq!(actor_in_words("system", None), "Keywarden (automatic)");
    }
}
