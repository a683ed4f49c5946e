//! The Applications admin page's server functions: only administrators change applications, a
//! bad field changes nothing and names the field, and every change lands in the audit trail. On
//! SQLite and PostgreSQL.

mod common;

use common::TestApp;
use serde_json::Value;

on_both_databases!(
    a_member_cannot_add_an_application,
    a_bad_host_is_refused_with_its_field_and_changes_nothing,
    an_admin_adds_changes_and_removes_an_application_and_each_is_audited,
    a_host_already_in_use_is_refused_with_its_field,
);

async fn audited(app: &TestApp, action: &str) -> i64 {
    app.count(&format!(
        "SELECT COUNT(*) FROM audit_log WHERE action = '{action}'"
    ))
    .await
}

async fn applications(app: &TestApp) -> i64 {
    app.count("SELECT COUNT(*) FROM applications").await
}

/// The form as the page sends it: checked roles as `roles[]`, `enabled` only when ticked.
async fn save(
    app: &TestApp,
    browser: &reqwest::Client,
    id: Option<&str>,
    name: &str,
    host: &str,
    roles: &[&str],
    enabled: bool,
) -> reqwest::Response {
    let mut form = vec![("name", name), ("host", host)];
    form.extend(id.map(|id| ("id", id)));
    form.extend(roles.iter().map(|r| ("roles[]", *r)));
    if enabled {
        form.push(("enabled", "true"));
    }
    app.call(browser, "admin_save_application", &form).await
}

async fn field_of(r: reqwest::Response) -> String {
    let v: Value = r.json().await.unwrap();
    v["Field"]["field"].as_str().unwrap_or_default().to_owned()
}

async fn a_member_cannot_add_an_application(app: &TestApp) {
    let member = app.member("ada@example.org").await;
    let r = save(
        app,
        &member,
        None,
        "Wiki",
        "wiki.example.org",
        &["member"],
        true,
    )
    .await;
    assert_eq!(r.status(), 403);
    let r = app.call(&member, "admin_list_applications", &[]).await;
    assert_eq!(r.status(), 403);
    assert_eq!(applications(app).await, 0);
    assert_eq!(audited(app, "application.created").await, 0);
}

async fn a_bad_host_is_refused_with_its_field_and_changes_nothing(app: &TestApp) {
    let admin = app.admin("admin@example.org").await;
    let r = save(
        app,
        &admin,
        None,
        "Wiki",
        "http://wiki.example.org",
        &["member"],
        true,
    )
    .await;
    assert_eq!(r.status(), 422);
    assert_eq!(field_of(r).await, "host");
    // No role ticked names the roles.
    let r = save(app, &admin, None, "Wiki", "wiki.example.org", &[], true).await;
    assert_eq!(r.status(), 422);
    assert_eq!(field_of(r).await, "roles");
    assert_eq!(applications(app).await, 0);
    assert_eq!(audited(app, "application.created").await, 0);

    // Nor does a bad edit change the application it names.
    let r = save(
        app,
        &admin,
        None,
        "Wiki",
        "wiki.example.org",
        &["admin"],
        true,
    )
    .await;
    assert_eq!(r.status(), 200);
    let id = app.count("SELECT id FROM applications").await.to_string();
    let r = save(app, &admin, Some(&id), "Wiki", "*.com", &["admin"], false).await;
    assert_eq!(r.status(), 422);
    assert_eq!(field_of(r).await, "host");
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM applications WHERE host = 'wiki.example.org' AND enabled = 1"
        )
        .await,
        1
    );
    assert_eq!(audited(app, "application.updated").await, 0);
}

async fn an_admin_adds_changes_and_removes_an_application_and_each_is_audited(app: &TestApp) {
    let admin = app.admin("admin@example.org").await;
    let r = save(
        app,
        &admin,
        None,
        " Wiki ",
        "Wiki.Example.org",
        &["member", "admin"],
        true,
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(applications(app).await, 1);
    assert_eq!(audited(app, "application.created").await, 1);

    let r = app.call(&admin, "admin_list_applications", &[]).await;
    assert_eq!(r.status(), 200);
    let list: Value = r.json().await.unwrap();
    let wiki = &list[0];
    assert_eq!(wiki["name"], "Wiki");
    assert_eq!(wiki["host"], "wiki.example.org");
    assert_eq!(wiki["roles"], serde_json::json!(["admin", "member"]));
    assert_eq!(wiki["enabled"], true);
    assert_eq!(wiki["last_access"], Value::Null);
    assert_eq!(wiki["sessions_24h"], 0);
    let id = wiki["id"].as_i64().unwrap().to_string();

    // Disabled (the toggle sends the whole application without `enabled`), for admins only.
    let r = save(
        app,
        &admin,
        Some(&id),
        "Wiki",
        "*.example.org",
        &["admin"],
        false,
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM applications WHERE host = '*.example.org' \
             AND allowed_roles = 'admin' AND enabled = 0"
        )
        .await,
        1
    );
    assert_eq!(audited(app, "application.updated").await, 1);

    let r = app
        .call(&admin, "admin_delete_application", &[("id", id.as_str())])
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(applications(app).await, 0);
    assert_eq!(audited(app, "application.deleted").await, 1);

    // Gone means gone: removing it again names no application and records nothing.
    let r = app
        .call(&admin, "admin_delete_application", &[("id", id.as_str())])
        .await;
    assert_eq!(r.status(), 422);
    assert_eq!(audited(app, "application.deleted").await, 1);
}

async fn a_host_already_in_use_is_refused_with_its_field(app: &TestApp) {
    let admin = app.admin("admin@example.org").await;
    let first = save(
        app,
        &admin,
        None,
        "Wiki",
        "wiki.example.org",
        &["admin"],
        true,
    )
    .await;
    assert_eq!(first.status(), 200);
    let again = save(
        app,
        &admin,
        None,
        "Other",
        "wiki.example.org",
        &["member"],
        true,
    )
    .await;
    assert_eq!(again.status(), 422);
    assert_eq!(field_of(again).await, "host");
    assert_eq!(applications(app).await, 1);
    assert_eq!(audited(app, "application.created").await, 1);
}
