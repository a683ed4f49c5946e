//! Containment reaches live sessions: a compromised password restricts every signed-in session of
//! its user on the next request, not only the next sign-in. On SQLite and PostgreSQL.

mod common;

use std::time::{Duration, Instant};

use common::{Db, TestApp, PASSWORD};
use keywarden::storage::{security, users};

on_both_databases!(
    a_compromised_password_restricts_a_live_session_on_its_next_request,
    compromise_all_restricts_live_sessions_but_the_acting_admin_keeps_working,
    with_the_task_switched_off_a_live_session_with_a_compromised_password_ends,
    the_not_me_report_with_compromise_restricts_the_users_other_sessions,
    v7_4_1_watermarks_only_move_forward,
    v7_4_1_a_cli_change_reaches_the_running_server_within_a_second,
    v7_4_1_a_sign_in_in_flight_during_sign_out_everyone_does_not_survive_it,
    a_sign_in_in_flight_during_a_compromise_ends_restricted,
    a_sign_in_in_flight_during_a_password_reset_with_the_old_password_fails,
    v7_4_1_nodes_with_skewed_clocks_agree_on_what_came_first,
);

/// Polls `check` every 20 ms until it holds or `deadline` passes; returns the time it took.
async fn within<F, Fut>(deadline: Duration, mut check: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while started.elapsed() < deadline {
        if check().await {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

async fn signed_out(app: &TestApp, b: &reqwest::Client) -> bool {
    let (status, location) = page(app, b, "/account").await;
    status == 303 && location.starts_with("/sign-in")
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
    let id = app.user_id("ada@example.org").await.to_string();
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
    assert_eq!(app.whoami(&ada).await["reset_required"], true);
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
    let r = app.compromise_all(&admin, false).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        page(app, &ada, "/account").await,
        (303, "/reset-task".into())
    );
    // The acting admin keeps the console, and is told their own password is compromised.
    assert_eq!(page(app, &admin, "/admin/security").await.0, 200);
    let me = app.whoami(&admin).await;
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
    let id = app.user_id("ada@example.org").await.to_string();
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
    let id = app.user_id("ada@example.org").await;
    sqlx::query("UPDATE users SET password_compromised_at = password_set_at WHERE id = $1")
        .bind(id)
        .execute(app.state.store.pool())
        .await
        .unwrap();
    for b in [&ada, &other] {
        assert_eq!(page(app, b, "/account").await, (303, "/reset-task".into()));
    }
}

async fn v7_4_1_watermarks_only_move_forward(app: &TestApp) {
    // A slow or clock-skewed writer must never lower a watermark.
    let ada = app.member("ada@example.org").await;
    drop(ada);
    let id = app.user_id("ada@example.org").await;
    let mut tx = app.state.store.begin().await.unwrap();
    security::compromise_passwords(&mut tx, 2_000, "first", "newer")
        .await
        .unwrap();
    security::compromise_passwords(&mut tx, 1_000, "skewed", "older")
        .await
        .unwrap();
    security::revoke_sessions(&mut tx, 2_000, "first", "newer")
        .await
        .unwrap();
    security::revoke_sessions(&mut tx, 1_000, "skewed", "older")
        .await
        .unwrap();
    users::compromise_password(&mut tx, id, 2_000, "first", "newer")
        .await
        .unwrap();
    users::compromise_password(&mut tx, id, 1_000, "skewed", "older")
        .await
        .unwrap();
    users::revoke_sessions(&mut tx, id, 2_000, "signed_out_by_admin")
        .await
        .unwrap();
    users::revoke_sessions(&mut tx, id, 1_000, "password_compromised")
        .await
        .unwrap();
    let row = security::load(&mut tx).await.unwrap();
    let user = users::find_by_id(&mut tx, id).await.unwrap().unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(row.passwords_compromised_before, 2_000);
    assert_eq!(row.passwords_compromised_by.as_deref(), Some("first"));
    assert_eq!(row.sessions_revoked_before, 2_000);
    assert_eq!(row.sessions_revoked_reason.as_deref(), Some("newer"));
    assert_eq!(user.password_compromised_at, Some(2_000));
    assert_eq!(user.password_compromised_reason.as_deref(), Some("newer"));
    assert_eq!(user.sessions_revoked_before, Some(2_000));
    assert_eq!(
        user.sessions_revoked_reason.as_deref(),
        Some("signed_out_by_admin")
    );
}

async fn v7_4_1_a_cli_change_reaches_the_running_server_within_a_second(app: &TestApp) {
    let ada = app.member("ada@example.org").await;
    assert!(!signed_out(app, &ada).await);
    let out = app
        .cli(&["incident", "sign-out-all", "--reason", "leak"], None)
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let took = within(Duration::from_secs(1), || signed_out(app, &ada)).await;
    assert!(
        took.is_some(),
        "the server still accepted the session a second after the CLI"
    );
}

/// Starts `email`'s sign-in in `b`, held inside the password verification until the returned
/// gate is released; returns its task (the HTTP status) and the gate.
async fn held_sign_in(
    app: &TestApp,
    b: &reqwest::Client,
    email: &'static str,
    password: &'static str,
) -> (
    tokio::task::JoinHandle<u16>,
    std::sync::Arc<keywarden::runtime::hasher::VerifyGate>,
) {
    let gate = app.state.hasher.hold_next_verification();
    let (b, url) = (b.clone(), app.url("/api/sign_in"));
    let task = tokio::spawn(async move {
        b.post(url)
            .header("Accept", "application/json")
            .form(&[("email", email), ("password", password), ("next", "")])
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    });
    gate.entered.notified().await;
    (task, gate)
}

async fn v7_4_1_a_sign_in_in_flight_during_sign_out_everyone_does_not_survive_it(app: &TestApp) {
    let admin = app.admin("admin@example.org").await;
    let b = app.new_browser();
    assert_eq!(
        app.sign_up(&b, "ada@example.org", PASSWORD).await.status(),
        200
    );
    let (sign_in, gate) = held_sign_in(app, &b, "ada@example.org", PASSWORD).await;
    let r = app.sign_out_everyone(&admin).await;
    assert_eq!(r.status(), 200);
    gate.release.notify_one();
    assert_eq!(sign_in.await.unwrap(), 200, "the sign-in itself completed");
    assert!(
        signed_out(app, &b).await,
        "a session whose verification started before the sign-out must not survive it"
    );
}

async fn a_sign_in_in_flight_during_a_compromise_ends_restricted(app: &TestApp) {
    let admin = app.admin("admin@example.org").await;
    let b = app.new_browser();
    assert_eq!(
        app.sign_up(&b, "ada@example.org", PASSWORD).await.status(),
        200
    );
    let id = app.user_id("ada@example.org").await.to_string();
    let (sign_in, gate) = held_sign_in(app, &b, "ada@example.org", PASSWORD).await;
    let r = app
        .call(
            &admin,
            "admin_compromise_user",
            &[("user_id", id.as_str()), ("reason", "found in a dump")],
        )
        .await;
    assert_eq!(r.status(), 200);
    gate.release.notify_one();
    sign_in.await.unwrap();
    let (status, location) = page(app, &b, "/account").await;
    assert_eq!(status, 303);
    assert!(
        location == "/reset-task" || location.starts_with("/sign-in"),
        "restricted or signed out, got {location}"
    );
}

async fn a_sign_in_in_flight_during_a_password_reset_with_the_old_password_fails(app: &TestApp) {
    let b = app.new_browser();
    assert_eq!(
        app.sign_up(&b, "ada@example.org", PASSWORD).await.status(),
        200
    );
    let id = app.user_id("ada@example.org").await;
    let (sign_in, gate) = held_sign_in(app, &b, "ada@example.org", PASSWORD).await;
    // The owner sets a new password meanwhile (the reset writes a new hash).
    let hash = app
        .state
        .hasher
        .hash("Fresh-Meadow-Copper-7741".to_owned().into())
        .await
        .unwrap();
    let mut tx = app.state.store.begin().await.unwrap();
    users::set_password(&mut tx, id, &hash, app.clock.now() + 1)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    gate.release.notify_one();
    assert_eq!(
        sign_in.await.unwrap(),
        401,
        "the old password no longer signs in"
    );
    assert!(signed_out(app, &b).await);
}

async fn v7_4_1_nodes_with_skewed_clocks_agree_on_what_came_first(app: &TestApp) {
    // Node B's clock runs ten minutes ahead of node A's (on SQLite the second "node" is a second
    // server on the same file, like the CLI). Ordering comes from the database clock, so neither
    // a session issued on the fast node nor a watermark written by the slow one escapes.
    let b = app.second_node().await;
    b.clock.advance(Duration::from_secs(10 * 60));
    let admin = app.admin("admin@example.org").await;
    let ada = b.member("ada@example.org").await;
    let r = app.sign_out_everyone(&admin).await;
    assert_eq!(r.status(), 200);
    let took = within(Duration::from_secs(2), || signed_out(&b, &ada)).await;
    assert!(
        took.is_some(),
        "a session issued on the fast node survived the slow node's sign-out"
    );
    // The other way round: the fast node acts, a session issued on the slow node is caught.
    let admin_b = b.new_browser();
    assert_eq!(
        b.sign_in(&admin_b, "admin@example.org", PASSWORD)
            .await
            .status(),
        200
    );
    let ben = app.member("ben@example.org").await;
    let r = b.compromise_all(&admin_b, true).await;
    assert_eq!(r.status(), 200);
    let took = within(Duration::from_secs(2), || signed_out(app, &ben)).await;
    assert!(
        took.is_some(),
        "a session issued on the slow node survived the fast node's action"
    );
    // And a password set after the action on the slow node is not caught by it.
    let carl = app.new_browser();
    assert_eq!(
        app.sign_up(&carl, "carl@example.org", PASSWORD)
            .await
            .status(),
        200
    );
    assert_eq!(
        app.sign_in(&carl, "carl@example.org", PASSWORD)
            .await
            .status(),
        200
    );
    assert_eq!(page(app, &carl, "/account").await.0, 200);
}

/// Two nodes on one PostgreSQL database: a session on node B, "sign out everyone" then
/// "compromise user" on node A; B refuses each within 2 s, also when B's listener connection was
/// killed just before the change (the catch-up read after reconnecting covers the gap).
async fn revocations_reach_the_other_node(a: &TestApp, b_address: &str) {
    let on_b = |path: &str| format!("{b_address}{path}");
    let b_is_signed_out = |browser: reqwest::Client, url: String| async move {
        let r = browser.get(url).send().await.unwrap();
        let location = r
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        r.status() == 303 && location.starts_with("/sign-in")
    };
    let sign_in_on_b = |email: &'static str| {
        let browser = common::browser_client(b_address);
        let (sign_up, sign_in) = (on_b("/api/sign_up"), on_b("/api/sign_in"));
        async move {
            for (url, form) in [
                (sign_up, vec![("email", email), ("password", PASSWORD)]),
                (
                    sign_in,
                    vec![("email", email), ("password", PASSWORD), ("next", "")],
                ),
            ] {
                let r = browser
                    .post(url)
                    .header("Accept", "application/json")
                    .form(&form)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
            }
            browser
        }
    };
    let kill_listeners = || async {
        let killed: Vec<(bool,)> = sqlx::query_as(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND query ILIKE 'LISTEN%'",
        )
        .fetch_all(a.state.store.pool())
        .await
        .unwrap();
        assert!(!killed.is_empty(), "no listener connection found");
    };
    let admin = a.admin("admin@example.org").await;
    let ada = sign_in_on_b("ada@example.org").await;
    assert!(!b_is_signed_out(ada.clone(), on_b("/account")).await);
    assert_eq!(a.sign_out_everyone(&admin).await.status(), 200);
    let took = within(Duration::from_secs(2), || {
        b_is_signed_out(ada.clone(), on_b("/account"))
    })
    .await;
    assert!(
        took.is_some(),
        "node B still accepted the session after 2 s"
    );

    // Kill B's listener just before the next change; the per-user compromise must still bite.
    let admin = a.admin("root@example.org").await;
    let ben = sign_in_on_b("ben@example.org").await;
    kill_listeners().await;
    let id = a.user_id("ben@example.org").await.to_string();
    let r = a
        .call(
            &admin,
            "admin_compromise_user",
            &[
                ("user_id", id.as_str()),
                ("reason", "leak"),
                ("sign_out", "on"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let took = within(Duration::from_secs(2), || {
        b_is_signed_out(ben.clone(), on_b("/account"))
    })
    .await;
    assert!(
        took.is_some(),
        "node B still accepted the session after 2 s"
    );
    // An instance-wide change while B's listener is being re-established arrives too.
    let carl = sign_in_on_b("carl@example.org").await;
    kill_listeners().await;
    assert_eq!(a.sign_out_everyone(&admin).await.status(), 200);
    let took = within(Duration::from_secs(2), || {
        b_is_signed_out(carl.clone(), on_b("/account"))
    })
    .await;
    assert!(
        took.is_some(),
        "node B missed the change made while its listener was down"
    );
}

/// Two nodes in one test process (separate pools and listeners).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v7_4_1_a_second_node_refuses_revoked_sessions_within_two_seconds() {
    let Some(a) = TestApp::spawn(Db::Postgres).await else {
        common::skipped("v7_4_1_a_second_node_refuses_revoked_sessions_within_two_seconds");
        return;
    };
    let b = a.second_node().await;
    revocations_reach_the_other_node(&a, &b.address).await;
}

/// Node B is a separate `keywarden serve` process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v7_4_1_two_serve_processes_refuse_revoked_sessions_within_two_seconds() {
    let Some(a) = TestApp::spawn(Db::Postgres).await else {
        common::skipped("v7_4_1_two_serve_processes_refuse_revoked_sessions_within_two_seconds");
        return;
    };
    let b = a.serve_process().await;
    revocations_reach_the_other_node(&a, &b.address).await;
}
