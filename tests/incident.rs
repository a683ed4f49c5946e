//! Compromise response: watermarks, the reset-password task, instance-wide actions, the audit
//! chain and the incident CLI, on SQLite and PostgreSQL.

mod common;

use std::time::Duration;

use common::{TestApp, PASSWORD};
use serde_json::Value;

on_both_databases!(
    a_compromised_password_cannot_open_a_normal_session,
    the_task_gates_every_page_and_server_function,
    the_task_code_is_single_use_expires_and_locks_after_five_tries,
    completing_the_task_signs_out_other_sessions_and_issues_a_full_one,
    compromise_all_affects_existing_passwords_and_not_later_ones,
    sign_out_everyone_kills_existing_cookies_on_the_next_request,
    confirmation_and_step_up_are_enforced_on_the_server,
    a_member_cannot_call_any_admin_action,
    the_audit_chain_verifies_and_detects_alteration_and_deletion,
    the_incident_cli_has_the_same_effects,
    with_the_task_switched_off_a_compromised_password_cannot_sign_in,
    disabling_an_account_signs_it_out_and_blocks_sign_in,
    the_users_list_filters_and_pages_with_a_cursor,
);

const NEW_PASSWORD: &str = "Fresh-Meadow-Copper-7741";

async fn field_of(r: reqwest::Response) -> String {
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await.unwrap();
    v["Field"]["field"].as_str().unwrap().to_owned()
}

async fn audit_count(app: &TestApp, action: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM audit_log WHERE action = $1")
        .bind(action)
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    n
}

/// Signs in a user whose password is compromised, verifies the mailed code: a session ready for
/// the new password.
async fn task_session(app: &TestApp, email: &str) -> reqwest::Client {
    let b = app.new_browser();
    let r = app.sign_in(&b, email, PASSWORD).await;
    assert_eq!(r.headers()["location"], "/reset-task");
    let code = app.latest_reset_code(email).await;
    assert_eq!(
        app.call(&b, "reset_task_verify_code", &[("code", &code)])
            .await
            .status(),
        200
    );
    b
}

async fn a_compromised_password_cannot_open_a_normal_session(app: &TestApp) {
    let admin = app.admin("root@example.org").await;
    let ada = app.member("ada@example.org").await;
    assert_eq!(
        app.compromise_user(&admin, "ada@example.org", true)
            .await
            .status(),
        200
    );
    assert_eq!(app.whoami(&ada).await, Value::Null, "her open session died");
    assert_eq!(audit_count(app, "user.password_compromised").await, 1);
    // A wrong password answers like any wrong password.
    let b = app.new_browser();
    let wrong = app
        .sign_in(&b, "ada@example.org", "Wrong-Harbor-Lantern-2931")
        .await;
    assert_eq!(wrong.status(), 401);
    assert!(wrong.text().await.unwrap().contains("InvalidCredentials"));
    // The right one opens only a restricted session.
    let r = app.sign_in(&b, "ada@example.org", PASSWORD).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["location"], "/reset-task");
    let me = app.whoami(&b).await;
    assert_eq!(me["reset_required"], true);
    assert_eq!(audit_count(app, "reset_task.started").await, 1);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM outbox WHERE kind = 'reset_code'")
            .await,
        1
    );
}

async fn the_task_gates_every_page_and_server_function(app: &TestApp) {
    let admin = app.admin("root@example.org").await;
    app.member("ada@example.org").await;
    app.compromise_user(&admin, "ada@example.org", true).await;
    let b = app.new_browser();
    app.sign_in(&b, "ada@example.org", PASSWORD).await;
    for page in ["/account", "/admin", "/", "/sign-in"] {
        let r = b.get(app.url(page)).send().await.unwrap();
        if page == "/" || page == "/sign-in" {
            assert_eq!(r.status(), 303, "{page}");
        }
        assert_eq!(r.headers()["location"], "/reset-task", "{page}");
    }
    for function in [
        "admin_overview",
        "forgot_password",
        "admin_list_users",
        "sign_up",
    ] {
        let r = app.call(&b, function, &[("email", "x@example.org")]).await;
        assert_eq!(r.status(), 403, "{function}");
        assert!(
            r.text().await.unwrap().contains("PasswordResetRequired"),
            "{function}"
        );
    }
    assert_eq!(
        b.get(app.url("/reset-task")).send().await.unwrap().status(),
        200
    );
    // A full session never sees the task page.
    assert_eq!(
        admin
            .get(app.url("/reset-task"))
            .send()
            .await
            .unwrap()
            .status(),
        303
    );
}

async fn the_task_code_is_single_use_expires_and_locks_after_five_tries(app: &TestApp) {
    let admin = app.admin("root@example.org").await;
    app.member("ada@example.org").await;
    app.compromise_user(&admin, "ada@example.org", true).await;
    let b = app.new_browser();
    app.sign_in(&b, "ada@example.org", PASSWORD).await;
    let code = app.latest_reset_code("ada@example.org").await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        assert_eq!(
            field_of(
                app.call(&b, "reset_task_verify_code", &[("code", wrong)])
                    .await
            )
            .await,
            "code"
        );
    }
    let locked: Value = app
        .call(&b, "reset_task_verify_code", &[("code", &code)])
        .await
        .json()
        .await
        .unwrap();
    assert!(
        locked["Field"]["message"]
            .as_str()
            .unwrap()
            .contains("Too many wrong codes"),
        "{locked}"
    );
    assert_eq!(audit_count(app, "reset_task.code_failed").await, 5);
    // A new code; after ten minutes it has expired.
    assert_eq!(
        app.call(&b, "reset_task_resend_code", &[]).await.status(),
        200
    );
    let second = app.latest_reset_code("ada@example.org").await;
    app.clock.advance(Duration::from_secs(11 * 60));
    let expired: Value = app
        .call(&b, "reset_task_verify_code", &[("code", &second)])
        .await
        .json()
        .await
        .unwrap();
    assert!(expired["Field"]["message"]
        .as_str()
        .unwrap()
        .contains("expired"));
    // A fresh code works once.
    app.call(&b, "reset_task_resend_code", &[]).await;
    let third = app.latest_reset_code("ada@example.org").await;
    assert_eq!(
        app.call(&b, "reset_task_verify_code", &[("code", &third)])
            .await
            .status(),
        200
    );
    let again = app.new_browser();
    app.sign_in(&again, "ada@example.org", PASSWORD).await;
    let reused: Value = app
        .call(&again, "reset_task_verify_code", &[("code", &third)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(reused["Field"]["field"], "code", "a used code is refused");
}

async fn completing_the_task_signs_out_other_sessions_and_issues_a_full_one(app: &TestApp) {
    let admin = app.admin("root@example.org").await;
    let laptop = app.member("ada@example.org").await;
    // Compromised without sign-out: the laptop stays signed in until the task completes.
    app.compromise_user(&admin, "ada@example.org", false).await;
    assert_eq!(app.whoami(&laptop).await["email"], "ada@example.org");
    let phone = task_session(app, "ada@example.org").await;
    let same = app
        .call(
            &phone,
            "reset_task_complete",
            &[("password", PASSWORD), ("password_confirm", PASSWORD)],
        )
        .await;
    assert_eq!(
        field_of(same).await,
        "password",
        "the compromised password is refused"
    );
    let weak = app
        .call(
            &phone,
            "reset_task_complete",
            &[
                ("password", "password1234"),
                ("password_confirm", "password1234"),
            ],
        )
        .await;
    assert_eq!(field_of(weak).await, "password");
    let ok = app
        .call(
            &phone,
            "reset_task_complete",
            &[
                ("password", NEW_PASSWORD),
                ("password_confirm", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["location"], "/account?password_changed=1");
    let me = app.whoami(&phone).await;
    assert_eq!(
        (me["email"].as_str(), me["reset_required"].as_bool()),
        (Some("ada@example.org"), Some(false)),
        "a full session"
    );
    assert_eq!(
        phone
            .get(app.url("/account"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        app.whoami(&laptop).await,
        Value::Null,
        "every other session is signed out"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM outbox WHERE kind = 'password_changed'")
            .await,
        1
    );
    assert_eq!(audit_count(app, "reset_task.completed").await, 1);
    assert_eq!(
        app.sign_in(&app.new_browser(), "ada@example.org", NEW_PASSWORD)
            .await
            .headers()["location"],
        "/account"
    );
}

async fn compromise_all_affects_existing_passwords_and_not_later_ones(app: &TestApp) {
    let admin = app.admin("root@example.org").await;
    app.member("ada@example.org").await;
    app.member("bob@example.org").await;
    assert_eq!(app.compromise_all(&admin, false).await.status(), 200);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'instance.passwords_compromised'")
            .await,
        1
    );
    // Existing passwords go through the task.
    for email in ["ada@example.org", "bob@example.org"] {
        assert_eq!(
            app.sign_in(&app.new_browser(), email, PASSWORD)
                .await
                .headers()["location"],
            "/reset-task",
            "{email}"
        );
    }
    // A password set afterwards is not compromised.
    let carol = app.new_browser();
    app.sign_up(&carol, "carol@example.org", PASSWORD).await;
    assert_eq!(
        app.sign_in(&carol, "carol@example.org", PASSWORD)
            .await
            .headers()["location"],
        "/account"
    );
    // Completing the task clears it for that user only.
    let ada = task_session(app, "ada@example.org").await;
    app.call(
        &ada,
        "reset_task_complete",
        &[
            ("password", NEW_PASSWORD),
            ("password_confirm", NEW_PASSWORD),
        ],
    )
    .await;
    assert_eq!(
        app.sign_in(&app.new_browser(), "ada@example.org", NEW_PASSWORD)
            .await
            .headers()["location"],
        "/account"
    );
    assert_eq!(
        app.sign_in(&app.new_browser(), "bob@example.org", PASSWORD)
            .await
            .headers()["location"],
        "/reset-task"
    );
    // The details page traces the instance-wide action per user.
    let ada_id = app.user_id("ada@example.org").await.to_string();
    let d: Value = app
        .call(&admin, "admin_user_details", &[("id", &ada_id)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(d["password"]["compromised"], Value::Null);
    assert_eq!(d["password"]["resolved"][0][0]["scope"], "Instance-wide");
    let bob_id = app.user_id("bob@example.org").await.to_string();
    let d: Value = app
        .call(&admin, "admin_user_details", &[("id", &bob_id)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(d["password"]["compromised"]["scope"], "Instance-wide");
}

async fn sign_out_everyone_kills_existing_cookies_on_the_next_request(app: &TestApp) {
    let admin = app.admin("root@example.org").await;
    let ada = app.member("ada@example.org").await;
    let bob = app.member("bob@example.org").await;
    let form = [
        ("reason", "session tokens leaked"),
        ("confirmation", "SIGN OUT EVERYONE"),
        ("password", PASSWORD),
    ];
    let r = app.call(&admin, "admin_sign_out_everyone", &form).await;
    assert_eq!(r.status(), 200);
    assert_eq!(app.whoami(&ada).await, Value::Null);
    assert_eq!(app.whoami(&bob).await, Value::Null);
    assert_eq!(
        app.whoami(&admin).await["email"],
        "root@example.org",
        "the admin's own session was re-issued"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM sessions WHERE end_reason = 'instance_sign_out'")
            .await,
        2
    );
    // Signing in again works: passwords are still valid.
    assert_eq!(
        app.sign_in(&ada, "ada@example.org", PASSWORD)
            .await
            .headers()["location"],
        "/account"
    );
    // With "sign me out too", the admin's session ends as well.
    app.clock.advance(Duration::from_secs(1));
    let form = [
        ("reason", "again"),
        ("confirmation", "SIGN OUT EVERYONE"),
        ("password", PASSWORD),
        ("sign_out_me", "on"),
    ];
    assert_eq!(
        app.call(&admin, "admin_sign_out_everyone", &form)
            .await
            .status(),
        200
    );
    assert_eq!(app.whoami(&admin).await, Value::Null);
    assert_eq!(app.whoami(&ada).await, Value::Null);
}

async fn confirmation_and_step_up_are_enforced_on_the_server(app: &TestApp) {
    let admin = app.admin("root@example.org").await;
    let call = |form: Vec<(&'static str, &'static str)>| {
        let admin = admin.clone();
        async move { app.call(&admin, "admin_compromise_all", &form).await }
    };
    assert_eq!(
        field_of(call(vec![("reason", "breach")]).await).await,
        "confirmation"
    );
    assert_eq!(
        field_of(
            call(vec![
                ("reason", "breach"),
                ("confirmation", "compromise all passwords")
            ])
            .await
        )
        .await,
        "confirmation"
    );
    assert_eq!(
        field_of(
            call(vec![
                ("reason", ""),
                ("confirmation", "COMPROMISE ALL PASSWORDS")
            ])
            .await
        )
        .await,
        "reason"
    );
    // Signed in six minutes ago: the password is asked again.
    app.clock.advance(Duration::from_secs(6 * 60));
    assert_eq!(
        field_of(
            call(vec![
                ("reason", "breach"),
                ("confirmation", "COMPROMISE ALL PASSWORDS")
            ])
            .await
        )
        .await,
        "password"
    );
    let wrong = call(vec![
        ("reason", "breach"),
        ("confirmation", "COMPROMISE ALL PASSWORDS"),
        ("password", "Not-The-Password-123"),
    ])
    .await;
    assert_eq!(field_of(wrong).await, "password");
    let sign_out = app
        .call(
            &admin,
            "admin_sign_out_everyone",
            &[("reason", "x leak"), ("confirmation", "SIGN OUT EVERYONE")],
        )
        .await;
    assert_eq!(field_of(sign_out).await, "password");
    assert_eq!(
        app.count(
            "SELECT passwords_compromised_before + sessions_revoked_before FROM security_state"
        )
        .await,
        0,
        "nothing changed"
    );
    assert_eq!(
        call(vec![
            ("reason", "breach"),
            ("confirmation", "COMPROMISE ALL PASSWORDS"),
            ("password", PASSWORD)
        ])
        .await
        .status(),
        200
    );
    assert!(
        app.count("SELECT passwords_compromised_before FROM security_state")
            .await
            > 0
    );
}

async fn a_member_cannot_call_any_admin_action(app: &TestApp) {
    app.admin("root@example.org").await;
    let member = app.member("ada@example.org").await;
    let id = app.user_id("root@example.org").await.to_string();
    let calls: [(&str, Vec<(&str, &str)>); 9] = [
        (
            "admin_compromise_all",
            vec![
                ("reason", "x y z"),
                ("confirmation", "COMPROMISE ALL PASSWORDS"),
                ("password", PASSWORD),
            ],
        ),
        (
            "admin_sign_out_everyone",
            vec![
                ("reason", "x y z"),
                ("confirmation", "SIGN OUT EVERYONE"),
                ("password", PASSWORD),
            ],
        ),
        (
            "admin_compromise_user",
            vec![("user_id", &id), ("reason", "x y z")],
        ),
        ("admin_sign_out_user", vec![("user_id", &id)]),
        ("admin_send_reset", vec![("user_id", &id)]),
        (
            "admin_set_disabled",
            vec![("user_id", &id), ("disabled", "true")],
        ),
        ("admin_list_users", vec![]),
        ("admin_user_details", vec![("id", &id)]),
        (
            "admin_save_security_settings",
            vec![
                ("password_min_length", "8"),
                ("session_idle_timeout_minutes", "30"),
                ("session_absolute_lifetime_hours", "12"),
            ],
        ),
    ];
    for (function, form) in calls {
        assert_eq!(
            app.call(&member, function, &form).await.status(),
            403,
            "{function}"
        );
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE actor_kind = 'admin'")
            .await,
        0
    );
    assert_eq!(
        app.count(
            "SELECT passwords_compromised_before + sessions_revoked_before FROM security_state"
        )
        .await,
        0
    );
}

async fn the_audit_chain_verifies_and_detects_alteration_and_deletion(app: &TestApp) {
    app.member("ada@example.org").await;
    app.sign_in(
        &app.new_browser(),
        "ada@example.org",
        "Wrong-Harbor-Lantern-2931",
    )
    .await;
    let ok = app.cli(&["audit", "verify"], None).await;
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).starts_with("OK: 3 audit entries"));
    // The database refuses changes to the trail.
    assert!(
        sqlx::query("UPDATE audit_log SET reason = 'x' WHERE seq = 2")
            .execute(app.state.store.pool())
            .await
            .is_err()
    );
    assert!(sqlx::query("DELETE FROM audit_log WHERE seq = 3")
        .execute(app.state.store.pool())
        .await
        .is_err());
    // With the triggers dropped, an edit is still detected.
    let drop_sql: &[&str] = match app.db {
        common::Db::Sqlite => &[
            "DROP TRIGGER audit_log_no_update",
            "DROP TRIGGER audit_log_no_delete",
        ],
        common::Db::Postgres => &[
            "DROP TRIGGER audit_log_no_update ON audit_log",
            "DROP TRIGGER audit_log_no_delete ON audit_log",
        ],
    };
    for sql in drop_sql {
        sqlx::query(sql)
            .execute(app.state.store.pool())
            .await
            .unwrap();
    }
    sqlx::query("UPDATE audit_log SET ip = '10.9.8.7' WHERE seq = 2")
        .execute(app.state.store.pool())
        .await
        .unwrap();
    let altered = app.cli(&["audit", "verify"], None).await;
    assert!(!altered.status.success());
    assert!(
        String::from_utf8_lossy(&altered.stderr).contains("broken at entry 2"),
        "{}",
        String::from_utf8_lossy(&altered.stderr)
    );
    sqlx::query("DELETE FROM audit_log WHERE seq = 2")
        .execute(app.state.store.pool())
        .await
        .unwrap();
    let deleted = app.cli(&["audit", "verify"], None).await;
    assert!(!deleted.status.success());
    assert!(String::from_utf8_lossy(&deleted.stderr).contains("entry 2 is missing"));
}

async fn the_incident_cli_has_the_same_effects(app: &TestApp) {
    let ada = app.member("ada@example.org").await;
    let bob = app.member("bob@example.org").await;
    let missing = app
        .cli(
            &[
                "incident",
                "compromise-user",
                "--email",
                "nobody@example.org",
                "--reason",
                "dump",
            ],
            None,
        )
        .await;
    assert!(!missing.status.success());
    assert_eq!(
        String::from_utf8_lossy(&missing.stderr)
            .trim()
            .lines()
            .count(),
        1
    );
    let out = app
        .cli(
            &[
                "incident",
                "compromise-user",
                "--email",
                "ada@example.org",
                "--sign-out",
                "--reason",
                "found in dump",
            ],
            None,
        )
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(app.whoami(&ada).await, Value::Null);
    assert_eq!(app.whoami(&bob).await["email"], "bob@example.org");
    // The CLI wrote to the database directly: this node learns of instance changes on refresh,
    // per-user watermarks are read with the user on every request.
    let out = app
        .cli(
            &["incident", "sign-out-all", "--reason", "tokens leaked"],
            None,
        )
        .await;
    assert!(out.status.success());
    app.state.security.refresh(&app.state.store).await.unwrap();
    assert_eq!(app.whoami(&bob).await, Value::Null);
    let out = app
        .cli(
            &[
                "incident",
                "compromise-all",
                "--sign-out",
                "--reason",
                "breach",
            ],
            None,
        )
        .await;
    assert!(out.status.success());
    app.state.security.refresh(&app.state.store).await.unwrap();
    assert_eq!(
        app.sign_in(&app.new_browser(), "bob@example.org", PASSWORD)
            .await
            .headers()["location"],
        "/reset-task"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE actor_kind = 'cli'")
            .await,
        3
    );
    let bad = app
        .cli(&["incident", "sign-out-all", "--reason", ""], None)
        .await;
    assert!(!bad.status.success());
}

async fn with_the_task_switched_off_a_compromised_password_cannot_sign_in(app: &TestApp) {
    let admin = app.admin("root@example.org").await;
    app.member("ada@example.org").await;
    let form = [
        ("password_min_length", "12"),
        ("session_idle_timeout_minutes", "30"),
        ("session_absolute_lifetime_hours", "12"),
    ];
    assert_eq!(
        app.call(&admin, "admin_save_security_settings", &form)
            .await
            .status(),
        200
    );
    app.compromise_user(&admin, "ada@example.org", true).await;
    let b = app.new_browser();
    let r = app.sign_in(&b, "ada@example.org", PASSWORD).await;
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("PasswordCompromised"));
    assert_eq!(app.whoami(&b).await, Value::Null);
    // Forgot-password is the way out.
    app.call(&b, "forgot_password", &[("email", "ada@example.org")])
        .await;
    let text = app.delivered_mail("password_reset", None).await.text;
    let start = text.find("token=").unwrap() + 6;
    let token: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_hexdigit())
        .collect();
    let r = app
        .call(
            &b,
            "reset_password",
            &[
                ("token", &token),
                ("password", NEW_PASSWORD),
                ("password_confirm", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        app.sign_in(&b, "ada@example.org", NEW_PASSWORD)
            .await
            .headers()["location"],
        "/account"
    );
    let bad = app
        .call(
            &admin,
            "admin_save_security_settings",
            &[
                ("password_min_length", "4"),
                ("session_idle_timeout_minutes", "30"),
                ("session_absolute_lifetime_hours", "12"),
            ],
        )
        .await;
    assert_eq!(field_of(bad).await, "password_min_length");
}

async fn disabling_an_account_signs_it_out_and_blocks_sign_in(app: &TestApp) {
    let admin = app.admin("root@example.org").await;
    let ada = app.member("ada@example.org").await;
    let id = app.user_id("ada@example.org").await.to_string();
    assert_eq!(
        app.call(
            &admin,
            "admin_set_disabled",
            &[("user_id", &id), ("disabled", "true")]
        )
        .await
        .status(),
        200
    );
    assert_eq!(app.whoami(&ada).await, Value::Null);
    assert_eq!(
        app.sign_in(&ada, "ada@example.org", PASSWORD)
            .await
            .status(),
        401
    );
    let own = app.user_id("root@example.org").await.to_string();
    assert_eq!(
        field_of(
            app.call(
                &admin,
                "admin_set_disabled",
                &[("user_id", &own), ("disabled", "true")]
            )
            .await
        )
        .await,
        "disabled"
    );
    assert_eq!(
        app.call(
            &admin,
            "admin_set_disabled",
            &[("user_id", &id), ("disabled", "false")]
        )
        .await
        .status(),
        200
    );
    assert_eq!(
        app.sign_in(&ada, "ada@example.org", PASSWORD)
            .await
            .status(),
        200
    );
    assert_eq!(audit_count(app, "user.disabled").await, 1);
    assert_eq!(audit_count(app, "user.enabled").await, 1);
}

async fn the_users_list_filters_and_pages_with_a_cursor(app: &TestApp) {
    let admin = app.admin("root@example.org").await;
    for i in 0..55 {
        app.sign_up(
            &app.new_browser(),
            &format!("user{i:02}@example.org"),
            PASSWORD,
        )
        .await;
    }
    let list = |form: Vec<(&'static str, String)>| {
        let admin = admin.clone();
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let v: Value = app
                .call(&admin, "admin_list_users", &form)
                .await
                .json()
                .await
                .unwrap();
            v
        }
    };
    let first = list(vec![]).await;
    assert_eq!(first["users"].as_array().unwrap().len(), 50);
    let after = first["next_after"].as_i64().unwrap();
    let second = list(vec![("after", after.to_string())]).await;
    assert_eq!(second["users"].as_array().unwrap().len(), 6);
    assert_eq!(second["next_after"], Value::Null);
    let search = list(vec![("q", "USER1".into())]).await;
    assert_eq!(
        search["users"].as_array().unwrap().len(),
        10,
        "prefix search, case-insensitive"
    );
    app.compromise_user(&admin, "user07@example.org", false)
        .await;
    let compromised = list(vec![("status", "compromised".into())]).await;
    assert_eq!(compromised["users"][0]["email"], "user07@example.org");
    assert_eq!(compromised["users"].as_array().unwrap().len(), 1);
    assert_eq!(
        list(vec![("status", "active".into())]).await["users"]
            .as_array()
            .unwrap()
            .len(),
        50
    );
    let admins = list(vec![("role", "admin".into())]).await;
    assert_eq!(admins["users"].as_array().unwrap().len(), 1);
    let bad = app
        .call(&admin, "admin_list_users", &[("status", "nonsense")])
        .await;
    assert_eq!(field_of(bad).await, "status");
}
