//! The benchmark measures what production does: `keywarden-bench` runs at a small size against a
//! real server, and fails if containment did not apply to a real session on its next page request
//! or a revocation did not propagate.

mod common;

use serde_json::Value;

fn bench(args: &[&str]) -> Vec<Value> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_keywarden-bench"))
        .args(args)
        .env(
            "KEYWARDEN_BENCH_POSTGRES_URL",
            std::env::var("KEYWARDEN_TEST_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into()),
        )
        .output()
        .expect("run keywarden-bench");
    assert!(
        out.status.success(),
        "keywarden-bench {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

fn postgres_skipped(name: &str) -> bool {
    let skip = std::env::var("KEYWARDEN_TEST_SKIP_POSTGRES").is_ok()
        && !std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    if skip {
        common::skipped(name);
    }
    skip
}

#[test]
fn contain_all_times_the_next_page_request_of_real_sessions() {
    for backend in ["sqlite", "postgres"] {
        if backend == "postgres" && postgres_skipped("contain_all (postgres)") {
            continue;
        }
        let lines = bench(&[
            "contain-all",
            "--backend",
            backend,
            "--users",
            "200",
            "--repeat",
            "2",
        ]);
        let line = &lines[0];
        assert_eq!(line["bench"], "contain-all");
        assert_eq!(line["users"], 200);
        for key in ["ms", "next_request_ms", "next_request_p99_ms", "settle_ms"] {
            assert!(
                line[key].as_f64().is_some_and(|v| v > 0.0),
                "{key} in {line}"
            );
        }
    }
}

#[test]
fn propagate_reports_every_session_refused() {
    for backend in ["sqlite", "postgres"] {
        if backend == "postgres" && postgres_skipped("propagate (postgres)") {
            continue;
        }
        let lines = bench(&["propagate", "--backend", backend, "--sessions", "5"]);
        let line = &lines[0];
        assert_eq!(line["sessions"], 5);
        assert_eq!(line["missed"], 0, "{line}");
        assert!(
            line["p99_ms"].as_f64().is_some_and(|v| v < 10_000.0),
            "{line}"
        );
    }
}
