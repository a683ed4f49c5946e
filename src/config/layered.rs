//! The configuration as the file and the environment give it, before defaults and checks.

use std::path::PathBuf;

use serde::Deserialize;

use super::{LogFormat, SmtpTls};

/// Every key, optional, as the file and the environment give them. Unknown keys in the file are
/// refused; the environment is read only for these keys (`KEYWARDEN_<KEY>`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Layered {
    #[serde(default, deserialize_with = "text")]
    pub(super) database_url: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub(super) listen: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub(super) base_url: Option<String>,
    pub(super) session_idle_timeout_secs: Option<u64>,
    pub(super) session_absolute_lifetime_secs: Option<u64>,
    pub(super) password_min_length: Option<usize>,
    pub(super) argon2_memory_kib: Option<u32>,
    pub(super) argon2_iterations: Option<u32>,
    pub(super) argon2_parallelism: Option<u32>,
    pub(super) max_concurrent_hashes: Option<usize>,
    pub(super) log_format: Option<LogFormat>,
    #[serde(default, deserialize_with = "text")]
    pub(super) smtp_host: Option<String>,
    pub(super) smtp_port: Option<u16>,
    pub(super) smtp_tls: Option<SmtpTls>,
    #[serde(default, deserialize_with = "text")]
    pub(super) smtp_username: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub(super) smtp_password: Option<String>,
    #[serde(default, deserialize_with = "text")]
    pub(super) mail_from: Option<String>,
    pub(super) mail_dir: Option<PathBuf>,
    pub(super) outbox_max_attempts: Option<u32>,
    pub(super) password_reset_ttl_secs: Option<u64>,
    pub(super) mail_worker_enabled: Option<bool>,
    pub(super) incident_worker_enabled: Option<bool>,
    /// A list in the file, comma-separated in the environment.
    #[serde(default, deserialize_with = "list")]
    pub(super) trusted_proxies: Option<Vec<String>>,
    pub(super) geoip_database: Option<PathBuf>,
    pub(super) secret_key_file: Option<PathBuf>,
    pub(super) audit_checkpoint_dir: Option<PathBuf>,
    pub(super) max_queued_hashes: Option<usize>,
    #[serde(default, deserialize_with = "text")]
    pub(super) cookie_domain: Option<String>,
    pub(super) session_cache: Option<bool>,
    pub(super) session_cache_capacity: Option<usize>,
    pub(super) last_seen_flush_ms: Option<u64>,
    pub(super) api_rate_per_minute: Option<u32>,
    pub(super) api_burst: Option<u32>,
}

/// The keys, as the environment spells them after `KEYWARDEN_` (lower-cased).
pub(super) const KEYS: [&str; 33] = [
    "database_url",
    "listen",
    "base_url",
    "session_idle_timeout_secs",
    "session_absolute_lifetime_secs",
    "password_min_length",
    "argon2_memory_kib",
    "argon2_iterations",
    "argon2_parallelism",
    "max_concurrent_hashes",
    "log_format",
    "smtp_host",
    "smtp_port",
    "smtp_tls",
    "smtp_username",
    "smtp_password",
    "mail_from",
    "mail_dir",
    "outbox_max_attempts",
    "password_reset_ttl_secs",
    "mail_worker_enabled",
    "incident_worker_enabled",
    "trusted_proxies",
    "geoip_database",
    "secret_key_file",
    "audit_checkpoint_dir",
    "max_queued_hashes",
    "cookie_domain",
    "session_cache",
    "session_cache_capacity",
    "last_seen_flush_ms",
    "api_rate_per_minute",
    "api_burst",
];

/// A scalar read as text: the environment's `KEYWARDEN_SMTP_PASSWORD=123456` is a password, not a
/// number.
fn text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        Text(String),
        Int(i64),
        Uint(u64),
        Float(f64),
        Bool(bool),
    }
    Ok(Option::<Scalar>::deserialize(d)?.map(|v| match v {
        Scalar::Text(s) => s,
        Scalar::Int(n) => n.to_string(),
        Scalar::Uint(n) => n.to_string(),
        Scalar::Float(n) => n.to_string(),
        Scalar::Bool(b) => b.to_string(),
    }))
}

/// A list, or one comma-separated string.
fn list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        Many(Vec<String>),
        One(String),
    }
    Ok(Option::<OneOrMany>::deserialize(d)?.map(|v| match v {
        OneOrMany::Many(list) => list,
        OneOrMany::One(s) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
    }))
}

/// One readable line for a figment error: the key, where it came from, and the problem.
pub(super) fn one_line(e: figment::Error) -> anyhow::Error {
    let first = e.into_iter().next();
    match first {
        Some(e) => {
            let key = e.path.join(".");
            let source = e
                .metadata
                .as_ref()
                .map(|m| match &m.source {
                    Some(figment::Source::File(p)) => format!("config file {}", p.display()),
                    _ => m.name.to_string(),
                })
                .unwrap_or_else(|| "configuration".to_owned());
            let key = if key.is_empty() {
                String::new()
            } else {
                format!("{key}: ")
            };
            anyhow::anyhow!("{source}: {key}{}", e.kind)
        }
        None => anyhow::anyhow!("configuration is not valid"),
    }
}
