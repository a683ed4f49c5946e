//! The session cache behind forward-auth and pages: a revocation bites on the very next request
//! of this node, reaches the other nodes and a running server from the command line, activity is
//! written behind, and forward-auth refuses what it must.

mod common;

use std::time::{Duration, Instant};

use common::{Db, TestApp, PASSWORD};
use keywarden::config::Config;
use keywarden::domain::{Actor, ApplicationInput, RequestMeta};
use keywarden::runtime::clock::Clock;

const APP_HOST: &str = "wiki.example.test";
const ADMIN_ONLY_HOST: &str = "ops.example.test";

fn proxied(c: &mut Config) {
    c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    c.last_seen_flush_ms = 200;
}

async fn spawn(db: Db) -> Option<TestApp> {
    let app = TestApp::spawn_with(db, proxied).await?;
    add_app(&app, "Wiki", APP_HOST, &["admin", "member"], true).await;
    add_app(&app, "Ops", ADMIN_ONLY_HOST, &["admin"], true).await;
    Some(app)
}

async fn add_app(app: &TestApp, name: &str, host: &str, roles: &[&str], enabled: bool) -> i64 {
    let roles: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
    let input = ApplicationInput::parse(name, host, &roles, enabled).unwrap();
    keywarden::features::applications::service::create(
        &app.state,
        &Actor::System,
        &input,
        &RequestMeta::default(),
    )
    .await
    .unwrap()
}

/// What `GET /auth/forward` answers for a request to `host` with `browser`'s cookies.
async fn forward(
    app: &TestApp,
    browser: &reqwest::Client,
    host: &str,
) -> (u16, String, reqwest::header::HeaderMap) {
    let r = browser
        .get(app.url("/auth/forward"))
        .header("X-Forwarded-Method", "GET")
        .header("X-Forwarded-Proto", "https")
        .header("X-Forwarded-Host", host)
        .header("X-Forwarded-Uri", "/page?x=1")
        .header("X-Forwarded-For", "198.51.100.9")
        .send()
        .await
        .unwrap();
    let location = r
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (r.status().as_u16(), location, r.headers().clone())
}

/// A new session of `email` as a cookie (`name=value`), signed in with a fresh browser.
async fn session_of(app: &TestApp, email: &str) -> String {
    let r = app.sign_in(&app.new_browser(), email, PASSWORD).await;
    assert_eq!(r.status(), 200);
    format!(
        "keywarden_session={}",
        common::session_cookie(&r).expect("a session cookie")
    )
}

fn sign_in_redirect(app: &TestApp, location: &str) -> bool {
    location.starts_with(&format!("{}/sign-in?rd=", app.address))
}

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite { $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if let Some(app) = super::spawn(super::Db::Sqlite).await { super::$name(&app).await; }
            }
        )* }
        mod postgres { $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                match super::spawn(super::Db::Postgres).await {
                    Some(app) => super::$name(&app).await,
                    None => super::common::skipped(concat!(module_path!(), "::", stringify!($name))),
                }
            }
        )* }
    };
}

on_both!(
    v7_4_1_revocation_bites_on_the_very_next_forward_auth_request,
    v7_4_1_sign_out_and_disabling_reach_forward_auth,
    v7_4_1_another_node_refuses_within_the_propagation_target,
    v7_4_1_a_command_line_change_reaches_the_running_server,
    v7_3_1_idle_timeout_holds_with_activity_written_behind,
    v8_3_1_forward_auth_refuses_unknown_hosts_roles_and_untrusted_peers,
    v3_7_2_rd_returns_only_to_enabled_applications,
    a_sign_in_changes_no_cached_row,
);

async fn v7_4_1_revocation_bites_on_the_very_next_forward_auth_request(app: &TestApp) {
    let admin = app.admin("root@example.org").await;
    let member = app.member("ada@example.org").await;
    let (status, _, headers) = forward(app, &member, APP_HOST).await;
    assert_eq!(status, 200);
    let id = app.user_id("ada@example.org").await.to_string();
    assert_eq!(headers["remote-user"], id.as_str());
    assert_eq!(headers["remote-email"], "ada@example.org");
    assert_eq!(headers["remote-groups"], "member");
    assert_eq!(headers["remote-session"].len(), 32);
    // Cached now: the same answer again.
    assert_eq!(forward(app, &member, APP_HOST).await.0, 200);

    assert_eq!(
        app.compromise_user(&admin, "ada@example.org", false)
            .await
            .status(),
        200
    );
    let (status, location, _) = forward(app, &member, APP_HOST).await;
    assert_eq!(
        (status, location.as_str()),
        (302, format!("{}/reset-task", app.address).as_str())
    );

    let form = [("user_id", id.as_str()), ("password", PASSWORD)];
    assert_eq!(
        app.call(&admin, "admin_sign_out_user", &form)
            .await
            .status(),
        200
    );
    let (status, location, _) = forward(app, &member, APP_HOST).await;
    assert_eq!(status, 302);
    assert!(sign_in_redirect(app, &location), "{location}");
    assert!(
        location.contains("rd=https%3A%2F%2Fwiki.example.test%2Fpage%3Fx%3D1"),
        "{location}"
    );
}

async fn v7_4_1_sign_out_and_disabling_reach_forward_auth(app: &TestApp) {
    let admin = app.admin("root@example.org").await;
    let member = app.member("ada@example.org").await;
    assert_eq!(forward(app, &member, APP_HOST).await.0, 200);
    // The user signs out: the old cookie is refused at once.
    let old = session_of(app, "ada@example.org").await;
    let old_browser = common::browser_with_cookie(&app.address, &old);
    assert_eq!(forward(app, &old_browser, APP_HOST).await.0, 200);
    assert_eq!(app.call(&old_browser, "sign_out", &[]).await.status(), 200);
    let (status, location, _) = forward(app, &old_browser, APP_HOST).await;
    assert_eq!(status, 302);
    assert!(sign_in_redirect(app, &location));

    // Disabled: refused on the next request.
    assert_eq!(
        app.sign_in(&member, "ada@example.org", PASSWORD)
            .await
            .status(),
        200
    );
    assert_eq!(forward(app, &member, APP_HOST).await.0, 200);
    let id = app.user_id("ada@example.org").await.to_string();
    let form = [
        ("user_id", id.as_str()),
        ("disabled", "true"),
        ("password", PASSWORD),
    ];
    assert_eq!(
        app.call(&admin, "admin_set_disabled", &form).await.status(),
        200
    );
    assert_eq!(forward(app, &member, APP_HOST).await.0, 302);
}

async fn v7_4_1_another_node_refuses_within_the_propagation_target(app: &TestApp) {
    let node_b = app.second_node_with(proxied).await;
    let admin = app.admin("root@example.org").await;
    let member = app.member("ada@example.org").await;
    // The member's session, sent to node B.
    let _ = member;
    let cookie = session_of(app, "ada@example.org").await;
    let on_b = common::browser_with_cookie(&node_b.address, &cookie);
    assert_eq!(forward(&node_b, &on_b, APP_HOST).await.0, 200);
    assert_eq!(forward(&node_b, &on_b, APP_HOST).await.0, 200);

    let id = app.user_id("ada@example.org").await.to_string();
    let form = [("user_id", id.as_str()), ("password", PASSWORD)];
    assert_eq!(
        app.call(&admin, "admin_sign_out_user", &form)
            .await
            .status(),
        200
    );
    let started = Instant::now();
    loop {
        if forward(&node_b, &on_b, APP_HOST).await.0 == 302 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "node B still lets the session through"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn v7_4_1_a_command_line_change_reaches_the_running_server(app: &TestApp) {
    let member = app.member("ada@example.org").await;
    assert_eq!(forward(app, &member, APP_HOST).await.0, 200);
    let out = app
        .cli(
            &[
                "incident",
                "compromise-user",
                "--email",
                "ada@example.org",
                "--sign-out",
                "--reason",
                "leak",
            ],
            None,
        )
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let started = Instant::now();
    loop {
        if forward(app, &member, APP_HOST).await.0 == 302 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "the server still lets the session through"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn v7_3_1_idle_timeout_holds_with_activity_written_behind(app: &TestApp) {
    let member = app.member("ada@example.org").await;
    assert_eq!(forward(app, &member, APP_HOST).await.0, 200);
    // Activity a while later is written behind, not on the request.
    app.clock.advance(Duration::from_secs(5 * 60));
    assert_eq!(forward(app, &member, APP_HOST).await.0, 200);
    let seen = app.clock.now_ms();
    let started = Instant::now();
    loop {
        let n = app
            .count(&format!(
                "SELECT COUNT(*) FROM sessions WHERE ended_at IS NULL AND last_seen_at = {seen}"
            ))
            .await;
        if n == 1 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "activity was not written behind"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Past the idle timeout (30 minutes) the cached session is refused and ended as expired.
    app.clock.advance(Duration::from_secs(31 * 60));
    assert_eq!(forward(app, &member, APP_HOST).await.0, 302);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM sessions WHERE end_reason = 'expired'")
            .await,
        1
    );
}

async fn v8_3_1_forward_auth_refuses_unknown_hosts_roles_and_untrusted_peers(app: &TestApp) {
    let admin = app.admin("root@example.org").await;
    let member = app.member("ada@example.org").await;
    // Unknown host: refused by default, signed in or not.
    assert_eq!(forward(app, &member, "intranet.example.test").await.0, 403);
    assert_eq!(
        forward(app, &app.new_browser(), "intranet.example.test")
            .await
            .0,
        403
    );
    // An admin-only application refuses a member and lets the admin through.
    assert_eq!(forward(app, &member, ADMIN_ONLY_HOST).await.0, 403);
    let (status, _, headers) = forward(app, &admin, ADMIN_ONLY_HOST).await;
    assert_eq!(status, 200);
    assert_eq!(headers["remote-groups"], "admin");
    // A disabled application is refused.
    add_app(app, "Old", "old.example.test", &["member"], false).await;
    assert_eq!(forward(app, &member, "old.example.test").await.0, 403);
    // nginx's convention: 401 with the sign-in URL in Location.
    let r = app
        .new_browser()
        .get(app.url("/auth/nginx"))
        .header("X-Original-URL", "https://wiki.example.test/a?b=c")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let location = r.headers()["location"].to_str().unwrap();
    assert!(
        location.ends_with("/sign-in?rd=https%3A%2F%2Fwiki.example.test%2Fa%3Fb%3Dc"),
        "{location}"
    );
    // A node that does not trust the peer believes none of its forwarded headers.
    let untrusting = app.second_node().await;
    let cookie = session_of(app, "ada@example.org").await;
    let browser = common::browser_with_cookie(&untrusting.address, &cookie);
    assert_eq!(forward(&untrusting, &browser, APP_HOST).await.0, 403);
}

async fn v3_7_2_rd_returns_only_to_enabled_applications(app: &TestApp) {
    app.member("ada@example.org").await;
    let sign_in = |rd: &'static str| async move {
        let browser = app.new_browser();
        let r = browser
            .post(app.url("/api/sign_in"))
            .form(&[
                ("email", "ada@example.org"),
                ("password", PASSWORD),
                ("next", ""),
                ("rd", rd),
            ])
            .send()
            .await
            .unwrap();
        r.headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    assert_eq!(
        sign_in("https://wiki.example.test/page?x=1").await,
        "https://wiki.example.test/page?x=1"
    );
    for bad in [
        "https://evil.example/",
        "https://wiki.example.test.evil.example/",
        "javascript:alert(1)",
        "//evil.example/",
        "https://user@wiki.example.test/",
    ] {
        let location = sign_in(bad).await;
        assert_eq!(location, "/account", "rd {bad:?} was followed");
    }
}

/// The cache announcements written while `act` runs, besides this node's own sync markers:
/// SQLite's `cache_events` rows, PostgreSQL's notifications on the cache channel (read up to a
/// sentinel sent after `act`, so none still in flight is missed).
async fn cache_announcements<F: std::future::Future<Output = ()>>(
    app: &TestApp,
    act: F,
) -> Vec<String> {
    match app.db {
        Db::Sqlite => {
            let mut conn = app.state.store.pool().acquire().await.unwrap();
            let (before,): (i64,) = sqlx::query_as("SELECT COALESCE(MAX(id), 0) FROM cache_events")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            act.await;
            let rows: Vec<(String, String)> =
                sqlx::query_as("SELECT kind, key FROM cache_events WHERE id > $1 ORDER BY id")
                    .bind(before)
                    .fetch_all(&mut *conn)
                    .await
                    .unwrap();
            rows.into_iter()
                .map(|(k, key)| format!("{k}:{key}"))
                .collect()
        }
        Db::Postgres => {
            let mut listener = sqlx::postgres::PgListener::connect(&app.database_url)
                .await
                .unwrap();
            listener.listen("keywarden_cache").await.unwrap();
            act.await;
            let mut conn = app.state.store.pool().acquire().await.unwrap();
            sqlx::query("SELECT pg_notify('keywarden_cache', 'test:end')")
                .execute(&mut *conn)
                .await
                .unwrap();
            let mut seen = Vec::new();
            loop {
                let n = tokio::time::timeout(Duration::from_secs(10), listener.recv())
                    .await
                    .expect("the sentinel arrives")
                    .unwrap();
                match n.payload() {
                    "test:end" => break,
                    p if p.starts_with("m:") => {}
                    p => seen.push(p.to_owned()),
                }
            }
            seen
        }
    }
}

/// The sign-in's unit of work skips the cache sync (`AuditedTx::changes_no_cached_rows`), which
/// holds only while it changes no session, user or application row. Fresh browsers sign in: the
/// first device, a new device (its alert and mail), a wrong password, and a compromised password
/// (the reset task). Not one announcement may come of them.
async fn a_sign_in_changes_no_cached_row(app: &TestApp) {
    let admin = app.admin("root@example.org").await;
    app.member("ada@example.org").await;
    let seen = cache_announcements(app, async {
        for password in [PASSWORD, PASSWORD, "not-the-password-1"] {
            let r = app
                .sign_in(&app.new_browser(), "ada@example.org", password)
                .await;
            assert!(r.status() == 200 || r.status() == 401, "{}", r.status());
        }
    })
    .await;
    assert!(
        seen.is_empty(),
        "a sign-in announced cache changes: {seen:?}"
    );

    assert_eq!(
        app.compromise_user(&admin, "ada@example.org", false)
            .await
            .status(),
        200
    );
    let seen = cache_announcements(app, async {
        let r = app
            .sign_in(&app.new_browser(), "ada@example.org", PASSWORD)
            .await;
        assert_eq!(r.status(), 200);
    })
    .await;
    assert!(
        seen.is_empty(),
        "a sign-in to the reset task announced cache changes: {seen:?}"
    );
}
