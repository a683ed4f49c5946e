//! Smaller holes a security review found (issue 10, part 7): step-up before acting on another
//! administrator, step-up tries counted per session, the post-sign-in redirect, the cross-site
//! request guard, the audit export's origin check and the product name in mail headers.

mod common;

use std::time::Duration;

use common::{TestApp, PASSWORD};
use serde_json::Value;

on_both_databases!(
    v7_5_3_actions_on_another_administrator_need_step_up,
    v6_3_1_step_up_tries_are_counted_per_session_under_a_per_user_ceiling,
    v3_7_2_the_sign_in_redirect_stays_on_this_site,
    v3_5_1_an_origin_built_from_the_host_header_is_refused,
    v3_5_1_the_audit_export_is_refused_unless_same_origin,
    v1_3_11_the_product_name_must_be_one_line,
);

/// Past the five-minute step-up window of an admin who signed in just now.
const PAST_WINDOW: Duration = Duration::from_secs(6 * 60);

async fn field_of(r: reqwest::Response) -> String {
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await.unwrap();
    v["Field"]["field"].as_str().unwrap_or_default().to_owned()
}

async fn is_disabled(app: &TestApp, email: &str) -> bool {
    app.count(&format!(
        "SELECT COUNT(*) FROM users WHERE email = '{email}' AND disabled_at IS NOT NULL"
    ))
    .await
        == 1
}

async fn v7_5_3_actions_on_another_administrator_need_step_up(app: &TestApp) {
    let alice = app.admin("alice@example.org").await;
    let _bob = app.admin("bob@example.org").await;
    let _mia = app.member("mia@example.org").await;
    let bob_id = app.user_id("bob@example.org").await.to_string();
    let mia_id = app.user_id("mia@example.org").await.to_string();
    // Within the window nothing is asked; past it, another administrator needs the password.
    app.clock.advance(PAST_WINDOW);
    for (name, form) in [
        (
            "admin_set_disabled",
            vec![("user_id", bob_id.as_str()), ("disabled", "true")],
        ),
        ("admin_sign_out_user", vec![("user_id", bob_id.as_str())]),
        (
            "admin_compromise_user",
            vec![
                ("user_id", bob_id.as_str()),
                ("reason", "stolen laptop"),
                ("sign_out", "on"),
            ],
        ),
        (
            "admin_revoke_session",
            vec![("user_id", bob_id.as_str()), ("session", "whatever")],
        ),
    ] {
        let r = app.call(&alice, name, &form).await;
        assert_eq!(field_of(r).await, "password", "{name} without a password");
        let mut wrong = form.clone();
        wrong.push(("password", "Not-The-Password-123"));
        let r = app.call(&alice, name, &wrong).await;
        assert_eq!(
            field_of(r).await,
            "password",
            "{name} with a wrong password"
        );
    }
    assert!(!is_disabled(app, "bob@example.org").await);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM users WHERE password_compromised_at IS NOT NULL")
            .await,
        0
    );
    // The page asks for it.
    let details: Value = app
        .call(&alice, "admin_user_details", &[("id", &bob_id)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(details["step_up_needed"], true);
    // A member is not another administrator: no password needed.
    let details: Value = app
        .call(&alice, "admin_user_details", &[("id", &mia_id)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(details["step_up_needed"], false);
    let r = app
        .call(&alice, "admin_sign_out_user", &[("user_id", &mia_id)])
        .await;
    assert_eq!(r.status(), 200);
    // With the password the action goes through, and restarts the window.
    let r = app
        .call(
            &alice,
            "admin_set_disabled",
            &[
                ("user_id", &bob_id),
                ("disabled", "true"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert!(is_disabled(app, "bob@example.org").await);
    let r = app
        .call(
            &alice,
            "admin_set_disabled",
            &[("user_id", &bob_id), ("disabled", "false")],
        )
        .await;
    assert_eq!(r.status(), 200, "the window restarted with the proof");
    assert!(!is_disabled(app, "bob@example.org").await);
}

async fn v6_3_1_step_up_tries_are_counted_per_session_under_a_per_user_ceiling(app: &TestApp) {
    let owner = app.admin("alice@example.org").await;
    let _bob = app.admin("bob@example.org").await;
    let bob_id = app.user_id("bob@example.org").await.to_string();
    let stolen = app.new_browser();
    assert_eq!(
        app.sign_in(&stolen, "alice@example.org", PASSWORD)
            .await
            .status(),
        200
    );
    app.clock.advance(PAST_WINDOW);
    let guess = |client: &reqwest::Client, password: &str| {
        let client = client.clone();
        let form = vec![
            ("user_id".to_owned(), bob_id.clone()),
            ("password".to_owned(), password.to_owned()),
        ];
        let url = app.url("/api/admin_sign_out_user");
        async move {
            client
                .post(url)
                .header("Accept", "application/json")
                .form(&form)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // The thief's session runs out of tries...
    for i in 0..5 {
        assert_eq!(guess(&stolen, &format!("Guess-{i}-abcdefgh")).await, 422);
    }
    assert_eq!(
        guess(&stolen, PASSWORD).await,
        429,
        "this session is limited"
    );
    // ...but the owner's session still has its own.
    assert_eq!(guess(&owner, PASSWORD).await, 200);
    // Over all sessions of the user there is a ceiling of 20 tries per hour (6 used so far):
    // more sessions use up the rest (a typed password counts even inside the window)...
    for tries in [5, 5, 4] {
        let other = app.new_browser();
        assert_eq!(
            app.sign_in(&other, "alice@example.org", PASSWORD)
                .await
                .status(),
            200
        );
        for i in 0..tries {
            assert_eq!(guess(&other, &format!("Guess-{i}-abcdefgh")).await, 422);
        }
    }
    // ...and then a fresh session is refused at once, even with the right password.
    let fresh = app.new_browser();
    assert_eq!(
        app.sign_in(&fresh, "alice@example.org", PASSWORD)
            .await
            .status(),
        200
    );
    assert_eq!(guess(&fresh, PASSWORD).await, 429, "the per-user ceiling");
}

async fn v3_7_2_the_sign_in_redirect_stays_on_this_site(app: &TestApp) {
    app.member("ada@example.org").await;
    for (next, expected) in [
        ("/account/devices", "/account/devices"),
        ("/%09/evil.example", "/account"),
        ("//evil.example", "/account"),
        ("/\\evil.example", "/account"),
        ("https://evil.example/", "/account"),
    ] {
        // The answer names where the browser goes next.
        let b = app.new_browser();
        let r = b
            .post(app.url("/api/sign_in"))
            .form(&[
                ("email", "ada@example.org"),
                ("password", PASSWORD),
                ("next", next),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.headers()["location"], expected, "{next}");
    }
}

async fn v3_5_1_an_origin_built_from_the_host_header_is_refused(app: &TestApp) {
    let port = app.state.config.base_url.port().unwrap();
    // The client picks the Host header; an Origin matching it proves nothing.
    let r = reqwest::Client::new()
        .post(app.url("/api/sign_up"))
        .header("Host", format!("evil.example:{port}"))
        .header("Origin", format!("http://evil.example:{port}"))
        .form(&[("email", "eve@example.org"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM users WHERE email = 'eve@example.org'")
            .await,
        0
    );
    // The public URL's origin is accepted.
    let r = reqwest::Client::new()
        .post(app.url("/api/sign_up"))
        .header(
            "Origin",
            app.state.config.base_url.as_str().trim_end_matches('/'),
        )
        .header("Accept", "application/json")
        .form(&[("email", "eve@example.org"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

async fn v3_5_1_the_audit_export_is_refused_unless_same_origin(app: &TestApp) {
    let admin = app.admin("alice@example.org").await;
    let exports = || async {
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'audit.exported'")
            .await
    };
    // A client without the browser client's default same-origin `Origin`: only the given
    // header (if any) says where the request comes from.
    let admin = &admin;
    let export = |header: Option<(&'static str, &'static str)>| async move {
        let mut request = reqwest::Client::new()
            .get(app.url("/admin/audit/export.jsonl"))
            .header("Cookie", cookie_of(app, admin).await);
        if let Some((name, value)) = header {
            request = request.header(name, value);
        }
        let r = request.send().await.unwrap();
        let status = r.status().as_u16();
        r.text().await.unwrap();
        status
    };
    for header in [
        ("Sec-Fetch-Site", "same-site"),
        ("Sec-Fetch-Site", "cross-site"),
        ("Origin", "http://evil.example"),
        ("Referer", "http://evil.example/page"),
    ] {
        assert_eq!(export(Some(header)).await, 403, "{header:?}");
    }
    // No origin information at all is refused too.
    assert_eq!(export(None).await, 403);
    assert_eq!(exports().await, 0, "nothing was exported or recorded");
    for header in [
        ("Sec-Fetch-Site", "same-origin"),
        ("Sec-Fetch-Site", "none"),
    ] {
        assert_eq!(export(Some(header)).await, 200, "{header:?}");
    }
    assert_eq!(exports().await, 2);
}

/// The session cookie `client` holds, as a `Cookie` header value.
async fn cookie_of(app: &TestApp, client: &reqwest::Client) -> String {
    // Signing in again from the same browser is the simplest way to read its new cookie.
    let r = app.sign_in(client, "alice@example.org", PASSWORD).await;
    assert_eq!(r.status(), 200);
    let value = common::session_cookie(&r).expect("a session cookie");
    format!("keywarden_session={value}")
}

async fn v1_3_11_the_product_name_must_be_one_line(app: &TestApp) {
    let admin = app.admin("alice@example.org").await;
    for bad in ["Key\r\nBcc: all@example.org", "Key\twarden", "Key\nwarden"] {
        let r = app
            .call(
                &admin,
                "admin_save_mail_settings",
                &[("product_name", bad), ("support_email", "")],
            )
            .await;
        assert_eq!(field_of(r).await, "product_name", "{bad:?}");
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM settings WHERE key = 'product_name'")
            .await,
        0,
        "nothing was saved"
    );
    let r = app
        .call(
            &admin,
            "admin_save_mail_settings",
            &[("product_name", "Acme ID"), ("support_email", "")],
        )
        .await;
    assert_eq!(r.status(), 200);
}
