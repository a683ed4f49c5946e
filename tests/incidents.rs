//! Incidents and cohorts: the record and its CLI, the dry-run preview, the durable job
//! (containment, then one notice per member) and its resumption after `kill -9`, on SQLite and
//! PostgreSQL.

mod common;

use std::time::{Duration, Instant};

use common::TestApp;
use keywarden::domain::{Actor, CohortActions, CohortCriteria, RequestMeta};
use keywarden::features::incidents::{cohort, job, service};

on_both_databases!(
    an_incident_opens_with_a_reference_and_closes_once,
    a_preview_counts_the_cohort_and_changes_nothing,
    an_applied_cohort_is_contained_then_notified_once_each,
    an_open_incident_tightens_every_node_until_it_closes,
    a_cohort_can_be_chosen_by_sign_in_country,
);

/// On a node that runs no jobs itself: the test takes the job's steps, or separate
/// `keywarden serve` processes run the job (and die).
mod without_jobs {
    crate::on_both_databases!(
        configure = |c| c.incident_worker_enabled = false;
        containment_ends_every_session_before_the_rows_are_stamped,
        a_job_killed_mid_way_resumes_and_acts_on_each_member_exactly_once,
    );
}

/// Containment writes the members' user rows only: once the cohort says it is contained, none
/// of their sessions counts any more, though the rows are not stamped yet. The next phase stamps
/// them (at the member's containment time, with the reason), but never a session issued after
/// the watermark; the incident page counts the sessions it ended.
async fn containment_ends_every_session_before_the_rows_are_stamped(app: &TestApp) {
    let ada = app.member("ada@example.org").await;
    let bob = app.member("bob@example.org").await;
    let cy = app.member("cy@example.org").await;
    let reference = open(app, "Leaked list").await;
    let criteria = CohortCriteria {
        emails: vec!["ada@example.org".into(), "bob@example.org".into()],
        ..Default::default()
    };
    let actions = CohortActions {
        compromise: false,
        sign_out: true,
        notify: false,
    };
    let op = Actor::cli("tester");
    let id = cohort::apply(
        &app.state,
        &op,
        &reference,
        &criteria,
        actions,
        "leak",
        &RequestMeta::default(),
    )
    .await
    .unwrap();
    let owner = job::node_name();
    let ada_id = app.user_id("ada@example.org").await;
    let live_rows = |who: i64| {
        format!("SELECT COUNT(*) FROM sessions WHERE user_id = {who} AND ended_at IS NULL")
    };
    // Step until the cohort is contained.
    loop {
        assert_eq!(
            job::step(&app.state, &owner, id).await.unwrap(),
            job::Step::Progressed
        );
        let (_, cohorts) = service::status(&app.state, &reference).await.unwrap();
        if cohorts[0].contained_at.is_some() {
            break;
        }
    }
    assert_eq!(app.count(&live_rows(ada_id)).await, 1, "not stamped yet");
    // No member's session counts by the validity rule's watermark. (Asking as ada or bob now
    // would end the row on the spot, as any request with an invalid session does.)
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM sessions s JOIN users u ON u.id = s.user_id \
             JOIN incident_members m ON m.user_id = s.user_id AND m.cohort_id = {id} \
             WHERE s.ended_at IS NULL AND (u.sessions_revoked_before IS NULL \
               OR COALESCE(s.issued_at, s.created_at) > u.sessions_revoked_before)"
        ))
        .await,
        0
    );

    // A session issued after the watermark (a sign-in since) is not the job's to end.
    let watermark: (i64,) =
        sqlx::query_as("SELECT sessions_revoked_before FROM users WHERE id = $1")
            .bind(ada_id)
            .fetch_one(app.state.store.pool())
            .await
            .unwrap();
    let now = app.state.now();
    let mut conn = app.state.store.pool().acquire().await.unwrap();
    keywarden::storage::sessions::insert(
        &mut conn,
        app.state.store.backend(),
        keywarden::storage::sessions::NewSession {
            id_hash: "signed-in-since",
            user_id: Some(ada_id),
            data: "{}",
            now,
            issued_at: watermark.0 + 1,
            expires_at: now + 3_600_000,
            ip: None,
            user_agent: None,
            public_id: None,
            device_hash: None,
            location: None,
        },
    )
    .await
    .unwrap();
    drop(conn);
    while job::step(&app.state, &owner, id).await.unwrap() == job::Step::Progressed {}
    assert_eq!(
        app.count(&live_rows(ada_id)).await,
        1,
        "only the session issued since is live"
    );
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM sessions WHERE id_hash = 'signed-in-since' AND ended_at IS NULL"
        )
        .await,
        1
    );
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM sessions s JOIN incident_members m \
             ON m.user_id = s.user_id AND m.cohort_id = {id} \
             WHERE s.end_reason = 'signed_out_by_admin' AND s.ended_at = m.contained_at"
        ))
        .await,
        2,
        "each member's old session stamped at the member's containment"
    );
    let page = keywarden::features::incidents::dashboard::page(&app.state, &reference)
        .await
        .unwrap();
    assert_eq!(page.kpis.sessions_ended, 2);
    assert!(app.whoami(&ada).await.is_null(), "ada signed out");
    assert!(app.whoami(&bob).await.is_null(), "bob signed out");
    assert!(!app.whoami(&cy).await.is_null(), "cy untouched");
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).trim().to_owned()
}

async fn open(app: &TestApp, title: &str) -> String {
    let out = app
        .cli(
            &["incident", "open", "--title", title, "--severity", "high"],
            None,
        )
        .await;
    assert!(out.status.success(), "open failed: {}", stderr(&out));
    stdout(&out)
}

async fn an_incident_opens_with_a_reference_and_closes_once(app: &TestApp) {
    let reference = open(app, "Leaked password list").await;
    let year = time::OffsetDateTime::now_utc().year();
    assert_eq!(reference, format!("KW-{year}-0001"));
    let status = app.cli(&["incident", "status", &reference], None).await;
    assert!(status.status.success());
    assert!(stdout(&status).contains("open (high severity): Leaked password list"));

    // Bad input: one readable line, non-zero, nothing written.
    for args in [
        vec!["incident", "open", "--title", "x", "--severity", "urgent"],
        vec!["incident", "open", "--title", "", "--severity", "low"],
        vec![
            "incident",
            "open",
            "--title",
            "x",
            "--detected-at",
            "2999-01-01T00:00:00Z",
        ],
        vec![
            "incident",
            "open",
            "--title",
            "x",
            "--detected-at",
            "yesterday",
        ],
        vec!["incident", "status", "KW-2026-9999"],
        vec!["incident", "close", "not-a-reference"],
    ] {
        let out = app.cli(&args, None).await;
        assert!(!out.status.success(), "{args:?} succeeded");
        assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM incidents").await, 1);

    // An action attached to it lands on its timeline, with the reference under the hash.
    app.member("ada@example.org").await;
    let out = app
        .cli(
            &[
                "incident",
                "compromise-user",
                "--email",
                "ada@example.org",
                "--reason",
                "on the leaked list",
                "--incident",
                &reference,
            ],
            None,
        )
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM incident_audit i JOIN audit_log a ON a.seq = i.seq \
             WHERE a.action = 'user.password_compromised' AND a.details LIKE '%\"incident\":\"KW-%'"
        )
        .await,
        1
    );

    let closed = app.cli(&["incident", "close", &reference], None).await;
    assert!(closed.status.success(), "{}", stderr(&closed));
    let again = app.cli(&["incident", "close", &reference], None).await;
    assert!(!again.status.success());
    assert!(stderr(&again).contains("already closed"));
    // A closed incident takes no more actions.
    let late = app
        .cli(
            &[
                "incident",
                "sign-out-all",
                "--reason",
                "late",
                "--incident",
                &reference,
            ],
            None,
        )
        .await;
    assert!(!late.status.success());
    assert!(stderr(&late).contains("closed"));
    let verify = app.cli(&["audit", "verify"], None).await;
    assert!(verify.status.success(), "{}", stderr(&verify));
}

async fn a_preview_counts_the_cohort_and_changes_nothing(app: &TestApp) {
    app.admin("root@example.org").await;
    let _ada = app.member("ada@example.org").await;
    let _bob = app.member("bob@example.org").await;
    let out = app
        .cli(
            &["admin", "create", "--email", "quiet@example.org"],
            Some(common::PASSWORD),
        )
        .await;
    assert!(out.status.success());
    let criteria = CohortCriteria {
        emails: vec![
            "ADA@example.org".into(),
            "root@example.org".into(),
            "quiet@example.org".into(),
            "nobody@example.org".into(),
            "not an address".into(),
        ],
        ..Default::default()
    };
    let p = cohort::preview(&app.state, &criteria).await.unwrap();
    assert_eq!(p.count, 3);
    assert_eq!(p.admins, 2);
    assert_eq!(p.with_live_sessions, 2, "ada and root are signed in");
    let emails: Vec<&str> = p.first.iter().map(|(_, e)| e.as_str()).collect();
    assert_eq!(
        emails,
        vec!["root@example.org", "ada@example.org", "quiet@example.org"]
    );
    assert_eq!(
        p.unknown_emails,
        vec!["nobody@example.org", "not an address"]
    );

    // Sign-in window and role.
    let now = app.state.now();
    let recent = CohortCriteria {
        role: Some("member".into()),
        signed_in: Some(keywarden::domain::Window {
            from: now - 3_600_000,
            to: now + 1,
        }),
        ..Default::default()
    };
    assert_eq!(cohort::preview(&app.state, &recent).await.unwrap().count, 2);
    let range = CohortCriteria {
        ip_range: Some("198.51.100.0/24".into()),
        ..Default::default()
    };
    assert_eq!(cohort::preview(&app.state, &range).await.unwrap().count, 0);
    let bad = CohortCriteria {
        ip_range: Some("10.0.0.0/40".into()),
        ..Default::default()
    };
    assert!(cohort::preview(&app.state, &bad).await.is_err());
    assert!(cohort::preview(&app.state, &CohortCriteria::default())
        .await
        .is_err());

    // The CLI prints the same.
    let list = std::env::temp_dir().join(format!("kw-cohort-{:08x}.csv", rand::random::<u32>()));
    std::fs::write(
        &list,
        "email,name\nada@example.org,Ada\nnobody@example.org,-\n",
    )
    .unwrap();
    let out = app
        .cli(
            &[
                "incident",
                "preview",
                "--emails-file",
                list.to_str().unwrap(),
            ],
            None,
        )
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with("1 user match (1 with live sessions, 0 administrators)"),
        "{text}"
    );
    assert!(text.contains("nobody@example.org"));

    for table in ["incidents", "incident_cohorts", "incident_members"] {
        assert_eq!(
            app.count(&format!("SELECT COUNT(*) FROM {table}")).await,
            0,
            "{table}"
        );
    }
}

async fn an_applied_cohort_is_contained_then_notified_once_each(app: &TestApp) {
    let ada = app.member("ada@example.org").await;
    let bob = app.member("bob@example.org").await;
    let cy = app.member("cy@example.org").await;
    let reference = open(app, "Phished accounts").await;
    let criteria = CohortCriteria {
        emails: vec!["ada@example.org".into(), "bob@example.org".into()],
        ..Default::default()
    };
    let actions = CohortActions {
        compromise: true,
        sign_out: true,
        notify: true,
    };
    let op = Actor::cli("tester");
    let meta = RequestMeta::default();
    // Nothing to act with, and no action: refused, nothing written.
    let none = CohortActions {
        compromise: false,
        sign_out: false,
        notify: false,
    };
    assert!(
        cohort::apply(&app.state, &op, &reference, &criteria, none, "x", &meta)
            .await
            .is_err()
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM incident_cohorts").await, 0);

    let id = cohort::apply(
        &app.state, &op, &reference, &criteria, actions, "phished", &meta,
    )
    .await
    .unwrap();
    wait_done(app, id).await;

    assert!(app.whoami(&ada).await.is_null(), "ada signed out");
    assert!(app.whoami(&bob).await.is_null(), "bob signed out");
    assert!(!app.whoami(&cy).await.is_null(), "cy untouched");
    let ids = [
        app.user_id("ada@example.org").await,
        app.user_id("bob@example.org").await,
    ];
    let digest = cohort::ids_digest(&ids);
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'incident.cohort_applied' \
             AND details LIKE '%\"size\":2%' AND details LIKE '%{digest}%'"
        ))
        .await,
        1
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM outbox WHERE kind = 'incident_notice'")
            .await,
        2
    );
    let mail = app
        .delivered_mail("incident_notice", Some("ada@example.org"))
        .await;
    assert!(mail.text.contains(&reference), "{}", mail.text);
    assert!(mail.text.contains("choose a new password"));
    let (incident, cohorts) = service::status(&app.state, &reference).await.unwrap();
    assert_eq!(incident.state, "contained");
    assert!(incident.contained_at.unwrap() >= incident.detected_at);
    assert_eq!(cohorts[0].contained, 2);
    assert_eq!(cohorts[0].notified, 2);
    assert_eq!(cohorts[0].state, "done");
    // The timeline: opened, applied, the batch, contained, notices, finished.
    assert!(
        app.count(&format!(
            "SELECT COUNT(*) FROM incident_audit WHERE incident_id = {}",
            incident.id
        ))
        .await
            >= 6
    );
    // The evidence bundle: every file listed in MANIFEST with its SHA-256, the audit window
    // with hashes, a signed checkpoint, the cohort list.
    let out =
        std::env::temp_dir().join(format!("kw-evidence-{:08x}.tar.gz", rand::random::<u32>()));
    let exported = app
        .cli(
            &[
                "incident",
                "export",
                &reference,
                "--out",
                out.to_str().unwrap(),
            ],
            None,
        )
        .await;
    assert!(exported.status.success(), "{}", stderr(&exported));
    let again = app
        .cli(
            &[
                "incident",
                "export",
                &reference,
                "--out",
                out.to_str().unwrap(),
            ],
            None,
        )
        .await;
    assert!(
        !again.status.success(),
        "an existing file is not overwritten"
    );
    let files = untar(&std::fs::read(&out).unwrap());
    std::fs::remove_file(&out).ok();
    let manifest = String::from_utf8(files["MANIFEST"].clone()).unwrap();
    let mut listed = 0;
    for line in manifest.lines() {
        let (sum, name) = line.split_once("  ").unwrap();
        use sha2::Digest;
        assert_eq!(
            sum,
            hex::encode(sha2::Sha256::digest(&files[name])),
            "{name}"
        );
        listed += 1;
    }
    for name in [
        "incident.json",
        "timeline.jsonl",
        "audit.jsonl",
        "checkpoint.txt",
        "kpis.json",
    ] {
        assert!(files.contains_key(name), "{name} in the bundle");
    }
    assert_eq!(listed, files.len() - 1, "every file but MANIFEST is listed");
    let cohort_csv = String::from_utf8(files[&format!("cohort-{id}.csv")].clone()).unwrap();
    assert_eq!(cohort_csv.lines().count(), 3, "header and two members");
    assert!(cohort_csv.contains("ada@example.org"));
    let audit = String::from_utf8(files["audit.jsonl"].clone()).unwrap();
    assert!(audit.contains("incident.cohort_applied") && audit.contains("\"hash\""));
    assert!(
        audit.contains("incident.exported"),
        "the export is in its own window"
    );
    assert!(
        String::from_utf8_lossy(&files["checkpoint.txt"]).contains("keywarden-audit-checkpoint")
    );

    // A re-run changes nothing.
    let owner = job::node_name();
    assert_eq!(
        job::step(&app.state, &owner, id).await.unwrap(),
        job::Step::NotMine
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM outbox WHERE kind = 'incident_notice'")
            .await,
        2
    );

    // The in-app banner: shown to the members, not to others; gone once dismissed, or once the
    // member chose a new password.
    let (ada_id, bob_id) = (ids[0], ids[1]);
    let banner = service::banner(&app.state, ada_id).await.unwrap();
    assert_eq!(banner.expect("ada's banner").reference, reference);
    let cy_id = app.user_id("cy@example.org").await;
    assert!(service::banner(&app.state, cy_id).await.unwrap().is_none());
    let bob = Actor::account(bob_id, "bob@example.org");
    service::dismiss_banner(&app.state, &bob, bob_id, incident.id, &meta)
        .await
        .unwrap();
    assert!(service::banner(&app.state, bob_id).await.unwrap().is_none());
    sqlx::query("UPDATE users SET password_set_at = password_set_at + 86400000 WHERE id = $1")
        .bind(ada_id)
        .execute(app.state.store.pool())
        .await
        .unwrap();
    assert!(service::banner(&app.state, ada_id).await.unwrap().is_none());

    let verify = app.cli(&["audit", "verify"], None).await;
    assert!(verify.status.success(), "{}", stderr(&verify));
}

/// The files of a `.tar.gz` by their name inside its one top folder.
fn untar(bytes: &[u8]) -> std::collections::HashMap<String, Vec<u8>> {
    use std::io::Read;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    let mut out = std::collections::HashMap::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let name = path
            .split_once('/')
            .map_or(path.clone(), |(_, n)| n.to_owned());
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        out.insert(name, data);
    }
    out
}

async fn wait_done(app: &TestApp, cohort_id: i64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n = app
            .count(&format!(
                "SELECT COUNT(*) FROM incident_cohorts WHERE id = {cohort_id} AND state = 'done'"
            ))
            .await;
        if n == 1 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "cohort {cohort_id} did not finish"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The cohort's (contained, notified) counters.
async fn progress(app: &TestApp, cohort_id: i64) -> (i64, i64) {
    let row: (i64, i64) = sqlx::query_as(&format!(
        "SELECT contained, notified FROM incident_cohorts WHERE id = {cohort_id}"
    ))
    .fetch_one(app.state.store.pool())
    .await
    .unwrap();
    row
}

async fn a_job_killed_mid_way_resumes_and_acts_on_each_member_exactly_once(app: &TestApp) {
    const USERS: i64 = 6_000;
    {
        let mut tx = app.state.store.begin().await.unwrap();
        keywarden::storage::bench::seed(&mut tx, USERS, app.state.now())
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    let reference = open(app, "Credential stuffing").await;
    let criteria = CohortCriteria {
        role: Some("member".into()),
        ..Default::default()
    };
    let actions = CohortActions {
        compromise: true,
        sign_out: true,
        notify: true,
    };
    let op = Actor::cli("tester");
    let id = cohort::apply(
        &app.state,
        &op,
        &reference,
        &criteria,
        actions,
        "stuffing",
        &RequestMeta::default(),
    )
    .await
    .unwrap();
    // This test's node runs no jobs: a separate `keywarden serve` takes it, and is killed
    // (SIGKILL) once some but not all of the work is committed.
    let node = app.serve_process().await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (contained, notified) = progress(app, id).await;
        if contained > 0 && notified < USERS {
            if notified > 0 || contained < USERS {
                break;
            }
        }
        assert!(
            notified < USERS,
            "the job finished before it could be killed: make the cohort larger"
        );
        assert!(Instant::now() < deadline, "the job did not start");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drop(node);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (contained, notified) = progress(app, id).await;
    assert!(notified < USERS, "killed mid-way ({contained}, {notified})");
    // Every counter matches the marks committed with it.
    assert_eq!(
        contained,
        app.count(&format!(
            "SELECT COUNT(*) FROM incident_members WHERE cohort_id = {id} AND contained_at IS NOT NULL"
        ))
        .await
    );
    assert_eq!(
        notified,
        app.count("SELECT COUNT(*) FROM outbox WHERE kind = 'incident_notice'")
            .await
    );

    // The lease of the dead node expires; a new node resumes and finishes.
    sqlx::query("UPDATE incident_cohorts SET lease_until = 0")
        .execute(app.state.store.pool())
        .await
        .unwrap();
    let _again = app.serve_process().await;
    wait_done(app, id).await;
    assert_eq!(progress(app, id).await, (USERS, USERS));
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) FROM incident_members WHERE cohort_id = {id} \
             AND contained_at IS NOT NULL AND notified_at IS NOT NULL AND outbox_id IS NOT NULL"
        ))
        .await,
        USERS
    );
    // Exactly one notice per member, and every member compromised and signed out.
    assert_eq!(
        app.count("SELECT COUNT(*) FROM outbox WHERE kind = 'incident_notice'")
            .await,
        USERS
    );
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM (SELECT to_address FROM outbox WHERE kind = 'incident_notice' \
             GROUP BY to_address HAVING COUNT(*) > 1) d"
        )
        .await,
        0
    );
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM users WHERE role = 'member' AND (password_compromised_at IS NULL \
             OR sessions_revoked_before IS NULL)"
        )
        .await,
        0
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM sessions WHERE ended_at IS NULL")
            .await,
        0
    );
    // The batches' audit entries add up to the cohort, each member counted once.
    let verify = app.cli(&["audit", "verify"], None).await;
    assert!(verify.status.success(), "{}", stderr(&verify));
}

/// Waits (at most 5 s) until this node's security snapshot satisfies `ready`: the CLI is another
/// process, whose change reaches the server by NOTIFY (PostgreSQL) or version polling (SQLite).
async fn until_snapshot(
    app: &TestApp,
    what: &str,
    ready: impl Fn(&keywarden::runtime::security::Snapshot) -> bool,
) {
    let started = Instant::now();
    while !ready(&app.state.security.get()) {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the server did not see: {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn an_open_incident_tightens_every_node_until_it_closes(app: &TestApp) {
    let reference = open(app, "Credential stuffing wave").await;
    let ada = app.member("ada@example.org").await;
    let base_idle = app.state.security.get().idle_ms;
    assert_eq!(base_idle, 30 * 60 * 1000, "the test expects the default");

    // Bad input: one readable line, non-zero, nothing changed.
    for args in [
        vec!["incident", "tighten", &reference, "--idle-minutes", "2"],
        vec!["incident", "tighten", &reference, "--lifetime-hours", "0"],
        vec!["incident", "tighten", "KW-2026-9999", "--pause-sign-up"],
    ] {
        let out = app.cli(&args, None).await;
        assert!(!out.status.success(), "{args:?} succeeded");
        assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'incident.tightened'")
            .await,
        0
    );

    let out = app
        .cli(
            &[
                "incident",
                "tighten",
                &reference,
                "--idle-minutes",
                "10",
                "--lifetime-hours",
                "2",
                "--force-alerts",
                "--pause-sign-up",
                "--strict-forgot",
            ],
            None,
        )
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("session idle timeout at most 10 min"));
    until_snapshot(app, "the tightening", |s| s.sign_up_paused).await;
    let s = app.state.security.get();
    assert_eq!(s.idle_ms, 10 * 60 * 1000);
    assert_eq!(s.absolute_ms, 2 * 60 * 60 * 1000);
    assert_eq!(s.base_idle_ms, base_idle, "the setting itself is unchanged");
    assert!(s.new_device_alerts && s.strict_forgot);

    // Sign-up is paused: a clear refusal, no account.
    let users = app.count("SELECT COUNT(*) FROM users").await;
    let refused = app
        .sign_up(&app.new_browser(), "eve@example.org", common::PASSWORD)
        .await;
    assert_eq!(refused.status(), 503);
    assert!(refused.text().await.unwrap().contains("SignUpPaused"));
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, users);

    // Forgot-password: one link per account per hour (the second request sends nothing).
    for _ in 0..2 {
        let r = app
            .call(
                &app.new_browser(),
                "forgot_password",
                &[("email", "ada@example.org")],
            )
            .await;
        assert_eq!(r.status(), 200);
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM password_resets").await, 1);
    // And 3 requests per address per hour.
    let r = app
        .call(
            &app.new_browser(),
            "forgot_password",
            &[("email", "bob@example.org")],
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = app
        .call(
            &app.new_browser(),
            "forgot_password",
            &[("email", "cy@example.org")],
        )
        .await;
    assert_eq!(r.status(), 429);

    // The shorter idle timeout reaches a live session: 11 idle minutes end it.
    assert!(app.whoami(&ada).await.is_object());
    app.clock.advance(Duration::from_secs(11 * 60));
    assert!(
        app.whoami(&ada).await.is_null(),
        "the idle session lived on"
    );

    // Closing reverts every switch, on the record.
    let out = app.cli(&["incident", "close", &reference], None).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("Tightening reverted"),
        "{}",
        stdout(&out)
    );
    until_snapshot(app, "the revert", |s| !s.sign_up_paused).await;
    let s = app.state.security.get();
    assert_eq!(s.idle_ms, base_idle);
    assert!(!s.strict_forgot);
    assert_eq!(
        app.sign_up(&app.new_browser(), "eve@example.org", common::PASSWORD)
            .await
            .status(),
        200
    );
    let ada = app.new_browser();
    assert_eq!(
        app.sign_in(&ada, "ada@example.org", common::PASSWORD)
            .await
            .status(),
        200
    );
    app.clock.advance(Duration::from_secs(11 * 60));
    assert!(
        app.whoami(&ada).await.is_object(),
        "the setting's 30 minutes apply again"
    );
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM audit_log a JOIN incident_audit i ON i.seq = a.seq \
             WHERE a.action IN ('incident.tightened', 'incident.tightening_reverted')"
        )
        .await,
        2
    );
    // A closed incident tightens nothing.
    let out = app
        .cli(
            &["incident", "tighten", &reference, "--pause-sign-up"],
            None,
        )
        .await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("closed"), "{}", stderr(&out));
}

async fn a_cohort_can_be_chosen_by_sign_in_country(app: &TestApp) {
    use keywarden::error::AppError;
    let by_country = |code: &str| CohortCriteria {
        country: Some(code.into()),
        ..Default::default()
    };
    // Without a GeoIP database the criterion is refused, naming the field.
    let e = cohort::preview(&app.state, &by_country("FR"))
        .await
        .unwrap_err();
    assert!(e.for_field("country").is_some(), "{e:?}");

    let dir = common::TempDir::new();
    let path = dir.0.join("city.mmdb");
    std::fs::write(&path, keywarden::geo::fixture::sample()).unwrap();
    let app = TestApp::spawn_with(app.db, |c| {
        c.geoip_database = Some(path.clone());
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await
    .unwrap();
    // Ada signs in from Lyon (FR), Bob from Berlin (DE), Cy from Lyon then Toronto (CA).
    for (email, ips) in [
        ("ada@example.org", vec!["203.0.113.9"]),
        ("bob@example.org", vec!["198.51.100.7"]),
        ("cy@example.org", vec!["203.0.113.10", "192.0.2.1"]),
    ] {
        let b = app.new_browser();
        assert_eq!(app.sign_up(&b, email, common::PASSWORD).await.status(), 200);
        for ip in ips {
            let r = b
                .post(app.url("/api/sign_in"))
                .header("Accept", "application/json")
                .header("X-Forwarded-For", ip)
                .form(&[
                    ("email", email),
                    ("password", common::PASSWORD),
                    ("next", ""),
                ])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        }
    }
    let emails = |p: &keywarden::features::incidents::CohortPreview| {
        p.first.iter().map(|(_, e)| e.clone()).collect::<Vec<_>>()
    };
    let fr = cohort::preview(&app.state, &by_country("FR"))
        .await
        .unwrap();
    assert_eq!(emails(&fr), vec!["ada@example.org", "cy@example.org"]);
    let ca = cohort::preview(&app.state, &by_country("CA"))
        .await
        .unwrap();
    assert_eq!(emails(&ca), vec!["cy@example.org"]);
    // With a range too, both must hold.
    let both = CohortCriteria {
        country: Some("DE".into()),
        ip_range: Some("203.0.113.0/24".into()),
        ..Default::default()
    };
    assert_eq!(cohort::preview(&app.state, &both).await.unwrap().count, 0);
    assert_eq!(
        cohort::preview(&app.state, &by_country("JP"))
            .await
            .unwrap()
            .count,
        0
    );
    let bad = cohort::preview(&app.state, &by_country("France")).await;
    assert!(matches!(bad, Err(AppError::Field { ref field, .. }) if field == "country"));
}
