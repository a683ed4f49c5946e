//! The outbox, its worker, and forgot-password, on SQLite and PostgreSQL. Delivery goes through
//! a real SMTP sink (maildev, started by scripts/test.sh) where a test needs one.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Db, TestApp, PASSWORD};
use keywarden::config::{SmtpConfig, SmtpTls};
use keywarden::email::templates::MailKind;
use keywarden::email::transport::{self, MailTransport};
use keywarden::email::worker::{Worker, LEASE_MS};
use keywarden::storage::outbox;
use serde_json::{json, Value};

on_both_databases!(
    an_outbox_row_commits_or_rolls_back_with_its_action,
    the_worker_retries_a_transient_smtp_failure_then_marks_the_mail_failed,
    a_mail_queued_while_smtp_is_down_is_delivered_once_when_it_returns,
    a_dead_workers_claimed_rows_are_sent_once_after_the_lease,
    two_workers_never_send_the_same_row,
    forgot_password_answers_the_same_for_unknown_emails_and_sends_nothing,
    only_the_newest_reset_link_works_and_only_once,
    an_expired_reset_link_is_refused,
    a_reset_applies_the_policy_refuses_the_current_password_and_signs_out_everywhere,
    the_forgot_password_flow_works_through_a_real_smtp_server,
    reset_requests_are_rate_limited_per_account,
);

fn unique_email(prefix: &str) -> String {
    format!("{prefix}-{}@example.org", rand::random::<u32>())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The SMTP sink's port, or None to skip (never under CI).
fn sink_smtp_port() -> Option<u16> {
    match std::env::var("KEYWARDEN_TEST_SMTP_PORT") {
        Ok(p) => Some(p.parse().expect("KEYWARDEN_TEST_SMTP_PORT")),
        Err(_) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI needs the SMTP sink (KEYWARDEN_TEST_SMTP_PORT)")
        }
        Err(_) => {
            eprintln!("SMTP sink not configured (KEYWARDEN_TEST_SMTP_PORT): skipped");
            None
        }
    }
}

fn maildev_url() -> String {
    std::env::var("KEYWARDEN_TEST_MAILDEV_URL").unwrap_or_else(|_| "http://127.0.0.1:1080".into())
}

/// Mails the sink received for `to`, waiting up to 10 s for at least `at_least`.
async fn sink_mails(to: &str, at_least: usize) -> Vec<Value> {
    let client = reqwest::Client::new();
    for _ in 0..100 {
        let all: Vec<Value> = client
            .get(format!("{}/email", maildev_url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mine: Vec<Value> = all
            .into_iter()
            .filter(|m| {
                m["to"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|r| r["address"].as_str() == Some(to)))
            })
            .collect();
        if mine.len() >= at_least {
            return mine;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Vec::new()
}

fn smtp_config(port: u16) -> SmtpConfig {
    SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        tls: SmtpTls::None,
        username: None,
        password: None,
    }
}

fn worker(
    app: &TestApp,
    transport: Box<dyn MailTransport>,
    max_attempts: u32,
    owner: &str,
) -> Worker {
    Worker {
        store: app.state.store.clone(),
        clock: app.clock.clone(),
        transport: Arc::from(transport),
        max_attempts,
        owner: owner.into(),
    }
}

fn smtp_transport(app: &TestApp, port: u16) -> Box<dyn MailTransport> {
    let mut config = (*app.state.config).clone();
    config.smtp = Some(smtp_config(port));
    transport::from_config(&config).unwrap()
}

fn dir_transport(app: &TestApp, dir: &std::path::Path) -> Box<dyn MailTransport> {
    let mut config = (*app.state.config).clone();
    config.smtp = None;
    config.mail_dir = dir.to_path_buf();
    transport::from_config(&config).unwrap()
}

async fn queue_one(app: &TestApp, to: &str) -> i64 {
    let mut tx = app.state.store.begin().await.unwrap();
    let vars = json!({"reset_url": "https://id.example.org/r", "expires_in_minutes": 30});
    let id = keywarden::email::queue(
        &mut tx,
        app.clock.now(),
        &app.state.config.base_url,
        MailKind::PasswordReset,
        to,
        vars,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    id
}

async fn row(app: &TestApp, id: i64) -> (String, i64, Option<String>) {
    sqlx::query_as("SELECT status, attempts, last_error FROM outbox WHERE id = $1")
        .bind(id)
        .fetch_one(app.state.store.pool())
        .await
        .unwrap()
}

/// Spawns an app whose own worker does not run against the outbox under test.
async fn app_without_worker(db: Db) -> Option<TestApp> {
    TestApp::spawn_with(db, |c| c.mail_worker_enabled = false).await
}

async fn an_outbox_row_commits_or_rolls_back_with_its_action(app: &TestApp) {
    let vars = json!({"reset_url": "x", "expires_in_minutes": 30});
    let mut tx = app.state.store.begin().await.unwrap();
    keywarden::email::queue(
        &mut tx,
        0,
        &app.state.config.base_url,
        MailKind::PasswordReset,
        "a@example.org",
        vars.clone(),
    )
    .await
    .unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(app.count("SELECT COUNT(*) FROM outbox").await, 0);
    let mut tx = app.state.store.begin().await.unwrap();
    keywarden::email::queue(
        &mut tx,
        0,
        &app.state.config.base_url,
        MailKind::PasswordReset,
        "a@example.org",
        vars,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(app.count("SELECT COUNT(*) FROM outbox").await, 1);
    // A reset refused by the policy queues no "password changed" mail either.
    let email = unique_email("ada");
    let b = app.new_browser();
    app.sign_up(&b, &email, PASSWORD).await;
    app.call(&b, "forgot_password", &[("email", &email)]).await;
    let token = latest_token(app, &email).await;
    let r = app
        .call(
            &b,
            "reset_password",
            &[
                ("token", &token),
                ("password", "short"),
                ("password_confirm", "short"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM outbox WHERE kind = 'password_changed'")
            .await,
        0
    );
}

async fn the_worker_retries_a_transient_smtp_failure_then_marks_the_mail_failed(_app: &TestApp) {
    let Some(app) = app_without_worker(_app.db).await else {
        return;
    };
    let id = queue_one(&app, "ada@example.org").await;
    let w = worker(&app, smtp_transport(&app, free_port()), 3, "w1");
    assert_eq!(w.run_once().await.unwrap(), 1);
    let (status, attempts, error) = row(&app, id).await;
    assert_eq!((status.as_str(), attempts), ("queued", 1));
    assert!(error.unwrap().contains("SMTP"), "the SMTP error is kept");
    assert_eq!(
        w.run_once().await.unwrap(),
        0,
        "not retried before its backoff"
    );
    app.clock.advance(Duration::from_secs(31));
    assert_eq!(w.run_once().await.unwrap(), 1);
    assert_eq!(row(&app, id).await.1, 2);
    app.clock.advance(Duration::from_secs(61));
    assert_eq!(w.run_once().await.unwrap(), 1);
    let (status, attempts, error) = row(&app, id).await;
    assert_eq!(
        (status.as_str(), attempts),
        ("failed", 3),
        "failed after the limit"
    );
    assert!(error.is_some());
    app.clock.advance(Duration::from_secs(3600));
    assert_eq!(
        w.run_once().await.unwrap(),
        0,
        "a failed mail is not retried"
    );
}

async fn a_mail_queued_while_smtp_is_down_is_delivered_once_when_it_returns(_app: &TestApp) {
    let Some(sink) = sink_smtp_port() else { return };
    let Some(app) = app_without_worker(_app.db).await else {
        return;
    };
    let to = unique_email("down");
    let id = queue_one(&app, &to).await;
    worker(&app, smtp_transport(&app, free_port()), 8, "w1")
        .run_once()
        .await
        .unwrap();
    assert_eq!(row(&app, id).await.0, "queued");
    app.clock.advance(Duration::from_secs(31));
    let w = worker(&app, smtp_transport(&app, sink), 8, "w2");
    assert_eq!(w.run_once().await.unwrap(), 1);
    assert_eq!(row(&app, id).await.0, "sent");
    app.clock.advance(Duration::from_secs(3600));
    assert_eq!(w.run_once().await.unwrap(), 0);
    assert_eq!(sink_mails(&to, 1).await.len(), 1, "delivered exactly once");
}

async fn a_dead_workers_claimed_rows_are_sent_once_after_the_lease(_app: &TestApp) {
    let Some(app) = app_without_worker(_app.db).await else {
        return;
    };
    let dir = common::TempDir::new();
    for i in 0..3 {
        queue_one(&app, &format!("user{i}@example.org")).await;
    }
    // A worker claims the rows and dies before sending.
    let now = app.clock.now();
    let mut conn = app.state.store.pool().acquire().await.unwrap();
    assert_eq!(
        outbox::claim(
            &mut conn,
            app.state.store.backend(),
            "dead",
            now,
            now + LEASE_MS,
            10
        )
        .await
        .unwrap()
        .len(),
        3
    );
    drop(conn);
    let w = worker(&app, dir_transport(&app, &dir.0), 8, "alive");
    assert_eq!(w.run_once().await.unwrap(), 0, "leased rows are left alone");
    app.clock
        .advance(Duration::from_millis(LEASE_MS as u64 + 1));
    assert_eq!(w.run_once().await.unwrap(), 3);
    assert_eq!(w.run_once().await.unwrap(), 0);
    assert_eq!(
        std::fs::read_dir(&dir.0).unwrap().count(),
        3,
        "each mail written once"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM outbox WHERE status = 'sent'")
            .await,
        3
    );
}

async fn two_workers_never_send_the_same_row(_app: &TestApp) {
    let Some(app) = app_without_worker(_app.db).await else {
        return;
    };
    let dir = common::TempDir::new();
    for i in 0..30 {
        queue_one(&app, &format!("user{i}@example.org")).await;
    }
    let a = worker(&app, dir_transport(&app, &dir.0), 8, "a");
    let b = worker(&app, dir_transport(&app, &dir.0), 8, "b");
    let mut total = 0;
    loop {
        let (x, y) = tokio::join!(a.run_once(), b.run_once());
        let n = x.unwrap() + y.unwrap();
        if n == 0 {
            break;
        }
        total += n;
    }
    assert_eq!(total, 30);
    assert_eq!(std::fs::read_dir(&dir.0).unwrap().count(), 30);
}

/// The token of the newest reset mail for `email`, read from the delivered mail.
async fn latest_token(app: &TestApp, email: &str) -> String {
    let text = app.delivered_mail("password_reset", Some(email)).await.text;
    token_in(&text)
}

fn token_in(text: &str) -> String {
    let start = text.find("token=").expect("a reset link") + "token=".len();
    text[start..]
        .chars()
        .take_while(|c| c.is_ascii_hexdigit())
        .collect()
}

async fn forgot_password_answers_the_same_for_unknown_emails_and_sends_nothing(app: &TestApp) {
    let email = unique_email("known");
    let b = app.new_browser();
    app.sign_up(&b, &email, PASSWORD).await;
    let known = app.call(&b, "forgot_password", &[("email", &email)]).await;
    let (ks, kl) = (known.status(), known.headers().get("location").cloned());
    let unknown = app
        .call(&b, "forgot_password", &[("email", "nobody@example.org")])
        .await;
    assert_eq!(ks, unknown.status());
    assert_eq!(kl, unknown.headers().get("location").cloned());
    assert_eq!(kl.unwrap(), "/forgot-password?sent=1");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM outbox WHERE to_address = 'nobody@example.org'")
            .await,
        0
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM outbox WHERE kind = 'password_reset'")
            .await,
        1
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'password_reset.requested'")
            .await,
        2
    );
}

async fn reset(app: &TestApp, token: &str, password: &str) -> reqwest::Response {
    app.call(
        &app.new_browser(),
        "reset_password",
        &[
            ("token", token),
            ("password", password),
            ("password_confirm", password),
        ],
    )
    .await
}

async fn field_message(r: reqwest::Response) -> (String, String) {
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await.unwrap();
    (
        v["Field"]["field"].as_str().unwrap().into(),
        v["Field"]["message"].as_str().unwrap().into(),
    )
}

async fn only_the_newest_reset_link_works_and_only_once(app: &TestApp) {
    let email = unique_email("ada");
    let b = app.new_browser();
    app.sign_up(&b, &email, PASSWORD).await;
    app.call(&b, "forgot_password", &[("email", &email)]).await;
    let first = latest_token(app, &email).await;
    app.call(&b, "forgot_password", &[("email", &email)]).await;
    let second = latest_token(app, &email).await;
    assert_ne!(first, second);
    assert_eq!(first.len(), 64, "256-bit token");
    let (field, message) =
        field_message(reset(app, &first, "Fresh-Meadow-Copper-7741").await).await;
    assert_eq!(field, "token");
    assert!(message.contains("invalid or has already been used"));
    assert_eq!(
        reset(app, &second, "Fresh-Meadow-Copper-7741")
            .await
            .status(),
        200
    );
    let (field, _) = field_message(reset(app, &second, "Other-Meadow-Copper-7741").await).await;
    assert_eq!(field, "token", "a used link is refused");
    assert_eq!(
        app.sign_in(&b, &email, "Fresh-Meadow-Copper-7741")
            .await
            .status(),
        200
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'password_reset.link_invalid'")
            .await,
        2
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM password_resets WHERE token_hash = '' OR length(token_hash) <> 64").await, 0);
}

async fn an_expired_reset_link_is_refused(app: &TestApp) {
    let email = unique_email("ada");
    let b = app.new_browser();
    app.sign_up(&b, &email, PASSWORD).await;
    app.call(&b, "forgot_password", &[("email", &email)]).await;
    let token = latest_token(app, &email).await;
    app.clock.advance(Duration::from_secs(31 * 60));
    let state: Value = app
        .call(&b, "reset_link_state", &[("token", &token)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(state, "Expired");
    let (field, message) =
        field_message(reset(app, &token, "Fresh-Meadow-Copper-7741").await).await;
    assert_eq!(field, "token");
    assert!(message.contains("expired"));
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'password_reset.link_expired'")
            .await,
        1
    );
    assert_eq!(
        app.sign_in(&b, &email, PASSWORD).await.status(),
        200,
        "the old password still works"
    );
}

async fn a_reset_applies_the_policy_refuses_the_current_password_and_signs_out_everywhere(
    app: &TestApp,
) {
    let email = unique_email("ada");
    let laptop = app.new_browser();
    app.sign_up(&laptop, &email, PASSWORD).await;
    assert_eq!(app.sign_in(&laptop, &email, PASSWORD).await.status(), 200);
    let phone = app.new_browser();
    assert_eq!(app.sign_in(&phone, &email, PASSWORD).await.status(), 200);
    app.call(&laptop, "forgot_password", &[("email", &email)])
        .await;
    let token = latest_token(app, &email).await;
    let (f, _) = field_message(reset(app, &token, "password1234").await).await;
    assert_eq!(f, "password");
    let (f, m) = field_message(reset(app, &token, PASSWORD).await).await;
    assert_eq!(
        (f.as_str(), m.as_str()),
        (
            "password",
            "Choose a password different from your current one."
        )
    );
    let mismatch = app
        .call(
            &laptop,
            "reset_password",
            &[
                ("token", &token),
                ("password", "Fresh-Meadow-Copper-7741"),
                ("password_confirm", "other"),
            ],
        )
        .await;
    assert_eq!(field_message(mismatch).await.0, "password_confirm");
    let ok = reset(app, &token, "Fresh-Meadow-Copper-7741").await;
    assert_eq!(ok.status(), 200);
    assert_eq!(
        ok.headers()["location"],
        "/sign-in?reset=1",
        "not signed in automatically"
    );
    for browser in [&laptop, &phone] {
        let who: Value = app.call(browser, "whoami", &[]).await.json().await.unwrap();
        assert_eq!(who, Value::Null, "every session ended");
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM sessions WHERE end_reason = 'password_changed'")
            .await,
        2
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM outbox WHERE kind = 'password_changed'")
            .await,
        1
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'password_reset.completed'")
            .await,
        1
    );
    assert_eq!(app.sign_in(&laptop, &email, PASSWORD).await.status(), 401);
    assert_eq!(
        app.sign_in(&laptop, &email, "Fresh-Meadow-Copper-7741")
            .await
            .status(),
        200
    );
}

async fn the_forgot_password_flow_works_through_a_real_smtp_server(_app: &TestApp) {
    let Some(port) = sink_smtp_port() else { return };
    let Some(app) = TestApp::spawn_with(_app.db, |c| c.smtp = Some(smtp_config(port))).await else {
        return;
    };
    let email = unique_email("smtp");
    let b = app.new_browser();
    app.sign_up(&b, &email, PASSWORD).await;
    app.call(&b, "forgot_password", &[("email", &email)]).await;
    let mails = sink_mails(&email, 1).await;
    assert_eq!(mails.len(), 1, "the reset mail arrived through SMTP");
    let text = mails[0]["text"].as_str().unwrap();
    assert!(mails[0]["subject"]
        .as_str()
        .unwrap()
        .contains("Reset your Keywarden password"));
    assert!(text.contains(&format!(
        "{}/reset-password?token=",
        app.state.config.base_url.as_str().trim_end_matches('/')
    )));
    let token = token_in(text);
    let page = b
        .get(app.url(&format!("/reset-password?token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");
    assert!(page.text().await.unwrap().contains("Set new password"));
    assert_eq!(
        reset(&app, &token, "Fresh-Meadow-Copper-7741")
            .await
            .status(),
        200
    );
    let changed = sink_mails(&email, 2).await;
    assert!(changed.iter().any(|m| m["subject"]
        .as_str()
        .unwrap()
        .contains("password was changed")));
    assert_eq!(
        app.sign_in(&b, &email, "Fresh-Meadow-Copper-7741")
            .await
            .status(),
        200
    );
}

async fn reset_requests_are_rate_limited_per_account(app: &TestApp) {
    let email = unique_email("ada");
    let b = app.new_browser();
    app.sign_up(&b, &email, PASSWORD).await;
    for _ in 0..5 {
        let r = app.call(&b, "forgot_password", &[("email", &email)]).await;
        assert_eq!(r.status(), 200, "the answer never changes");
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM password_resets").await, 3);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'password_reset.rate_limited'")
            .await,
        2
    );
    app.clock.advance(Duration::from_secs(16 * 60));
    app.call(&b, "forgot_password", &[("email", &email)]).await;
    assert_eq!(app.count("SELECT COUNT(*) FROM password_resets").await, 4);
}
