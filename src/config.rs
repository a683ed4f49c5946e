//! Configuration: an optional TOML file, then `KEYWARDEN_*` environment variables over it.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::domain::MIN_LENGTH_FLOOR;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
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
    /// Reverse proxies whose `X-Forwarded-For` is believed (addresses or CIDR networks).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// A MaxMind-format City database for approximate sign-in locations (optional).
    pub geoip_database: Option<PathBuf>,
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

/// The file's shape: every key optional, unknown keys refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    database_url: Option<String>,
    listen: Option<String>,
    base_url: Option<String>,
    session_idle_timeout_secs: Option<u64>,
    session_absolute_lifetime_secs: Option<u64>,
    password_min_length: Option<usize>,
    argon2_memory_kib: Option<u32>,
    argon2_iterations: Option<u32>,
    argon2_parallelism: Option<u32>,
    max_concurrent_hashes: Option<usize>,
    log_format: Option<LogFormat>,
    smtp_host: Option<String>,
    smtp_port: Option<u16>,
    smtp_tls: Option<SmtpTls>,
    smtp_username: Option<String>,
    smtp_password: Option<String>,
    mail_from: Option<String>,
    mail_dir: Option<PathBuf>,
    outbox_max_attempts: Option<u32>,
    password_reset_ttl_secs: Option<u64>,
    mail_worker_enabled: Option<bool>,
    trusted_proxies: Option<Vec<String>>,
    geoip_database: Option<PathBuf>,
}

/// Reads `KEYWARDEN_<NAME>` and parses it, naming the variable in the error.
fn env_var<T: std::str::FromStr>(name: &str) -> anyhow::Result<Option<T>>
where
    T::Err: std::fmt::Display,
{
    let key = format!("KEYWARDEN_{name}");
    match std::env::var(&key) {
        Ok(v) => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|e| anyhow::anyhow!("{key}={v:?} is not valid: {e}")),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(e) => bail!("{key} is not valid: {e}"),
    }
}

impl std::str::FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "pretty" | "text" => Ok(Self::Pretty),
            "json" => Ok(Self::Json),
            _ => Err("expected \"pretty\" or \"json\"".into()),
        }
    }
}

impl Config {
    /// Loads the file (an explicit path must exist; `./keywarden.toml` is read when present),
    /// then applies environment variables, then checks the result.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let file = match path {
            Some(p) => Some(p.to_path_buf()),
            None => env_var::<PathBuf>("CONFIG")?.or_else(|| {
                let default = PathBuf::from("keywarden.toml");
                default.exists().then_some(default)
            }),
        };
        let f: FileConfig = match file {
            Some(p) => {
                let text = std::fs::read_to_string(&p)
                    .with_context(|| format!("cannot read config file {}", p.display()))?;
                toml::from_str(&text)
                    .map_err(|e| anyhow::anyhow!("config file {}: {}", p.display(), e.message()))?
            }
            None => FileConfig::default(),
        };
        let listen = env_var("LISTEN")?
            .or(f.listen)
            .unwrap_or_else(|| "127.0.0.1:3000".to_owned());
        let base_url: String = env_var("BASE_URL")?
            .or(f.base_url)
            .unwrap_or_else(|| format!("http://{listen}"));
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let config = Self {
            database_url: SecretString::from(
                env_var::<String>("DATABASE_URL")?
                    .or(f.database_url)
                    .unwrap_or_else(|| "sqlite://keywarden.db".to_owned()),
            ),
            base_url: url::Url::parse(&base_url)
                .map_err(|e| anyhow::anyhow!("base_url {base_url:?} is not a URL: {e}"))?,
            listen,
            session_idle_timeout_secs: env_var("SESSION_IDLE_TIMEOUT_SECS")?
                .or(f.session_idle_timeout_secs)
                .unwrap_or(30 * 60),
            session_absolute_lifetime_secs: env_var("SESSION_ABSOLUTE_LIFETIME_SECS")?
                .or(f.session_absolute_lifetime_secs)
                .unwrap_or(12 * 60 * 60),
            password_min_length: env_var("PASSWORD_MIN_LENGTH")?
                .or(f.password_min_length)
                .unwrap_or(12),
            argon2_memory_kib: env_var("ARGON2_MEMORY_KIB")?
                .or(f.argon2_memory_kib)
                .unwrap_or(19 * 1024),
            argon2_iterations: env_var("ARGON2_ITERATIONS")?
                .or(f.argon2_iterations)
                .unwrap_or(2),
            argon2_parallelism: env_var("ARGON2_PARALLELISM")?
                .or(f.argon2_parallelism)
                .unwrap_or(1),
            max_concurrent_hashes: env_var("MAX_CONCURRENT_HASHES")?
                .or(f.max_concurrent_hashes)
                .unwrap_or(cpus),
            log_format: env_var("LOG_FORMAT")?
                .or(f.log_format)
                .unwrap_or(LogFormat::Pretty),
            smtp: match env_var::<String>("SMTP_HOST")?
                .or(f.smtp_host)
                .filter(|h| !h.is_empty())
            {
                None => None,
                Some(host) => {
                    let tls = env_var("SMTP_TLS")?
                        .or(f.smtp_tls)
                        .unwrap_or(SmtpTls::Starttls);
                    let default_port = match tls {
                        SmtpTls::None => 25,
                        SmtpTls::Starttls => 587,
                        SmtpTls::Tls => 465,
                    };
                    Some(SmtpConfig {
                        host,
                        port: env_var("SMTP_PORT")?
                            .or(f.smtp_port)
                            .unwrap_or(default_port),
                        tls,
                        username: env_var("SMTP_USERNAME")?.or(f.smtp_username),
                        password: env_var::<String>("SMTP_PASSWORD")?
                            .or(f.smtp_password)
                            .map(SecretString::from),
                    })
                }
            },
            mail_from: env_var("MAIL_FROM")?
                .or(f.mail_from)
                .unwrap_or_else(|| "Keywarden <no-reply@localhost>".to_owned()),
            mail_dir: env_var("MAIL_DIR")?
                .or(f.mail_dir)
                .unwrap_or_else(|| PathBuf::from("mail-outbox")),
            outbox_max_attempts: env_var("OUTBOX_MAX_ATTEMPTS")?
                .or(f.outbox_max_attempts)
                .unwrap_or(8),
            password_reset_ttl_secs: env_var("PASSWORD_RESET_TTL_SECS")?
                .or(f.password_reset_ttl_secs)
                .unwrap_or(30 * 60),
            mail_worker_enabled: env_var("MAIL_WORKER_ENABLED")?
                .or(f.mail_worker_enabled)
                .unwrap_or(true),
            trusted_proxies: {
                let list: Vec<String> = match env_var::<String>("TRUSTED_PROXIES")? {
                    Some(v) => v
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect(),
                    None => f.trusted_proxies.unwrap_or_default(),
                };
                list.iter()
                    .map(|s| crate::net::parse_net(s))
                    .collect::<Result<_, _>>()
                    .map_err(|e| anyhow::anyhow!("trusted_proxies: {e}"))?
            },
            geoip_database: env_var::<PathBuf>("GEOIP_DATABASE")?
                .or(f.geoip_database)
                .filter(|p| !p.as_os_str().is_empty()),
        };
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> anyhow::Result<()> {
        let scheme = self.base_url.scheme();
        if scheme != "http" && scheme != "https" {
            bail!("base_url must start with http:// or https://");
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
        argon2::Params::new(
            self.argon2_memory_kib,
            self.argon2_iterations,
            self.argon2_parallelism,
            None,
        )
        .map_err(|e| anyhow::anyhow!("argon2 parameters are not valid: {e}"))?;
        Ok(())
    }

    /// Cookies get `Secure` and the `__Host-` prefix when the public URL is https.
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
        if self.cookies_secure() {
            "__Host-keywarden_session"
        } else {
            "keywarden_session"
        }
    }

    /// The effective configuration as TOML, with the database password redacted.
    pub fn redacted_toml(&self) -> String {
        let db = redact_url(self.database_url.expose_secret());
        format!(
            "database_url = {db:?}\nlisten = {:?}\nbase_url = {:?}\nsession_idle_timeout_secs = {}\n\
             session_absolute_lifetime_secs = {}\npassword_min_length = {}\nargon2_memory_kib = {}\n\
             argon2_iterations = {}\nargon2_parallelism = {}\nmax_concurrent_hashes = {}\nlog_format = {:?}\n\
             mail_from = {:?}\nmail_dir = {:?}\noutbox_max_attempts = {}\npassword_reset_ttl_secs = {}\nmail_worker_enabled = {}\n\
             trusted_proxies = {:?}\ngeoip_database = {:?}\n{}\
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
            self.trusted_proxies
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            self.geoip_database
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
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

fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("REDACTED"));
            u.to_string()
        }
        _ => raw.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn the_database_password_is_redacted() {
        let shown = redact_url("postgres://kw:hunter2@db.internal:5432/kw");
        assert!(!shown.contains("hunter2"));
        assert!(shown.contains("REDACTED"));
    }
}
