//! The admin audit trail: filters, keyset pages, exports, and who may see them, on SQLite and
//! PostgreSQL. Entries come from real sign-ups and sign-ins through the HTTP API.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{TestApp, PASSWORD};
use keywarden::domain::{Actor, AuditAction, RequestMeta};
use keywarden::runtime::audit::{record, Event};
use serde_json::{json, Value};

on_both_databases!(
    filters_narrow_the_trail_by_action_actor_target_and_time,
    an_unknown_target_is_an_empty_result_and_a_bad_date_a_field_error,
    pages_follow_each_other_without_gaps_or_duplicates,
    a_member_is_refused_the_trail_and_its_exports,
    a_csv_export_has_a_header_quotes_every_field_and_defuses_formulas,
    a_json_lines_export_matches_the_filter_and_is_itself_audited,
    an_export_streams_every_entry_across_batches,
    the_chain_can_be_verified_from_the_page,
    the_page_renders_the_filtered_entries_with_export_links_that_keep_the_filters,
    a_head_advanced_for_an_entry_never_recorded_is_never_committed,
);

const ADMIN: &str = "root@example.org";
const ADA: &str = "ada@example.org";
const BOB: &str = "bob@example.org";

/// A failed sign-in from a fresh browser.
async fn fail_sign_in(app: &TestApp, email: &str) {
    let r = app
        .sign_in(&app.new_browser(), email, "Wrong-Password-123456")
        .await;
    assert_eq!(r.status(), 401);
}

/// Sign-ups, sign-ins and failures on one day, then more three days later. Returns the admin,
/// signed in again on the later day (the first session has expired by then).
async fn seed(app: &TestApp) -> reqwest::Client {
    app.admin(ADMIN).await;
    app.member(ADA).await;
    fail_sign_in(app, ADA).await;
    fail_sign_in(app, "nobody@example.org").await;
    app.clock.advance(Duration::from_secs(3 * 24 * 3600));
    app.member(BOB).await;
    app.sign_in(&app.new_browser(), ADA, PASSWORD).await;
    fail_sign_in(app, BOB).await;
    let admin = app.new_browser();
    assert_eq!(app.sign_in(&admin, ADMIN, PASSWORD).await.status(), 200);
    admin
}

async fn list(
    app: &TestApp,
    browser: &reqwest::Client,
    params: &[(&str, &str)],
) -> reqwest::Response {
    app.call(browser, "admin_list_audit", params).await
}

/// Every entry for these filters, following the `before` cursor; checks each page on the way.
async fn all_pages(app: &TestApp, admin: &reqwest::Client, params: &[(&str, &str)]) -> Vec<Value> {
    let mut entries = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let mut p: Vec<(&str, &str)> = params.to_vec();
        if let Some(b) = &before {
            p.push(("before", b));
        }
        let r = list(app, admin, &p).await;
        assert_eq!(r.status(), 200);
        let page: Value = r.json().await.unwrap();
        let batch = page["entries"].as_array().unwrap().clone();
        assert!(batch.len() <= 50, "a page holds at most 50 entries");
        entries.extend(batch);
        match page["next_before"].as_i64() {
            Some(b) => before = Some(b.to_string()),
            None => return entries,
        }
    }
}

fn seqs(entries: &[Value]) -> Vec<i64> {
    entries.iter().map(|e| e["seq"].as_i64().unwrap()).collect()
}

async fn db_seqs(app: &TestApp, sql: &str) -> Vec<i64> {
    let rows: Vec<(i64,)> = sqlx::query_as(sql)
        .fetch_all(app.state.store.pool())
        .await
        .unwrap();
    rows.into_iter().map(|(s,)| s).collect()
}

fn day_of(ms: i64) -> String {
    let d = time::OffsetDateTime::from_unix_timestamp(ms / 1000)
        .unwrap()
        .date();
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

async fn filters_narrow_the_trail_by_action_actor_target_and_time(app: &TestApp) {
    let admin = seed(app).await;
    let all = all_pages(app, &admin, &[]).await;
    assert_eq!(
        seqs(&all),
        db_seqs(app, "SELECT seq FROM audit_log ORDER BY seq DESC").await,
        "newest first, everything"
    );
    let first = &all[0];
    assert!(
        first["time"].as_str().unwrap().ends_with(" UTC")
            && first["time"].as_str().unwrap().len() == 23
    );

    // Action: exact, then a prefix.
    let failed = all_pages(app, &admin, &[("action", "auth.sign_in_failed")]).await;
    assert_eq!(failed.len(), 3);
    assert!(failed.iter().all(|e| e["action"] == "auth.sign_in_failed"));
    let exact = all_pages(app, &admin, &[("action", "auth.sign_in")]).await;
    assert!(
        !exact.is_empty() && exact.iter().all(|e| e["action"] == "auth.sign_in"),
        "exact match only"
    );
    let auth = all_pages(app, &admin, &[("action", "auth.")]).await;
    assert_eq!(
        auth.len(),
        db_seqs(app, "SELECT seq FROM audit_log WHERE action LIKE 'auth.%'")
            .await
            .len()
    );
    assert!(auth.len() >= failed.len() + exact.len());

    // Target by e-mail, however it is typed.
    let ada = app.user_id(ADA).await;
    let targeted = all_pages(app, &admin, &[("target", "  ADA@Example.org ")]).await;
    assert_eq!(
        seqs(&targeted),
        db_seqs(
            app,
            &format!("SELECT seq FROM audit_log WHERE target_user_id = {ada} ORDER BY seq DESC")
        )
        .await
    );
    assert!(targeted.iter().all(|e| e["target_email"] == ADA));
    assert!(targeted
        .iter()
        .any(|e| e["action"] == "auth.sign_in_failed" && e["actor_kind"] == "anonymous"));

    // Actor: a label in any case, or a kind.
    let by_ada = all_pages(app, &admin, &[("actor", "Ada@Example.ORG")]).await;
    assert!(!by_ada.is_empty() && by_ada.iter().all(|e| e["actor_label"] == ADA));
    let anonymous = all_pages(app, &admin, &[("actor", "anonymous")]).await;
    assert_eq!(anonymous.len(), 3);
    assert!(anonymous.iter().all(|e| e["actor_kind"] == "anonymous"));
    let cli = all_pages(app, &admin, &[("actor", "cli")]).await;
    assert!(
        cli.iter().any(|e| e["action"] == "user.created"),
        "the CLI created the admin"
    );

    // Time: whole UTC days, both ends inclusive; the second day is three days after the first.
    let later = day_of(app.clock.now());
    let later_start = app.clock.now() - app.clock.now().rem_euclid(86_400_000);
    let since = all_pages(app, &admin, &[("from", &later)]).await;
    let expected: Vec<i64> = all
        .iter()
        .filter(|e| e["at"].as_i64().unwrap() >= later_start)
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs(&since), expected);
    assert!(!since.is_empty() && since.len() < all.len());
    let earlier = day_of(later_start - 86_400_000);
    let until = all_pages(app, &admin, &[("to", &earlier)]).await;
    let expected: Vec<i64> = all
        .iter()
        .filter(|e| e["at"].as_i64().unwrap() < later_start)
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs(&until), expected);
    assert_eq!(since.len() + until.len(), all.len());
    let both = all_pages(
        app,
        &admin,
        &[("from", &later), ("to", &later), ("actor", "anonymous")],
    )
    .await;
    assert_eq!(
        both.len(),
        1,
        "filters combine: one failed sign-in on the later day"
    );
}

async fn an_unknown_target_is_an_empty_result_and_a_bad_date_a_field_error(app: &TestApp) {
    let admin = seed(app).await;
    let r = list(app, &admin, &[("target", "ghost@example.org")]).await;
    assert_eq!(r.status(), 200);
    let page: Value = r.json().await.unwrap();
    assert_eq!(page["entries"], json!([]));
    assert_eq!(page["next_before"], Value::Null);

    for (field, value) in [
        ("from", "2026-02-30"),
        ("to", "yesterday"),
        ("from", "2026-1-5"),
    ] {
        let r = list(app, &admin, &[(field, value)]).await;
        assert_eq!(r.status(), 422, "{field}={value}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["Field"]["field"], field);
    }
    let r = list(app, &admin, &[("from", "2026-03-02"), ("to", "2026-03-01")]).await;
    assert_eq!(r.status(), 422);
    assert_eq!(r.json::<Value>().await.unwrap()["Field"]["field"], "to");
    // Input is bound, not spliced into SQL.
    let r = list(
        app,
        &admin,
        &[("actor", "' OR 1=1 --"), ("action", "x' OR '1'='1.")],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["entries"], json!([]));
}

async fn pages_follow_each_other_without_gaps_or_duplicates(app: &TestApp) {
    let admin = app.admin(ADMIN).await;
    let ada = app.member(ADA).await;
    for i in 0..120 {
        let email = if i % 2 == 0 {
            ADA.to_owned()
        } else {
            format!("stranger{i}@example.org")
        };
        fail_sign_in(app, &email).await;
        if i % 8 == 6 {
            // Ada signs in after four failures, before the sign-in throttle would start.
            assert_eq!(app.sign_in(&ada, ADA, PASSWORD).await.status(), 200);
        }
        app.clock.advance(Duration::from_secs(7));
    }
    let all = all_pages(app, &admin, &[]).await;
    let listed = seqs(&all);
    assert!(listed.len() > 120, "at least three pages");
    assert_eq!(
        listed,
        db_seqs(app, "SELECT seq FROM audit_log ORDER BY seq DESC").await,
        "no gaps, no duplicates"
    );
    assert_eq!(listed.iter().collect::<HashSet<_>>().len(), listed.len());

    let ada = app.user_id(ADA).await;
    let targeted = all_pages(app, &admin, &[("target", ADA)]).await;
    assert!(targeted.len() > 50);
    assert_eq!(
        seqs(&targeted),
        db_seqs(
            app,
            &format!("SELECT seq FROM audit_log WHERE target_user_id = {ada} ORDER BY seq DESC")
        )
        .await
    );

    // "Newer" goes back exactly one page.
    let first = page_at(app, &admin, None).await;
    assert_eq!(
        first["newer"],
        Value::Null,
        "nothing is newer than the first page"
    );
    let second = page_at(app, &admin, first["next_before"].as_i64()).await;
    let third = page_at(app, &admin, second["next_before"].as_i64()).await;
    assert_eq!(
        seqs(second["entries"].as_array().unwrap()),
        listed[50..100].to_vec()
    );
    assert_eq!(
        second["newer"],
        json!({"before": null}),
        "the page before the second is the first"
    );
    let back = page_at(app, &admin, third["newer"]["before"].as_i64()).await;
    assert_eq!(back["entries"], second["entries"]);
}

async fn page_at(app: &TestApp, admin: &reqwest::Client, before: Option<i64>) -> Value {
    let before = before.map(|b| b.to_string());
    let params: Vec<(&str, &str)> = before.iter().map(|b| ("before", b.as_str())).collect();
    list(app, admin, &params).await.json().await.unwrap()
}

async fn a_member_is_refused_the_trail_and_its_exports(app: &TestApp) {
    app.admin(ADMIN).await;
    let member = app.member(ADA).await;
    assert_eq!(list(app, &member, &[]).await.status(), 403);
    assert_eq!(
        app.call(&member, "admin_verify_audit_chain", &[])
            .await
            .status(),
        403
    );
    for path in [
        "/admin/audit/export.csv",
        "/admin/audit/export.jsonl?action=auth.",
    ] {
        let r = member.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 403, "{path}");
        assert!(!r.text().await.unwrap().contains("auth.sign_in"));
        let r = app.new_browser().get(app.url(path)).send().await.unwrap();
        assert!(
            r.status() == 401 || r.status().is_redirection(),
            "anonymous: {}",
            r.status()
        );
    }
    let anonymous = app.new_browser();
    assert_eq!(list(app, &anonymous, &[]).await.status(), 401);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'audit.exported'")
            .await,
        0
    );
}

/// Splits CSV in which every field is quoted (RFC 4180).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => panic!("unquoted character {c:?} in CSV"),
        }
    }
    rows
}

async fn a_csv_export_has_a_header_quotes_every_field_and_defuses_formulas(app: &TestApp) {
    let admin = app.admin(ADMIN).await;
    app.member(ADA).await;
    for agent in [
        "Mozilla \"Quoted\", with comma",
        "=HYPERLINK(\"http://evil\")",
    ] {
        let r = app
            .new_browser()
            .post(app.url("/api/sign_in"))
            .header("Accept", "application/json")
            .header("User-Agent", agent)
            .form(&[
                ("email", ADA),
                ("password", "Wrong-Password-123456"),
                ("next", ""),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
    }
    let r = admin
        .get(app.url("/admin/audit/export.csv?action=auth.sign_in_failed"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let disposition = r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\"keywarden-audit-")
            && disposition.ends_with(".csv\""),
        "{disposition}"
    );
    let text = r.text().await.unwrap();
    assert!(
        text.contains("\"Mozilla \"\"Quoted\"\", with comma\""),
        "inner quotes doubled: {text}"
    );
    assert!(
        text.contains("\"'=HYPERLINK(\"\"http://evil\"\")\""),
        "formula defused: {text}"
    );
    let rows = parse_csv(&text);
    assert_eq!(rows[0][0], "seq");
    assert_eq!(rows[0].iter().filter(|c| *c == "action").count(), 1);
    assert_eq!(rows.len(), 3, "a header and two entries");
    let action = rows[0].iter().position(|c| c == "action").unwrap();
    let target = rows[0].iter().position(|c| c == "target_email").unwrap();
    let details = rows[0].iter().position(|c| c == "details").unwrap();
    for row in &rows[1..] {
        assert_eq!(row.len(), rows[0].len());
        assert_eq!(row[action], "auth.sign_in_failed");
        assert_eq!(row[target], ADA);
        assert_eq!(
            serde_json::from_str::<Value>(&row[details]).unwrap()["why"],
            "wrong password"
        );
    }
}

async fn a_json_lines_export_matches_the_filter_and_is_itself_audited(app: &TestApp) {
    let admin = seed(app).await;
    let expected = db_seqs(
        app,
        "SELECT seq FROM audit_log WHERE action LIKE 'auth.%' ORDER BY seq DESC",
    )
    .await;
    let r = admin
        .get(app.url("/admin/audit/export.jsonl?action=auth.&actor=&target="))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .ends_with(".jsonl\""));
    let text = r.text().await.unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(
        lines
            .iter()
            .map(|l| l["seq"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        expected
    );
    assert!(lines
        .iter()
        .all(|l| l["action"].as_str().unwrap().starts_with("auth.") && l["details"].is_object()));

    let (actor_kind, actor_label, details): (String, Option<String>, String) = sqlx::query_as(
        "SELECT actor_kind, actor_label, details FROM audit_log WHERE action = 'audit.exported'",
    )
    .fetch_one(app.state.store.pool())
    .await
    .unwrap();
    assert_eq!(
        (actor_kind.as_str(), actor_label.as_deref()),
        ("admin", Some(ADMIN))
    );
    let details: Value = serde_json::from_str(&details).unwrap();
    assert_eq!(
        details,
        json!({"format": "jsonl", "filters": {"action": "auth."}, "count": lines.len()})
    );

    // An export holds what existed when it started: the earlier export, not its own record.
    let before_export = db_seqs(app, "SELECT seq FROM audit_log ORDER BY seq DESC").await;
    let text = admin
        .get(app.url("/admin/audit/export.jsonl"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let exported: Vec<i64> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["seq"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(exported, before_export);
    assert_eq!(text.matches("audit.exported").count(), 1);

    let r = admin
        .get(app.url("/admin/audit/export.csv"))
        .header("Sec-Fetch-Site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "a cross-site page cannot start an export");
    let r = admin
        .get(app.url("/admin/audit/export.csv?from=2026-13-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'audit.exported'")
            .await,
        2,
        "refused exports are not recorded"
    );
}

async fn an_export_streams_every_entry_across_batches(app: &TestApp) {
    let admin = app.admin(ADMIN).await;
    // Bulk filler written the way services write (real actions would take minutes here).
    let mut tx = app.state.store.begin().await.unwrap();
    for i in 0..2_345 {
        let event = Event {
            actor: &Actor::System,
            action: AuditAction::EmailTemplateReset,
            target_user_id: None,
            reason: None,
            details: json!({"i": i}),
        };
        record(
            &mut tx,
            app.state.store.backend(),
            app.clock.now(),
            None,
            &RequestMeta::default(),
            event,
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let text = admin
        .get(app.url("/admin/audit/export.jsonl?action=email_template.reset"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let is: Vec<i64> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["details"]["i"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(
        is,
        (0..2_345).rev().collect::<Vec<_>>(),
        "every entry once, newest first"
    );
    let csv = admin
        .get(app.url("/admin/audit/export.csv?action=email_template."))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(parse_csv(&csv).len(), 2_346);
}

async fn the_chain_can_be_verified_from_the_page(app: &TestApp) {
    let admin = seed(app).await;
    let r = app.call(&admin, "admin_verify_audit_chain", &[]).await;
    assert_eq!(r.status(), 200);
    let entries = app.count("SELECT COUNT(*) FROM audit_log").await;
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"Intact": {"entries": entries}})
    );
}

async fn the_page_renders_the_filtered_entries_with_export_links_that_keep_the_filters(
    app: &TestApp,
) {
    let admin = seed(app).await;
    let r = admin
        .get(app.url("/admin/audit?action=auth.sign_in_failed&target=ada%40example.org"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    for text in [
        "Audit trail",
        "Apply filters",
        "aria-label=\"Audit entries\"",
        "Target user email",
        "keywarden audit verify",
        "Verify chain",
    ] {
        assert!(html.contains(text), "{text} missing");
    }
    assert!(
        html.contains(
            "/admin/audit/export.csv?target=ada%40example.org&amp;action=auth.sign_in_failed"
        ) || html.contains(
            "/admin/audit/export.csv?target=ada%40example.org&action=auth.sign_in_failed"
        ),
        "export keeps the filters"
    );
    assert!(
        html.contains("wrong password") && !html.contains("unknown email"),
        "only the filtered entries"
    );
    let member = app.member("member@example.org").await;
    let r = member.get(app.url("/admin/audit")).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("Access denied"));
}

/// A unit of work whose audit head was advanced by a statement of its own, as the sign-in's is;
/// and the seq it advanced to.
async fn unit_of_work_with_the_head_advanced<'a>(
    app: &'a TestApp,
    meta: &'a RequestMeta,
) -> (keywarden::runtime::AuditedTx<'a>, i64) {
    let mut tx = keywarden::runtime::AuditedTx::begin(&app.state, meta)
        .await
        .unwrap();
    let (seq, prev_hash) = keywarden::storage::audit::advance_head(&mut tx)
        .await
        .unwrap();
    tx.head_advanced(seq, prev_hash);
    (tx, seq)
}

/// A statement that advances the audit head for the next entry (the sign-in's, on PostgreSQL)
/// leaves a gap unless that entry is recorded: such a unit of work does not commit, and the head
/// stays where it was.
async fn a_head_advanced_for_an_entry_never_recorded_is_never_committed(app: &TestApp) {
    app.member(ADA).await;
    let head = "SELECT seq FROM audit_head WHERE id = 1";
    let before = app.count(head).await;
    let meta = RequestMeta::default();
    let (tx, _) = unit_of_work_with_the_head_advanced(app, &meta).await;
    assert!(tx.commit().await.is_err(), "committed a gap in the chain");
    assert_eq!(app.count(head).await, before);

    // Recorded, it commits at exactly that place.
    let (mut tx, seq) = unit_of_work_with_the_head_advanced(app, &meta).await;
    let recorded = tx
        .record(
            &Actor::System,
            AuditAction::EmailTemplateReset,
            None,
            None,
            json!({}),
        )
        .await
        .unwrap();
    assert_eq!(recorded, seq);
    tx.commit().await.unwrap();
    assert_eq!(app.count(head).await, before + 1);
    app.assert_audit_chain_intact().await;
}
