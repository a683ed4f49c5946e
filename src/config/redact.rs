//! `keywarden config`: the effective configuration with secrets redacted.

use secrecy::ExposeSecret;

use super::{Config, LogFormat};

impl Config {
    /// The effective configuration as TOML, with the database password redacted.
    pub fn redacted_toml(&self) -> String {
        let db = redact_url(self.database_url.expose_secret());
        format!(
            "database_url = {db:?}\nlisten = {:?}\nbase_url = {:?}\nsession_idle_timeout_secs = {}\n\
             session_absolute_lifetime_secs = {}\npassword_min_length = {}\nargon2_memory_kib = {}\n\
             argon2_iterations = {}\nargon2_parallelism = {}\nmax_concurrent_hashes = {}\nlog_format = {:?}\n\
             mail_from = {:?}\nmail_dir = {:?}\noutbox_max_attempts = {}\npassword_reset_ttl_secs = {}\nmail_worker_enabled = {}\nincident_worker_enabled = {}\n\
             trusted_proxies = {:?}\ngeoip_database = {:?}\n\
             secret_key_file = {:?}\naudit_checkpoint_dir = {:?}\nmax_queued_hashes = {}\n\
             cookie_domain = {:?}\nsession_cache = {}\nsession_cache_capacity = {}\nlast_seen_flush_ms = {}\n\
             api_rate_per_minute = {}\napi_burst = {}\n{}\
             # derived: cookies_secure = {}, session_cookie_name = {:?}\n",
            self.listen,
            self.base_url.as_str(),
            self.session_idle_timeout_secs,
            self.session_absolute_lifetime_secs,
            self.password_min_length,
            self.argon2_memory_kib,
            self.argon2_iterations,
            self.argon2_parallelism,
            self.max_concurrent_hashes,
            match self.log_format {
                LogFormat::Pretty => "pretty",
                LogFormat::Json => "json",
            },
            self.mail_from,
            self.mail_dir.display().to_string(),
            self.outbox_max_attempts,
            self.password_reset_ttl_secs,
            self.mail_worker_enabled,
            self.incident_worker_enabled,
            self.trusted_proxies
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            self.geoip_database
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            self.secret_key_file
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "(in memory: a new key each run)".to_owned()),
            self.audit_checkpoint_dir
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            self.max_queued_hashes,
            self.cookie_domain.clone().unwrap_or_default(),
            self.session_cache,
            self.session_cache_capacity,
            self.last_seen_flush_ms,
            self.api_rate_per_minute,
            self.api_burst,
            match &self.smtp {
                None => "# smtp: not configured (mails are written to mail_dir)\n".to_owned(),
                Some(s) => format!(
                    "smtp_host = {:?}\nsmtp_port = {}\nsmtp_tls = {:?}\nsmtp_username = {:?}\nsmtp_password = {:?}\n",
                    s.host,
                    s.port,
                    format!("{:?}", s.tls).to_lowercase(),
                    s.username.clone().unwrap_or_default(),
                    if s.password.is_some() { "REDACTED" } else { "" },
                ),
            },
            self.cookies_secure(),
            self.session_cookie_name(),
        )
    }
}

pub(super) fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("REDACTED"));
            u.to_string()
        }
        _ => raw.to_owned(),
    }
}
