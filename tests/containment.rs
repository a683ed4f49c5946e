//! Containment reaches live sessions: a compromised password restricts every signed-in session of
//! its user on the next request, not only the next sign-in. On SQLite and PostgreSQL.

mod common;

use common::{TestApp, PASSWORD};
use serde_json::Value;

on_both_databases!(
    a_compromised_password_restricts_a_live_session_on_its_next_request,
    compromise_all_restricts_live_sessions_but_the_acting_admin_keeps_working,
    with_the_task_switched_off_a_live_session_with_a_compromised_password_ends,
    the_not_me_report_with_compromise_restricts_the_users_other_sessions,
);

async fn user_id(app: &TestApp, email: &str) -> i64 {
    let (id,): (i64,) = sqlx::query_as("SELECT id FROM users WHERE email_normalized = $1")
        .bind(email)
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    id
}

async fn whoami(app: &TestApp, b: &reqwest::Client) -> Value {
    app.call(b, "whoami", &[]).await.json().await.unwrap()
}

async fn page(app: &TestApp, b: &reqwest::Client, path: &str) -> (u16, String) {
    let r = b.get(app.url(path)).send().await.unwrap();
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (r.status().as_u16(), location)
}

async fn codes_sent(app: &TestApp, email: &str) -> i64 {
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM outbox WHERE to_address = $1 AND kind = 'reset_code'")
            .bind(email)
            .fetch_one(app.state.store.pool())
            .await
            .unwrap();
    n
}

async fn a_compromised_password_restricts_a_live_session_on_its_next_request(app: &TestApp) {
    let admin = app.admin("admin@example.org").await;
    let ada = app.member("ada@example.org").await;
    assert_eq!(page(app, &ada, "/account").await.0, 200);
    let id = user_id(app, "ada@example.org").await.to_string();
    let r = app
        .call(
            &admin,
            "admin_compromise_user",
            &[("user_id", id.as_str()), ("reason", "found in a dump")],
        )
        .await;
    assert_eq!(r.status(), 200);
    // The very next request of the live session: only the reset task.
    assert_eq!(
        page(app, &ada, "/account").await,
        (303, "/reset-task".into())
    );
    assert_eq!(whoami(app, &ada).await["reset_required"], true);
    let r = app.call(&ada, "my_devices", &[]).await;
    assert_eq!(
        r.status(),
        403,
        "server functions refuse a restricted session"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'session.restricted'")
            .await,
        1
    );
    // The task sends its code when the restricted session opens it (once).
    assert_eq!(codes_sent(app, "ada@example.org").await, 0);
    assert_eq!(app.call(&ada, "reset_task_status", &[]).await.status(), 200);
    assert_eq!(app.call(&ada, "reset_task_status", &[]).await.status(), 200);
    assert_eq!(codes_sent(app, "ada@example.org").await, 1);
    // The administrator was not touched.
    assert_eq!(page(app, &admin, "/admin/security").await.0, 200);
}

async fn compromise_all_restricts_live_sessions_but_the_acting_admin_keeps_working(app: &TestApp) {
    let admin = app.admin("admin@example.org").await;
    let ada = app.member("ada@example.org").await;
    // The administrator was created by the CLI, a process on the real clock, a moment after this
    // server's test clock started: bring the test clock past it.
    app.clock.advance(std::time::Duration::from_secs(60));
    let r = app
        .call(
            &admin,
            "admin_compromise_all",
            &[
                ("reason", "breach of 2026-11-21"),
                ("confirmation", "COMPROMISE ALL PASSWORDS"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        page(app, &ada, "/account").await,
        (303, "/reset-task".into())
    );
    // The acting admin keeps the console, and is told their own password is compromised.
    assert_eq!(page(app, &admin, "/admin/security").await.0, 200);
    let me = whoami(app, &admin).await;
    assert_eq!(me["reset_required"], false);
    assert_eq!(me["password_compromised"], true);
    let body = admin
        .get(app.url("/admin"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("Your own password is set as compromised too"));
    // Choosing to change it now restricts the admin's own session to the task.
    assert_eq!(
        app.call(&admin, "start_password_change", &[])
            .await
            .status(),
        200
    );
    assert_eq!(
        page(app, &admin, "/admin").await,
        (303, "/reset-task".into())
    );
    // A member cannot use it to escape anything.
    let bob = app.new_browser();
    app.sign_up(&bob, "bob@example.org", PASSWORD).await;
    app.sign_in(&bob, "bob@example.org", PASSWORD).await;
    assert_eq!(
        app.call(&bob, "start_password_change", &[]).await.status(),
        403
    );
}

async fn with_the_task_switched_off_a_live_session_with_a_compromised_password_ends(app: &TestApp) {
    let admin = app.admin("admin@example.org").await;
    let ada = app.member("ada@example.org").await;
    let r = app
        .call(
            &admin,
            "admin_save_security_settings",
            &[
                ("password_min_length", "12"),
                ("session_idle_timeout_minutes", "30"),
                ("session_absolute_lifetime_hours", "12"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200, "reset task switched off");
    let id = user_id(app, "ada@example.org").await.to_string();
    app.call(
        &admin,
        "admin_compromise_user",
        &[("user_id", id.as_str()), ("reason", "found in a dump")],
    )
    .await;
    let (status, location) = page(app, &ada, "/account").await;
    assert_eq!(status, 303);
    assert!(location.starts_with("/sign-in"), "{location}");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM sessions WHERE end_reason = 'password_compromised'")
            .await,
        1
    );
}

async fn the_not_me_report_with_compromise_restricts_the_users_other_sessions(app: &TestApp) {
    // The report's "compromise" box sets the user watermark; every other live session of the user
    // (the attacker's included) is restricted on its next request.
    let ada = app.member("ada@example.org").await;
    let other = app.new_browser();
    app.sign_in(&other, "ada@example.org", PASSWORD).await;
    let id = user_id(app, "ada@example.org").await;
    sqlx::query("UPDATE users SET password_compromised_at = password_set_at WHERE id = $1")
        .bind(id)
        .execute(app.state.store.pool())
        .await
        .unwrap();
    for b in [&ada, &other] {
        assert_eq!(page(app, b, "/account").await, (303, "/reset-task".into()));
    }
}
