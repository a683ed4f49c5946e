//! Keywarden behind a real reverse proxy: nginx or Caddy started as this test's own process (its
//! own config, pid, logs and temporary files in a temporary directory, on a free port), with the
//! configuration the README section "Protect an application" documents (tests/proxy/, only hosts and ports
//! replaced), an upstream application that echoes the `Remote-*` headers it receives, and a
//! browser that sends every `*.kw.test` host to the proxy.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use keywarden::domain::{Actor, ApplicationInput, RequestMeta};
use reqwest::header::{HeaderMap, HeaderValue};

use super::{Db, TempDir, TestApp, PASSWORD};

/// The documented nginx site configuration (auth host + one protected application).
pub const NGINX_SITE: &str = include_str!("../proxy/nginx.conf");
/// The documented Caddyfile.
pub const CADDY_SITE: &str = include_str!("../proxy/Caddyfile");
/// The documented Traefik dynamic configuration (Traefik is not packaged: not run here).
pub const TRAEFIK_SITE: &str = include_str!("../proxy/traefik.yml");

pub const COOKIE_DOMAIN: &str = ".kw.test";
pub const AUTH_HOST: &str = "auth.kw.test";
/// An application every role may enter.
pub const APP_HOST: &str = "app.kw.test";
/// An application only administrators may enter.
pub const ADMIN_APP_HOST: &str = "ops.kw.test";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyKind {
    Nginx,
    Caddy,
}

impl ProxyKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Nginx => "nginx",
            Self::Caddy => "caddy",
        }
    }

    /// `KEYWARDEN_TEST_NGINX` / `KEYWARDEN_TEST_CADDY`, else the program on PATH or in the
    /// system directories (a non-root PATH often lacks /usr/sbin, where Debian puts nginx).
    pub fn program(self) -> Option<PathBuf> {
        let var = match self {
            Self::Nginx => "KEYWARDEN_TEST_NGINX",
            Self::Caddy => "KEYWARDEN_TEST_CADDY",
        };
        if let Some(p) = std::env::var_os(var).filter(|p| !p.is_empty()) {
            return Some(PathBuf::from(p));
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .chain(
                ["/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin"].map(PathBuf::from),
            )
            .map(|dir| dir.join(self.name()))
            .find(|p| p.is_file())
    }
}

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Reports a test case that did not run, like [`super::skipped`] but with its own reason (the
/// `SKIP:` line that scripts/test.sh counts).
pub fn skipped_because(name: &str, why: &str) {
    let line = format!("SKIP: {name} ({why})");
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

/// The proxy program, or `None` after reporting the skip (a missing proxy fails under CI).
pub fn proxy_program(kind: ProxyKind, test: &str) -> Option<PathBuf> {
    match kind.program() {
        Some(p) => Some(p),
        None if ci() => panic!(
            "{} is not installed (CI=true: the proxy tests are required; scripts/test.sh installs it)",
            kind.name()
        ),
        None => {
            skipped_because(test, &format!("{} not installed", kind.name()));
            None
        }
    }
}

/// A running proxy process, stopped (with its workers) on drop.
pub struct Proxy {
    pub kind: ProxyKind,
    pub port: u16,
    child: std::process::Child,
    dir: TempDir,
}

/// What the documented configurations name, and what the tests put in their place.
struct Names {
    port: u16,
    keywarden: String,
    upstream: SocketAddr,
}

impl Proxy {
    pub async fn start(
        kind: ProxyKind,
        program: &Path,
        port: u16,
        keywarden: &str,
        upstream: SocketAddr,
    ) -> Self {
        let dir = TempDir::new();
        let names = Names {
            port,
            keywarden: keywarden.to_owned(),
            upstream,
        };
        let mut cmd = std::process::Command::new(program);
        match kind {
            ProxyKind::Nginx => {
                let conf = dir.0.join("nginx.conf");
                std::fs::write(&conf, nginx_config(&dir.0, &names)).expect("write nginx.conf");
                cmd.arg("-p")
                    .arg(&dir.0)
                    .arg("-e")
                    .arg(dir.0.join("error.log"))
                    .arg("-c")
                    .arg(&conf)
                    .args(["-g", "daemon off;"]);
            }
            ProxyKind::Caddy => {
                let conf = dir.0.join("Caddyfile");
                std::fs::write(&conf, caddy_config(&names)).expect("write Caddyfile");
                // Caddy keeps its state under $HOME / XDG directories: keep them in ours.
                cmd.args(["run", "--adapter", "caddyfile", "--config"])
                    .arg(&conf)
                    .env("HOME", &dir.0)
                    .env("XDG_DATA_HOME", dir.0.join("data"))
                    .env("XDG_CONFIG_HOME", dir.0.join("config"));
            }
        }
        let log = std::fs::File::create(dir.0.join("output.log")).expect("proxy log");
        let child = cmd
            .current_dir(&dir.0)
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", program.display()));
        let mut proxy = Self {
            kind,
            port,
            child,
            dir,
        };
        for _ in 0..200 {
            if let Ok(Some(status)) = proxy.child.try_wait() {
                panic!(
                    "{} exited at start ({status}):\n{}",
                    kind.name(),
                    proxy.logs()
                );
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return proxy;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "{} did not listen on port {port}:\n{}",
            kind.name(),
            proxy.logs()
        );
    }

    /// The proxy's own output and error log, for failure messages.
    pub fn logs(&self) -> String {
        ["output.log", "error.log"]
            .iter()
            .filter_map(|f| std::fs::read_to_string(self.dir.0.join(f)).ok())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // SIGTERM lets nginx's master stop its workers (SIGKILL would orphan them).
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The documented nginx site with the test's hosts and ports, inside a main context of the
/// test's own (pid, logs and temporary files in `dir`).
fn nginx_config(dir: &Path, n: &Names) -> String {
    let site = NGINX_SITE
        .replace("listen 80;", &format!("listen 127.0.0.1:{};", n.port))
        .replace("auth.example.com", AUTH_HOST)
        .replace(
            "server_name app.example.com;",
            &format!("server_name {APP_HOST} {ADMIN_APP_HOST};"),
        )
        .replace("keywarden:3000", &n.keywarden)
        .replace("wiki:8080", &n.upstream.to_string());
    let d = dir.display();
    // Started as root, nginx would switch its workers to `nobody`; keep them as this user.
    let user = if is_root() { "user root root;\n" } else { "" };
    format!(
        "{user}worker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\n\
         events {{ worker_connections 256; }}\n\
         http {{\n\
         access_log {d}/access.log;\n\
         client_body_temp_path {d}/client_body;\n\
         proxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fastcgi;\n\
         uwsgi_temp_path {d}/uwsgi;\n\
         scgi_temp_path {d}/scgi;\n\
         {site}\n}}\n"
    )
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// The documented Caddyfile with the test's hosts and ports (plain http on one port), after
/// global options of the test's own: no admin endpoint, no certificates, loopback only.
fn caddy_config(n: &Names) -> String {
    let site = CADDY_SITE
        .replace(
            "auth.example.com {",
            &format!("http://{AUTH_HOST}:{} {{", n.port),
        )
        .replace(
            "app.example.com {",
            &format!(
                "http://{APP_HOST}:{p}, http://{ADMIN_APP_HOST}:{p} {{",
                p = n.port
            ),
        )
        .replace("keywarden:3000", &n.keywarden)
        .replace("wiki:8080", &n.upstream.to_string());
    format!("{{\n\tadmin off\n\tauto_https off\n\tdefault_bind 127.0.0.1\n}}\n\n{site}")
}

/// The protected application: answers every request with the `Remote-*` headers it received
/// (names lower-case), its `Host` and its URI, as JSON.
pub struct Upstream {
    pub address: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Upstream {
    pub async fn start() -> Self {
        use axum::http::{HeaderMap as Headers, Uri};
        async fn echo(uri: Uri, headers: Headers) -> axum::Json<serde_json::Value> {
            let mut seen = serde_json::Map::new();
            for (name, value) in &headers {
                let name = name.as_str();
                if name.starts_with("remote-") || name == "host" {
                    seen.insert(
                        name.to_owned(),
                        value.to_str().unwrap_or("<not text>").into(),
                    );
                }
            }
            seen.insert("uri".into(), uri.to_string().into());
            axum::Json(seen.into())
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the upstream");
        let address = listener.local_addr().unwrap();
        let router = axum::Router::new().fallback(echo);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self { address, task }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Keywarden (cookie domain `.kw.test`, public URL `http://auth.kw.test:<proxy port>`, the
/// proxy trusted) behind a proxy, in front of the echoing upstream, with two applications:
/// [`APP_HOST`] for admins and members, [`ADMIN_APP_HOST`] for admins only.
pub struct Site {
    pub app: TestApp,
    pub proxy: Proxy,
    pub upstream: Upstream,
}

impl Site {
    /// `None` when the test is skipped (reported): no proxy program, or no PostgreSQL.
    pub async fn start(db: Db, kind: ProxyKind, test: &str) -> Option<Self> {
        let program = proxy_program(kind, test)?;
        let port = super::free_port();
        let Some(app) = TestApp::spawn_with(db, |c| {
            c.base_url = url::Url::parse(&format!("http://{AUTH_HOST}:{port}")).unwrap();
            c.cookie_domain = Some(COOKIE_DOMAIN.into());
            c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        })
        .await
        else {
            super::skipped(test);
            return None;
        };
        add_applications(&app).await;
        let upstream = Upstream::start().await;
        let keywarden = app.address.trim_start_matches("http://").to_owned();
        let proxy = Proxy::start(kind, &program, port, &keywarden, upstream.address).await;
        Some(Self {
            app,
            proxy,
            upstream,
        })
    }

    /// Keywarden's public URL, without the trailing slash.
    pub fn base_url(&self) -> String {
        self.app
            .state
            .config
            .base_url
            .as_str()
            .trim_end_matches('/')
            .to_owned()
    }

    /// A URL on the proxy for `host`.
    pub fn url(&self, host: &str, path_and_query: &str) -> String {
        format!("http://{host}:{}{path_and_query}", self.proxy.port)
    }

    /// A new browser whose `*.kw.test` requests all reach the proxy.
    pub fn browser(&self) -> Browser {
        Browser::new(&self.base_url(), self.proxy.port)
    }

    /// Signs up through the proxy and signs in (the JSON way, no `rd`) in a new browser.
    pub async fn member(&self, email: &str) -> Browser {
        let b = self.browser();
        assert_eq!(b.sign_up(email).await.status(), 200, "sign up {email}");
        assert_eq!(b.sign_in_json(email).await.status(), 200, "sign in {email}");
        b
    }

    /// Creates an admin with the real CLI and signs them in through the proxy in a new browser.
    pub async fn admin(&self, email: &str) -> Browser {
        create_admin(&self.app, email).await;
        let b = self.browser();
        assert_eq!(b.sign_in_json(email).await.status(), 200, "sign in {email}");
        b
    }
}

/// Adds the two test applications the way the admin console does (this node's directory is
/// reloaded at commit).
pub async fn add_applications(app: &TestApp) {
    use keywarden::features::applications::service;
    for (name, host, roles) in [
        ("Wiki", APP_HOST, &["admin", "member"][..]),
        ("Ops", ADMIN_APP_HOST, &["admin"][..]),
    ] {
        let roles: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
        let input = ApplicationInput::parse(name, host, &roles, true).expect("application input");
        service::create(
            &app.state,
            &Actor::cli("forward-auth-test"),
            &input,
            &RequestMeta::default(),
        )
        .await
        .expect("add application");
    }
}

/// `keywarden admin create` through the real binary.
pub async fn create_admin(app: &TestApp, email: &str) {
    let out = app
        .cli(&["admin", "create", "--email", email], Some(PASSWORD))
        .await;
    assert!(
        out.status.success(),
        "admin create failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A browser-like client for Keywarden at `base_url` (its `Origin`) whose `*.kw.test` hosts all
/// resolve to `127.0.0.1:port`: cookies kept (the session cookie's `Domain=.kw.test` makes it
/// reach every application host), no redirects followed.
pub struct Browser {
    pub client: reqwest::Client,
    pub base_url: String,
    jar: std::sync::Arc<reqwest::cookie::Jar>,
}

impl Browser {
    pub fn new(base_url: &str, port: u16) -> Self {
        Self::build(base_url, port, None)
    }

    /// The same, but connecting from `local` (e.g. 127.0.0.2: a peer that is not a trusted proxy).
    pub fn from_address(base_url: &str, port: u16, local: std::net::IpAddr) -> Self {
        Self::build(base_url, port, Some(local))
    }

    fn build(base_url: &str, port: u16, local: Option<std::net::IpAddr>) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert("Origin", HeaderValue::from_str(base_url).unwrap());
        let to = SocketAddr::from(([127, 0, 0, 1], port));
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        let mut builder = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .default_headers(headers)
            .timeout(Duration::from_secs(30))
            .no_proxy()
            .resolve(AUTH_HOST, to)
            .resolve(APP_HOST, to)
            .resolve(ADMIN_APP_HOST, to)
            .resolve("unknown.kw.test", to);
        if let Some(ip) = local {
            builder = builder.local_address(ip);
        }
        Self {
            client: builder.build().unwrap(),
            base_url: base_url.to_owned(),
            jar,
        }
    }

    /// The `Cookie` header this browser sends to `url`, if any.
    pub fn cookies(&self, url: &str) -> Option<String> {
        use reqwest::cookie::CookieStore;
        self.jar
            .cookies(&url::Url::parse(url).unwrap())
            .and_then(|v| v.to_str().ok().map(str::to_owned))
    }

    pub async fn get(&self, url: &str) -> reqwest::Response {
        self.client
            .get(url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {url}: {e}"))
    }

    /// Calls a server function the way the hydrated page does (JSON answer).
    pub async fn call(&self, name: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(format!("{}/api/{name}", self.base_url))
            .header("Accept", "application/json")
            .form(form)
            .send()
            .await
            .expect("server function request")
    }

    pub async fn sign_up(&self, email: &str) -> reqwest::Response {
        self.call("sign_up", &[("email", email), ("password", PASSWORD)])
            .await
    }

    pub async fn sign_in_json(&self, email: &str) -> reqwest::Response {
        self.call(
            "sign_in",
            &[("email", email), ("password", PASSWORD), ("next", "")],
        )
        .await
    }

    /// Posts the sign-in form as a browser without JavaScript does, from the sign-in page with
    /// `?rd=`: the answer is a redirect whose `Location` says where the browser goes next.
    pub async fn sign_in_form(&self, email: &str, rd: &str) -> reqwest::Response {
        let page = url::Url::parse_with_params(&format!("{}/sign-in", self.base_url), [("rd", rd)])
            .unwrap();
        self.client
            .post(format!("{}/api/sign_in", self.base_url))
            .header("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
            .header("Referer", page.as_str())
            .form(&[
                ("email", email),
                ("password", PASSWORD),
                ("next", ""),
                ("rd", rd),
            ])
            .send()
            .await
            .expect("sign-in form post")
    }

    /// "Set password as compromised" on the user's page (without signing them out).
    pub async fn compromise_user(&self, app: &TestApp, email: &str) -> reqwest::Response {
        let id = app.user_id(email).await.to_string();
        self.call(
            "admin_compromise_user",
            &[
                ("user_id", id.as_str()),
                ("reason", "found in a credential dump"),
            ],
        )
        .await
    }

    /// "Sign out everyone" as the Security page posts it.
    pub async fn sign_out_everyone(&self) -> reqwest::Response {
        self.call(
            "admin_sign_out_everyone",
            &[
                ("reason", "breach"),
                ("confirmation", "SIGN OUT EVERYONE"),
                ("password", PASSWORD),
            ],
        )
        .await
    }
}

/// The `Location` of a response, as text (panics with the status when there is none).
pub fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .unwrap_or_else(|| panic!("no Location header (status {})", r.status()))
        .to_str()
        .expect("a text Location")
        .to_owned()
}

/// The `rd` of a sign-in URL `{base_url}/sign-in?rd=...`, decoded; panics when `location` is
/// not Keywarden's sign-in page at `base_url`.
pub fn sign_in_rd(location: &str, base_url: &str) -> String {
    let url = url::Url::parse(location)
        .unwrap_or_else(|e| panic!("Location {location:?} is not an absolute URL: {e}"));
    let base = url::Url::parse(base_url).unwrap();
    assert_eq!(
        (url.scheme(), url.host_str(), url.port(), url.path()),
        (base.scheme(), base.host_str(), base.port(), "/sign-in"),
        "Location {location:?} is not the sign-in page of {base_url}"
    );
    url.query_pairs()
        .find(|(k, _)| k == "rd")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("Location {location:?} has no rd"))
}
