//! Forward-auth: Keywarden deciding for applications behind nginx (`auth_request`, `/auth/nginx`),
//! Caddy (`forward_auth`, `/auth/forward`) and Traefik (ForwardAuth, simulated: not packaged).
//! nginx and Caddy run as real processes with the documented configurations (tests/proxy/).

mod common;

use common::proxy::{
    add_applications, create_admin, location, sign_in_rd, Browser, Site, ADMIN_APP_HOST, APP_HOST,
    AUTH_HOST, CADDY_SITE, COOKIE_DOMAIN, NGINX_SITE, TRAEFIK_SITE,
};
use common::{Db, TestApp};
use serde_json::Value;

/// Runs each named test body behind nginx and behind Caddy, each on SQLite and on PostgreSQL.
macro_rules! behind_each_proxy {
    ($($name:ident),* $(,)?) => {
        behind_each_proxy!(@proxy nginx, Nginx, $($name),*);
        behind_each_proxy!(@proxy caddy, Caddy, $($name),*);
    };
    (@proxy $module:ident, $kind:ident, $($name:ident),*) => {
        mod $module {
            behind_each_proxy!(@db sqlite, Sqlite, $kind, $($name),*);
            behind_each_proxy!(@db postgres, Postgres, $kind, $($name),*);
        }
    };
    (@db $module:ident, $db:ident, $kind:ident, $($name:ident),*) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let test = concat!(module_path!(), "::", stringify!($name));
                    let kind = $crate::common::proxy::ProxyKind::$kind;
                    if let Some(site) =
                        $crate::common::proxy::Site::start($crate::common::Db::$db, kind, test).await
                    {
                        crate::$name(&site).await;
                    }
                }
            )*
        }
    };
}

behind_each_proxy!(
    a_visitor_signs_in_through_the_proxy_and_loses_access_when_the_admin_acts,
    an_admin_only_application_refuses_a_member_and_admits_an_admin,
);

/// Runs each named test body on SQLite and PostgreSQL against Keywarden alone, as a proxy's
/// authorization requests reach it (see [`direct`]).
macro_rules! direct_on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod direct {
            mod sqlite {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $name() {
                        let test = concat!(module_path!(), "::", stringify!($name));
                        if let Some(app) = super::super::direct($crate::common::Db::Sqlite, test).await {
                            super::super::$name(&app).await;
                        }
                    }
                )*
            }
            mod postgres {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $name() {
                        let test = concat!(module_path!(), "::", stringify!($name));
                        if let Some(app) = super::super::direct($crate::common::Db::Postgres, test).await {
                            super::super::$name(&app).await;
                        }
                    }
                )*
            }
        }
    };
}

/// The configurations these tests run are the ones the documentation gives (the guide is
/// README section "Protect an application").
#[test]
fn the_documented_proxy_configurations_are_the_tested_ones() {
    let root = env!("CARGO_MANIFEST_DIR");
    let docs: Vec<String> = ["README.md"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(format!("{root}/{f}")).ok())
        .collect();
    for (name, config) in [
        ("tests/proxy/nginx.conf", NGINX_SITE),
        ("tests/proxy/Caddyfile", CADDY_SITE),
        ("tests/proxy/traefik.yml", TRAEFIK_SITE),
    ] {
        assert!(
            docs.iter().any(|d| d.contains(config)),
            "{name} is not in the documentation word for word"
        );
    }
}

direct_on_both_databases!(
    traefik_forward_auth_admits_a_signed_in_member_with_remote_headers,
    traefik_forward_auth_sends_an_anonymous_visitor_to_sign_in_with_rd,
    forward_auth_refuses_a_host_that_is_not_an_application,
    forwarded_headers_from_an_untrusted_peer_are_not_believed,
    nginx_auth_request_answers_401_with_the_sign_in_url_in_location,
    sign_in_redirects_to_rd_only_on_an_application_host,
);

// ---------------------------------------------------------------------------------------------
// Through nginx and Caddy

/// The JSON the upstream echoes: the `Remote-*` headers it received, its Host and URI.
async fn upstream_saw(r: reqwest::Response, what: &str) -> Value {
    let status = r.status();
    let body = r.text().await.unwrap();
    assert_eq!(
        status, 200,
        "{what}: the application should answer; got {body}"
    );
    serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("{what}: not the upstream's JSON ({e}): {body}"))
}

/// A `Remote-Session` names one live session of this user (its public id).
async fn assert_session_of(app: &TestApp, session: &Value, user_id: i64) {
    let session = session
        .as_str()
        .unwrap_or_else(|| panic!("no Remote-Session: {session}"));
    assert!(
        !session.is_empty()
            && session
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "Remote-Session {session:?}"
    );
    let n = app
        .count(&format!(
            "SELECT COUNT(*) FROM sessions WHERE public_id = '{session}' AND user_id = {user_id}"
        ))
        .await;
    assert_eq!(
        n, 1,
        "Remote-Session {session:?} is a session of user {user_id}"
    );
}

async fn a_visitor_signs_in_through_the_proxy_and_loses_access_when_the_admin_acts(site: &Site) {
    let app = &site.app;
    let base = site.base_url();
    let proxy = site.proxy.kind.name();
    let admin = site.admin("root@example.org").await;
    let ada = site.browser();
    assert_eq!(ada.sign_up("ada@example.org").await.status(), 200);
    let ada_id = app.user_id("ada@example.org").await;
    let page = site.url(APP_HOST, "/wiki/Home?action=edit");

    // 1. Not signed in: sent to Keywarden's sign-in, which will bring the browser back.
    let r = ada.get(&page).await;
    assert_eq!(
        r.status(),
        302,
        "{proxy}: anonymous GET {page}\n{}",
        site.proxy.logs()
    );
    let to = location(&r);
    assert_eq!(sign_in_rd(&to, &base), page, "{proxy}: the rd of {to}");
    let r = ada.get(&to).await;
    assert_eq!(
        r.status(),
        200,
        "{proxy}: GET {to} (the sign-in page through the proxy)"
    );
    assert!(r.text().await.unwrap().contains("Sign in"));

    // 2. Signing in with rd lands back on the application, which is told who signed in.
    let r = ada.sign_in_form("ada@example.org", &page).await;
    assert!(
        r.status().is_redirection(),
        "{proxy}: sign-in with rd={page}: status {}",
        r.status()
    );
    assert_eq!(
        location(&r),
        page,
        "{proxy}: sign-in with rd goes back to rd"
    );
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("keywarden_session="))
        .map(str::to_owned)
        .expect("a session cookie");
    assert!(
        cookie
            .to_ascii_lowercase()
            .contains(&format!("domain={COOKIE_DOMAIN}"))
            || cookie.to_ascii_lowercase().contains("domain=kw.test"),
        "{proxy}: the session cookie reaches every *.kw.test host: {cookie}"
    );
    let seen = upstream_saw(ada.get(&page).await, proxy).await;
    assert_eq!(seen["remote-user"], ada_id.to_string(), "{proxy}: {seen}");
    assert_eq!(seen["remote-email"], "ada@example.org", "{proxy}: {seen}");
    assert_eq!(seen["remote-groups"], "member", "{proxy}: {seen}");
    assert_eq!(seen["uri"], "/wiki/Home?action=edit", "{proxy}: {seen}");
    assert_session_of(app, &seen["remote-session"], ada_id).await;
    // What the application is told comes from Keywarden, never from the client.
    let r = ada
        .client
        .get(&page)
        .header("Remote-User", "1")
        .header("Remote-Email", "root@example.org")
        .header("Remote-Name", "Forged")
        .header("Remote-Groups", "admin")
        .header("Remote-Session", "forged")
        .send()
        .await
        .unwrap();
    let seen = upstream_saw(r, proxy).await;
    assert_eq!(seen["remote-user"], ada_id.to_string(), "{proxy}: {seen}");
    assert_eq!(seen["remote-email"], "ada@example.org", "{proxy}: {seen}");
    assert_eq!(seen["remote-groups"], "member", "{proxy}: {seen}");
    assert_ne!(seen["remote-session"], "forged", "{proxy}: {seen}");
    let name = seen["remote-name"].as_str().unwrap_or_default();
    assert!(
        name != "Forged" && !name.contains('{'),
        "{proxy}: Remote-Name {name:?} is not Keywarden's (a forged or unfilled header)"
    );

    // A second member, signed in normally, for step 4.
    let bob = site.member("bob@example.org").await;
    let seen = upstream_saw(bob.get(&page).await, proxy).await;
    assert_eq!(seen["remote-email"], "bob@example.org", "{proxy}: {seen}");

    // 3. Password set as compromised: the very next request goes to the reset task.
    let r = admin.compromise_user(app, "ada@example.org").await;
    assert_eq!(r.status(), 200, "compromise: {}", r.text().await.unwrap());
    let r = ada.get(&page).await;
    assert_eq!(r.status(), 302, "{proxy}: GET {page} after the compromise");
    assert_eq!(location(&r), format!("{base}/reset-task"), "{proxy}");

    // 4. Everyone signed out: the very next requests are sent to sign in again.
    let r = admin.sign_out_everyone().await;
    assert_eq!(
        r.status(),
        200,
        "sign out everyone: {}",
        r.text().await.unwrap()
    );
    for (who, browser) in [("ada", &ada), ("bob", &bob)] {
        let r = browser.get(&page).await;
        assert_eq!(
            r.status(),
            302,
            "{proxy}: {who}: GET {page} after sign out everyone"
        );
        assert_eq!(sign_in_rd(&location(&r), &base), page, "{proxy}: {who}");
    }
}

async fn an_admin_only_application_refuses_a_member_and_admits_an_admin(site: &Site) {
    let proxy = site.proxy.kind.name();
    let ops = site.url(ADMIN_APP_HOST, "/dashboard");
    let member = site.member("ada@example.org").await;
    // The member may enter the application open to members, not the admin-only one.
    let seen = upstream_saw(member.get(&site.url(APP_HOST, "/")).await, proxy).await;
    assert_eq!(seen["remote-groups"], "member", "{proxy}: {seen}");
    let r = member.get(&ops).await;
    assert_eq!(r.status(), 403, "{proxy}: a member on {ops}");

    let admin = site.admin("root@example.org").await;
    let seen = upstream_saw(admin.get(&ops).await, proxy).await;
    assert_eq!(seen["remote-groups"], "admin", "{proxy}: {seen}");
    assert_eq!(seen["remote-email"], "root@example.org", "{proxy}: {seen}");
    assert_eq!(
        seen["remote-user"],
        site.app.user_id("root@example.org").await.to_string(),
        "{proxy}: {seen}"
    );
}

// ---------------------------------------------------------------------------------------------
// Keywarden alone, as Traefik's ForwardAuth (and nginx's auth_request) call it

/// Keywarden at `http://auth.kw.test:<its port>` (cookie domain `.kw.test`, 127.0.0.1 a trusted
/// proxy) with the two test applications; `None` when PostgreSQL is skipped.
async fn direct(db: Db, test: &str) -> Option<TestApp> {
    let port = common::free_port();
    let Some(app) = TestApp::spawn_with(db, |c| {
        c.listen = format!("127.0.0.1:{port}");
        c.base_url = url::Url::parse(&format!("http://{AUTH_HOST}:{port}")).unwrap();
        c.cookie_domain = Some(COOKIE_DOMAIN.into());
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await
    else {
        common::skipped(test);
        return None;
    };
    add_applications(&app).await;
    Some(app)
}

fn port_of(app: &TestApp) -> u16 {
    app.state.config.base_url.port().expect("a test port")
}

fn base_of(app: &TestApp) -> String {
    app.state
        .config
        .base_url
        .as_str()
        .trim_end_matches('/')
        .to_owned()
}

/// A browser talking to Keywarden directly (every `*.kw.test` resolves to it).
fn direct_browser(app: &TestApp) -> Browser {
    Browser::new(&base_of(app), port_of(app))
}

async fn direct_member(app: &TestApp, email: &str) -> Browser {
    let b = direct_browser(app);
    assert_eq!(b.sign_up(email).await.status(), 200);
    assert_eq!(b.sign_in_json(email).await.status(), 200);
    b
}

/// What Traefik sends its ForwardAuth address for `GET https://{host}{uri}` from 203.0.113.9
/// (with `trustForwardHeader`), the browser's cookies included.
async fn traefik_asks(b: &Browser, host: &str, uri: &str) -> reqwest::Response {
    b.client
        .get(format!("{}/auth/forward", b.base_url))
        .header("X-Forwarded-Method", "GET")
        .header("X-Forwarded-Proto", "https")
        .header("X-Forwarded-Host", host)
        .header("X-Forwarded-Uri", uri)
        .header("X-Forwarded-For", "203.0.113.9")
        .send()
        .await
        .expect("forward-auth request")
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> &'a str {
    r.headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header (status {})", r.status()))
        .to_str()
        .unwrap()
}

async fn traefik_forward_auth_admits_a_signed_in_member_with_remote_headers(app: &TestApp) {
    let ada = direct_member(app, "ada@example.org").await;
    let r = traefik_asks(&ada, APP_HOST, "/docs?page=2").await;
    assert_eq!(r.status(), 200);
    let id = app.user_id("ada@example.org").await;
    assert_eq!(header(&r, "remote-user"), id.to_string());
    assert_eq!(header(&r, "remote-email"), "ada@example.org");
    assert_eq!(header(&r, "remote-groups"), "member");
    header(&r, "remote-name");
    let session = Value::String(header(&r, "remote-session").to_owned());
    assert_session_of(app, &session, id).await;
}

async fn traefik_forward_auth_sends_an_anonymous_visitor_to_sign_in_with_rd(app: &TestApp) {
    let anonymous = direct_browser(app);
    let r = traefik_asks(&anonymous, APP_HOST, "/docs?page=2&q=a%20b").await;
    assert_eq!(r.status(), 302);
    assert_eq!(
        sign_in_rd(&location(&r), &base_of(app)),
        "https://app.kw.test/docs?page=2&q=a%20b"
    );
}

async fn forward_auth_refuses_a_host_that_is_not_an_application(app: &TestApp) {
    let ada = direct_member(app, "ada@example.org").await;
    let r = traefik_asks(&ada, "unknown.kw.test", "/").await;
    assert_eq!(r.status(), 403, "an unknown host");
    assert!(r.headers().get("remote-user").is_none());
    // Keywarden's own host is not an application either.
    let r = traefik_asks(&ada, AUTH_HOST, "/").await;
    assert_eq!(r.status(), 403, "Keywarden's own host");
}

async fn forwarded_headers_from_an_untrusted_peer_are_not_believed(app: &TestApp) {
    // 127.0.0.2 is loopback too, but not in trusted_proxies (127.0.0.1/32).
    let untrusted = Browser::from_address(&base_of(app), port_of(app), [127, 0, 0, 2].into());
    assert_eq!(untrusted.sign_up("ada@example.org").await.status(), 200);
    assert_eq!(
        untrusted.sign_in_json("ada@example.org").await.status(),
        200
    );
    let r = traefik_asks(&untrusted, APP_HOST, "/").await;
    assert_eq!(r.status(), 403, "X-Forwarded-* from an untrusted peer");
    assert!(r.headers().get("remote-user").is_none());
    // The same session through the trusted peer is admitted: the peer made the difference.
    let cookies = untrusted
        .cookies(&base_of(app))
        .expect("the untrusted browser holds a session");
    let r = direct_browser(app)
        .client
        .get(format!("{}/auth/forward", base_of(app)))
        .header("Cookie", cookies)
        .header("X-Forwarded-Method", "GET")
        .header("X-Forwarded-Proto", "https")
        .header("X-Forwarded-Host", APP_HOST)
        .header("X-Forwarded-Uri", "/")
        .header("X-Forwarded-For", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the same session from the trusted proxy");
}

async fn nginx_auth_request_answers_401_with_the_sign_in_url_in_location(app: &TestApp) {
    let base = base_of(app);
    let anonymous = direct_browser(app);
    let original = "http://app.kw.test:8080/wiki/Home?x=1";
    let r = anonymous
        .client
        .get(format!("{base}/auth/nginx"))
        .header("X-Original-URL", original)
        .header("X-Forwarded-Method", "GET")
        .header("X-Forwarded-For", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(sign_in_rd(&location(&r), &base), original);

    let ada = direct_member(app, "ada@example.org").await;
    let r = ada
        .client
        .get(format!("{base}/auth/nginx"))
        .header("X-Original-URL", original)
        .header("X-Forwarded-Method", "GET")
        .header("X-Forwarded-For", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "remote-email"), "ada@example.org");
    // Without X-Original-URL, the X-Forwarded-* headers name the original URL.
    let r = ada
        .client
        .get(format!("{base}/auth/nginx"))
        .header("X-Forwarded-Proto", "https")
        .header("X-Forwarded-Host", ADMIN_APP_HOST)
        .header("X-Forwarded-Uri", "/")
        .header("X-Forwarded-For", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "a member on the admin-only application");
}

async fn sign_in_redirects_to_rd_only_on_an_application_host(app: &TestApp) {
    create_admin(app, "root@example.org").await;
    let base = base_of(app);
    let auth = url::Url::parse(&base).unwrap();
    for rd in [
        "https://evil.example/",
        "http://evil.example/?app.kw.test",
        "https://app.kw.test.evil.example/",
        "//evil.example/",
    ] {
        let b = direct_browser(app);
        let r = b.sign_in_form("root@example.org", rd).await;
        assert!(
            r.status().is_redirection(),
            "rd={rd}: status {}",
            r.status()
        );
        let to = auth.join(&location(&r)).expect("a URL");
        assert_eq!(to.host_str(), auth.host_str(), "rd={rd} went to {to}");
    }
    // An application's URL is where the browser goes.
    let b = direct_browser(app);
    let rd = "https://app.kw.test/wiki/Home";
    let r = b.sign_in_form("root@example.org", rd).await;
    assert_eq!(location(&r), rd);
}
