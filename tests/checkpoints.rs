//! Signed audit checkpoints and a verify that reads one snapshot, on SQLite and PostgreSQL
//! (ASVS 5.0 V16.4.2: logs are protected from unauthorized modification; V16.4.3: logs are kept
//! where they can be checked independently of the system that writes them).
//!
//! The attacks are simulated as a database writer would make them: triggers dropped, rows deleted
//! or edited and the chain re-hashed with the published algorithm, the head rewritten.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{TempDir, TestApp, PASSWORD};
use keywarden::domain::{Actor, AuditAction, RequestMeta};
use keywarden::runtime::audit::{entry_hash, verify, Verification};
use keywarden::runtime::checkpoint::{self, Cause, Checkpoint};
use keywarden::runtime::server_key::ServerKey;
use keywarden::runtime::{AppState, AuditedTx};
use keywarden::storage::audit as audit_store;
use serde_json::json;

on_both_databases!(
    v16_4_2_verify_reads_one_snapshot_while_entries_are_appended,
    v16_4_2_a_truncated_trail_with_a_rewritten_head_fails_against_the_checkpoint,
    v16_4_2_a_chain_re_hashed_after_an_edit_fails_against_the_checkpoint,
    v16_4_2_a_checkpoint_with_a_bad_signature_or_another_key_is_refused,
    v16_4_3_an_instance_wide_action_takes_a_checkpoint_stored_mailed_and_written,
    v16_4_3_one_node_takes_each_daily_checkpoint,
    v16_4_3_admins_alone_see_and_download_the_last_checkpoint,
);

const ADMIN: &str = "root@example.org";
const SECOND_ADMIN: &str = "deputy@example.org";
const ADA: &str = "ada@example.org";

/// Appends one entry the way every action does (its own unit of work).
async fn append(state: &AppState, n: i64) {
    let meta = RequestMeta::default();
    let mut tx = AuditedTx::begin(state, &meta).await.unwrap();
    tx.record(
        &Actor::System,
        AuditAction::SettingsMailUpdated,
        None,
        None,
        json!({ "n": n }),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

/// An administrator, a member and a few failed sign-ins. Returns the admin's browser.
async fn seed(app: &TestApp) -> reqwest::Client {
    let admin = app.admin(ADMIN).await;
    app.member(ADA).await;
    for _ in 0..3 {
        let r = app
            .sign_in(&app.new_browser(), ADA, "Wrong-Harbor-Lantern-0000")
            .await;
        assert_eq!(r.status(), 401);
    }
    admin
}

async fn head(app: &TestApp) -> (i64, String) {
    sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
        .fetch_one(app.state.store.pool())
        .await
        .unwrap()
}

async fn execute(app: &TestApp, sql: &str) {
    sqlx::query(sql)
        .execute(app.state.store.pool())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// What a database writer does first: the append-only triggers go.
async fn drop_triggers(app: &TestApp) {
    let on = match app.db {
        common::Db::Sqlite => "",
        common::Db::Postgres => " ON audit_log",
    };
    for trigger in ["audit_log_no_update", "audit_log_no_delete"] {
        execute(app, &format!("DROP TRIGGER {trigger}{on}")).await;
    }
}

async fn set_head(app: &TestApp, seq: i64, hash: &str) {
    sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
        .bind(seq)
        .bind(hash)
        .execute(app.state.store.pool())
        .await
        .unwrap();
}

/// `keywarden audit checkpoint`, saved to a file as an operator would.
async fn checkpoint_file(app: &TestApp, dir: &TempDir) -> (PathBuf, Checkpoint) {
    let out = app.cli(&["audit", "checkpoint"], None).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    let path = dir.0.join("checkpoint.txt");
    std::fs::write(&path, &text).unwrap();
    (path, Checkpoint::parse(&text).unwrap())
}

async fn verify_with(app: &TestApp, file: &Path) -> std::process::Output {
    app.cli(
        &["audit", "verify", "--checkpoint", file.to_str().unwrap()],
        None,
    )
    .await
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).trim().to_owned()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The refusal: a non-zero exit and exactly one line.
fn refusal(out: &std::process::Output) -> String {
    assert!(!out.status.success(), "accepted: {}", stdout(out));
    let e = stderr(out);
    assert_eq!(e.lines().count(), 1, "one readable line: {e}");
    e
}

async fn v16_4_2_verify_reads_one_snapshot_while_entries_are_appended(app: &TestApp) {
    for n in 0..300 {
        append(&app.state, n).await;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicI64::new(0));
    let writer = {
        let (state, stop, written) = (app.state.clone(), stop.clone(), written.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let n = written.fetch_add(1, Ordering::SeqCst);
                append(&state, n).await;
            }
        })
    };
    let mut checks = 0;
    while checks < 25 || written.load(Ordering::SeqCst) < 50 {
        let result = verify(&app.state.store).await.unwrap();
        assert!(
            matches!(result, Verification::Intact { .. }),
            "a live chain reported as broken: {result:?}"
        );
        checks += 1;
    }
    // The CLI too, while entries keep coming.
    for _ in 0..3 {
        let out = app.cli(&["audit", "verify"], None).await;
        assert!(out.status.success(), "{}", stderr(&out));
    }
    stop.store(true, Ordering::SeqCst);
    writer.await.unwrap();
    assert!(
        written.load(Ordering::SeqCst) >= 50,
        "writes went on during the checks"
    );
    let (seq, hash) = head(app).await;
    let out = app.cli(&["audit", "verify"], None).await;
    assert!(
        stdout(&out).ends_with(&format!("Last entry: {seq}, head hash: {hash}.")),
        "prints the last entry and the head hash: {}",
        stdout(&out)
    );
}

async fn v16_4_2_a_truncated_trail_with_a_rewritten_head_fails_against_the_checkpoint(
    app: &TestApp,
) {
    seed(app).await;
    let dir = TempDir::new();
    let (file, checkpoint) = checkpoint_file(app, &dir).await;
    let (seq, hash) = head(app).await;
    assert_eq!((checkpoint.seq, checkpoint.hash.clone()), (seq, hash));
    let ok = verify_with(app, &file).await;
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert!(
        stdout(&ok).starts_with(&format!("OK: the trail still holds entry {seq} ")),
        "{}",
        stdout(&ok)
    );

    // Remove the newest three entries and point the head at what is left.
    drop_triggers(app).await;
    let kept = seq - 3;
    execute(app, &format!("DELETE FROM audit_log WHERE seq > {kept}")).await;
    let (kept_hash,): (String,) = sqlx::query_as("SELECT hash FROM audit_log WHERE seq = $1")
        .bind(kept)
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    set_head(app, kept, &kept_hash).await;

    // From inside the database the trail looks whole...
    let inside = app.cli(&["audit", "verify"], None).await;
    assert!(inside.status.success(), "{}", stderr(&inside));
    // ...the checkpoint names the gap.
    assert_eq!(
        refusal(&verify_with(app, &file).await),
        format!(
            "error: audit trail truncated: checkpoint has entry {seq}, database ends at {kept}"
        )
    );
}

/// Rewrites every entry from `from` on with the published hash, as an attacker who edited one
/// would, and moves the head to the new last hash.
async fn re_hash_from(app: &TestApp, from: i64) {
    let mut conn = app.state.store.pool().acquire().await.unwrap();
    let rows = audit_store::page_after(&mut conn, 0, 100_000)
        .await
        .unwrap();
    let mut prev = rows[(from - 2) as usize].hash.clone();
    for mut row in rows.into_iter().filter(|r| r.seq >= from) {
        row.prev_hash = prev;
        row.hash = entry_hash(&row);
        sqlx::query("UPDATE audit_log SET prev_hash = $1, hash = $2 WHERE seq = $3")
            .bind(&row.prev_hash)
            .bind(&row.hash)
            .bind(row.seq)
            .execute(&mut *conn)
            .await
            .unwrap();
        prev = row.hash;
    }
    let (seq, _) = head(app).await;
    set_head(app, seq, &prev).await;
}

async fn v16_4_2_a_chain_re_hashed_after_an_edit_fails_against_the_checkpoint(app: &TestApp) {
    seed(app).await;
    // A stored (daily) checkpoint, and one an operator keeps.
    assert!(checkpoint::take_daily(&app.state).await.unwrap().is_some());
    let dir = TempDir::new();
    let (file, checkpoint) = checkpoint_file(app, &dir).await;

    drop_triggers(app).await;
    execute(
        app,
        "UPDATE audit_log SET ip = '10.9.8.7', actor_label = 'nobody' WHERE seq = 3",
    )
    .await;
    re_hash_from(app, 3).await;

    let inside = app.cli(&["audit", "verify"], None).await;
    assert!(
        inside.status.success(),
        "re-hashed: the chain alone cannot tell ({})",
        stderr(&inside)
    );
    assert_eq!(
        refusal(&verify_with(app, &file).await),
        format!(
            "error: entry {} was rewritten: hash differs from the checkpoint (this entry or an earlier one was changed and the chain re-hashed)",
            checkpoint.seq
        )
    );
    // Nor is the rewritten trail signed the next day.
    app.clock.advance(Duration::from_secs(24 * 3600));
    let refused = checkpoint::take_daily(&app.state).await.unwrap_err();
    assert!(
        format!("{refused:#}").contains("was rewritten"),
        "{refused:#}"
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM audit_checkpoints").await, 1);
}

async fn v16_4_2_a_checkpoint_with_a_bad_signature_or_another_key_is_refused(app: &TestApp) {
    seed(app).await;
    let dir = TempDir::new();
    let (file, checkpoint) = checkpoint_file(app, &dir).await;
    let text = std::fs::read_to_string(&file).unwrap();
    let write = |name: &str, content: &str| {
        let path = dir.0.join(name);
        std::fs::write(&path, content).unwrap();
        path
    };

    // One digit of the signature changed.
    let sig_at = text.find("signature: ").unwrap() + "signature: ".len();
    let mut tampered = text.clone().into_bytes();
    tampered[sig_at] = if tampered[sig_at] == b'0' { b'1' } else { b'0' };
    let tampered = write("sig.txt", &String::from_utf8(tampered).unwrap());
    let e = refusal(&verify_with(app, &tampered).await);
    assert!(e.contains("checkpoint refused: bad signature"), "{e}");

    // A field changed under a valid signature: an older entry claimed as the head.
    let older = text.replace(
        &format!("seq: {}\n", checkpoint.seq),
        &format!("seq: {}\n", checkpoint.seq - 1),
    );
    let e = refusal(&verify_with(app, &write("seq.txt", &older)).await);
    assert!(e.contains("checkpoint refused: bad signature"), "{e}");

    // A checkpoint of the real head, signed by another key (a database writer's own).
    let other_key = ServerKey::ephemeral().checkpoint_signing_key();
    let forged = Checkpoint::sign(
        &other_key,
        &checkpoint.instance,
        checkpoint.seq,
        &checkpoint.hash,
        checkpoint.at,
        Cause::OnDemand,
    );
    let e = refusal(&verify_with(app, &write("other.txt", &forged.to_text())).await);
    assert!(
        e.contains("checkpoint refused: it was signed with another key"),
        "{e}"
    );

    // Not a checkpoint at all, or no file.
    let e = refusal(&verify_with(app, &write("junk.txt", "hello\n")).await);
    assert!(
        e.contains("checkpoint refused: not a Keywarden audit checkpoint"),
        "{e}"
    );
    let e = refusal(&verify_with(app, &dir.0.join("missing.txt")).await);
    assert!(e.contains("cannot read the checkpoint"), "{e}");

    // The genuine file still passes.
    assert!(verify_with(app, &file).await.status.success());
}

async fn checkpoint_rows(app: &TestApp) -> Vec<(i64, String, String, String)> {
    sqlx::query_as("SELECT seq, hash, cause, text FROM audit_checkpoints ORDER BY id")
        .fetch_all(app.state.store.pool())
        .await
        .unwrap()
}

/// How many checkpoint mails were queued to `to` (whichever node delivers them).
async fn mail_count(app: &TestApp, to: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM outbox WHERE kind = 'audit_checkpoint' AND to_address = $1",
    )
    .bind(to)
    .fetch_one(app.state.store.pool())
    .await
    .unwrap();
    n
}

/// The text of every checkpoint mail to `to`, as delivered (the outbox keeps no body once a
/// mail is sent).
async fn mailed(app: &TestApp, to: &str) -> Vec<String> {
    let rows: Vec<(i64,)> = sqlx::query_as(
        "SELECT id FROM outbox WHERE kind = 'audit_checkpoint' AND to_address = $1 ORDER BY id",
    )
    .bind(to)
    .fetch_all(app.state.store.pool())
    .await
    .unwrap();
    let mut texts = Vec::new();
    for (id,) in rows {
        texts.push(
            common::read_eml(&app.state.config.mail_dir, id, "audit_checkpoint")
                .await
                .text,
        );
    }
    texts
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

async fn v16_4_3_an_instance_wide_action_takes_a_checkpoint_stored_mailed_and_written(
    app: &TestApp,
) {
    // This test needs a checkpoint directory: its own server.
    let dir = TempDir::new();
    let checkpoints = dir.0.join("checkpoints");
    let Some(app) = TestApp::spawn_with(app.db, |c| {
        c.audit_checkpoint_dir = Some(checkpoints.clone());
    })
    .await
    else {
        return;
    };
    let admin = seed(&app).await;
    app.admin(SECOND_ADMIN).await;
    assert!(checkpoint_rows(&app).await.is_empty());

    assert_eq!(app.sign_out_everyone(&admin).await.status(), 200);
    let rows = checkpoint_rows(&app).await;
    assert_eq!(rows.len(), 1, "one checkpoint");
    let (seq, hash, cause, text) = rows[0].clone();
    assert_eq!(cause, "instance.sessions_revoked");
    let (action_seq,): (i64,) =
        sqlx::query_as("SELECT MAX(seq) FROM audit_log WHERE action = 'instance.sessions_revoked'")
            .fetch_one(app.state.store.pool())
            .await
            .unwrap();
    assert!(
        seq >= action_seq,
        "taken after the action's entry committed"
    );
    let (entry_hash,): (String,) = sqlx::query_as("SELECT hash FROM audit_log WHERE seq = $1")
        .bind(seq)
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    assert_eq!(entry_hash, hash);
    // Mailed to each administrator, with the file in the body; not to members.
    for admin in [ADMIN, SECOND_ADMIN] {
        let mails = mailed(&app, admin).await;
        assert_eq!(mails.len(), 1, "{admin}");
        assert!(
            mails[0].contains(text.trim_end()),
            "the mail carries the checkpoint:\n{}\n---\n{text}",
            mails[0]
        );
    }
    assert!(mailed(&app, ADA).await.is_empty());
    // Written to the directory, byte for byte, and it checks out.
    let files = files_in(&checkpoints);
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].ends_with(&format!("-seq{seq}.txt")), "{files:?}");
    let written = checkpoints.join(&files[0]);
    assert_eq!(std::fs::read_to_string(&written).unwrap(), text);
    let out = verify_with(&app, &written).await;
    assert!(out.status.success(), "{}", stderr(&out));

    // "Compromise all passwords" too, and an action from the command line.
    assert_eq!(app.compromise_all(&admin, false).await.status(), 200);
    let out = app
        .cli(&["incident", "sign-out-all", "--reason", "breach"], None)
        .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let causes: Vec<String> = checkpoint_rows(&app)
        .await
        .into_iter()
        .map(|r| r.2)
        .collect();
    assert_eq!(
        causes,
        [
            "instance.sessions_revoked",
            "instance.passwords_compromised",
            "instance.sessions_revoked"
        ]
    );
    assert_eq!(mail_count(&app, ADMIN).await, 3);
    // The command line has no checkpoint directory configured here: it writes no file.
    assert_eq!(files_in(&checkpoints).len(), 2);
}

async fn v16_4_3_one_node_takes_each_daily_checkpoint(app: &TestApp) {
    assert!(
        checkpoint::take_daily(&app.state).await.unwrap().is_none(),
        "nothing to anchor in an empty trail"
    );
    seed(app).await;
    let other = app.second_node().await;
    let daily = || async {
        let (a, b) = tokio::join!(
            checkpoint::take_daily(&app.state),
            checkpoint::take_daily(&other.state)
        );
        [a.unwrap(), b.unwrap()]
            .into_iter()
            .filter(Option::is_some)
            .count()
    };
    assert_eq!(daily().await, 1, "one node wins the day");
    assert_eq!(daily().await, 0, "and the day is taken");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM audit_checkpoints WHERE cause = 'daily'")
            .await,
        1
    );
    assert_eq!(mail_count(app, ADMIN).await, 1, "mailed once");
    append(&app.state, 1).await;
    for clock in [&app.clock, &other.clock] {
        clock.advance(Duration::from_secs(24 * 3600));
    }
    assert_eq!(daily().await, 1, "the next day");
    let rows = checkpoint_rows(app).await;
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1].0, head(app).await.0, "it covers the newest entry");
}

async fn v16_4_3_admins_alone_see_and_download_the_last_checkpoint(app: &TestApp) {
    let admin = seed(app).await;
    let member = app.new_browser();
    assert_eq!(app.sign_in(&member, ADA, PASSWORD).await.status(), 200);
    let download =
        |browser: &reqwest::Client| browser.get(app.url("/admin/audit/checkpoint.txt")).send();
    assert_eq!(
        download(&admin).await.unwrap().status(),
        404,
        "none taken yet"
    );
    let taken = checkpoint::take_daily(&app.state).await.unwrap().unwrap();

    let r = download(&admin).await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment; filename=\"keywarden-audit-checkpoint-"));
    assert_eq!(r.text().await.unwrap(), taken.to_text());
    assert_eq!(download(&member).await.unwrap().status(), 403);
    assert_ne!(
        download(&app.new_browser()).await.unwrap().status(),
        200,
        "anonymous"
    );
    let cross_site = admin
        .get(app.url("/admin/audit/checkpoint.txt"))
        .header("Sec-Fetch-Site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), 403);

    let summary: serde_json::Value = app
        .call(&admin, "admin_last_audit_checkpoint", &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(summary["seq"], taken.seq);
    assert_eq!(summary["short_hash"], taken.hash[..16]);
    assert_eq!(
        app.call(&member, "admin_last_audit_checkpoint", &[])
            .await
            .status(),
        403
    );
    let html = admin
        .get(app.url("/admin/audit"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for text in [
        "Signed checkpoints",
        &taken.hash[..16],
        "/admin/audit/checkpoint.txt",
        "Download the last checkpoint",
    ] {
        assert!(html.contains(text), "{text} missing from the page");
    }
}
