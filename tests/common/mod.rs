//! Spawns the real application on port 0 with a fresh database per test, on SQLite or
//! PostgreSQL, and offers request helpers.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use keywarden::config::{Config, LogFormat};
use keywarden::runtime::clock::ManualClock;
use keywarden::runtime::AppState;
use keywarden::startup::Application;
use reqwest::header::{HeaderMap, HeaderValue};
use secrecy::SecretString;

pub mod proxy;

pub const PASSWORD: &str = "Vivid-Harbor-Lantern-2931";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// Runs each named test body once on SQLite and once on PostgreSQL. With `configure = …;` first,
/// each node's configuration is changed by that closure before it starts.
#[macro_export]
macro_rules! on_both_databases {
    (configure = $configure:expr; $($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(app) = $crate::common::TestApp::spawn_with($crate::common::Db::Sqlite, $configure).await {
                        super::super::$name(&app).await;
                    }
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    match $crate::common::TestApp::spawn_with($crate::common::Db::Postgres, $configure).await {
                        Some(app) => super::super::$name(&app).await,
                        None => $crate::common::skipped(concat!(module_path!(), "::", stringify!($name))),
                    }
                }
            )*
        }
    };
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(app) = $crate::common::TestApp::spawn($crate::common::Db::Sqlite).await {
                        super::$name(&app).await;
                    }
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    match $crate::common::TestApp::spawn($crate::common::Db::Postgres).await {
                        Some(app) => super::$name(&app).await,
                        None => $crate::common::skipped(concat!(module_path!(), "::", stringify!($name))),
                    }
                }
            )*
        }
    };
}

/// A `keywarden serve` process started by [`TestApp::serve_process`].
pub struct ServeProcess {
    pub address: String,
    _child: tokio::process::Child,
}

pub struct TestApp {
    pub address: String,
    pub db: Db,
    pub database_url: String,
    pub clock: Arc<ManualClock>,
    pub state: AppState,
    /// A browser-like client: keeps cookies, sends a same-origin `Origin`, follows no redirects.
    pub client: reqwest::Client,
    _tempdir: Option<TempDir>,
    pg_database: Option<(String, String)>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

/// A directory removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("keywarden-test-{}", random_suffix()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn random_suffix() -> String {
    use rand::Rng;
    let n: u64 = rand::rng().random();
    format!("{n:016x}")
}

fn postgres_admin_url() -> String {
    std::env::var("KEYWARDEN_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Reports a test case that did not run: `SKIP: <name> (PostgreSQL unavailable)` on standard
/// error, and appended to the file `KEYWARDEN_TEST_SKIP_LOG` names (cargo test captures the output
/// of passing tests, so `scripts/test.sh` counts the file's lines and prints the total).
pub fn skipped(name: &str) {
    let line = format!("SKIP: {name} (PostgreSQL unavailable)");
    eprintln!("{line}");
    if let Ok(path) = std::env::var("KEYWARDEN_TEST_SKIP_LOG") {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "{line}");
        }
    }
}

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Creates a fresh PostgreSQL database and returns its URL, or `None` to skip (never under CI).
async fn fresh_postgres_database() -> Option<(String, String, String)> {
    if std::env::var("KEYWARDEN_TEST_SKIP_POSTGRES").is_ok() && !ci() {
        return None;
    }
    use sqlx::Connection;
    let admin_url = postgres_admin_url();
    let mut conn = match sqlx::PgConnection::connect(&admin_url).await {
        Ok(c) => c,
        Err(e) => panic!("PostgreSQL is required for the tests ({admin_url}): {e}. Set KEYWARDEN_TEST_SKIP_POSTGRES=1 to skip outside CI."),
    };
    let name = format!("keywarden_test_{}", random_suffix());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let mut url = url::Url::parse(&admin_url).expect("postgres url");
    url.set_path(&name);
    Some((url.to_string(), admin_url, name))
}

impl TestApp {
    pub async fn spawn(db: Db) -> Option<Self> {
        Self::spawn_with(db, |_| {}).await
    }

    pub async fn spawn_with(db: Db, tweak: impl FnOnce(&mut Config)) -> Option<Self> {
        let dir = TempDir::new();
        let (database_url, pg_database) = match db {
            Db::Sqlite => (
                format!("sqlite://{}", dir.0.join("keywarden.db").display()),
                None,
            ),
            Db::Postgres => {
                let (url, admin, name) = fresh_postgres_database().await?;
                (url, Some((admin, name)))
            }
        };
        let key = dir.0.join("secret.key");
        keywarden::runtime::server_key::ServerKey::generate(&key).expect("write the server key");
        let mut config = test_config(&database_url, &dir, key);
        tweak(&mut config);
        Some(Self::start(config, db, database_url, dir, pg_database).await)
    }

    /// The server key file every node and CLI run of this test shares.
    pub fn secret_key_file(&self) -> PathBuf {
        self.state
            .config
            .secret_key_file
            .clone()
            .expect("test servers have a key file")
    }

    /// A second server (node) on this test's database, with its own clock.
    pub async fn second_node(&self) -> Self {
        self.second_node_with(|_| {}).await
    }

    /// The same, with the configuration adjusted by `tweak`.
    pub async fn second_node_with(&self, tweak: impl FnOnce(&mut Config)) -> Self {
        let dir = TempDir::new();
        let mut config = test_config(&self.database_url, &dir, self.secret_key_file());
        tweak(&mut config);
        Self::start(config, self.db, self.database_url.clone(), dir, None).await
    }

    async fn start(
        config: Config,
        db: Db,
        database_url: String,
        dir: TempDir,
        pg_database: Option<(String, String)>,
    ) -> Self {
        let clock = ManualClock::starting_now();
        let app = Application::build(config, clock.clone())
            .await
            .expect("build application");
        let port = app.port();
        let state = app.state().clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(app.run_until(async move {
            let _ = rx.await;
        }));
        let address = format!("http://127.0.0.1:{port}");
        Self {
            client: browser_client(&address),
            address,
            db,
            database_url,
            clock,
            state,
            _tempdir: Some(dir),
            pg_database,
            shutdown: Some(tx),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// A second, independent browser (its own cookie jar).
    pub fn new_browser(&self) -> reqwest::Client {
        browser_client(&self.address)
    }

    /// Calls a server function the way the hydrated page does (JSON answer, form-encoded body).
    pub async fn call(
        &self,
        client: &reqwest::Client,
        name: &str,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        client
            .post(self.url(&format!("/api/{name}")))
            .header("Accept", "application/json")
            .form(form)
            .send()
            .await
            .expect("server function request")
    }

    pub async fn sign_up(
        &self,
        client: &reqwest::Client,
        email: &str,
        password: &str,
    ) -> reqwest::Response {
        self.call(
            client,
            "sign_up",
            &[("email", email), ("password", password)],
        )
        .await
    }

    pub async fn sign_in(
        &self,
        client: &reqwest::Client,
        email: &str,
        password: &str,
    ) -> reqwest::Response {
        self.call(
            client,
            "sign_in",
            &[("email", email), ("password", password), ("next", "")],
        )
        .await
    }

    /// Signs up and signs in a member in a new browser.
    pub async fn member(&self, email: &str) -> reqwest::Client {
        let browser = self.new_browser();
        assert_eq!(self.sign_up(&browser, email, PASSWORD).await.status(), 200);
        assert_eq!(self.sign_in(&browser, email, PASSWORD).await.status(), 200);
        browser
    }

    /// Creates an admin through the real CLI binary and signs them in in a new browser.
    pub async fn admin(&self, email: &str) -> reqwest::Client {
        let out = self
            .cli(&["admin", "create", "--email", email], Some(PASSWORD))
            .await;
        assert!(
            out.status.success(),
            "admin create failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let browser = self.new_browser();
        assert_eq!(self.sign_in(&browser, email, PASSWORD).await.status(), 200);
        browser
    }

    /// Starts `keywarden serve` as a separate process on this test's database (a second node),
    /// and waits until it is ready. The process is killed when the returned value is dropped.
    pub async fn serve_process(&self) -> ServeProcess {
        let port = free_port();
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_keywarden"))
            .arg("serve")
            .env("KEYWARDEN_DATABASE_URL", &self.database_url)
            .env("KEYWARDEN_SECRET_KEY_FILE", self.secret_key_file())
            .env("KEYWARDEN_LISTEN", format!("127.0.0.1:{port}"))
            .env("KEYWARDEN_MAIL_WORKER_ENABLED", "false")
            .env(
                "KEYWARDEN_MAIL_DIR",
                std::env::temp_dir().join(format!("kw-mail-{port}")),
            )
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("run keywarden serve");
        let address = format!("http://127.0.0.1:{port}");
        let probe = reqwest::Client::new();
        for _ in 0..200 {
            if probe
                .get(format!("{address}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return ServeProcess {
                    address,
                    _child: child,
                };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("keywarden serve did not become ready on {address}");
    }

    /// Runs the `keywarden` binary against this test's database.
    pub async fn cli(&self, args: &[&str], stdin: Option<&str>) -> std::process::Output {
        use tokio::io::AsyncWriteExt;
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_keywarden"))
            .args(args)
            .env("KEYWARDEN_DATABASE_URL", &self.database_url)
            .env("KEYWARDEN_SECRET_KEY_FILE", self.secret_key_file())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run keywarden binary");
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            input
                .write_all(format!("{text}\n").as_bytes())
                .await
                .unwrap();
        }
        drop(input);
        child.wait_with_output().await.unwrap()
    }

    /// The id of the user with this (normalized) e-mail.
    pub async fn user_id(&self, email: &str) -> i64 {
        let (id,): (i64,) = sqlx::query_as("SELECT id FROM users WHERE email_normalized = $1")
            .bind(email)
            .fetch_one(self.state.store.pool())
            .await
            .unwrap();
        id
    }

    /// The signed-in user of `browser`, as the page sees them (`null` when signed out).
    pub async fn whoami(&self, browser: &reqwest::Client) -> serde_json::Value {
        self.call(browser, "whoami", &[])
            .await
            .json()
            .await
            .unwrap()
    }

    /// "Set password as compromised" on a user's page, optionally signing them out.
    pub async fn compromise_user(
        &self,
        admin: &reqwest::Client,
        email: &str,
        sign_out: bool,
    ) -> reqwest::Response {
        let id = self.user_id(email).await.to_string();
        let mut form = vec![
            ("user_id", id.as_str()),
            ("reason", "found in a credential dump"),
        ];
        if sign_out {
            form.push(("sign_out", "on"));
        }
        self.call(admin, "admin_compromise_user", &form).await
    }

    /// "Set all passwords as compromised" as the Security page posts it (phrase, reason, step-up).
    pub async fn compromise_all(
        &self,
        admin: &reqwest::Client,
        sign_out: bool,
    ) -> reqwest::Response {
        let mut form = vec![
            ("reason", "breach of 2026-11-21"),
            ("confirmation", "COMPROMISE ALL PASSWORDS"),
            ("password", PASSWORD),
        ];
        if sign_out {
            form.push(("sign_out", "on"));
        }
        self.call(admin, "admin_compromise_all", &form).await
    }

    /// "Sign out everyone" as the Security page posts it.
    pub async fn sign_out_everyone(&self, admin: &reqwest::Client) -> reqwest::Response {
        let form = [
            ("reason", "breach"),
            ("confirmation", "SIGN OUT EVERYONE"),
            ("password", PASSWORD),
        ];
        self.call(admin, "admin_sign_out_everyone", &form).await
    }

    pub async fn count(&self, sql: &str) -> i64 {
        let (n,): (i64,) = sqlx::query_as(sql)
            .fetch_one(self.state.store.pool())
            .await
            .expect("count query");
        n
    }
    /// Fails unless `audit verify` finds the whole chain intact.
    pub async fn assert_audit_chain_intact(&self) {
        let verdict = keywarden::runtime::audit::verify(&self.state.store)
            .await
            .expect("verify the audit chain");
        assert!(
            matches!(
                verdict,
                keywarden::runtime::audit::Verification::Intact { .. }
            ),
            "{verdict:?}"
        );
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some((admin_url, name)) = self.pg_database.take() {
            // Drop the database from a separate runtime: Drop cannot await.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    use sqlx::Connection;
                    if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url).await {
                        let _ =
                            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                                .execute(&mut conn)
                                .await;
                    }
                });
            })
            .join();
        }
    }
}

/// A browser-like client for the server at `address` (cookies, same-origin `Origin`, no redirects).
pub fn browser_client(address: &str) -> reqwest::Client {
    let mut headers = HeaderMap::new();
    headers.insert("Origin", HeaderValue::from_str(address).unwrap());
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A browser that already holds one cookie (`name=value`), e.g. the device cookie of another.
pub fn browser_with_cookie(address: &str, cookie: &str) -> reqwest::Client {
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    jar.add_cookie_str(cookie, &url::Url::parse(address).unwrap());
    let mut headers = HeaderMap::new();
    headers.insert("Origin", HeaderValue::from_str(address).unwrap());
    reqwest::Client::builder()
        .cookie_provider(jar)
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// The `name=value` of a cookie set by a response, if any.
pub fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")))
        .and_then(|c| c.split(';').next())
        .map(str::to_owned)
}

/// The value of the session cookie set by a response, if any.
pub fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("keywarden_session="))
        .and_then(|c| c.split(';').next())
        .map(|kv| kv.trim_start_matches("keywarden_session=").to_owned())
}

/// A port free now on 127.0.0.1 (the server binds it a moment later; its public URL needs it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The configuration of a test server on `database_url`, on a free port whose address is also
/// its public URL (the origin browsers send).
fn test_config(database_url: &str, dir: &TempDir, secret_key_file: PathBuf) -> Config {
    let port = free_port();
    Config {
        database_url: SecretString::from(database_url.to_owned()),
        listen: format!("127.0.0.1:{port}"),
        base_url: url::Url::parse(&format!("http://127.0.0.1:{port}")).unwrap(),
        session_idle_timeout_secs: 30 * 60,
        session_absolute_lifetime_secs: 12 * 60 * 60,
        password_min_length: 12,
        // Cheaper than production so the suite stays fast; the code path is the same.
        argon2_memory_kib: 1024,
        argon2_iterations: 1,
        argon2_parallelism: 1,
        max_concurrent_hashes: 2,
        log_format: LogFormat::Pretty,
        smtp: None,
        mail_from: "Keywarden <no-reply@example.org>".into(),
        mail_dir: dir.0.join("mail"),
        outbox_max_attempts: 8,
        password_reset_ttl_secs: 30 * 60,
        mail_worker_enabled: true,
        incident_worker_enabled: true,
        trusted_proxies: Vec::new(),
        geoip_database: None,
        secret_key_file: Some(secret_key_file),
        audit_checkpoint_dir: None,
        max_queued_hashes: 64,
        cookie_domain: None,
        session_cache: true,
        session_cache_capacity: 10_000,
        last_seen_flush_ms: 5_000,
        api_rate_per_minute: 600,
        api_burst: 100,
    }
}

/// A mail as delivered: read back from the `.eml` file the file transport wrote.
#[derive(Debug, Clone)]
pub struct DeliveredMail {
    pub id: i64,
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl TestApp {
    /// The newest mail of `kind` (to `to` when given), as delivered: the outbox keeps no body
    /// once a mail is sent, so this waits for the worker's `.eml` file in `mail_dir` and
    /// decodes it.
    /// The code of the newest reset-task mail to `email`, read from the delivered mail.
    pub async fn latest_reset_code(&self, email: &str) -> String {
        let text = self.delivered_mail("reset_code", Some(email)).await.text;
        text.lines()
            .map(str::trim)
            .find(|l| l.len() == 6 && l.bytes().all(|b| b.is_ascii_digit()))
            .expect("a 6-digit code on its own line")
            .to_owned()
    }

    pub async fn delivered_mail(&self, kind: &str, to: Option<&str>) -> DeliveredMail {
        let (id,): (i64,) = sqlx::query_as(
            "SELECT id FROM outbox WHERE kind = $1 AND ($2 = '' OR to_address = $2) ORDER BY id DESC LIMIT 1",
        )
        .bind(kind)
        .bind(to.unwrap_or(""))
        .fetch_one(self.state.store.pool())
        .await
        .unwrap_or_else(|e| panic!("no {kind} mail queued: {e}"));
        read_eml(&self.state.config.mail_dir, id, kind).await
    }
}

/// Waits (up to 15 s) for `<dir>/<id>-<kind>.eml` and decodes it.
pub async fn read_eml(dir: &std::path::Path, id: i64, kind: &str) -> DeliveredMail {
    let path = dir.join(format!("{id:08}-{kind}.eml"));
    for _ in 0..300 {
        if let Ok(raw) = std::fs::read_to_string(&path) {
            if raw.contains("\r\n\r\n") || raw.contains("\n\n") {
                return parse_eml(id, &raw);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("mail {} was not delivered", path.display());
}

/// Subject, text and HTML parts of a lettre-built message (7bit, quoted-printable or base64).
pub fn parse_eml(id: i64, raw: &str) -> DeliveredMail {
    let raw = raw.replace("\r\n", "\n");
    let (head, body) = raw.split_once("\n\n").unwrap_or((&raw, ""));
    let header = |head: &str, name: &str| -> Option<String> {
        let mut value: Option<String> = None;
        for line in head.lines() {
            if let Some(v) = value.as_mut() {
                if line.starts_with([' ', '\t']) {
                    v.push_str(line.trim_start());
                    continue;
                }
                break;
            }
            if let Some((n, v)) = line.split_once(':') {
                if n.eq_ignore_ascii_case(name) {
                    value = Some(v.trim().to_owned());
                }
            }
        }
        value
    };
    let subject = decode_words(&header(head, "Subject").unwrap_or_default());
    let content_type = header(head, "Content-Type").unwrap_or_default();
    let boundary = content_type
        .split("boundary=")
        .nth(1)
        .map(|b| {
            b.trim_matches('"')
                .split('"')
                .next()
                .unwrap_or("")
                .to_owned()
        })
        .expect("a multipart mail");
    let (mut text, mut html) = (String::new(), String::new());
    for part in body.split(&format!("--{boundary}")).skip(1) {
        let part = part.trim_start_matches('\n');
        let Some((part_head, part_body)) = part.split_once("\n\n") else {
            continue;
        };
        let encoding = header(part_head, "Content-Transfer-Encoding")
            .unwrap_or_default()
            .to_ascii_lowercase();
        let decoded = match encoding.as_str() {
            "base64" => String::from_utf8(base64_decode(part_body)).unwrap(),
            "quoted-printable" => quoted_printable_decode(part_body),
            _ => part_body.trim_end_matches('\n').to_owned(),
        };
        let kind = header(part_head, "Content-Type").unwrap_or_default();
        if kind.starts_with("text/plain") {
            text = decoded;
        } else if kind.starts_with("text/html") {
            html = decoded;
        }
    }
    DeliveredMail {
        id,
        subject,
        text,
        html,
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let (mut out, mut acc, mut bits) = (Vec::new(), 0u32, 0);
    for v in s.bytes().filter_map(value) {
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

fn quoted_printable_decode(s: &str) -> String {
    let s = s.replace("=\n", "");
    let b = s.as_bytes();
    let (mut out, mut i) = (Vec::new(), 0);
    while i < b.len() {
        if b[i] == b'=' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
            if let Ok(v) = u8::from_str_radix(hex, 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out)
        .unwrap()
        .trim_end_matches('\n')
        .to_owned()
}

/// Decodes RFC 2047 encoded words (`=?utf-8?b?...?=`, `=?utf-8?q?...?=`).
fn decode_words(s: &str) -> String {
    let mut out = String::new();
    for word in s.split_whitespace() {
        let lower = word.to_ascii_lowercase();
        let decoded = if lower.starts_with("=?utf-8?b?") {
            String::from_utf8(base64_decode(&word[10..word.len() - 2])).unwrap()
        } else if lower.starts_with("=?utf-8?q?") {
            quoted_printable_decode(&word[10..word.len() - 2].replace('_', " "))
        } else {
            format!(" {word}")
        };
        out.push_str(&decoded);
    }
    out.trim().to_owned()
}
