//! The reset-password task's e-mail code cannot be brute-forced: tries are taken atomically, a
//! per-user budget in the database spans codes, nodes and restarts, codes are stored as an HMAC
//! under the server key, and a reset link's expiry is rechecked when it is spent. On SQLite and
//! PostgreSQL.

mod common;

use std::time::Duration;

use common::{TestApp, PASSWORD};
use serde_json::Value;

on_both_databases!(
    v6_6_3_concurrent_wrong_codes_are_checked_at_most_five_times_per_code,
    v6_6_3_wrong_codes_spend_a_daily_budget_that_spans_codes_nodes_and_restarts,
    v6_5_2_codes_are_stored_as_an_hmac_bound_to_the_user_under_the_server_key,
    v6_5_5_a_reset_link_that_expires_after_its_check_cannot_be_spent,
);

const ADA: &str = "ada@example.org";
const NEW_PASSWORD: &str = "Fresh-Meadow-Copper-7741";

fn wrong_for(code: &str) -> &'static str {
    if code == "000000" {
        "111111"
    } else {
        "000000"
    }
}

/// Ada, with her password set as compromised by an administrator.
async fn compromised_ada(app: &TestApp) {
    let admin = app.admin("root@example.org").await;
    app.member(ADA).await;
    assert_eq!(app.compromise_user(&admin, ADA, true).await.status(), 200);
}

/// A browser signed in with Ada's compromised password: restricted to the reset task.
async fn restricted(app: &TestApp) -> reqwest::Client {
    let b = app.new_browser();
    let r = app.sign_in(&b, ADA, PASSWORD).await;
    assert_eq!(r.headers()["location"], "/reset-task");
    b
}

async fn verify(app: &TestApp, b: &reqwest::Client, code: &str) -> (u16, String) {
    let r = app
        .call(b, "reset_task_verify_code", &[("code", code)])
        .await;
    let status = r.status().as_u16();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    (
        status,
        v["Field"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

async fn audit_count(app: &TestApp, action: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM audit_log WHERE action = $1")
        .bind(action)
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    n
}

async fn codes_mailed(app: &TestApp) -> i64 {
    app.count("SELECT COUNT(*) FROM outbox WHERE kind = 'reset_code'")
        .await
}

async fn v6_6_3_concurrent_wrong_codes_are_checked_at_most_five_times_per_code(app: &TestApp) {
    compromised_ada(app).await;
    let b = restricted(app).await;
    let code = app.latest_reset_code(ADA).await;
    let wrong = wrong_for(&code);
    let mut guesses = tokio::task::JoinSet::new();
    for _ in 0..24 {
        let (b, url) = (b.clone(), app.url("/api/reset_task_verify_code"));
        guesses.spawn(async move {
            let r = b
                .post(url)
                .header("Accept", "application/json")
                .form(&[("code", wrong)])
                .send()
                .await
                .unwrap();
            let v: Value = r.json().await.unwrap();
            v["Field"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        });
    }
    let mut checked = 0;
    while let Some(message) = guesses.join_next().await {
        let message = message.unwrap();
        if message.contains("not correct") {
            checked += 1;
        } else {
            assert!(message.contains("Too many wrong codes"), "{message}");
        }
    }
    assert_eq!(
        checked, 5,
        "only five guesses were checked against the code"
    );
    assert_eq!(audit_count(app, "reset_task.code_failed").await, 5);
    assert_eq!(
        app.count("SELECT attempts FROM reset_codes").await,
        5,
        "the code's tries"
    );
    // Even the right code is refused now: the code is used up.
    let (status, message) = verify(app, &b, &code).await;
    assert_eq!(status, 422);
    assert!(message.contains("Send a new code"), "{message}");
}

async fn v6_6_3_wrong_codes_spend_a_daily_budget_that_spans_codes_nodes_and_restarts(
    app: &TestApp,
) {
    compromised_ada(app).await;
    let b = restricted(app).await;
    // Three codes of five wrong tries each: a new code refills the code's tries, not the budget.
    for round in 0..3 {
        if round > 0 {
            let r = app.call(&b, "reset_task_resend_code", &[]).await;
            assert_eq!(r.status(), 200, "code {round} sent");
        }
        let wrong = wrong_for(&app.latest_reset_code(ADA).await);
        for _ in 0..5 {
            let (status, message) = verify(app, &b, wrong).await;
            assert_eq!(status, 422);
            assert!(message.contains("not correct"), "{message}");
        }
    }
    assert_eq!(audit_count(app, "reset_task.code_failed").await, 15);
    // The last five on another node, with the code its sign-in sent.
    let node2 = app.second_node().await;
    let b2 = restricted(&node2).await;
    let code = node2.latest_reset_code(ADA).await;
    for i in 0..4 {
        let (_, message) = verify(&node2, &b2, wrong_for(&code)).await;
        assert!(message.contains("not correct"), "try {i}: {message}");
    }
    assert_eq!(audit_count(app, "reset_task.code_budget_spent").await, 0);
    let (status, message) = verify(&node2, &b2, wrong_for(&code)).await;
    assert_eq!(status, 422);
    assert!(
        message.contains("Too many wrong codes were entered for this account")
            && message.contains("until")
            && message.contains("in about 24 hours")
            && message.contains("contact your administrator"),
        "{message}"
    );
    assert_eq!(audit_count(app, "reset_task.code_budget_spent").await, 1);
    // Spent: the right code is not even checked, on either node, and no code is sent.
    let mailed = codes_mailed(app).await;
    for (node, browser) in [(app, &b), (&node2, &b2)] {
        let (status, message) = verify(node, browser, &code).await;
        assert_eq!(status, 422);
        assert!(
            message.contains("no code can be checked or sent"),
            "{message}"
        );
        let r = node.call(browser, "reset_task_resend_code", &[]).await;
        assert_eq!(r.status(), 422);
        let v: Value = r.json().await.unwrap();
        assert!(v["Field"]["message"].as_str().unwrap().contains("until"));
        let status: Value = node
            .call(browser, "reset_task_status", &[])
            .await
            .json()
            .await
            .unwrap();
        assert!(
            status["locked"]
                .as_str()
                .unwrap()
                .contains("contact your administrator"),
            "{status}"
        );
    }
    assert_eq!(codes_mailed(app).await, mailed, "nothing sent");
    assert_eq!(audit_count(app, "reset_task.code_failed").await, 20);
    assert_eq!(
        audit_count(app, "reset_task.code_budget_spent").await,
        1,
        "one entry when the budget is spent, not one per refusal"
    );
    // A restart (a new server on the same database) still holds it, and so does a new sign-in.
    let restarted = app.second_node().await;
    let b3 = restricted(&restarted).await;
    assert_eq!(codes_mailed(app).await, mailed, "the sign-in sent no code");
    let (_, message) = verify(&restarted, &b3, &code).await;
    assert!(
        message.contains("no code can be checked or sent"),
        "{message}"
    );
    // A day later the window is over (and that session too): a new sign-in gets a code that works.
    restarted
        .clock
        .advance(Duration::from_secs(24 * 60 * 60 + 60));
    let b4 = restricted(&restarted).await;
    assert_eq!(codes_mailed(app).await, mailed + 1);
    let fresh = restarted.latest_reset_code(ADA).await;
    assert_eq!(verify(&restarted, &b4, &fresh).await.0, 200);
}

async fn v6_5_2_codes_are_stored_as_an_hmac_bound_to_the_user_under_the_server_key(app: &TestApp) {
    use keywarden::runtime::server_key::{Purpose, ServerKey};
    use keywarden::runtime::token;
    compromised_ada(app).await;
    restricted(app).await;
    let code = app.latest_reset_code(ADA).await;
    let id = app.user_id(ADA).await;
    let (stored,): (String,) =
        sqlx::query_as("SELECT code_hash FROM reset_codes WHERE user_id = $1")
            .bind(id)
            .fetch_one(app.state.store.pool())
            .await
            .unwrap();
    let key = ServerKey::open(&app.secret_key_file(), false).unwrap();
    assert_eq!(stored, key.mac(Purpose::ResetCode, format!("{id}:{code}")));
    assert_ne!(
        stored,
        ServerKey::ephemeral().mac(Purpose::ResetCode, format!("{id}:{code}")),
        "another server key gives another value"
    );
    // No plain hash of any code reverses it: try the whole code space.
    let found = tokio::task::spawn_blocking(move || {
        (0..1_000_000u32).find(|n| {
            let c = format!("{n:06}");
            token::hash(format!("{id}:{c}")) == stored || token::hash(&c) == stored
        })
    })
    .await
    .unwrap();
    assert_eq!(found, None);
}

async fn v6_5_5_a_reset_link_that_expires_after_its_check_cannot_be_spent(app: &TestApp) {
    use keywarden::runtime::token;
    use keywarden::storage::resets;
    let b = app.member(ADA).await;
    app.call(&b, "forgot_password", &[("email", ADA)]).await;
    let text = app.delivered_mail("password_reset", Some(ADA)).await.text;
    let start = text.find("token=").unwrap() + "token=".len();
    let secret: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_hexdigit())
        .collect();
    let state: Value = app
        .call(&b, "reset_link_state", &[("token", &secret)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(state, "Valid", "checked while valid");
    let mut conn = app.state.store.pool().acquire().await.unwrap();
    let row = resets::find(&mut conn, &token::hash(&secret))
        .await
        .unwrap()
        .unwrap();
    // The link runs out between the check and the spend (argon2 runs in between).
    app.clock.advance(Duration::from_secs(31 * 60));
    assert_eq!(
        resets::mark_used(&mut conn, row.id, app.clock.now())
            .await
            .unwrap(),
        0,
        "an expired link is not spent"
    );
    drop(conn);
    let r = app
        .call(
            &app.new_browser(),
            "reset_password",
            &[
                ("token", secret.as_str()),
                ("password", NEW_PASSWORD),
                ("password_confirm", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM password_resets WHERE used_at IS NOT NULL")
            .await,
        0
    );
    assert_eq!(
        app.sign_in(&app.new_browser(), ADA, PASSWORD)
            .await
            .status(),
        200,
        "the password is unchanged"
    );
}
