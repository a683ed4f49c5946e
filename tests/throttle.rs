//! Sign-in throttling (ASVS 6.3.1): a progressive per-account delay held in the database, known
//! devices that get through it, per-IP limits, the bounded hash queue, aggregated audit entries;
//! and the password-hashing settings that go with them (6.3.8, 11.4.2, 6.2.4).

mod common;

use std::time::{Duration, Instant};

use common::{Db, TestApp, PASSWORD};
use serde_json::Value;

const WRONG: &str = "Wrong-Harbor-Lantern-2931";

on_both_databases!(
    v6_3_1_failures_beyond_the_threshold_are_refused_with_a_wait_before_any_hashing,
    v6_3_1_the_wait_doubles_with_each_further_failure_and_a_success_resets_it,
    v6_3_1_the_throttle_holds_on_a_second_node_and_after_a_restart,
    v6_3_1_a_known_device_signs_in_while_the_account_is_throttled_and_a_new_device_does_not,
    v6_3_1_unknown_emails_are_throttled_exactly_like_known_ones,
    v6_3_1_refused_attempts_make_one_audit_entry_per_window_not_one_per_attempt,
    v6_3_1_the_per_ip_limit_answers_429_with_retry_after,
    v6_3_8_the_dummy_hash_takes_the_parameters_of_the_median_stored_hash,
);

fn retry_after(r: &reqwest::Response) -> Option<u64> {
    r.headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// Signs in with a wrong password `n` times from fresh browsers; each must be an ordinary 401.
async fn fail(app: &TestApp, email: &str, n: usize) {
    for i in 0..n {
        let r = app.sign_in(&app.new_browser(), email, WRONG).await;
        assert_eq!(
            r.status(),
            401,
            "failure {} of {n} is answered normally",
            i + 1
        );
    }
}

/// Asserts a refusal: 429, `Retry-After` of `wait` seconds, the typed error naming the wait.
async fn assert_throttled(r: reqwest::Response, wait: u64) {
    assert_eq!(r.status(), 429);
    assert_eq!(retry_after(&r), Some(wait));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["Throttled"]["retry_after_secs"], wait, "{body}");
}

async fn audit_count(app: &TestApp, action: &str) -> i64 {
    app.count(&format!(
        "SELECT COUNT(*) FROM audit_log WHERE action = '{action}'"
    ))
    .await
}

async fn v6_3_1_failures_beyond_the_threshold_are_refused_with_a_wait_before_any_hashing(
    app: &TestApp,
) {
    app.sign_up(&app.new_browser(), "ada@example.org", PASSWORD)
        .await;
    fail(app, "ada@example.org", 5).await;
    // Even the right password, from a browser the account does not know, waits.
    let gate = app.state.hasher.hold_next_verification();
    let r = app
        .sign_in(&app.new_browser(), "ada@example.org", PASSWORD)
        .await;
    let hashed = tokio::time::timeout(Duration::from_millis(300), gate.entered.notified()).await;
    gate.release.notify_one();
    assert!(hashed.is_err(), "a throttled attempt never reaches argon2");
    assert_throttled(r, 1).await;
    assert_eq!(
        audit_count(app, "auth.sign_in").await,
        0,
        "no session was opened"
    );
    // The wait over, the right password signs in.
    app.clock.advance(Duration::from_secs(1));
    let browser = app.new_browser();
    assert_eq!(
        app.sign_in(&browser, "ada@example.org", PASSWORD)
            .await
            .status(),
        200
    );
    assert!(!app.whoami(&browser).await.is_null());
}

async fn v6_3_1_the_wait_doubles_with_each_further_failure_and_a_success_resets_it(app: &TestApp) {
    let email = "ada@example.org";
    app.sign_up(&app.new_browser(), email, PASSWORD).await;
    fail(app, email, 5).await;
    for wait in [1, 2, 4, 8] {
        assert_throttled(app.sign_in(&app.new_browser(), email, WRONG).await, wait).await;
        app.clock.advance(Duration::from_secs(wait));
        fail(app, email, 1).await;
    }
    assert_throttled(app.sign_in(&app.new_browser(), email, WRONG).await, 16).await;
    // A success starts the count again: four failures later there is still no wait.
    app.clock.advance(Duration::from_secs(16));
    assert_eq!(
        app.sign_in(&app.new_browser(), email, PASSWORD)
            .await
            .status(),
        200
    );
    fail(app, email, 4).await;
}

async fn v6_3_1_the_throttle_holds_on_a_second_node_and_after_a_restart(app: &TestApp) {
    let email = "ada@example.org";
    app.sign_up(&app.new_browser(), email, PASSWORD).await;
    fail(app, email, 5).await;
    for wait in [1, 2, 4, 8] {
        app.clock.advance(Duration::from_secs(wait));
        fail(app, email, 1).await;
    }
    // Now 16 s from this node's clock. A second node (or this one restarted: nothing of the
    // count is in memory) refuses too, even the right password.
    let other = app.second_node().await;
    let r = other.sign_in(&other.new_browser(), email, PASSWORD).await;
    assert_eq!(r.status(), 429);
    assert!(retry_after(&r).is_some_and(|s| s >= 10), "{r:?}");
}

async fn v6_3_1_a_known_device_signs_in_while_the_account_is_throttled_and_a_new_device_does_not(
    app: &TestApp,
) {
    let email = "ada@example.org";
    let laptop = app.member(email).await;
    app.call(&laptop, "sign_out", &[]).await;
    // Someone else guesses until the account is throttled.
    let attacker = app.new_browser();
    for _ in 0..5 {
        assert_eq!(app.sign_in(&attacker, email, WRONG).await.status(), 401);
    }
    assert_eq!(app.sign_in(&attacker, email, PASSWORD).await.status(), 429);
    assert_eq!(
        app.sign_in(&app.new_browser(), email, PASSWORD)
            .await
            .status(),
        429,
        "a device the account has never used waits"
    );
    // The owner's browser, which the account knows, still signs in.
    assert_eq!(app.sign_in(&laptop, email, PASSWORD).await.status(), 200);
    assert_eq!(app.whoami(&laptop).await["email"], email);
    // And it has a count of its own: guessing from it is throttled too.
    app.call(&laptop, "sign_out", &[]).await;
    for _ in 0..5 {
        assert_eq!(app.sign_in(&laptop, email, WRONG).await.status(), 401);
    }
    assert_eq!(app.sign_in(&laptop, email, PASSWORD).await.status(), 429);
}

async fn v6_3_1_unknown_emails_are_throttled_exactly_like_known_ones(app: &TestApp) {
    app.sign_up(&app.new_browser(), "ada@example.org", PASSWORD)
        .await;
    fail(app, "ada@example.org", 5).await;
    fail(app, "nobody@example.org", 5).await;
    let known = app
        .sign_in(&app.new_browser(), "ada@example.org", WRONG)
        .await;
    let unknown = app
        .sign_in(&app.new_browser(), "nobody@example.org", WRONG)
        .await;
    assert_eq!(known.status(), 429);
    assert_eq!(known.status(), unknown.status());
    assert_eq!(retry_after(&known), retry_after(&unknown));
    assert_eq!(known.text().await.unwrap(), unknown.text().await.unwrap());
}

async fn v6_3_1_refused_attempts_make_one_audit_entry_per_window_not_one_per_attempt(
    app: &TestApp,
) {
    let email = "ada@example.org";
    app.sign_up(&app.new_browser(), email, PASSWORD).await;
    let ada = app.user_id(email).await;
    fail(app, email, 5).await;
    for _ in 0..20 {
        let r = app.sign_in(&app.new_browser(), email, WRONG).await;
        assert_eq!(r.status(), 429);
    }
    assert_eq!(
        audit_count(app, "auth.sign_in_failed").await,
        5,
        "refused attempts add no row each"
    );
    assert_eq!(audit_count(app, "auth.sign_in_throttled").await, 0);
    // The window closes: one entry counts them all.
    app.clock.advance(Duration::from_secs(15 * 60));
    keywarden::runtime::throttle::report_due(&app.state)
        .await
        .unwrap();
    keywarden::runtime::throttle::report_due(&app.state)
        .await
        .unwrap();
    let (target, details): (Option<i64>, String) = sqlx::query_as(
        "SELECT target_user_id, details FROM audit_log WHERE action = 'auth.sign_in_throttled'",
    )
    .fetch_one(app.state.store.pool())
    .await
    .unwrap();
    assert_eq!(target, Some(ada));
    let details: Value = serde_json::from_str(&details).unwrap();
    assert_eq!(details["refused"], 20, "{details}");
    // The next window is counted afresh, once more in one entry.
    fail(app, email, 1).await;
    for _ in 0..3 {
        assert_eq!(
            app.sign_in(&app.new_browser(), email, WRONG).await.status(),
            429
        );
    }
    app.clock.advance(Duration::from_secs(15 * 60));
    keywarden::runtime::throttle::report_due(&app.state)
        .await
        .unwrap();
    let counts: Vec<(String,)> = sqlx::query_as(
        "SELECT details FROM audit_log WHERE action = 'auth.sign_in_throttled' ORDER BY seq",
    )
    .fetch_all(app.state.store.pool())
    .await
    .unwrap();
    let refused: Vec<Value> = counts
        .iter()
        .map(|(d,)| serde_json::from_str::<Value>(d).unwrap()["refused"].clone())
        .collect();
    assert_eq!(refused, vec![Value::from(20), Value::from(3)]);
}

async fn v6_3_1_the_per_ip_limit_answers_429_with_retry_after(app: &TestApp) {
    // Many accounts from one address: each account is below its own threshold.
    for i in 0..50 {
        let r = app
            .sign_in(&app.new_browser(), &format!("user{i}@example.org"), WRONG)
            .await;
        assert_eq!(r.status(), 401, "attempt {i} is within the per-IP limit");
    }
    let gate = app.state.hasher.hold_next_verification();
    let r = app
        .sign_in(&app.new_browser(), "user50@example.org", WRONG)
        .await;
    let hashed = tokio::time::timeout(Duration::from_millis(200), gate.entered.notified()).await;
    gate.release.notify_one();
    assert!(hashed.is_err(), "refused before any hashing");
    assert_throttled(r, 6).await;
    // Sign-up has its own budget.
    assert_eq!(
        app.sign_up(&app.new_browser(), "new@example.org", PASSWORD)
            .await
            .status(),
        200
    );
    // Time refills it.
    app.clock.advance(Duration::from_secs(6));
    assert_eq!(
        app.sign_in(&app.new_browser(), "user51@example.org", WRONG)
            .await
            .status(),
        401
    );
}

async fn v6_3_8_the_dummy_hash_takes_the_parameters_of_the_median_stored_hash(app: &TestApp) {
    use argon2::password_hash::PasswordHasher as _;
    app.sign_up(&app.new_browser(), "ada@example.org", PASSWORD)
        .await;
    // Accounts whose hashes were made with other settings (an older configuration).
    for (i, (m, t)) in [(2048, 2), (2048, 2), (4096, 1)].into_iter().enumerate() {
        let argon = argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            argon2::Params::new(m, t, 1, None).unwrap(),
        );
        let hash = argon
            .hash_password(PASSWORD.as_bytes())
            .unwrap()
            .to_string();
        sqlx::query(
            "INSERT INTO users (email, email_normalized, role, password_hash, password_set_at, created_at) \
             VALUES ($1, $1, 'member', $2, 0, 0)",
        )
        .bind(format!("old{i}@example.org"))
        .bind(hash)
        .execute(app.state.store.pool())
        .await
        .unwrap();
    }
    assert_eq!(app.state.hasher.dummy_params(), Some((1024, 1, 1)));
    let restarted = app.second_node().await;
    assert_eq!(
        restarted.state.hasher.dummy_params(),
        Some((2048, 2, 1)),
        "the median of 1024x1, 2048x2, 2048x2, 4096x1"
    );
    // Accounts with other parameters still sign in (the PHC string carries them).
    assert_eq!(
        restarted
            .sign_in(&restarted.new_browser(), "old2@example.org", PASSWORD)
            .await
            .status(),
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v6_3_1_a_full_hash_queue_answers_503_with_retry_after_at_once() {
    let Some(app) = TestApp::spawn_with(Db::Sqlite, |c| {
        c.max_concurrent_hashes = 1;
        c.max_queued_hashes = 1;
    })
    .await
    else {
        return;
    };
    let app = std::sync::Arc::new(app);
    let paused = app.state.hasher.pause_workers();
    // One job for the (held) worker, one waiting: the queue is full.
    let held: Vec<_> = (0..2)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move {
                app.sign_in(&app.new_browser(), &format!("held{i}@example.org"), WRONG)
                    .await
                    .status()
            })
        })
        .collect();
    for _ in 0..100 {
        if app.state.hasher.waiting() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(app.state.hasher.waiting(), 2);
    let started = Instant::now();
    let r = app
        .sign_in(&app.new_browser(), "late@example.org", WRONG)
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "answered at once"
    );
    assert_eq!(r.status(), 503);
    assert!(retry_after(&r).is_some_and(|s| s >= 1));
    let body: Value = r.json().await.unwrap();
    let secs = body["Busy"]["retry_after_secs"].as_u64().unwrap();
    assert!(secs >= 1, "{body}");
    // Sign-up hashes too, and is refused the same way.
    let r = app
        .sign_up(&app.new_browser(), "new@example.org", PASSWORD)
        .await;
    assert_eq!(r.status(), 503);
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 0);
    drop(paused);
    for h in held {
        assert_eq!(h.await.unwrap(), 401, "queued attempts complete");
    }
}

#[tokio::test]
async fn v11_4_2_weak_argon2_parameters_are_refused() {
    let dir = common::TempDir::new();
    let empty = dir.0.join("keywarden.toml");
    std::fs::write(&empty, "").unwrap();
    for (memory, iterations, refused) in [
        ("1024", "1", true),
        ("19455", "2", true),
        ("19456", "1", true),
        ("19456", "2", false),
        ("9216", "4", false),
        ("47104", "1", false),
    ] {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_keywarden"))
            .arg("config")
            .env("KEYWARDEN_CONFIG", &empty)
            .env(
                "KEYWARDEN_DATABASE_URL",
                format!("sqlite://{}", dir.0.join("kw.db").display()),
            )
            .env("KEYWARDEN_ARGON2_MEMORY_KIB", memory)
            .env("KEYWARDEN_ARGON2_ITERATIONS", iterations)
            .output()
            .await
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            !out.status.success(),
            refused,
            "m={memory} t={iterations}: {stderr}"
        );
        if refused {
            let line = stderr.trim();
            assert!(!line.contains('\n'), "one line: {line}");
            assert!(
                line.contains("argon2_memory_kib") && line.contains("argon2_iterations"),
                "{line}"
            );
        }
    }
}

/// `n` characters that look random to zxcvbn (a fixed LCG over letters and digits).
fn noise(n: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            char::from(ALPHABET[((x >> 33) % ALPHABET.len() as u64) as usize])
        })
        .collect()
}

#[test]
fn v6_2_4_the_common_password_check_reads_the_first_100_characters_and_stays_fast() {
    use keywarden::domain::check_common_password;
    let long = noise(10_000);
    let started = Instant::now();
    assert!(check_common_password(&long, &[]).is_ok());
    let took = started.elapsed();
    assert!(took < Duration::from_millis(500), "took {took:?}");
    // Nothing past the first 100 characters is read: a weak start is refused whatever follows.
    let weak_head: String = "password".repeat(13).chars().take(100).collect();
    assert!(check_common_password(&format!("{weak_head}{}", noise(150)), &[]).is_err());
}

/// `keywarden-bench sign-in-flood` at a tiny size: every figure is reported, every sign-in of the
/// memory flood succeeds, and the wrong-password flood meets the bounded queue.
#[test]
fn the_sign_in_flood_bench_reports_every_figure() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_keywarden-bench"))
        .args([
            "sign-in-flood",
            "--sign-ins",
            "20",
            "--clients",
            "2",
            "--seconds",
            "1",
        ])
        .output()
        .expect("run keywarden-bench");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    let figure = |name: &str| {
        lines
            .iter()
            .find(|l| l["figure"] == name)
            .unwrap_or_else(|| panic!("no {name} line in {lines:?}"))
            .clone()
    };
    let memory = figure("memory");
    assert_eq!(memory["succeeded"], 20, "{memory}");
    assert_eq!(memory["other"], 0, "{memory}");
    for key in ["idle_rss_mib", "peak_rss_mib", "after_rss_mib"] {
        assert!(memory[key].as_f64().is_some_and(|v| v > 0.0), "{memory}");
    }
    let throughput = figure("throughput");
    for key in ["raw_verify_per_s", "sign_in_per_s", "ratio"] {
        assert!(
            throughput[key].as_f64().is_some_and(|v| v > 0.0),
            "{throughput}"
        );
    }
    let latency = figure("latency");
    assert!(latency["page_p99_ms"].as_f64().is_some(), "{latency}");
    assert!(
        latency["flood_503"].as_u64().is_some_and(|n| n > 0),
        "{latency}"
    );
    assert_eq!(latency["flood_other"], 0, "{latency}");
}
