//! Accounts and sessions, end to end over HTTP, on SQLite and PostgreSQL.

mod common;

use std::time::Duration;

use common::{session_cookie, TestApp, PASSWORD};
use serde_json::Value;

on_both_databases!(
    sign_up_validation_errors_change_nothing,
    v6_3_8_sign_up_with_a_taken_address_answers_like_a_new_one_and_tells_the_owner,
    unknown_email_and_wrong_password_get_the_same_answer,
    signing_in_issues_a_new_session_id,
    signing_out_invalidates_the_session_on_the_server,
    an_idle_session_expires,
    a_session_expires_after_its_absolute_lifetime,
    a_member_cannot_call_an_admin_server_function,
    pages_are_guarded_by_sign_in_and_role,
    a_cross_site_post_is_refused,
    admin_create_works_and_rejects_a_weak_password,
    the_sessions_table_records_user_ip_and_user_agent,
    health_and_readiness_answer,
);

async fn field_error(response: reqwest::Response) -> (String, String) {
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    let field = &body["Field"];
    (
        field["field"].as_str().unwrap().to_owned(),
        field["message"].as_str().unwrap().to_owned(),
    )
}

async fn sign_up_validation_errors_change_nothing(app: &TestApp) {
    let b = app.new_browser();
    let cases = [
        ("not-an-email", PASSWORD, "email", "valid email"),
        ("", PASSWORD, "email", "Enter your email"),
        (
            "ada@example.org",
            "short pass",
            "password",
            "at least 12 characters",
        ),
        ("ada@example.org", "password1234", "password", "too common"),
        (
            "grace.hopper@example.org",
            "my grace.hopper secret!",
            "password",
            "must not contain your email",
        ),
        (
            "ada@example.org",
            &"x".repeat(257),
            "password",
            "at most 256",
        ),
    ];
    for (email, password, field, message) in cases {
        let (f, m) = field_error(app.sign_up(&b, email, password).await).await;
        assert_eq!(f, field, "{email} / {password}");
        assert!(m.contains(message), "{m:?} should mention {message:?}");
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 0);
    // 64 characters (and spaces) are accepted exactly as typed.
    let long = "a sixty-four character passphrase is welcome here, as typed. ok!";
    assert_eq!(long.chars().count(), 64);
    assert_eq!(app.sign_up(&b, "ada@example.org", long).await.status(), 200);
    assert_eq!(app.sign_in(&b, "ada@example.org", long).await.status(), 200);
    assert_eq!(
        app.sign_in(&b, "ada@example.org", long.trim_end_matches('!'))
            .await
            .status(),
        401
    );
}

async fn v6_3_8_sign_up_with_a_taken_address_answers_like_a_new_one_and_tells_the_owner(
    app: &TestApp,
) {
    let b = app.new_browser();
    let first = app.sign_up(&b, "ada@example.org", PASSWORD).await;
    assert_eq!(first.status(), 200);
    let first_location = first.headers().get("location").cloned();
    // Whatever its case, a taken address gets the very same answer as a new one.
    let again = app
        .sign_up(&b, "  ADA@Example.org ", "Other-Granite-Willow-5520")
        .await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers().get("location").cloned(), first_location);
    assert_eq!(again.text().await.unwrap(), "null");
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 1);
    // Nothing changed: the old password signs in (case-insensitively), the new one does not.
    assert_eq!(
        app.sign_in(&b, "Ada@EXAMPLE.org", "Other-Granite-Willow-5520")
            .await
            .status(),
        401
    );
    assert_eq!(
        app.sign_in(&b, "Ada@EXAMPLE.org", PASSWORD).await.status(),
        200
    );
    // The owner is told, once an hour at most; every attempt is audited.
    let mail = app
        .delivered_mail("sign_up_attempt", Some("ada@example.org"))
        .await;
    assert!(mail.text.contains("tried to create"), "{}", mail.text);
    app.sign_up(
        &app.new_browser(),
        "ada@example.org",
        "Third-Granite-Willow-5520",
    )
    .await;
    assert_eq!(
        app.count("SELECT COUNT(*) FROM outbox WHERE kind = 'sign_up_attempt'")
            .await,
        1
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'auth.sign_up_existing'")
            .await,
        2
    );
    // Bad input still gets its field message (the same for a new and a taken address).
    let (field, _) = field_error(app.sign_up(&b, "ada@example.org", "short").await).await;
    assert_eq!(field, "password");
}

async fn unknown_email_and_wrong_password_get_the_same_answer(app: &TestApp) {
    let b = app.new_browser();
    app.sign_up(&b, "ada@example.org", PASSWORD).await;
    let wrong = app
        .sign_in(&b, "ada@example.org", "Wrong-Harbor-Lantern-2931")
        .await;
    let (wrong_status, wrong_body) = (wrong.status(), wrong.text().await.unwrap());
    let unknown = app.sign_in(&b, "nobody@example.org", PASSWORD).await;
    let (unknown_status, unknown_body) = (unknown.status(), unknown.text().await.unwrap());
    assert_eq!(wrong_status, 401);
    assert_eq!(wrong_status, unknown_status);
    assert_eq!(wrong_body, unknown_body);
    assert!(wrong_body.contains("InvalidCredentials"));
    assert_eq!(
        app.count("SELECT COUNT(*) FROM sessions").await,
        0,
        "no session for a failed sign-in"
    );
}

async fn signing_in_issues_a_new_session_id(app: &TestApp) {
    let b = app.new_browser();
    app.sign_up(&b, "ada@example.org", PASSWORD).await;
    // A session id planted by an attacker is never adopted.
    let planted = "AAAAAAAAAAAAAAAAAAAAAA";
    let r = app
        .new_browser()
        .post(app.url("/api/sign_in"))
        .header("Cookie", format!("keywarden_session={planted}"))
        .header("Accept", "application/json")
        .form(&[
            ("email", "ada@example.org"),
            ("password", PASSWORD),
            ("next", ""),
        ])
        .send()
        .await
        .unwrap();
    let first = session_cookie(&r).expect("a session cookie");
    assert_ne!(first, planted);
    // Signing in again replaces the id.
    let second = session_cookie(&app.sign_in(&b, "ada@example.org", PASSWORD).await).unwrap();
    let third = session_cookie(&app.sign_in(&b, "ada@example.org", PASSWORD).await).unwrap();
    assert_ne!(second, third);
    assert_eq!(
        viewer_with_cookie(app, &second).await,
        Value::Null,
        "the replaced id is refused"
    );
    assert_eq!(
        viewer_with_cookie(app, &third).await["email"],
        "ada@example.org"
    );
    // The replaced session's row ended once, as signed out, with the sign-in that replaced it;
    // the session the other browser holds is untouched.
    let ended =
        "SELECT COUNT(*) FROM sessions WHERE ended_at IS NOT NULL AND end_reason = 'signed_out'";
    assert_eq!(app.count(ended).await, 1);
    assert_eq!(
        viewer_with_cookie(app, &first).await["email"],
        "ada@example.org"
    );
    // Each sign-in's entry took its place in the chain (on PostgreSQL the head is advanced by
    // the statement that ends the replaced session).
    let fourth = session_cookie(&app.sign_in(&b, "ada@example.org", PASSWORD).await).unwrap();
    assert_eq!(app.count(ended).await, 2);
    assert_eq!(viewer_with_cookie(app, &third).await, Value::Null);
    assert_eq!(
        viewer_with_cookie(app, &fourth).await["email"],
        "ada@example.org"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'auth.sign_in'")
            .await,
        4
    );
    app.assert_audit_chain_intact().await;
}

/// `whoami` as seen by a request carrying exactly this session cookie.
async fn viewer_with_cookie(app: &TestApp, cookie: &str) -> Value {
    let r = app
        .new_browser()
        .post(app.url("/api/whoami"))
        .header("Cookie", format!("keywarden_session={cookie}"))
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn signing_out_invalidates_the_session_on_the_server(app: &TestApp) {
    let b = app.new_browser();
    app.sign_up(&b, "ada@example.org", PASSWORD).await;
    let cookie = session_cookie(&app.sign_in(&b, "ada@example.org", PASSWORD).await).unwrap();
    assert_eq!(
        viewer_with_cookie(app, &cookie).await["email"],
        "ada@example.org"
    );
    let out = app.call(&b, "sign_out", &[]).await;
    assert_eq!(out.status(), 200);
    // The old cookie, replayed by anyone, is refused.
    assert_eq!(viewer_with_cookie(app, &cookie).await, Value::Null);
    let page = app
        .new_browser()
        .get(app.url("/account"))
        .header("Cookie", format!("keywarden_session={cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 303);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM sessions WHERE end_reason = 'signed_out'")
            .await,
        1
    );
}

async fn an_idle_session_expires(app: &TestApp) {
    let b = app.member("ada@example.org").await;
    app.clock.advance(Duration::from_secs(29 * 60));
    assert_eq!(
        b.get(app.url("/account")).send().await.unwrap().status(),
        200,
        "still inside the idle timeout"
    );
    app.clock.advance(Duration::from_secs(29 * 60));
    assert_eq!(
        b.get(app.url("/account")).send().await.unwrap().status(),
        200,
        "activity moved last-seen forward"
    );
    app.clock.advance(Duration::from_secs(31 * 60));
    let r = b.get(app.url("/account")).send().await.unwrap();
    assert_eq!(r.status(), 303, "idle for 31 minutes: refused");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM sessions WHERE end_reason = 'expired'")
            .await,
        1
    );
}

async fn a_session_expires_after_its_absolute_lifetime(app: &TestApp) {
    let b = app.member("ada@example.org").await;
    for _ in 0..25 {
        app.clock.advance(Duration::from_secs(29 * 60));
        if b.get(app.url("/account")).send().await.unwrap().status() != 200 {
            break;
        }
    }
    // 25 × 29 minutes > 12 hours: the session has ended despite constant activity.
    assert_eq!(
        b.get(app.url("/account")).send().await.unwrap().status(),
        303
    );
}

async fn a_member_cannot_call_an_admin_server_function(app: &TestApp) {
    let anonymous = app.new_browser();
    assert_eq!(
        app.call(&anonymous, "admin_overview", &[]).await.status(),
        401
    );
    let member = app.member("ada@example.org").await;
    let r = app.call(&member, "admin_overview", &[]).await;
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("Forbidden"));
    let admin = app.admin("root@example.org").await;
    let r = app.call(&admin, "admin_overview", &[]).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["users"], 2);
    assert_eq!(body["admins"], 1);
    assert_eq!(body["active_sessions"], 2);
}

async fn pages_are_guarded_by_sign_in_and_role(app: &TestApp) {
    let anonymous = app.new_browser();
    let r = anonymous.get(app.url("/admin")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/sign-in?next=/admin");
    // The way back keeps the query (a filtered list), encoded as one value.
    let r = anonymous
        .get(app.url("/admin/users?status=compromised&q=a b"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["location"],
        "/sign-in?next=/admin/users%3Fstatus%3Dcompromised%26q%3Da%2520b"
    );
    assert_eq!(
        anonymous
            .get(app.url("/account"))
            .send()
            .await
            .unwrap()
            .status(),
        303
    );

    let member = app.member("ada@example.org").await;
    let r = member.get(app.url("/admin")).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("Access denied"));
    let r = member.get(app.url("/account")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("ada@example.org"));

    let admin = app.admin("root@example.org").await;
    let r = admin.get(app.url("/admin")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Admin console"));

    let r = anonymous
        .get(app.url("/no-such-page"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.text().await.unwrap().contains("Page not found"));
}

async fn a_cross_site_post_is_refused(app: &TestApp) {
    let raw = reqwest::Client::new();
    let form = [("email", "ada@example.org"), ("password", PASSWORD)];
    let evil = raw
        .post(app.url("/api/sign_up"))
        .header("Origin", "https://evil.example")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(evil.status(), 403);
    let fetch_meta = raw
        .post(app.url("/api/sign_up"))
        .header("Sec-Fetch-Site", "cross-site")
        .header("Origin", app.address.as_str())
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(fetch_meta.status(), 403);
    let bare = raw
        .post(app.url("/api/sign_up"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(
        bare.status(),
        403,
        "a POST with no origin information is refused"
    );
    let null_origin = raw
        .post(app.url("/api/sign_up"))
        .header("Origin", "null")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(null_origin.status(), 403);
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 0);
    // The same request from the site itself goes through.
    let same = raw
        .post(app.url("/api/sign_up"))
        .header("Sec-Fetch-Site", "same-origin")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert!(same.status().is_success() || same.status().is_redirection());
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 1);
}

async fn admin_create_works_and_rejects_a_weak_password(app: &TestApp) {
    let weak = app
        .cli(
            &["admin", "create", "--email", "root@example.org"],
            Some("password"),
        )
        .await;
    assert!(!weak.status.success());
    let stderr = String::from_utf8_lossy(&weak.stderr);
    assert_eq!(
        stderr.trim().lines().count(),
        1,
        "one readable line: {stderr}"
    );
    assert!(stderr.contains("at least 12 characters"), "{stderr}");
    let bad_email = app
        .cli(&["admin", "create", "--email", "root"], Some(PASSWORD))
        .await;
    assert!(!bad_email.status.success());
    assert!(String::from_utf8_lossy(&bad_email.stderr).contains("valid email"));
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 0);

    let ok = app
        .cli(
            &["admin", "create", "--email", "root@example.org"],
            Some(PASSWORD),
        )
        .await;
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("Created administrator root@example.org"));
    assert_eq!(
        app.count("SELECT COUNT(*) FROM users WHERE role = 'admin'")
            .await,
        1
    );
    let again = app
        .cli(
            &["admin", "create", "--email", "ROOT@example.org"],
            Some(PASSWORD),
        )
        .await;
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    let b = app.new_browser();
    assert_eq!(
        app.sign_in(&b, "root@example.org", PASSWORD).await.status(),
        200
    );
    assert_eq!(b.get(app.url("/admin")).send().await.unwrap().status(), 200);
}

async fn the_sessions_table_records_user_ip_and_user_agent(app: &TestApp) {
    let b = app.new_browser();
    app.sign_up(&b, "ada@example.org", PASSWORD).await;
    let r = b
        .post(app.url("/api/sign_in"))
        .header(
            "User-Agent",
            "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
        )
        .header("Accept", "application/json")
        .form(&[
            ("email", "ada@example.org"),
            ("password", PASSWORD),
            ("next", ""),
        ])
        .send()
        .await
        .unwrap();
    let cookie = session_cookie(&r).unwrap();
    let row: (Option<i64>, Option<String>, Option<String>, String) = sqlx::query_as(
        "SELECT user_id, ip, user_agent, id_hash FROM sessions WHERE ended_at IS NULL",
    )
    .fetch_one(app.state.store.pool())
    .await
    .unwrap();
    assert!(row.0.is_some());
    assert_eq!(row.1.as_deref(), Some("127.0.0.1"));
    assert_eq!(
        row.2.as_deref(),
        Some("Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0")
    );
    assert_ne!(row.3, cookie, "the session id itself is not stored");
    assert_eq!(row.3.len(), 64);
}

async fn health_and_readiness_answer(app: &TestApp) {
    let c = app.new_browser();
    assert_eq!(
        c.get(app.url("/healthz")).send().await.unwrap().status(),
        200
    );
    assert_eq!(
        c.get(app.url("/readyz")).send().await.unwrap().status(),
        200
    );
}
