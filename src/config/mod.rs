//! Configuration: an optional TOML file, then `KEYWARDEN_*` environment variables over it.

use std::path::{Path, PathBuf};

use anyhow::bail;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::domain::MIN_LENGTH_FLOOR;
use layered::{one_line, Layered, KEYS};

mod layered;
mod redact;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[serde(alias = "text")]
    Pretty,
    Json,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: SecretString,
    /// host:port the server binds to.
    pub listen: String,
    /// Public URL used in links and as the expected `Origin` of browser requests.
    pub base_url: url::Url,
    pub session_idle_timeout_secs: u64,
    pub session_absolute_lifetime_secs: u64,
    pub password_min_length: usize,
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    /// How many password hashes may run at once on the blocking pool.
    pub max_concurrent_hashes: usize,
    pub log_format: LogFormat,
    /// SMTP relay; without one, mails are written as .eml files to `mail_dir`.
    pub smtp: Option<SmtpConfig>,
    pub mail_from: String,
    pub mail_dir: PathBuf,
    /// Delivery attempts before a mail is marked failed.
    pub outbox_max_attempts: u32,
    pub password_reset_ttl_secs: u64,
    /// Whether this node runs an outbox worker (several nodes may; leases keep them apart).
    pub mail_worker_enabled: bool,
    /// Whether this node runs incident cohort jobs (leases keep several nodes apart).
    pub incident_worker_enabled: bool,
    /// Reverse proxies whose `X-Forwarded-For` is believed (addresses or CIDR networks).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// A MaxMind-format City database for approximate sign-in locations (optional).
    pub geoip_database: Option<PathBuf>,
    /// The server key (HMAC of short secrets, audit checkpoint signatures), kept out of the
    /// database. Default with SQLite: `<database file>.key`, created on first run. Required with
    /// PostgreSQL. `None` only for an in-memory SQLite database (a key per process).
    pub secret_key_file: Option<PathBuf>,
    /// Where signed audit checkpoints are written (optional).
    pub audit_checkpoint_dir: Option<PathBuf>,
    /// Password hashes allowed to wait for a worker; past this a sign-in is refused at once with
    /// 503 and `Retry-After`.
    pub max_queued_hashes: usize,
    /// The session cookie's `Domain` (for example `.example.com`), so one session reaches every
    /// protected application's host. `None`: a host-only cookie (`__Host-` prefix over https).
    pub cookie_domain: Option<String>,
    /// Whether sessions and users are cached in memory (forward-auth and pages without a database
    /// round trip). Off: the database on every request (benchmarks compare both).
    pub session_cache: bool,
    /// How many sessions (and as many users) the cache holds at most.
    pub session_cache_capacity: usize,
    /// How often session activity (`last_seen_at`) is written behind, in milliseconds.
    pub last_seen_flush_ms: u64,
    /// Management API calls each key may make per minute (refilled evenly), and how many at once.
    pub api_rate_per_minute: u32,
    pub api_burst: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain SMTP (a local relay or a test sink).
    None,
    /// STARTTLS upgrade (submission port 587).
    Starttls,
    /// Implicit TLS (port 465).
    Tls,
}

impl std::str::FromStr for SmtpTls {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" => Ok(Self::None),
            "starttls" => Ok(Self::Starttls),
            "tls" => Ok(Self::Tls),
            _ => Err("expected \"none\", \"starttls\" or \"tls\"".into()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<SecretString>,
}

impl Config {
    /// Loads the file (an explicit path must exist; `./keywarden.toml` is read when present),
    /// then the `KEYWARDEN_*` environment over it, then checks the result. Every error names
    /// the key and the problem in one line.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        use figment::providers::{Env, Format, Toml};
        let file = match path {
            Some(p) => Some(p.to_path_buf()),
            None => match std::env::var_os("KEYWARDEN_CONFIG") {
                Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
                _ => {
                    let default = PathBuf::from("keywarden.toml");
                    default.exists().then_some(default)
                }
            },
        };
        let mut figment = figment::Figment::new();
        if let Some(p) = &file {
            anyhow::ensure!(p.is_file(), "cannot read config file {}", p.display());
            figment = figment.merge(Toml::file_exact(p));
        }
        figment = figment.merge(Env::prefixed("KEYWARDEN_").only(&KEYS));
        Self::from_figment(figment)
    }

    /// Every key at its default (tests).
    pub fn defaults() -> anyhow::Result<Self> {
        Self::from_figment(figment::Figment::new())
    }

    fn from_figment(figment: figment::Figment) -> anyhow::Result<Self> {
        let f: Layered = figment.extract().map_err(one_line)?;
        let listen = f.listen.unwrap_or_else(|| "127.0.0.1:3000".to_owned());
        let base_url = f.base_url.unwrap_or_else(|| format!("http://{listen}"));
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let smtp = match f.smtp_host.filter(|h| !h.is_empty()) {
            None => None,
            Some(host) => {
                let tls = f.smtp_tls.unwrap_or(SmtpTls::Starttls);
                let default_port = match tls {
                    SmtpTls::None => 25,
                    SmtpTls::Starttls => 587,
                    SmtpTls::Tls => 465,
                };
                Some(SmtpConfig {
                    host,
                    port: f.smtp_port.unwrap_or(default_port),
                    tls,
                    username: f.smtp_username,
                    password: f.smtp_password.map(SecretString::from),
                })
            }
        };
        let trusted_proxies = f
            .trusted_proxies
            .unwrap_or_default()
            .iter()
            .map(|s| crate::net::parse_net(s))
            .collect::<Result<_, _>>()
            .map_err(|e| anyhow::anyhow!("trusted_proxies: {e}"))?;
        let database_url = f
            .database_url
            .unwrap_or_else(|| "sqlite://keywarden.db".to_owned());
        let secret_key_file = match f.secret_key_file.filter(|p| !p.as_os_str().is_empty()) {
            Some(path) => Some(path),
            None if database_url.starts_with("sqlite:") => sqlite_file(&database_url).map(|db| {
                let mut name = db.into_os_string();
                name.push(".key");
                PathBuf::from(name)
            }),
            None => bail!(
                "secret_key_file is required with PostgreSQL (every node needs the same key; create one with `keywarden secret-key generate FILE`)"
            ),
        };
        let max_concurrent_hashes = f.max_concurrent_hashes.unwrap_or(cpus);
        let config = Self {
            database_url: SecretString::from(database_url),
            base_url: url::Url::parse(&base_url)
                .map_err(|e| anyhow::anyhow!("base_url: {base_url:?} is not a URL: {e}"))?,
            listen,
            session_idle_timeout_secs: f.session_idle_timeout_secs.unwrap_or(30 * 60),
            session_absolute_lifetime_secs: f
                .session_absolute_lifetime_secs
                .unwrap_or(12 * 60 * 60),
            password_min_length: f.password_min_length.unwrap_or(12),
            argon2_memory_kib: f.argon2_memory_kib.unwrap_or(19 * 1024),
            argon2_iterations: f.argon2_iterations.unwrap_or(2),
            argon2_parallelism: f.argon2_parallelism.unwrap_or(1),
            max_concurrent_hashes,
            max_queued_hashes: f
                .max_queued_hashes
                .unwrap_or(max_concurrent_hashes.saturating_mul(8)),
            log_format: f.log_format.unwrap_or(LogFormat::Pretty),
            smtp,
            mail_from: f
                .mail_from
                .unwrap_or_else(|| "Keywarden <no-reply@localhost>".to_owned()),
            mail_dir: f.mail_dir.unwrap_or_else(|| PathBuf::from("mail-outbox")),
            outbox_max_attempts: f.outbox_max_attempts.unwrap_or(8),
            password_reset_ttl_secs: f.password_reset_ttl_secs.unwrap_or(30 * 60),
            mail_worker_enabled: f.mail_worker_enabled.unwrap_or(true),
            incident_worker_enabled: f.incident_worker_enabled.unwrap_or(true),
            trusted_proxies,
            geoip_database: f.geoip_database.filter(|p| !p.as_os_str().is_empty()),
            secret_key_file,
            audit_checkpoint_dir: f.audit_checkpoint_dir.filter(|p| !p.as_os_str().is_empty()),
            cookie_domain: match f.cookie_domain.filter(|d| !d.is_empty()) {
                None => None,
                Some(d) => Some(cookie_domain(&d)?),
            },
            session_cache: f.session_cache.unwrap_or(true),
            session_cache_capacity: f.session_cache_capacity.unwrap_or(50_000),
            last_seen_flush_ms: f.last_seen_flush_ms.unwrap_or(5_000),
            api_rate_per_minute: f.api_rate_per_minute.unwrap_or(600),
            api_burst: f.api_burst.unwrap_or(100),
        };
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> anyhow::Result<()> {
        let scheme = self.base_url.scheme();
        if scheme != "http" && scheme != "https" {
            bail!("base_url must start with http:// or https://");
        }
        if self.api_rate_per_minute == 0 || self.api_burst == 0 {
            bail!("api_rate_per_minute and api_burst must be at least 1");
        }
        if self
            .listen
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse::<u16>().ok())
            .is_none()
        {
            bail!("listen must be host:port, got {:?}", self.listen);
        }
        let url = self.database_url.expose_secret();
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            bail!("database_url must start with sqlite:// or postgres://");
        }
        if self.password_min_length < MIN_LENGTH_FLOOR {
            bail!("password_min_length must be at least {MIN_LENGTH_FLOOR}");
        }
        if self.session_idle_timeout_secs < 60
            || self.session_absolute_lifetime_secs < self.session_idle_timeout_secs
        {
            bail!("session_idle_timeout_secs must be at least 60 and at most session_absolute_lifetime_secs");
        }
        if self.mail_from.parse::<lettre::message::Mailbox>().is_err() {
            bail!(
                "mail_from {:?} is not a valid mailbox (e.g. \"Keywarden <no-reply@example.org>\")",
                self.mail_from
            );
        }
        if self.outbox_max_attempts == 0 {
            bail!("outbox_max_attempts must be at least 1");
        }
        if self.password_reset_ttl_secs < 60 {
            bail!("password_reset_ttl_secs must be at least 60");
        }
        if self.max_concurrent_hashes == 0 {
            bail!("max_concurrent_hashes must be at least 1");
        }
        if let Some(domain) = &self.cookie_domain {
            let suffix = domain.trim_start_matches('.');
            let host = self.base_url.host_str().unwrap_or_default();
            if host != suffix && !host.ends_with(&format!(".{suffix}")) {
                bail!("cookie_domain {domain:?} must contain the host of base_url ({host})");
            }
        }
        if self.session_cache_capacity == 0 {
            bail!("session_cache_capacity must be at least 1");
        }
        if !(100..=60_000).contains(&self.last_seen_flush_ms) {
            bail!("last_seen_flush_ms must be between 100 and 60000");
        }
        argon2::Params::new(
            self.argon2_memory_kib,
            self.argon2_iterations,
            self.argon2_parallelism,
            None,
        )
        .map_err(|e| anyhow::anyhow!("argon2 parameters are not valid: {e}"))?;
        if !meets_owasp_minimum(self.argon2_memory_kib, self.argon2_iterations) {
            bail!(
                "argon2_memory_kib = {} with argon2_iterations = {} is below OWASP's minimum for argon2id: use at least m=19456 t=2 (or m=12288 t=3, m=9216 t=4, m=7168 t=5, m=47104 t=1)",
                self.argon2_memory_kib,
                self.argon2_iterations
            );
        }
        Ok(())
    }

    /// Whether the database is SQLite (the key file may then be created on first run).
    pub fn is_sqlite(&self) -> bool {
        self.database_url.expose_secret().starts_with("sqlite:")
    }

    /// Cookies get `Secure` when the public URL is https, with the `__Host-` prefix; with a
    /// `cookie_domain` the session cookie's prefix is `__Secure-` (`__Host-` forbids `Domain`).
    pub fn cookies_secure(&self) -> bool {
        self.base_url.scheme() == "https"
    }

    /// The long-lived cookie that recognises a browser across sign-ins.
    pub fn device_cookie_name(&self) -> &'static str {
        if self.cookies_secure() {
            "__Host-keywarden_device"
        } else {
            "keywarden_device"
        }
    }

    pub fn session_cookie_name(&self) -> &'static str {
        match (self.cookies_secure(), self.cookie_domain.is_some()) {
            (true, false) => "__Host-keywarden_session",
            (true, true) => "__Secure-keywarden_session",
            (false, _) => "keywarden_session",
        }
    }
}

/// A cookie domain: a host name with at least two labels, an optional leading dot (kept, as the
/// configuration wrote it), no port, no scheme.
fn cookie_domain(value: &str) -> anyhow::Result<String> {
    let host = value.strip_prefix('.').unwrap_or(value);
    let labels: Vec<&str> = host.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if labels.len() < 2 || !labels.iter().all(label_ok) {
        bail!("cookie_domain: {value:?} is not a domain such as .example.com");
    }
    Ok(value.to_ascii_lowercase())
}

/// OWASP Password Storage Cheat Sheet: argon2id with one of these (memory KiB, iterations)
/// pairs, parallelism 1; more memory or more iterations than a pair is at least as strong.
const OWASP_ARGON2ID_MINIMUMS: [(u32, u32); 5] = [
    (47_104, 1),
    (19_456, 2),
    (12_288, 3),
    (9_216, 4),
    (7_168, 5),
];

fn meets_owasp_minimum(memory_kib: u32, iterations: u32) -> bool {
    OWASP_ARGON2ID_MINIMUMS
        .iter()
        .any(|&(m, t)| memory_kib >= m && iterations >= t)
}

/// The file of a `sqlite://` URL; `None` for an in-memory database.
fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && !path.starts_with(":memory:")).then(|| PathBuf::from(path))
}

#[cfg(test)]
mod tests {
    use super::redact::redact_url;
    use super::Config;
    use figment::providers::{Format, Toml};

    fn from_toml(text: &str) -> anyhow::Result<Config> {
        Config::from_figment(figment::Figment::new().merge(Toml::string(text)))
    }

    #[test]
    fn defaults_apply_and_values_override_them() {
        let d = Config::defaults().unwrap();
        assert_eq!(d.listen, "127.0.0.1:3000");
        assert_eq!(d.session_idle_timeout_secs, 1800);
        let c = from_toml("listen = \"127.0.0.1:4000\"\ntrusted_proxies = [\"10.0.0.0/8\"]\nsmtp_host = \"mail\"\nsmtp_password = 123456\n").unwrap();
        assert_eq!(c.base_url.as_str(), "http://127.0.0.1:4000/");
        assert_eq!(c.trusted_proxies.len(), 1);
        let smtp = c.smtp.unwrap();
        assert_eq!(smtp.port, 587);
        assert_eq!(
            secrecy::ExposeSecret::expose_secret(smtp.password.as_ref().unwrap()),
            "123456"
        );
    }

    #[test]
    fn a_bad_value_names_its_key_in_one_line() {
        let e = from_toml("session_idle_timeout_secs = \"soon\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("session_idle_timeout_secs"), "{e}");
        assert!(!e.contains('\n'), "{e}");
        let e = from_toml("no_such_key = 1").unwrap_err().to_string();
        assert!(e.contains("no_such_key"), "{e}");
        let e = from_toml("trusted_proxies = \"10.0.0.0/8, nonsense\"")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("trusted_proxies:"), "{e}");
        let e = from_toml("password_min_length = 4")
            .unwrap_err()
            .to_string();
        assert!(e.contains("password_min_length"), "{e}");
    }

    #[test]
    fn the_key_file_sits_beside_sqlite_and_is_required_with_postgres() {
        let c = from_toml("database_url = \"sqlite:///var/lib/kw/keywarden.db?mode=rwc\"").unwrap();
        assert_eq!(
            c.secret_key_file.unwrap(),
            std::path::PathBuf::from("/var/lib/kw/keywarden.db.key")
        );
        let c = from_toml("database_url = \"sqlite::memory:\"").unwrap();
        assert!(c.secret_key_file.is_none());
        let e = from_toml("database_url = \"postgres://kw@db/kw\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("secret_key_file"), "{e}");
        let c =
            from_toml("database_url = \"postgres://kw@db/kw\"\nsecret_key_file = \"/etc/kw.key\"")
                .unwrap();
        assert!(c
            .redacted_toml()
            .contains("secret_key_file = \"/etc/kw.key\""));
    }

    #[test]
    fn the_database_password_is_redacted() {
        let shown = redact_url("postgres://kw:hunter2@db.internal:5432/kw");
        assert!(!shown.contains("hunter2"));
        assert!(shown.contains("REDACTED"));
    }

    #[test]
    fn a_cookie_domain_must_cover_base_url_and_changes_the_prefix() {
        let c =
            from_toml("base_url = \"https://auth.example.com\"\ncookie_domain = \".Example.com\"")
                .unwrap();
        assert_eq!(c.cookie_domain.as_deref(), Some(".example.com"));
        assert_eq!(c.session_cookie_name(), "__Secure-keywarden_session");
        let host_only = from_toml("base_url = \"https://auth.example.com\"").unwrap();
        assert_eq!(host_only.session_cookie_name(), "__Host-keywarden_session");
        let e =
            from_toml("base_url = \"https://auth.example.com\"\ncookie_domain = \".other.org\"")
                .unwrap_err()
                .to_string();
        assert!(e.starts_with("cookie_domain"), "{e}");
        for bad in ["com", ".com", "http://example.com", "exa mple.com"] {
            let e = from_toml(&format!("cookie_domain = {bad:?}"))
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("cookie_domain"), "{bad}: {e}");
        }
    }
}
