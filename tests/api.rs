//! The management API (/api/v1) on SQLite and PostgreSQL: keys (bearer only, scoped, expiring,
//! revocable), every operation's happy path and scope refusal, idempotent retries, bulk actions
//! on everyone, a filter and a list, and malformed input answered with problem documents that
//! change nothing.

mod common;

use std::time::{Duration, Instant};

use common::{TestApp, PASSWORD};
use keywarden::domain::{Actor, RequestMeta};
use keywarden::features::api_keys::service::{self as keys, NewKey};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

on_both_databases!(
    v8_3_1_api_keys_are_bearer_only_expire_and_are_revoked_at_once,
    v8_2_1_each_operation_refuses_a_key_without_its_scope,
    every_operation_answers_its_happy_path,
    a_retried_post_with_the_same_idempotency_key_acts_once,
    bulk_actions_take_everyone_a_filter_or_a_list,
    v2_2_1_malformed_input_is_a_problem_document_and_changes_nothing,
    dense_and_sparse_filters_page_alike,
    every_read_is_counted_in_the_audit_trail_by_key,
);

const ALL_SCOPES: &str = "users:read,users:write,sessions:read,sessions:write,incident:read,\
                          incident:write,audit:read,settings:read,settings:write,outbox:read";

/// A key made through the service (actor CLI), returned with its secret.
async fn key(app: &TestApp, name: &str, scopes: &str) -> String {
    keys::create(
        &app.state,
        &Actor::cli("test"),
        &NewKey {
            name,
            scopes,
            lifetime_ms: 30 * 86_400_000,
        },
        &RequestMeta::default(),
    )
    .await
    .expect("create key")
    .secret
}

/// A plain HTTP client: no cookie jar, nothing but what each call adds.
fn plain() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn call(
    app: &TestApp,
    key: Option<&str>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut req = plain().request(method, app.url(path));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.expect("API request");
    let (status, headers) = (res.status(), res.headers().clone());
    let text = res.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, headers, json)
}

fn problem_type(body: &Value) -> &str {
    body["type"].as_str().unwrap_or("")
}

fn assert_problem(
    (status, headers, body): &(StatusCode, reqwest::header::HeaderMap, Value),
    want: StatusCode,
    kind: &str,
) {
    assert_eq!(*status, want, "{body}");
    assert_eq!(
        headers["content-type"], "application/problem+json",
        "{body}"
    );
    assert_eq!(
        problem_type(body),
        format!("/api/docs#problem-{kind}"),
        "{body}"
    );
    assert_eq!(body["status"], want.as_u16(), "{body}");
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
}

async fn v8_3_1_api_keys_are_bearer_only_expire_and_are_revoked_at_once(app: &TestApp) {
    app.member("ada@example.org").await;
    // Created by the CLI: the secret alone on standard output, once.
    let out = app
        .cli(
            &[
                "api-key",
                "create",
                "--name",
                "soar",
                "--scopes",
                "users:read,audit:read",
                "--expires-in",
                "30d",
            ],
            None,
        )
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let secret = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(
        secret.starts_with("kw_live_") && secret.len() == 8 + 64,
        "{secret}"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM api_keys WHERE key_hash LIKE 'kw_%'")
            .await,
        0,
        "only a hash is stored"
    );
    // Bad input to the CLI: one line, non-zero, nothing stored.
    for args in [
        vec![
            "api-key",
            "create",
            "--name",
            "x",
            "--scopes",
            "users:admin",
            "--expires-in",
            "1d",
        ],
        vec![
            "api-key",
            "create",
            "--name",
            "x",
            "--scopes",
            "users:read",
            "--expires-in",
            "400d",
        ],
        vec![
            "api-key",
            "create",
            "--name",
            "soar",
            "--scopes",
            "users:read",
            "--expires-in",
            "1d",
        ],
        vec!["api-key", "revoke", "nobody"],
    ] {
        let out = app.cli(&args, None).await;
        assert!(!out.status.success(), "{args:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr).trim().lines().count(),
            1
        );
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM api_keys").await, 1);

    let ok = call(app, Some(&secret), Method::GET, "/api/v1/users", None).await;
    assert_eq!(ok.0, StatusCode::OK, "{}", ok.2);
    assert_eq!(ok.2["users"][0]["email"], "ada@example.org");
    for name in ["ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"] {
        assert!(ok.1.contains_key(name), "{name} missing");
    }
    // Used: the list says when and from where; never the secret.
    let list = app.cli(&["api-key", "list"], None).await;
    let listed = String::from_utf8_lossy(&list.stdout).to_string();
    assert!(
        listed.contains("soar") && listed.contains("Active"),
        "{listed}"
    );
    assert!(!listed.contains(&secret[8..]), "the secret is never listed");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM api_keys WHERE last_used_at IS NOT NULL")
            .await,
        1
    );

    // No key, a malformed one, a key in the URL, or a signed-in admin's cookie: refused.
    assert_problem(
        &call(app, None, Method::GET, "/api/v1/users", None).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    );
    assert_problem(
        &call(
            app,
            Some("kw_live_nope"),
            Method::GET,
            "/api/v1/users",
            None,
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "invalid-key",
    );
    assert_problem(
        &call(
            app,
            None,
            Method::GET,
            &format!("/api/v1/users?api_key={secret}"),
            None,
        )
        .await,
        StatusCode::BAD_REQUEST,
        "malformed-request",
    );
    let admin = app.admin("root@example.org").await;
    let res = admin.get(app.url("/api/v1/users")).send().await.unwrap();
    assert_eq!(
        res.status(),
        StatusCode::UNAUTHORIZED,
        "cookies are not credentials here"
    );

    // Revoked by the CLI: the very next call is refused.
    let out = app.cli(&["api-key", "revoke", "soar"], None).await;
    assert!(out.status.success());
    let revoked = call(app, Some(&secret), Method::GET, "/api/v1/users", None).await;
    assert_problem(&revoked, StatusCode::UNAUTHORIZED, "invalid-key");
    assert!(revoked.2["detail"].as_str().unwrap().contains("revoked"));

    // Expired: past its lifetime the key is refused.
    let short = key(app, "short", "users:read").await;
    assert_eq!(
        call(app, Some(&short), Method::GET, "/api/v1/users", None)
            .await
            .0,
        StatusCode::OK
    );
    app.clock.advance(Duration::from_secs(31 * 86_400));
    let expired = call(app, Some(&short), Method::GET, "/api/v1/users", None).await;
    assert_problem(&expired, StatusCode::UNAUTHORIZED, "invalid-key");
    assert!(expired.2["detail"].as_str().unwrap().contains("expired"));

    // Creating and revoking are in the audit trail with their actor; every API write too.
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM audit_log WHERE action IN ('api_key.created', 'api_key.revoked')"
        )
        .await,
        3
    );
}

/// Every operation in the OpenAPI document, with a key lacking its scope: 403 naming the scope,
/// before any input is read; without a key: 401.
async fn v8_2_1_each_operation_refuses_a_key_without_its_scope(app: &TestApp) {
    let (_, _, spec) = call(app, None, Method::GET, "/api/v1/openapi.json", None).await;
    assert_eq!(spec["openapi"].as_str().map(|v| &v[..3]), Some("3.1"));
    let paths = spec["paths"].as_object().expect("paths");
    assert!(paths.len() >= 20, "{} paths", paths.len());
    let outbox_only = key(app, "outbox-only", "outbox:read").await;
    let users_only = key(app, "users-only", "users:read").await;
    let mut checked = 0;
    let mut operation_ids = std::collections::HashSet::new();
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap_or_default();
            assert!(
                operation_ids.insert(id.to_owned()),
                "operationId {id} twice"
            );
            let scope = op["security"][0]["api_key"][0]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} documents no scope"));
            let concrete = path
                .replace("{id}", "1")
                .replace("{reference}", "KW-2026-0001")
                .replace("{cohort}", "1")
                .replace("{session}", "abc");
            let method: Method = method.to_uppercase().parse().unwrap();
            let wrong = if scope == "outbox:read" {
                &users_only
            } else {
                &outbox_only
            };
            let refused = call(app, Some(wrong), method.clone(), &concrete, Some(json!({}))).await;
            assert_problem(&refused, StatusCode::FORBIDDEN, "insufficient-scope");
            assert_eq!(refused.2["scope"], scope, "{method} {path}");
            let anonymous = call(app, None, method.clone(), &concrete, Some(json!({}))).await;
            assert_eq!(anonymous.0, StatusCode::UNAUTHORIZED, "{method} {path}");
            // Every problem it can answer is documented.
            for code in ["401", "403", "422", "429"] {
                assert!(
                    op["responses"][code].is_object(),
                    "{method} {path} lacks {code}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 28, "{checked} operations");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM users").await,
        0,
        "nothing changed"
    );
    // The reference page lists the operations and the problems.
    let page = plain().get(app.url("/api/docs")).send().await.unwrap();
    let html = page.text().await.unwrap();
    assert!(html.contains("/api/v1/users/actions") && html.contains("problem-insufficient-scope"));
}

async fn wait_cohort(app: &TestApp, key: &str, job: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, _, body) = call(app, Some(key), Method::GET, job, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if body["state"] != "running" {
            return body;
        }
        assert!(Instant::now() < deadline, "job did not finish: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn every_operation_answers_its_happy_path(app: &TestApp) {
    let k = key(app, "everything", ALL_SCOPES).await;
    let k = Some(k.as_str());
    let ada = app.member("ada@example.org").await;
    app.member("bob@example.org").await;

    // Users: create, list (filters, cursor), get, role, disable, enable.
    let (status, headers, created) = call(
        app,
        k,
        Method::POST,
        "/api/v1/users",
        Some(json!({"email": "cy@example.org", "password": PASSWORD, "role": "member"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert!(
        !headers.contains_key("idempotent-replayed"),
        "no Idempotency-Key: nothing kept"
    );
    let cy = created["id"].as_i64().unwrap();
    let (_, _, page) = call(app, k, Method::GET, "/api/v1/users?limit=2", None).await;
    assert_eq!(page["users"].as_array().unwrap().len(), 2);
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let (_, _, next) = call(
        app,
        k,
        Method::GET,
        &format!("/api/v1/users?limit=2&cursor={cursor}"),
        None,
    )
    .await;
    assert_eq!(next["users"][0]["email"], "cy@example.org");
    assert!(next["next_cursor"].is_null());
    let (_, _, found) = call(
        app,
        k,
        Method::GET,
        "/api/v1/users?q=bo&role=member&status=active",
        None,
    )
    .await;
    assert_eq!(found["users"].as_array().unwrap().len(), 1);
    assert_eq!(found["users"][0]["email"], "bob@example.org");
    let (status, _, one) = call(app, k, Method::GET, &format!("/api/v1/users/{cy}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["role"], "member");
    let (status, _, _) = call(
        app,
        k,
        Method::POST,
        &format!("/api/v1/users/{cy}/role"),
        Some(json!({"role": "admin"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM users WHERE id = {cy} AND role = 'admin'"
        ))
        .await,
        1
    );
    // The last enabled administrator stays one.
    let last = call(
        app,
        k,
        Method::POST,
        &format!("/api/v1/users/{cy}/role"),
        Some(json!({"role": "member"})),
    )
    .await;
    assert_problem(&last, StatusCode::UNPROCESSABLE_ENTITY, "validation");
    let last = call(
        app,
        k,
        Method::POST,
        &format!("/api/v1/users/{cy}/disable"),
        None,
    )
    .await;
    assert_problem(&last, StatusCode::UNPROCESSABLE_ENTITY, "validation");
    let bob_id = app.user_id("bob@example.org").await;
    let disable = format!("/api/v1/users/{bob_id}/disable");
    assert_eq!(
        call(app, k, Method::POST, &disable, None).await.0,
        StatusCode::OK
    );
    let (_, _, disabled) = call(app, k, Method::GET, "/api/v1/users?status=disabled", None).await;
    assert_eq!(disabled["users"][0]["id"], bob_id);
    let enable = format!("/api/v1/users/{bob_id}/enable");
    assert_eq!(
        call(app, k, Method::POST, &enable, None).await.0,
        StatusCode::OK
    );
    // A method the path does not have: 405 with Allow.
    let wrong = call(
        app,
        k,
        Method::PATCH,
        &format!("/api/v1/users/{bob_id}"),
        None,
    )
    .await;
    assert_problem(&wrong, StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed");
    assert_eq!(wrong.1["allow"], "GET");
    assert_problem(
        &call(app, k, Method::GET, "/api/v1/users/999999", None).await,
        StatusCode::NOT_FOUND,
        "not-found",
    );

    // Sessions: list, end one, end all.
    let ada_id = app.user_id("ada@example.org").await;
    let (_, _, sessions) = call(
        app,
        k,
        Method::GET,
        &format!("/api/v1/users/{ada_id}/sessions"),
        None,
    )
    .await;
    let live = sessions["live"].as_array().unwrap();
    assert_eq!(live.len(), 1, "{sessions}");
    let session = live[0]["key"].as_str().unwrap().to_owned();
    let (status, _, _) = call(
        app,
        k,
        Method::DELETE,
        &format!("/api/v1/users/{ada_id}/sessions/{session}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(app.whoami(&ada).await.is_null(), "ada's session ended");
    let again = call(
        app,
        k,
        Method::DELETE,
        &format!("/api/v1/users/{ada_id}/sessions/{session}"),
        None,
    )
    .await;
    assert_problem(&again, StatusCode::UNPROCESSABLE_ENTITY, "validation");
    let bob = app.new_browser();
    app.sign_in(&bob, "bob@example.org", PASSWORD).await;
    assert_eq!(
        call(
            app,
            k,
            Method::DELETE,
            &format!("/api/v1/users/{bob_id}/sessions"),
            None
        )
        .await
        .0,
        StatusCode::OK
    );
    assert!(app.whoami(&bob).await.is_null(), "bob signed out");

    // Passwords: compromise, reset e-mail.
    let (status, _, _) = call(
        app,
        k,
        Method::POST,
        &format!("/api/v1/users/{bob_id}/password/compromise"),
        Some(json!({"reason": "found in a dump", "sign_out": true})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, _, bob_now) = call(
        app,
        k,
        Method::GET,
        &format!("/api/v1/users/{bob_id}"),
        None,
    )
    .await;
    assert_eq!(bob_now["password_compromised"], true);
    assert_eq!(
        call(
            app,
            k,
            Method::POST,
            &format!("/api/v1/users/{bob_id}/password/reset-email"),
            None
        )
        .await
        .0,
        StatusCode::OK
    );
    let (_, _, outbox) = call(app, k, Method::GET, "/api/v1/outbox", None).await;
    assert!(
        outbox["queued"].as_i64().unwrap() + outbox["sent"].as_i64().unwrap() >= 1,
        "{outbox}"
    );

    // Settings: read, replace; bad values change nothing.
    let (_, _, settings) = call(app, k, Method::GET, "/api/v1/settings/security", None).await;
    assert_eq!(settings["password_min_length"], 12);
    let new = json!({"reset_task_enabled": true, "password_min_length": 14,
                     "session_idle_timeout_minutes": 20, "session_absolute_lifetime_hours": 8});
    let (status, _, saved) =
        call(app, k, Method::PUT, "/api/v1/settings/security", Some(new)).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["password_min_length"], 14);
    let bad = json!({"reset_task_enabled": true, "password_min_length": 3,
                     "session_idle_timeout_minutes": 20, "session_absolute_lifetime_hours": 8});
    let refused = call(app, k, Method::PUT, "/api/v1/settings/security", Some(bad)).await;
    assert_problem(&refused, StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert_eq!(refused.2["errors"][0]["field"], "password_min_length");

    // Incidents: open, read, preview, apply, progress, close.
    let (status, headers, incident) = call(app, k, Method::POST, "/api/v1/incidents",
        Some(json!({"title": "Phished accounts", "severity": "high", "notice": "Reset your password."}))).await;
    assert_eq!(status, StatusCode::CREATED, "{incident}");
    let reference = incident["reference"].as_str().unwrap().to_owned();
    assert_eq!(
        headers["location"],
        format!("/api/v1/incidents/{reference}")
    );
    let (_, _, preview) = call(
        app,
        k,
        Method::POST,
        &format!("/api/v1/incidents/{reference}/cohorts/preview"),
        Some(json!({"emails": ["ada@example.org", "nobody@example.org"], "ids": [999999]})),
    )
    .await;
    assert_eq!(preview["count"], 1, "{preview}");
    assert_eq!(preview["unknown_emails"], json!(["nobody@example.org"]));
    assert_eq!(preview["unknown_ids"], json!([999999]));
    let (status, headers, accepted) = call(
        app,
        k,
        Method::POST,
        &format!("/api/v1/incidents/{reference}/cohorts"),
        Some(
            json!({"criteria": {"emails": ["ada@example.org"]}, "compromise": true, "notify": true,
                    "reason": "phished"}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let job = accepted["job"].as_str().unwrap().to_owned();
    assert_eq!(headers["location"], job.as_str());
    let done = wait_cohort(app, k.unwrap(), &job).await;
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(done["contained"], 1);
    let (_, _, detail) = call(
        app,
        k,
        Method::GET,
        &format!("/api/v1/incidents/{reference}"),
        None,
    )
    .await;
    assert_eq!(detail["cohorts"].as_array().unwrap().len(), 1);
    let (_, _, list) = call(app, k, Method::GET, "/api/v1/incidents", None).await;
    assert_eq!(list["incidents"][0]["reference"], reference.as_str());
    let cancel = call(app, k, Method::POST, &format!("{job}/cancel"), None).await;
    assert_problem(&cancel, StatusCode::UNPROCESSABLE_ENTITY, "validation");
    let (status, _, closed) = call(
        app,
        k,
        Method::POST,
        &format!("/api/v1/incidents/{reference}/close"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(closed["state"], "closed");
    assert_problem(
        &call(app, k, Method::GET, "/api/v1/incidents/KW-2026-0999", None).await,
        StatusCode::NOT_FOUND,
        "not-found",
    );

    // Instance-wide: O(1) answers with the watermark.
    let (status, _, all) = call(
        app,
        k,
        Method::POST,
        "/api/v1/instance/compromise-passwords",
        Some(json!({"reason": "breach", "sign_out": false})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert!(all["at"].as_i64().unwrap() > 0);
    let (status, _, _) = call(
        app,
        k,
        Method::POST,
        "/api/v1/instance/sign-out-everyone",
        Some(json!({"reason": "breach"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // Audit: every write above is there with the key's name; list, verify, export.
    let (_, _, entries) = call(
        app,
        k,
        Method::GET,
        "/api/v1/audit?actor=everything&limit=200",
        None,
    )
    .await;
    let actions: Vec<&str> = entries["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for wanted in [
        "user.created",
        "user.role_changed",
        "user.disabled",
        "user.enabled",
        "session.revoked",
        "user.sessions_revoked",
        "user.password_compromised",
        "password_reset.sent_by_admin",
        "settings.security_updated",
        "incident.opened",
        "incident.cohort_applied",
        "incident.closed",
        "instance.passwords_compromised",
        "instance.sessions_revoked",
    ] {
        assert!(
            actions.contains(&wanted),
            "{wanted} missing from {actions:?}"
        );
    }
    assert!(entries["entries"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["actor_kind"] == "api_key"));
    let (_, _, verified) = call(app, k, Method::GET, "/api/v1/audit/verify", None).await;
    assert_eq!(verified["intact"], true, "{verified}");
    let export = plain()
        .get(app.url("/api/v1/audit/export?action=incident."))
        .bearer_auth(k.unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(export.status(), StatusCode::OK);
    assert!(export.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/x-ndjson"));
    let text = export.text().await.unwrap();
    assert!(
        text.lines().count() >= 3
            && text
                .lines()
                .all(|l| serde_json::from_str::<Value>(l).is_ok()),
        "{text}"
    );
}

async fn a_retried_post_with_the_same_idempotency_key_acts_once(app: &TestApp) {
    let k = key(app, "retry", "users:write,incident:write").await;
    let post = |idem: &str, email: &str| {
        plain()
            .post(app.url("/api/v1/users"))
            .bearer_auth(&k)
            .header("Idempotency-Key", idem)
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
    };
    let first = post("create-dee-1", "dee@example.org").await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    assert_eq!(first.headers()["idempotent-replayed"], "false");
    let first_body: Value = first.json().await.unwrap();
    let retry = post("create-dee-1", "dee@example.org").await.unwrap();
    assert_eq!(
        retry.status(),
        StatusCode::CREATED,
        "the first answer again"
    );
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    assert_eq!(retry.json::<Value>().await.unwrap(), first_body);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM users").await,
        1,
        "created once"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'user.created'")
            .await,
        1
    );
    // The same key with another request is refused, and acts not.
    let other = post("create-dee-1", "eve@example.org").await.unwrap();
    assert_eq!(other.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = other.json().await.unwrap();
    assert_eq!(
        problem_type(&body),
        "/api/docs#problem-idempotency-key-reused"
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 1);
    // A refused first call keeps its refusal: the retry does not act either.
    let bad = plain()
        .post(app.url("/api/v1/users"))
        .bearer_auth(&k)
        .header("Idempotency-Key", "bad-1")
        .json(&json!({"email": "fay@example.org", "password": "short"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // An O(1) instance action retried: one watermark, one audit entry.
    for _ in 0..2 {
        let res = plain()
            .post(app.url("/api/v1/instance/sign-out-everyone"))
            .bearer_auth(&k)
            .header("Idempotency-Key", "sign-out-2026-12-07")
            .json(&json!({"reason": "breach"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'instance.sessions_revoked'")
            .await,
        1
    );
    // Keys are per API key: another key's same Idempotency-Key is its own.
    let k2 = key(app, "retry-2", "incident:write").await;
    let res = plain()
        .post(app.url("/api/v1/instance/sign-out-everyone"))
        .bearer_auth(&k2)
        .header("Idempotency-Key", "sign-out-2026-12-07")
        .json(&json!({"reason": "breach"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["idempotent-replayed"], "false");
}

async fn bulk_actions_take_everyone_a_filter_or_a_list(app: &TestApp) {
    let k = key(app, "bulk", "incident:write,incident:read,users:read").await;
    let k = Some(k.as_str());
    let ada = app.member("ada@example.org").await;
    let bob = app.member("bob@example.org").await;
    app.admin("root@example.org").await;

    // A list needs an incident; strict refuses unknown entries and freezes nothing.
    let no_incident = call(
        app,
        k,
        Method::POST,
        "/api/v1/users/actions",
        Some(
            json!({"action": "sign_out", "target": {"emails": ["ada@example.org"]}, "reason": "x"}),
        ),
    )
    .await;
    assert_problem(&no_incident, StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert_eq!(no_incident.2["errors"][0]["field"], "incident");
    let (_, _, incident) = call(
        app,
        k,
        Method::POST,
        "/api/v1/incidents",
        Some(json!({"title": "Stuffing"})),
    )
    .await;
    let reference = incident["reference"].as_str().unwrap().to_owned();
    let strict = call(app, k, Method::POST, "/api/v1/users/actions",
        Some(json!({"action": "sign_out", "incident": reference, "strict": true, "reason": "stuffing",
                    "target": {"emails": ["ada@example.org", "ghost@example.org"]}}))).await;
    assert_problem(&strict, StatusCode::UNPROCESSABLE_ENTITY, "validation");
    assert!(strict.2["detail"]
        .as_str()
        .unwrap()
        .contains("ghost@example.org"));
    assert_eq!(app.count("SELECT COUNT(*) FROM incident_cohorts").await, 0);

    // A list of ids and e-mails, unknown ones reported: 202 and a job URL.
    let ada_id = app.user_id("ada@example.org").await;
    let (status, _, accepted) = call(
        app,
        k,
        Method::POST,
        "/api/v1/users/actions",
        Some(
            json!({"action": "compromise_and_sign_out", "incident": reference, "reason": "stuffing",
                    "target": {"ids": [ada_id, 424242], "emails": ["ghost@example.org"]}}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    assert_eq!(accepted["size"], 1);
    assert_eq!(accepted["unknown_ids"], json!([424242]));
    assert_eq!(accepted["unknown_emails"], json!(["ghost@example.org"]));
    let done = wait_cohort(app, k.unwrap(), accepted["job"].as_str().unwrap()).await;
    assert_eq!(done["contained"], 1, "{done}");
    assert!(app.whoami(&ada).await.is_null(), "ada signed out");
    assert!(!app.whoami(&bob).await.is_null(), "bob untouched");

    // A filter: every member (bob and ada), not the administrator.
    let (status, _, accepted) = call(
        app,
        k,
        Method::POST,
        "/api/v1/users/actions",
        Some(
            json!({"action": "sign_out", "incident": reference, "reason": "members",
                    "target": {"filter": {"role": "member"}}}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    assert_eq!(accepted["size"], 2);
    wait_cohort(app, k.unwrap(), accepted["job"].as_str().unwrap()).await;
    assert!(app.whoami(&bob).await.is_null(), "bob signed out");
    // A typo in a filter is refused, not ignored (which would widen the cohort).
    let typo = call(
        app,
        k,
        Method::POST,
        "/api/v1/users/actions",
        Some(
            json!({"action": "sign_out", "incident": reference, "reason": "x",
                    "target": {"filter": {"rol": "member"}}}),
        ),
    )
    .await;
    assert!(typo.0.is_client_error(), "{}", typo.2);
    assert_eq!(typo.1["content-type"], "application/problem+json");

    // "all": O(1), answered at once with the watermark, attached to the incident.
    let (status, _, all) = call(
        app,
        k,
        Method::POST,
        "/api/v1/users/actions",
        Some(
            json!({"action": "compromise_password", "target": "all", "reason": "dump",
                    "incident": reference}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert!(all["at"].as_i64().unwrap() > 0);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'instance.passwords_compromised' AND details LIKE '%\"incident\"%'").await,
        1
    );
    let notify_all = call(
        app,
        k,
        Method::POST,
        "/api/v1/users/actions",
        Some(json!({"action": "notify", "target": "all", "reason": "x"})),
    )
    .await;
    assert_problem(&notify_all, StatusCode::UNPROCESSABLE_ENTITY, "validation");
}

async fn v2_2_1_malformed_input_is_a_problem_document_and_changes_nothing(app: &TestApp) {
    let k = key(app, "fuzz", ALL_SCOPES).await;
    app.member("ada@example.org").await;
    let entries = app
        .count("SELECT COUNT(*) FROM audit_log WHERE action <> 'api_key.reads'")
        .await;
    let send = |body: &'static str, content_type: &'static str| {
        plain()
            .post(app.url("/api/v1/users"))
            .bearer_auth(&k)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    for (body, content_type, status, kind) in [
        ("{\"email\": ", "application/json", 400, "malformed-request"),
        (
            "{\"email\": \"x@example.org\", \"password\": \"p\", \"admin\": true}",
            "application/json",
            422,
            "validation",
        ),
        (
            "{\"email\": 5, \"password\": \"p\"}",
            "application/json",
            422,
            "validation",
        ),
        (
            "email=x",
            "application/x-www-form-urlencoded",
            415,
            "unsupported-media-type",
        ),
        (
            "{\"email\": \"x@example.org\", \"password\": \"p\", \"role\": \"root\"}",
            "application/json",
            422,
            "validation",
        ),
    ] {
        let res = send(body, content_type).await.unwrap();
        assert_eq!(res.status().as_u16(), status, "{body}");
        assert_eq!(res.headers()["content-type"], "application/problem+json");
        let doc: Value = res.json().await.unwrap();
        assert_eq!(
            problem_type(&doc),
            format!("/api/docs#problem-{kind}"),
            "{body}"
        );
    }
    // Oversized: 413 before anything is parsed.
    let huge = format!("{{\"email\": \"{}\"}}", "a".repeat(9 * 1024 * 1024));
    let res = plain()
        .post(app.url("/api/v1/users"))
        .bearer_auth(&k)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // Bad query parameters and paths.
    for path in [
        "/api/v1/users?limit=500",
        "/api/v1/users?status=sleeping",
        "/api/v1/users?cursor=abc",
        "/api/v1/users?colour=red",
        "/api/v1/users/not-a-number",
        "/api/v1/audit?from=yesterday",
    ] {
        let (status, headers, body) = call(app, Some(&k), Method::GET, path, None).await;
        assert!(status == 400 || status == 422, "{path}: {status} {body}");
        assert_eq!(
            headers["content-type"], "application/problem+json",
            "{path}"
        );
    }
    assert_problem(
        &call(app, Some(&k), Method::GET, "/api/v1/nothing-here", None).await,
        StatusCode::NOT_FOUND,
        "not-found",
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM users").await,
        1,
        "nothing created"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action <> 'api_key.reads'")
            .await,
        entries,
        "nothing recorded"
    );
}

/// Past 5 000 matches a filter is read in id order (the dense plan), below from its index (the
/// sparse plan): both give the same pages.
async fn dense_and_sparse_filters_page_alike(app: &TestApp) {
    let k = key(app, "lists", "users:read").await;
    {
        let mut conn = app.state.store.pool().acquire().await.unwrap();
        keywarden::storage::bench::seed(&mut conn, 60_000, app.state.now())
            .await
            .unwrap();
        keywarden::storage::bench::analyze(&mut conn, app.state.store.backend())
            .await
            .unwrap();
    }
    for (q, dense) in [("user5", true), ("user59999", false)] {
        let mut ids = Vec::new();
        let mut cursor = String::new();
        for _ in 0..3 {
            let path = format!("/api/v1/users?q={q}&limit=200&cursor={cursor}");
            let (status, _, page) = call(app, Some(&k), Method::GET, &path, None).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            for u in page["users"].as_array().unwrap() {
                assert!(u["email"].as_str().unwrap().starts_with(q), "{u}");
                ids.push(u["id"].as_i64().unwrap());
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = c.to_owned(),
                None => break,
            }
        }
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{q}: id order");
        if dense {
            assert_eq!(ids.len(), 600, "{q}: three full pages");
            // user5, user50..59, user500..599, user5000..5999: the first 600 in id order.
            assert_eq!(ids[..12], [5, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 500]);
        } else {
            assert_eq!(ids, vec![59_999], "{q}");
        }
    }
}

/// Writes are audit entries of their own; reads are counted per key and operation and written
/// as one entry per key (every minute, and when the node stops).
async fn every_read_is_counted_in_the_audit_trail_by_key(app: &TestApp) {
    let k = key(app, "reporting", "users:read,audit:read").await;
    for path in ["/api/v1/users", "/api/v1/users?limit=5", "/api/v1/audit"] {
        assert_eq!(
            call(app, Some(&k), Method::GET, path, None).await.0,
            StatusCode::OK
        );
    }
    // A refused call is not a read.
    let refused = call(app, Some(&k), Method::GET, "/api/v1/outbox", None).await;
    assert_eq!(refused.0, StatusCode::FORBIDDEN);
    assert_eq!(
        keywarden::features::api_keys::usage::flush(&app.state)
            .await
            .unwrap(),
        1
    );
    let (details,): (String,) = sqlx::query_as(
        "SELECT details FROM audit_log WHERE action = 'api_key.reads' AND actor_kind = 'api_key' \
         AND actor_label = 'reporting'",
    )
    .fetch_one(app.state.store.pool())
    .await
    .unwrap();
    let details: Value = serde_json::from_str(&details).unwrap();
    assert_eq!(details["calls"], 3, "{details}");
    assert_eq!(details["operations"]["GET /api/v1/users"], 2, "{details}");
    assert_eq!(details["operations"]["GET /api/v1/audit"], 1, "{details}");
    assert_eq!(details["from"], json!(["127.0.0.1"]));
    // Counted once: nothing is left to write.
    assert_eq!(
        keywarden::features::api_keys::usage::flush(&app.state)
            .await
            .unwrap(),
        0
    );
}
