//! The admin overview's figures are the recorded facts: after a scenario played through the real
//! server (compromises, a reset, a disabled account, sign-ins that succeed, fail and are refused),
//! every figure equals the hand count, and each user figure equals the rows of the filtered list
//! it links to. On SQLite and PostgreSQL.

mod common;

use std::time::Duration;

use common::{TestApp, PASSWORD};
use keywarden::features::admin::service::overview;
use keywarden::features::admin::Overview;
use keywarden::storage::users::{self, UserFilter, UserStatus};

on_both_databases!(
    the_overview_counts_what_happened_compromises_a_reset_a_disabled_account_and_sign_ins,
    after_compromise_all_the_overview_counts_everyone_and_names_who_did_it,
    the_live_session_count_is_at_most_a_minute_old_and_recounted_off_the_request,
);

const NEW_PASSWORD: &str = "Fresh-Meadow-Copper-7741";

/// A sign-in with a compromised password, in a new browser: restricted to the reset task.
async fn restricted(app: &TestApp, email: &str) -> reqwest::Client {
    let b = app.new_browser();
    let r = app.sign_in(&b, email, PASSWORD).await;
    assert_eq!(r.headers()["location"], "/reset-task");
    b
}

async fn figures(app: &TestApp) -> Overview {
    overview(&app.state).await.expect("overview")
}

/// The rows the user list shows for a status filter (what the figure links to).
async fn listed(app: &TestApp, status: UserStatus) -> i64 {
    let mut conn = app.state.store.pool().acquire().await.unwrap();
    let filter = UserFilter {
        status: Some(status),
        limit: 1000,
        ..Default::default()
    };
    let watermark = app.state.security.get().row.passwords_compromised_before;
    users::list(&mut conn, &filter, watermark)
        .await
        .unwrap()
        .len() as i64
}

async fn the_overview_counts_what_happened_compromises_a_reset_a_disabled_account_and_sign_ins(
    app: &TestApp,
) {
    // Six full sign-ins: the admin and five members, each in their first browser.
    let admin = app.admin("root@example.org").await;
    let _ada = app.member("ada@example.org").await;
    let _bo = app.member("bo@example.org").await;
    let _cy = app.member("cy@example.org").await;
    let _dee = app.member("dee@example.org").await;
    let _eve = app.member("eve@example.org").await;
    for (email, sign_out) in [
        ("ada@example.org", false),
        ("bo@example.org", false),
        ("cy@example.org", true),
    ] {
        assert_eq!(
            app.compromise_user(&admin, email, sign_out).await.status(),
            200
        );
    }
    // Bo completes the reset from a new browser (refused sign-in 1, new-device alert 1); the
    // completion signs out his first browser and leaves him one full session.
    let bo = restricted(app, "bo@example.org").await;
    let code = app.latest_reset_code("bo@example.org").await;
    let r = app
        .call(&bo, "reset_task_verify_code", &[("code", &code)])
        .await;
    assert_eq!(r.status(), 200);
    let r = app
        .call(
            &bo,
            "reset_task_complete",
            &[
                ("password", NEW_PASSWORD),
                ("password_confirm", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    // Ada starts the reset and stops at the code (refused sign-in 2, alert 2): reset pending.
    let _ada_task = restricted(app, "ada@example.org").await;
    // Dee is disabled: her open session no longer counts, and her right password fails.
    let dee_id = app.user_id("dee@example.org").await.to_string();
    let r = app
        .call(
            &admin,
            "admin_set_disabled",
            &[
                ("user_id", &dee_id),
                ("disabled", "true"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let stranger = app.new_browser();
    for (email, password) in [
        ("dee@example.org", PASSWORD),
        ("eve@example.org", "Wrong-Password-Entirely-1"),
        ("eve@example.org", "Wrong-Password-Entirely-2"),
        ("nobody@example.org", PASSWORD),
    ] {
        assert_ne!(
            app.sign_in(&stranger, email, password).await.status(),
            200,
            "{email} must not sign in"
        );
    }
    // Eve from a second browser: full sign-in 7, alert 3.
    let eve_phone = app.new_browser();
    assert_eq!(
        app.sign_in(&eve_phone, "eve@example.org", PASSWORD)
            .await
            .status(),
        200
    );

    let o = figures(app).await;
    assert_eq!(o.users, 6);
    assert_eq!(o.admins, 1);
    assert_eq!(o.disabled, 1, "dee");
    assert_eq!(o.compromised, 1, "cy: compromised, no reset started");
    assert_eq!(o.reset_pending, 1, "ada: code sent, not used");
    assert_eq!(o.resets_completed, 1, "bo");
    // admin 1, ada 2 (first browser and the task), bo 1 (the new full one), cy 0 (signed out
    // with the compromise), dee 0 (disabled), eve 2.
    assert_eq!(o.active_sessions, 6);
    let sum = |f: fn(&keywarden::features::admin::SignInHour) -> i64| {
        o.sign_ins.iter().map(f).sum::<i64>()
    };
    assert_eq!(sum(|h| h.succeeded), 7);
    assert_eq!(sum(|h| h.failed), 4);
    assert_eq!(sum(|h| h.refused), 2);
    assert_eq!(o.sign_ins.len(), 24);
    assert_eq!(
        o.new_device_alerts, 3,
        "bo's and ada's task browsers, eve's phone"
    );
    assert_eq!(o.not_me_reports, 0);
    assert!(o.instance_actions.is_empty());
    assert_eq!(
        o.chain.head_seq,
        app.count("SELECT COALESCE(MAX(seq), 0) FROM audit_log")
            .await
    );
    assert_eq!(o.outbox_failed, 0);

    // Each user figure is the length of the list it links to.
    assert_eq!(o.compromised, listed(app, UserStatus::Compromised).await);
    assert_eq!(o.reset_pending, listed(app, UserStatus::ResetPending).await);
    assert_eq!(o.disabled, listed(app, UserStatus::Disabled).await);
    // The same figures reach the page through the server function.
    let r = app.call(&admin, "admin_overview", &[]).await;
    assert_eq!(r.status(), 200);
    let served: Overview = r.json().await.unwrap();
    assert_eq!(served.compromised, o.compromised);
    assert_eq!(served.active_sessions, o.active_sessions);
}

async fn after_compromise_all_the_overview_counts_everyone_and_names_who_did_it(app: &TestApp) {
    let admin = app.admin("root@example.org").await;
    for email in ["ada@example.org", "bo@example.org", "cy@example.org"] {
        app.member(email).await;
    }
    assert_eq!(app.compromise_all(&admin, false).await.status(), 200);
    assert_eq!(app.sign_out_everyone(&admin).await.status(), 200);
    let o = figures(app).await;
    // The admin too: the watermark covers every password set before it.
    assert_eq!(o.compromised, 4);
    assert_eq!(o.compromised, listed(app, UserStatus::Compromised).await);
    let actions: Vec<(&str, &str)> = o
        .instance_actions
        .iter()
        .map(|a| (a.what.as_str(), a.who.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("Everyone signed out", "root@example.org"),
            ("All passwords set as compromised", "root@example.org"),
        ]
    );
    // A checkpoint is signed after each instance-wide action; its entry is unchanged.
    let cp = o.chain.checkpoint.expect("a checkpoint after the action");
    assert!(cp.entry_matches);
    assert!(cp.seq <= o.chain.head_seq);
}

async fn the_live_session_count_is_at_most_a_minute_old_and_recounted_off_the_request(
    app: &TestApp,
) {
    let _admin = app.admin("root@example.org").await;
    let ada = app.member("ada@example.org").await;
    let first = figures(app).await;
    assert_eq!(first.active_sessions, 2);
    assert_eq!(
        first.active_sessions_at, first.at,
        "counted on the first view"
    );
    assert_eq!(app.call(&ada, "sign_out", &[]).await.status(), 200);
    // Within the minute the stored count is shown, with its time.
    app.clock.advance(Duration::from_secs(30));
    let cached = figures(app).await;
    assert_eq!(cached.active_sessions, 2);
    assert_eq!(cached.active_sessions_at, first.at);
    // Past it, the view still answers from the stored count and a recount follows.
    app.clock.advance(Duration::from_secs(31));
    let stale = figures(app).await;
    assert_eq!(stale.active_sessions_at, first.at);
    let mut now = stale;
    for _ in 0..100 {
        if now.active_sessions_at > first.at {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        now = figures(app).await;
    }
    assert_eq!(now.active_sessions, 1, "ada signed out");
    assert!(now.active_sessions_at > first.at);
}
