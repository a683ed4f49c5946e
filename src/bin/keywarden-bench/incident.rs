//! `incident`: a cohort response at scale. On a database of `--users` seeded users (each with a
//! live session), one run measures:
//! - the preview of a cohort of `--cohort` users given as a pasted list of addresses (the
//!   heaviest criterion: every address looked up);
//! - applying it (the freeze: the member list stored);
//! - containment of the whole cohort by the job (passwords compromised, every session invalid by
//!   its user's watermark: checked when the cohort says it is contained), then the job's stamping
//!   of the ended session rows (checked at the end);
//! - queueing one incident notice per member;
//! - delivery by the real mail worker to a local SMTP sink (a small acceptor in this process),
//!   over the first `--deliver` notices;
//! - the incident page's query (`dashboard::page`), p95 over 20 reads.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use keywarden::config::{SmtpConfig, SmtpTls};
use keywarden::domain::{Actor, CohortActions, CohortCriteria, RequestMeta};
use keywarden::features::incidents::{cohort, dashboard, job, service};
use keywarden::storage::bench;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::node::{percentile, round, Database, Node};

pub struct Options {
    pub users: i64,
    pub cohort: i64,
    pub deliver: i64,
}

pub async fn run(backend: &str, o: &Options) -> anyhow::Result<()> {
    let db = Database::create(backend).await?;
    let result = measure(backend, &db.url, o).await;
    db.drop_it().await?;
    result
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

async fn measure(backend: &str, url: &str, o: &Options) -> anyhow::Result<()> {
    let node = Node::start_with(url, |c| c.incident_worker_enabled = false).await?;
    let state = &node.state;
    let seeding = Instant::now();
    {
        let mut tx = state.store.begin().await?;
        bench::seed(&mut tx, o.users, state.now())
            .await
            .context("seed")?;
        tx.commit().await?;
        bench::analyze(&mut *state.conn().await?, state.store.backend())
            .await
            .context("analyze")?;
    }
    let seed_s = seeding.elapsed().as_secs_f64();
    let op = Actor::cli("bench");
    let meta = RequestMeta::default();
    let opened = service::open(
        state,
        &op,
        &service::OpenIncident {
            title: "Bench incident",
            severity: "high",
            description: "",
            notice: "A partner's password list holds your address.",
            detected_at: None,
        },
        &meta,
    )
    .await
    .map_err(|e| anyhow::anyhow!("open: {e}"))?;
    // Seeded users are user1..userN@bench.example: the cohort is every (N / cohort)-th of them.
    let step = (o.users / o.cohort).max(1);
    let criteria = CohortCriteria {
        emails: (0..o.cohort)
            .map(|i| format!("user{}@bench.example", 1 + i * step))
            .collect(),
        ..Default::default()
    };

    let started = Instant::now();
    let preview = cohort::preview(state, &criteria)
        .await
        .map_err(|e| anyhow::anyhow!("preview: {e}"))?;
    let preview_ms = ms(started);
    if preview.count != o.cohort {
        bail!(
            "the preview found {} users, not {}",
            preview.count,
            o.cohort
        );
    }

    let actions = CohortActions {
        compromise: true,
        sign_out: true,
        notify: true,
    };
    let started = Instant::now();
    let id = cohort::apply(
        state,
        &op,
        &opened.reference,
        &criteria,
        actions,
        "bench",
        &meta,
    )
    .await
    .map_err(|e| anyhow::anyhow!("apply: {e}"))?;
    let apply_ms = ms(started);

    let owner = job::node_name();
    let started = Instant::now();
    let mut contained_ms = None;
    // The bench's own check at containment, left out of the notice figure.
    let mut check_ms = 0.0;
    loop {
        let step = job::step(state, &owner, id)
            .await
            .map_err(|e| anyhow::anyhow!("job: {e}"))?;
        if contained_ms.is_none() {
            let mut conn = state.conn().await?;
            let c = keywarden::storage::incidents::find_cohort(&mut conn, id)
                .await?
                .context("cohort")?;
            if c.contained_at.is_some() {
                contained_ms = Some(ms(started));
                let checking = Instant::now();
                // Contained means no member has a session that still counts: checked here, by
                // the validity rule's watermark, before the job goes on to stamp the rows.
                let (valid,): (i64,) = sqlx::query_as(
                    "SELECT COUNT(*) FROM sessions s JOIN users u ON u.id = s.user_id \
                     JOIN incident_members m ON m.user_id = s.user_id AND m.cohort_id = $1 \
                     WHERE s.ended_at IS NULL AND (u.sessions_revoked_before IS NULL \
                       OR COALESCE(s.issued_at, s.created_at) > u.sessions_revoked_before)",
                )
                .bind(id)
                .fetch_one(&mut *conn)
                .await?;
                if valid != 0 {
                    bail!("{valid} sessions of the contained cohort still count");
                }
                check_ms = ms(checking);
            }
        }
        if step != job::Step::Progressed {
            break;
        }
    }
    let job_ms = ms(started);
    let contained_ms = contained_ms.context("the cohort was never contained")?;
    // From containment to the last notice queued (the session rows are stamped in between).
    let notify_ms = job_ms - contained_ms - check_ms;
    let live: i64 = {
        let mut conn = state.conn().await?;
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM sessions WHERE ended_at IS NULL AND user_id IN \
             (SELECT user_id FROM incident_members WHERE cohort_id = $1)",
        )
        .bind(id)
        .fetch_one(&mut *conn)
        .await?;
        n
    };
    if live != 0 {
        bail!("{live} sessions of the cohort are still live");
    }

    let deliver = deliver_rate(state, o.deliver).await?;

    let mut times = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        dashboard::page(state, &opened.reference)
            .await
            .map_err(|e| anyhow::anyhow!("dashboard: {e}"))?;
        times.push(ms(started));
    }
    times.sort_by(f64::total_cmp);

    println!(
        "{}",
        json!({
            "bench": "incident",
            "backend": backend,
            "users": o.users,
            "cohort": o.cohort,
            "seed_s": round(seed_s),
            "preview_ms": round(preview_ms),
            "target_preview_ms": 1000,
            "apply_freeze_ms": round(apply_ms),
            "contain_ms": round(contained_ms),
            "target_contain_ms": 5000,
            "notice_enqueue_ms": round(notify_ms),
            "target_notice_enqueue_ms": 30000,
            "delivered": deliver.0,
            "delivery_per_s": round(deliver.1),
            "target_delivery_per_s": 500,
            "dashboard_p50_ms": round(percentile(&times, 50.0)),
            "dashboard_p95_ms": round(percentile(&times, 95.0)),
            "target_dashboard_p95_ms": 200,
        })
    );
    Ok(())
}

/// Delivers the first `count` queued notices with the real mail worker to a local SMTP sink.
/// Returns (delivered, mails per second).
async fn deliver_rate(
    state: &keywarden::runtime::AppState,
    count: i64,
) -> anyhow::Result<(u64, f64)> {
    if count == 0 {
        return Ok((0, 0.0));
    }
    let (port, received) = smtp_sink().await?;
    let mut config = (*state.config).clone();
    config.smtp = Some(SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        tls: SmtpTls::None,
        username: None,
        password: None,
    });
    let worker = keywarden::email::worker::Worker {
        store: state.store.clone(),
        clock: state.clock.clone(),
        transport: Arc::from(keywarden::email::transport::from_config(&config)?),
        max_attempts: 3,
        owner: "bench".into(),
    };
    let started = Instant::now();
    let deadline = started + Duration::from_secs(300);
    // As the running worker does: pass after pass, scrubbing the deleted bodies on its policy.
    let mut policy = keywarden::email::worker::ScrubPolicy::default();
    while (received.load(Ordering::Relaxed) as i64) < count && Instant::now() < deadline {
        let claimed = worker.deliver_batch().await?;
        if policy.after_pass(claimed) {
            worker.scrub().await;
        }
        if claimed == 0 {
            break;
        }
    }
    let delivered = received.load(Ordering::Relaxed);
    Ok((
        delivered,
        delivered as f64 / started.elapsed().as_secs_f64(),
    ))
}

/// A minimal SMTP server that accepts every mail and counts it.
async fn smtp_sink() -> anyhow::Result<(u16, Arc<AtomicU64>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let received = Arc::new(AtomicU64::new(0));
    let counter = received.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                // Replies go out at once (a real server does too): no 40 ms Nagle stalls.
                let _ = socket.set_nodelay(true);
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                if write.write_all(b"220 bench sink\r\n").await.is_err() {
                    return;
                }
                let mut in_data = false;
                while let Ok(Some(line)) = lines.next_line().await {
                    let reply: &[u8] = if in_data {
                        if line != "." {
                            continue;
                        }
                        in_data = false;
                        counter.fetch_add(1, Ordering::Relaxed);
                        b"250 queued\r\n"
                    } else {
                        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                        match verb.as_str() {
                            "EHLO" => b"250-bench sink\r\n250 8BITMIME\r\n",
                            "DATA" => {
                                in_data = true;
                                b"354 go ahead\r\n"
                            }
                            "QUIT" => {
                                let _ = write.write_all(b"221 bye\r\n").await;
                                return;
                            }
                            _ => b"250 ok\r\n",
                        }
                    };
                    if write.write_all(reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Ok((port, received))
}
