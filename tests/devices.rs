//! Devices and new-device alerts, on SQLite and PostgreSQL. Each `reqwest` client is a browser
//! with its own cookie jar, so its own device cookie: two clients are two devices.

mod common;

use std::time::Duration;

use common::{TestApp, PASSWORD};
use serde_json::Value;

on_both_databases!(
    two_browsers_are_two_devices_and_this_device_is_marked,
    signing_out_another_device_kills_its_cookie,
    all_other_sessions_keeps_the_current_one_and_everywhere_ends_it_too,
    step_up_is_enforced_on_the_server,
    only_the_first_sign_in_from_a_new_device_sends_an_alert,
    the_alert_link_get_changes_nothing_and_the_post_revokes_exactly_that_session,
    the_alert_can_also_set_the_password_as_compromised,
    unknown_and_expired_links_get_a_clear_page,
    ended_sessions_show_their_reasons_to_the_user_and_the_admin,
    a_forged_forwarded_for_is_ignored_unless_the_peer_is_trusted,
    the_alert_path_and_switch_are_admin_settings,
    locations_come_from_the_geoip_database_and_a_new_country_can_alert,
    an_instance_wide_sign_out_keeps_its_reason_after_the_sweeper_and_expiry,
    v7_5_2_not_me_ends_every_session_of_the_reported_device,
    v7_5_2_not_me_can_sign_out_everywhere_and_restrict_live_sessions,
);

async fn devices(app: &TestApp, b: &reqwest::Client) -> Value {
    let r = app.call(b, "my_devices", &[]).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// The HTML of a page as `b` gets it.
async fn page_text(app: &TestApp, b: &reqwest::Client, path: &str) -> String {
    b.get(app.url(path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn keys(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|d| d["key"].as_str().unwrap().to_owned())
        .collect()
}

/// The key of the session the other browser `b` is using, as `b` itself sees it.
async fn own_key(app: &TestApp, b: &reqwest::Client) -> String {
    let d = devices(app, b).await;
    d["active"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .expect("a current session")["key"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Signs `email` in from a new browser (a new device).
async fn second_device(app: &TestApp, email: &str) -> reqwest::Client {
    let b = app.new_browser();
    assert_eq!(app.sign_in(&b, email, PASSWORD).await.status(), 200);
    b
}

async fn alert_count(app: &TestApp) -> i64 {
    app.count("SELECT COUNT(*) FROM outbox WHERE kind = 'new_device'")
        .await
}

/// The "This wasn't me" link of the newest alert, read from the delivered mail (the outbox
/// deletes bodies on delivery).
async fn alert_link(app: &TestApp) -> url::Url {
    let text = app.delivered_mail("new_device", None).await.text;
    let start = text.find("http").expect("a link in the mail");
    let link = text[start..]
        .split_whitespace()
        .find(|w| w.contains("token="))
        .expect("the not-me link");
    url::Url::parse(link).unwrap()
}

fn token_of(link: &url::Url) -> String {
    link.query_pairs()
        .find(|(k, _)| k == "token")
        .unwrap()
        .1
        .into_owned()
}

async fn two_browsers_are_two_devices_and_this_device_is_marked(app: &TestApp) {
    let laptop = app.member("ada@example.org").await;
    let phone = second_device(app, "ada@example.org").await;
    let from_laptop = devices(app, &laptop).await;
    let from_phone = devices(app, &phone).await;
    assert_eq!(from_laptop["active"].as_array().unwrap().len(), 2);
    let laptop_key = own_key(app, &laptop).await;
    let phone_key = own_key(app, &phone).await;
    assert_ne!(laptop_key, phone_key);
    let mut a = keys(&from_laptop["active"]);
    let mut b = keys(&from_phone["active"]);
    a.sort();
    b.sort();
    assert_eq!(a, b, "both devices list the same sessions");
    // The current session is listed first, with the parsed user agent and an IP.
    assert_eq!(from_laptop["active"][0]["key"], laptop_key.as_str());
    assert_eq!(from_laptop["active"][0]["current"], true);
    assert_eq!(from_laptop["active"][1]["current"], false);
    assert_eq!(from_laptop["active"][0]["ip"], "127.0.0.1");
    assert!(from_laptop["active"][0]["location"].is_null());
    // Another user sees none of them.
    let bob = app.member("bob@example.org").await;
    assert_eq!(
        devices(app, &bob).await["active"].as_array().unwrap().len(),
        1
    );
    // The page shows the marker.
    let html = page_text(app, &laptop, "/account/devices").await;
    assert!(html.contains("This device"));
}

async fn signing_out_another_device_kills_its_cookie(app: &TestApp) {
    let laptop = app.member("ada@example.org").await;
    let phone = second_device(app, "ada@example.org").await;
    let phone_key = own_key(app, &phone).await;
    let laptop_key = own_key(app, &laptop).await;
    let r = app
        .call(&laptop, "devices_sign_out_one", &[("key", &phone_key)])
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        app.whoami(&phone).await,
        Value::Null,
        "the phone is signed out"
    );
    assert_eq!(app.whoami(&laptop).await["email"], "ada@example.org");
    // Its page request now goes to sign-in.
    let r = phone.get(app.url("/account")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    // The current session cannot be ended this way, nor one that already ended.
    let r = app
        .call(&laptop, "devices_sign_out_one", &[("key", &laptop_key)])
        .await;
    assert_eq!(r.status(), 422);
    let r = app
        .call(&laptop, "devices_sign_out_one", &[("key", &phone_key)])
        .await;
    assert_eq!(r.status(), 422);
    // Another user's session cannot be ended by its key.
    let bob = app.member("bob@example.org").await;
    let r = app
        .call(&bob, "devices_sign_out_one", &[("key", &laptop_key)])
        .await;
    assert_eq!(r.status(), 422);
    assert_eq!(app.whoami(&laptop).await["email"], "ada@example.org");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'session.signed_out_by_user'")
            .await,
        1
    );
}

async fn all_other_sessions_keeps_the_current_one_and_everywhere_ends_it_too(app: &TestApp) {
    let laptop = app.member("ada@example.org").await;
    let phone = second_device(app, "ada@example.org").await;
    let tablet = second_device(app, "ada@example.org").await;
    let r = app.call(&laptop, "devices_sign_out_others", &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), 2);
    assert_eq!(app.whoami(&phone).await, Value::Null);
    assert_eq!(app.whoami(&tablet).await, Value::Null);
    assert_eq!(app.whoami(&laptop).await["email"], "ada@example.org");
    assert_eq!(
        devices(app, &laptop).await["active"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let phone = second_device(app, "ada@example.org").await;
    let r = app.call(&laptop, "devices_sign_out_everywhere", &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(app.whoami(&laptop).await, Value::Null);
    assert_eq!(app.whoami(&phone).await, Value::Null);
}

async fn step_up_is_enforced_on_the_server(app: &TestApp) {
    let laptop = app.member("ada@example.org").await;
    let phone = second_device(app, "ada@example.org").await;
    let tablet = second_device(app, "ada@example.org").await;
    // Eleven minutes after signing in (keep the sessions alive: idle timeout is 30 minutes).
    app.clock.advance(Duration::from_secs(11 * 60));
    let d = devices(app, &laptop).await;
    assert_eq!(d["step_up_needed"], true);
    let phone_key = own_key(app, &phone).await;
    let _ = own_key(app, &tablet).await;
    for password in ["", "Wrong-Password-123456"] {
        let r = app
            .call(
                &laptop,
                "devices_sign_out_one",
                &[("key", &phone_key), ("password", password)],
            )
            .await;
        assert_eq!(r.status(), 422, "password {password:?}");
        let body: Value = r.json().await.unwrap();
        assert!(body.to_string().contains("password"), "{body}");
        for other in ["devices_sign_out_others", "devices_sign_out_everywhere"] {
            let r = app.call(&laptop, other, &[("password", password)]).await;
            assert_eq!(r.status(), 422, "{other} with {password:?}");
        }
    }
    assert_eq!(app.whoami(&phone).await["email"], "ada@example.org");
    let r = app
        .call(
            &laptop,
            "devices_sign_out_one",
            &[("key", &phone_key), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(app.whoami(&phone).await, Value::Null);
    // Password guesses are limited (5 per 15 minutes per session), the right password included.
    for _ in 0..1 {
        let r = app
            .call(
                &laptop,
                "devices_sign_out_others",
                &[("password", "Wrong-Password-123456")],
            )
            .await;
        assert_eq!(r.status(), 422);
    }
    let r = app
        .call(
            &laptop,
            "devices_sign_out_others",
            &[("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status(), 429, "the sixth try in the window is refused");
    // The proof counts for the next ten minutes.
    assert_eq!(devices(app, &laptop).await["step_up_needed"], false);
    let r = app.call(&laptop, "devices_sign_out_others", &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(app.whoami(&tablet).await, Value::Null);
}

async fn only_the_first_sign_in_from_a_new_device_sends_an_alert(app: &TestApp) {
    // Sign-up and the first sign-in register the account's first device: nothing to compare.
    let laptop = app.member("ada@example.org").await;
    assert_eq!(alert_count(app).await, 0);
    let phone = second_device(app, "ada@example.org").await;
    assert_eq!(alert_count(app).await, 1, "a new device sends one alert");
    // The same devices again: no alert.
    assert_eq!(app.call(&phone, "sign_out", &[]).await.status(), 200);
    assert_eq!(
        app.sign_in(&phone, "ada@example.org", PASSWORD)
            .await
            .status(),
        200
    );
    assert_eq!(
        app.sign_in(&laptop, "ada@example.org", PASSWORD)
            .await
            .status(),
        200
    );
    assert_eq!(alert_count(app).await, 1);
    // A failed sign-in from a new device sends nothing.
    let stranger = app.new_browser();
    assert_eq!(
        app.sign_in(&stranger, "ada@example.org", "Wrong-Password-123456")
            .await
            .status(),
        401
    );
    assert_eq!(alert_count(app).await, 1);
    // The mail has the details and the support address when set.
    let (to,): (String,) =
        sqlx::query_as("SELECT to_address FROM outbox WHERE kind = 'new_device'")
            .fetch_one(app.state.store.pool())
            .await
            .unwrap();
    let mail = app.delivered_mail("new_device", None).await;
    let (text, html) = (mail.text, mail.html);
    assert_eq!(to, "ada@example.org");
    for expected in [
        "IP address: 127.0.0.1",
        "Location: unknown",
        "Sign-in method: Password",
        "This wasn't me",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }
    assert!(html.contains("This wasn&#x27;t me") || html.contains("This wasn't me"));
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'session.new_device_alert'")
            .await,
        1
    );
}

async fn the_alert_link_get_changes_nothing_and_the_post_revokes_exactly_that_session(
    app: &TestApp,
) {
    let laptop = app.member("ada@example.org").await;
    let intruder = second_device(app, "ada@example.org").await;
    let intruder_key = own_key(app, &intruder).await;
    let link = alert_link(app).await;
    assert_eq!(link.path(), "/unauthorized-sign-in");
    let token = token_of(&link);
    // Opening the link (as a mail scanner would, with no cookies) changes nothing.
    let scanner = app.new_browser();
    for _ in 0..2 {
        let r = scanner
            .get(app.url(&format!("/unauthorized-sign-in?token={token}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["referrer-policy"], "no-referrer");
        let html = r.text().await.unwrap();
        assert!(html.contains("Sign out that device"), "{html}");
    }
    let state: Value = app
        .call(&scanner, "device_alert_link", &[("token", &token)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(state["Valid"]["session"]["key"], intruder_key.as_str());
    assert_eq!(state["Valid"]["active"], true);
    assert_eq!(app.whoami(&intruder).await["email"], "ada@example.org");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM device_alerts WHERE used_at IS NOT NULL")
            .await,
        0
    );

    // Pressing the button signs out exactly that session.
    let r = app
        .call(&scanner, "device_alert_not_me", &[("token", &token)])
        .await;
    assert_eq!(r.status(), 200);
    let outcome: Value = r.json().await.unwrap();
    assert_eq!(outcome["sessions_ended"], 1);
    assert_eq!(outcome["password_compromised"], false);
    assert_eq!(app.whoami(&intruder).await, Value::Null);
    assert_eq!(app.whoami(&laptop).await["email"], "ada@example.org");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM sessions WHERE end_reason = 'reported_not_me'")
            .await,
        1
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'session.reported_not_me'")
            .await,
        1
    );
    let ended = devices(app, &laptop).await["ended"].clone();
    assert_eq!(ended[0]["key"], intruder_key.as_str());
    assert_eq!(
        ended[0]["end_reason"],
        "Reported as not me from the alert e-mail"
    );
    // The password was not touched.
    assert_eq!(
        app.count("SELECT COUNT(*) FROM users WHERE password_compromised_at IS NOT NULL")
            .await,
        0
    );
    // The reported device is forgotten: signing in from it again raises a new alert.
    assert_eq!(alert_count(app).await, 1);
    assert_eq!(
        app.sign_in(&intruder, "ada@example.org", PASSWORD)
            .await
            .status(),
        200
    );
    assert_eq!(alert_count(app).await, 2);
    assert_eq!(
        app.sign_in(&laptop, "ada@example.org", PASSWORD)
            .await
            .status(),
        200
    );
    assert_eq!(
        alert_count(app).await,
        2,
        "the user's own device stays known"
    );

    // The link works once.
    let r = app
        .call(&scanner, "device_alert_not_me", &[("token", &token)])
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("already been used"));
    let html = page_text(
        app,
        &scanner,
        &format!("/unauthorized-sign-in?token={token}"),
    )
    .await;
    assert!(html.contains("This link has already been used."));
}

async fn the_alert_can_also_set_the_password_as_compromised(app: &TestApp) {
    let _laptop = app.member("ada@example.org").await;
    let intruder = second_device(app, "ada@example.org").await;
    let token = token_of(&alert_link(app).await);
    let r = app
        .call(
            &app.new_browser(),
            "device_alert_not_me",
            &[("token", &token), ("compromise_password", "on")],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap()["password_compromised"],
        true
    );
    assert_eq!(app.whoami(&intruder).await, Value::Null);
    // The next sign-in with the leaked password only gets the reset-password task.
    let again = app.new_browser();
    assert_eq!(
        app.sign_in(&again, "ada@example.org", PASSWORD)
            .await
            .status(),
        200
    );
    assert_eq!(app.whoami(&again).await["reset_required"], true);
}

async fn unknown_and_expired_links_get_a_clear_page(app: &TestApp) {
    let b = app.new_browser();
    let html = page_text(app, &b, "/unauthorized-sign-in?token=not-a-token").await;
    assert!(html.contains("This link is not valid."), "{html}");
    let html = page_text(app, &b, "/unauthorized-sign-in").await;
    assert!(html.contains("This link is not valid."));
    let r = app
        .call(&b, "device_alert_not_me", &[("token", "not-a-token")])
        .await;
    assert_eq!(r.status(), 422);

    let _laptop = app.member("ada@example.org").await;
    let _phone = second_device(app, "ada@example.org").await;
    let token = token_of(&alert_link(app).await);
    app.clock
        .advance(Duration::from_secs(7 * 24 * 60 * 60 + 60));
    let html = page_text(app, &b, &format!("/unauthorized-sign-in?token={token}")).await;
    assert!(html.contains("This link has expired."));
    let r = app
        .call(&b, "device_alert_not_me", &[("token", &token)])
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("expired"));
}

async fn ended_sessions_show_their_reasons_to_the_user_and_the_admin(app: &TestApp) {
    let admin = app.admin("root@example.org").await;
    let laptop = app.member("ada@example.org").await;
    let phone = second_device(app, "ada@example.org").await;
    let tablet = second_device(app, "ada@example.org").await;
    let old = second_device(app, "ada@example.org").await;
    let (phone_key, tablet_key, old_key) = (
        own_key(app, &phone).await,
        own_key(app, &tablet).await,
        own_key(app, &old).await,
    );
    let (uid,): (i64,) =
        sqlx::query_as("SELECT id FROM users WHERE email_normalized = 'ada@example.org'")
            .fetch_one(app.state.store.pool())
            .await
            .unwrap();
    let uid = uid.to_string();
    // Signed out by the user from another device, by the user on it, by an administrator.
    assert_eq!(
        app.call(&laptop, "devices_sign_out_one", &[("key", &phone_key)])
            .await
            .status(),
        200
    );
    assert_eq!(app.call(&tablet, "sign_out", &[]).await.status(), 200);
    assert_eq!(
        app.call(
            &admin,
            "admin_revoke_session",
            &[("user_id", &uid), ("session", &old_key)]
        )
        .await
        .status(),
        200
    );
    let ended = devices(app, &laptop).await["ended"].clone();
    let reason_of = |key: &str| {
        ended
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["key"] == key)
            .map(|s| s["end_reason"].as_str().unwrap().to_owned())
    };
    assert_eq!(
        reason_of(&phone_key).as_deref(),
        Some("Signed out from another device")
    );
    assert_eq!(reason_of(&tablet_key).as_deref(), Some("Signed out by you"));
    assert_eq!(
        reason_of(&old_key).as_deref(),
        Some("Signed out by an administrator")
    );

    // Then the admin sets the password as compromised (signing out everything): the admin's
    // view of the user lists the same sessions with the reasons.
    let form = [
        ("user_id", uid.as_str()),
        ("reason", "Found in a paste"),
        ("sign_out", "on"),
    ];
    assert_eq!(
        app.call(&admin, "admin_compromise_user", &form)
            .await
            .status(),
        200
    );
    let details: Value = app
        .call(&admin, "admin_user_details", &[("id", &uid)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(details["sessions"].as_array().unwrap().len(), 0);
    let reasons: Vec<&str> = details["ended_sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["end_reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons.contains(&"Password set as compromised"),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&"Signed out by an administrator"),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&"Signed out from another device"),
        "{reasons:?}"
    );
    // Same columns as the user's page.
    let first = &details["ended_sessions"][0];
    for column in [
        "browser",
        "os",
        "device_type",
        "ip",
        "location",
        "created_at",
        "last_seen_at",
        "ended_at",
    ] {
        assert!(first.get(column).is_some(), "{column} missing");
    }
}

async fn a_forged_forwarded_for_is_ignored_unless_the_peer_is_trusted(app: &TestApp) {
    let b = app.new_browser();
    assert_eq!(
        app.sign_up(&b, "ada@example.org", PASSWORD).await.status(),
        200
    );
    sign_in_from(app, &b, "203.0.113.9").await;
    let ip = devices(app, &b).await["active"][0]["ip"].clone();
    assert_eq!(
        ip, "127.0.0.1",
        "an untrusted peer cannot choose its address"
    );

    // Behind a trusted proxy (here: the loopback peer), the forwarded client address is used.
    let proxied = TestApp::spawn_with(app.db, |c| {
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await
    .unwrap();
    let b = proxied.new_browser();
    assert_eq!(
        proxied
            .sign_up(&b, "ada@example.org", PASSWORD)
            .await
            .status(),
        200
    );
    sign_in_from(&proxied, &b, "198.51.100.1, 203.0.113.9").await;
    assert_eq!(
        devices(&proxied, &b).await["active"][0]["ip"],
        "203.0.113.9",
        "the right-most untrusted hop is the client"
    );
}

async fn the_alert_path_and_switch_are_admin_settings(app: &TestApp) {
    let admin = app.admin("root@example.org").await;
    let save = |enabled: bool, path: &'static str| {
        let mut form = vec![("device_alert_path", path)];
        if enabled {
            form.push(("new_device_alerts", "on"));
        }
        let admin = admin.clone();
        async move { app.call(&admin, "admin_save_alert_settings", &form).await }
    };
    for bad in ["/admin", "no spaces", "/two/segments", "/", "/api"] {
        let r = save(true, bad).await;
        assert_eq!(r.status(), 422, "{bad:?} accepted");
    }
    let member = app.new_browser();
    let r = app
        .call(
            &member,
            "admin_save_alert_settings",
            &[("device_alert_path", "/x-y")],
        )
        .await;
    assert_eq!(r.status(), 401);

    assert_eq!(save(true, "/was-not-me").await.status(), 200);
    let _laptop = app.member("ada@example.org").await;
    let _phone = second_device(app, "ada@example.org").await;
    let link = alert_link(app).await;
    assert_eq!(link.path(), "/was-not-me");
    let token = token_of(&link);
    let r = member
        .get(app.url(&format!("/was-not-me?token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Sign out that device"));
    let r = member
        .get(app.url(&format!("/unauthorized-sign-in?token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "the old path is gone");

    // Switched off: a new device sends nothing.
    assert_eq!(save(false, "/was-not-me").await.status(), 200);
    let before = alert_count(app).await;
    let _tablet = second_device(app, "ada@example.org").await;
    assert_eq!(alert_count(app).await, before);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'settings.device_alerts_updated'")
            .await,
        2
    );
}

/// Signs ada in from `b` with this `X-Forwarded-For` (believed only from a trusted proxy).
async fn sign_in_from(app: &TestApp, b: &reqwest::Client, ip: &str) {
    let r = b
        .post(app.url("/api/sign_in"))
        .header("Accept", "application/json")
        .header("X-Forwarded-For", ip)
        .form(&[
            ("email", "ada@example.org"),
            ("password", PASSWORD),
            ("next", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

async fn locations_come_from_the_geoip_database_and_a_new_country_can_alert(app: &TestApp) {
    let dir = common::TempDir::new();
    let path = dir.0.join("city.mmdb");
    std::fs::write(&path, keywarden::geo::fixture::sample()).unwrap();
    let app = TestApp::spawn_with(app.db, |c| {
        c.geoip_database = Some(path.clone());
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await
    .unwrap();
    let app = &app;
    let laptop = app.new_browser();
    assert_eq!(
        app.sign_up(&laptop, "ada@example.org", PASSWORD)
            .await
            .status(),
        200
    );
    sign_in_from(app, &laptop, "203.0.113.9").await;
    let d = devices(app, &laptop).await;
    assert_eq!(d["active"][0]["location"], "Lyon, France");
    assert_eq!(d["active"][0]["ip"], "203.0.113.9");

    let phone = app.new_browser();
    sign_in_from(app, &phone, "198.51.100.7").await;
    assert_eq!(alert_count(app).await, 1);
    let text = app.delivered_mail("new_device", None).await.text;
    assert!(text.contains("Location: Berlin, Germany"), "{text}");

    // A known device from a country new for the user: no alert unless the option is on.
    sign_in_from(app, &laptop, "192.0.2.1").await;
    assert_eq!(alert_count(app).await, 1);
    let admin = app.admin("root@example.org").await;
    let form = [
        ("new_device_alerts", "on"),
        ("alert_on_new_country", "on"),
        ("device_alert_path", "/unauthorized-sign-in"),
    ];
    assert_eq!(
        app.call(&admin, "admin_save_alert_settings", &form)
            .await
            .status(),
        200
    );
    sign_in_from(app, &laptop, "198.51.100.9").await; // Germany: seen before (the phone)
    assert_eq!(alert_count(app).await, 1);
    let tablet_country = app.new_browser();
    sign_in_from(app, &tablet_country, "192.0.2.77").await; // new device, Canada seen before
    assert_eq!(alert_count(app).await, 2);
    // Forget Canada to see a known device alert on a new country alone.
    sqlx::query("DELETE FROM known_countries WHERE country = 'CA'")
        .execute(app.state.store.pool())
        .await
        .unwrap();
    sign_in_from(app, &laptop, "192.0.2.1").await;
    assert_eq!(alert_count(app).await, 3);
    // An address the database does not cover is "unknown", and nothing fails.
    sign_in_from(app, &laptop, "10.9.8.7").await;
    let d = devices(app, &laptop).await;
    assert_eq!(d["active"][0]["ip"], "10.9.8.7");
    assert!(d["active"][0]["location"].is_null());
}

async fn an_instance_wide_sign_out_keeps_its_reason_after_the_sweeper_and_expiry(app: &TestApp) {
    let admin = app.admin("root@example.org").await;
    let _laptop = app.member("ada@example.org").await;
    let form = [
        ("reason", "Session store leaked"),
        ("confirmation", "SIGN OUT EVERYONE"),
        ("password", PASSWORD),
    ];
    assert_eq!(
        app.call(&admin, "admin_sign_out_everyone", &form)
            .await
            .status(),
        200
    );
    // One row was written; the session rows are caught up by the sweeper.
    assert_eq!(
        app.count("SELECT COUNT(*) FROM sessions WHERE end_reason = 'instance_sign_out'")
            .await,
        0
    );
    keywarden::features::sessions::sweeper::sweep_once(&app.state)
        .await
        .unwrap();
    assert_eq!(
        app.count("SELECT COUNT(*) FROM sessions WHERE end_reason = 'instance_sign_out'")
            .await,
        1,
        "ada's session (the admin's own was re-issued)"
    );
    // Past its lifetime the session still says why it ended.
    app.clock.advance(Duration::from_secs(13 * 60 * 60));
    keywarden::features::sessions::sweeper::sweep_once(&app.state)
        .await
        .unwrap();
    let laptop = app.new_browser();
    assert_eq!(
        app.sign_in(&laptop, "ada@example.org", PASSWORD)
            .await
            .status(),
        200
    );
    let ended = devices(app, &laptop).await["ended"].clone();
    let reasons: Vec<&str> = ended
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["end_reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["Everyone signed out by an administrator"]);
}

/// An attacker who signed in twice from the same browser (the second sign-in is from a known
/// device, so it sends no alert) loses both sessions when the alert is reported; the owner's
/// other device keeps its session.
async fn v7_5_2_not_me_ends_every_session_of_the_reported_device(app: &TestApp) {
    let laptop = app.member("ada@example.org").await;
    let intruder = app.new_browser();
    let first = intruder.get(app.url("/sign-in")).send().await.unwrap();
    let device = common::set_cookie(&first, "keywarden_device").expect("a device cookie");
    assert_eq!(
        app.sign_in(&intruder, "ada@example.org", PASSWORD)
            .await
            .status(),
        200
    );
    let link = alert_link(app).await;
    // A second session from the very same browser (its device cookie): no new alert.
    let again = common::browser_with_cookie(&app.address, &device);
    assert_eq!(
        app.sign_in(&again, "ada@example.org", PASSWORD)
            .await
            .status(),
        200
    );
    assert_eq!(alert_count(app).await, 1);
    assert_eq!(app.whoami(&again).await["email"], "ada@example.org");
    let scanner = app.new_browser();
    let r = app
        .call(
            &scanner,
            "device_alert_not_me",
            &[("token", &token_of(&link))],
        )
        .await;
    assert_eq!(r.status(), 200);
    let outcome: Value = r.json().await.unwrap();
    assert_eq!(outcome["sessions_ended"], 2, "{outcome}");
    assert_eq!(outcome["signed_out_everywhere"], false);
    assert_eq!(app.whoami(&intruder).await, Value::Null);
    assert_eq!(
        app.whoami(&again).await,
        Value::Null,
        "the second session from that device ended too"
    );
    assert_eq!(app.whoami(&laptop).await["email"], "ada@example.org");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM sessions WHERE end_reason = 'reported_not_me'")
            .await,
        2
    );
}

/// "Sign out everywhere" ends every session of the account; "my password may be known" sets it
/// compromised, so a session that signs in meanwhile is restricted to the reset task.
async fn v7_5_2_not_me_can_sign_out_everywhere_and_restrict_live_sessions(app: &TestApp) {
    let laptop = app.member("ada@example.org").await;
    let intruder = second_device(app, "ada@example.org").await;
    let link = alert_link(app).await;
    let scanner = app.new_browser();
    let r = app
        .call(
            &scanner,
            "device_alert_not_me",
            &[
                ("token", token_of(&link).as_str()),
                ("compromise_password", "on"),
                ("sign_out_everywhere", "on"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let outcome: Value = r.json().await.unwrap();
    assert_eq!(outcome["sessions_ended"], 2, "{outcome}");
    assert_eq!(outcome["signed_out_everywhere"], true);
    assert_eq!(outcome["password_compromised"], true);
    assert_eq!(app.whoami(&intruder).await, Value::Null);
    assert_eq!(
        app.whoami(&laptop).await,
        Value::Null,
        "everywhere includes the owner's device"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM users WHERE password_compromised_at IS NOT NULL")
            .await,
        1
    );
    // The old password now leads only to the reset task.
    let r = app.sign_in(&laptop, "ada@example.org", PASSWORD).await;
    assert_eq!(r.status(), 200);
    assert_eq!(app.whoami(&laptop).await["reset_required"], true);
}
