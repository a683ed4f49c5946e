//! `keywarden-bench`: Keywarden's own benchmarks. Each prints one JSON line per result.
//!
//! - `contain-all --backend sqlite,postgres --users 1000,1000000`: "set all passwords as
//!   compromised + sign out everyone" (the same service call as the console and the CLI), then
//!   the next page request of real sessions, and the O(N) background settling, per size; the
//!   ratio between the largest and the smallest size is measured in the same run.
//! - `propagate --backend postgres --sessions 50`: two nodes on one database; node A signs
//!   everyone out and each of the sessions is polled on node B until refused (p50/p99/max).
//!   `--backend sqlite` measures the command line reaching a running server instead.
//! - `sign-in-flood --backend sqlite --sign-ins 1000 --clients 16 --seconds 5`: a separate
//!   `keywarden serve` under sign-in floods: its memory (idle, peak, after), sign-in throughput
//!   against raw argon2, a signed-in page's latency while 64 clients send wrong passwords, and
//!   the share of those answered 503 by the bounded hash queue.
//! - `forward-auth --backend sqlite,postgres --connections 64 --seconds 10`: a proxy's
//!   `GET /auth/forward` with a valid session, with and without the session cache, against a bare
//!   axum handler that only reads the cookie; requests/s, p50/p99 and the ratio; then the memory
//!   one cached session takes.
//! - `api --backend sqlite,postgres --users 1000000 --bulk 100000`: `GET /api/v1/users` pages
//!   (first, filtered dense and sparse, deep cursor) and one bulk call on a list of addresses.
//! - `overview --backend sqlite,postgres --users 1000000 --sign-ins 300000`: the admin home's
//!   query on a large instance with a month of audit trail (p50/p95).

mod api;
mod contain;
mod flood;
mod forward;
mod incident;
mod node;
mod overview;
mod propagate;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use serde_json::json;

#[derive(Parser)]
#[command(name = "keywarden-bench", about = "Keywarden benchmarks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The management API: user list pages at scale, and one bulk call on a list.
    Api {
        /// sqlite, postgres, or both separated by a comma.
        #[arg(long, default_value = "sqlite")]
        backend: String,
        #[arg(long, default_value_t = 1_000_000)]
        users: i64,
        /// Addresses listed in the bulk call.
        #[arg(long, default_value_t = 100_000)]
        bulk: i64,
        /// Concurrent clients per list step.
        #[arg(long, default_value_t = 4)]
        clients: usize,
        /// Seconds per list step.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
    },
    /// The admin overview's query on a large instance.
    Overview {
        /// sqlite, postgres, or both separated by a comma.
        #[arg(long, default_value = "sqlite")]
        backend: String,
        /// Seeded users (each with a live session).
        #[arg(long, default_value_t = 1_000_000)]
        users: i64,
        /// Audit entries in all (a month of history).
        #[arg(long, default_value_t = 1_000_000)]
        audit: i64,
        /// Of those, sign-in outcomes in the last 24 hours.
        #[arg(long, default_value_t = 300_000)]
        sign_ins: i64,
        /// Timed reads of the overview.
        #[arg(long, default_value_t = 50)]
        reads: usize,
    },
    /// Instance-wide containment at several sizes.
    ContainAll {
        /// sqlite, postgres, or both separated by a comma.
        #[arg(long, default_value = "sqlite")]
        backend: String,
        /// Numbers of users, separated by commas.
        #[arg(long, default_value = "1000,1000000")]
        users: String,
        /// Repetitions per size; the median is reported.
        #[arg(long, default_value_t = 7)]
        repeat: usize,
    },
    /// How fast a revocation reaches another node (postgres) or a server from the CLI (sqlite).
    Propagate {
        /// sqlite, postgres, or both separated by a comma.
        #[arg(long, default_value = "postgres")]
        backend: String,
        /// Nodes: 2 (node A acts, node B is measured). With sqlite the second is the CLI.
        #[arg(long, default_value_t = 2)]
        nodes: u32,
        /// Sessions polled on the measured node (each every 10 ms: the polling is load too).
        #[arg(long, default_value_t = 50)]
        sessions: i64,
    },
    /// A cohort response at scale: preview, freeze, containment, notices, delivery, dashboard.
    Incident {
        /// sqlite, postgres, or both separated by a comma.
        #[arg(long, default_value = "sqlite")]
        backend: String,
        /// Seeded users (each with a live session).
        #[arg(long, default_value_t = 1_000_000)]
        users: i64,
        /// Users in the cohort (given as a list of addresses).
        #[arg(long, default_value_t = 100_000)]
        cohort: i64,
        /// Notices delivered to the local SMTP sink for the delivery rate.
        #[arg(long, default_value_t = 5_000)]
        deliver: i64,
    },
    /// A sign-in flood against a separate server process: memory, throughput, page latency.
    SignInFlood {
        /// sqlite or postgres.
        #[arg(long, default_value = "sqlite")]
        backend: String,
        /// Sign-ins in the memory flood (64 clients).
        #[arg(long, default_value_t = 1000)]
        sign_ins: usize,
        /// Clients signing in with correct passwords for the throughput figure.
        #[arg(long, default_value_t = 16)]
        clients: usize,
        /// Seconds for the throughput and the latency steps each.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Hash workers (the server's max_concurrent_hashes); default: one per CPU.
        #[arg(long)]
        workers: Option<usize>,
    },
    /// Forward-auth throughput and latency against a bare axum handler, with and without the
    /// session cache, and the memory per cached session.
    ForwardAuth {
        /// sqlite, postgres, or both separated by a comma.
        #[arg(long, default_value = "sqlite,postgres")]
        backend: String,
        #[arg(long, default_value_t = 64)]
        connections: usize,
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Sessions loaded into the cache for the memory figure (0: skip it).
        #[arg(long, default_value_t = 20_000)]
        memory_sessions: i64,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Api {
            backend,
            users,
            bulk,
            clients,
            seconds,
        } => {
            if !(1..=10_000_000).contains(&users) || !(1..=100_000).contains(&bulk) || bulk > users
            {
                bail!("--users takes 1 to 10000000 and --bulk 1 to 100000 (at most --users)");
            }
            if !(1..=256).contains(&clients) || !(0.1..=60.0).contains(&seconds) {
                bail!("--clients takes 1 to 256 and --seconds 0.1 to 60");
            }
            let options = api::Options {
                users,
                bulk,
                clients,
                seconds,
            };
            for backend in backend.split(',').map(str::trim) {
                if backend != "sqlite" && backend != "postgres" {
                    bail!("--backend takes sqlite, postgres or both");
                }
                api::run(backend, &options).await?;
            }
            Ok(())
        }
        Command::Overview {
            backend,
            users,
            audit,
            sign_ins,
            reads,
        } => {
            if !(1..=10_000_000).contains(&users) || !(0..=audit).contains(&sign_ins) {
                bail!("--users takes 1 to 10000000, and --sign-ins at most --audit");
            }
            if !(1..=10_000).contains(&reads) {
                bail!("--reads takes 1 to 10000");
            }
            let options = overview::Options {
                users,
                audit,
                sign_ins,
                reads,
            };
            for backend in backend.split(',').map(str::trim) {
                if backend != "sqlite" && backend != "postgres" {
                    bail!("--backend takes sqlite, postgres or both");
                }
                overview::run(backend, &options).await?;
            }
            Ok(())
        }
        Command::ContainAll {
            backend,
            users,
            repeat,
        } => contain_all(&backend, &users, repeat).await,
        Command::Propagate {
            backend,
            nodes,
            sessions,
        } => {
            if nodes != 2 {
                bail!("--nodes: only 2 is supported (one acts, one is measured)");
            }
            if !(1..=10_000).contains(&sessions) {
                bail!("--sessions takes 1 to 10000");
            }
            for backend in backend.split(',').map(str::trim) {
                propagate::run(backend, sessions).await?;
            }
            Ok(())
        }
        Command::Incident {
            backend,
            users,
            cohort,
            deliver,
        } => {
            if !(1..=10_000_000).contains(&users)
                || !(1..=100_000).contains(&cohort)
                || cohort > users
            {
                bail!("--users takes 1 to 10000000 and --cohort 1 to 100000 (at most --users)");
            }
            if !(0..=cohort).contains(&deliver) {
                bail!("--deliver takes 0 to --cohort");
            }
            let options = incident::Options {
                users,
                cohort,
                deliver,
            };
            for backend in backend.split(',').map(str::trim) {
                if backend != "sqlite" && backend != "postgres" {
                    bail!("--backend takes sqlite, postgres or both");
                }
                incident::run(backend, &options).await?;
            }
            Ok(())
        }
        Command::SignInFlood {
            backend,
            sign_ins,
            clients,
            seconds,
            workers,
        } => {
            if !(1..=100_000).contains(&sign_ins) || !(1..=1000).contains(&clients) {
                bail!("--sign-ins takes 1 to 100000 and --clients 1 to 1000");
            }
            if !(0.1..=60.0).contains(&seconds) {
                bail!("--seconds takes 0.1 to 60");
            }
            let workers = workers
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
            if !(1..=256).contains(&workers) {
                bail!("--workers takes 1 to 256");
            }
            let options = flood::Options {
                backend,
                clients,
                sign_ins,
                seconds,
                workers,
            };
            flood::run(&options).await
        }
        Command::ForwardAuth {
            backend,
            connections,
            seconds,
            memory_sessions,
        } => {
            if !(1..=1024).contains(&connections) || !(0.1..=120.0).contains(&seconds) {
                bail!("--connections takes 1 to 1024 and --seconds 0.1 to 120");
            }
            if !(0..=1_000_000).contains(&memory_sessions) {
                bail!("--memory-sessions takes 0 to 1000000");
            }
            let backends: Vec<String> = backend.split(',').map(|b| b.trim().to_owned()).collect();
            if backends.iter().any(|b| b != "sqlite" && b != "postgres") {
                bail!("--backend takes sqlite, postgres or both");
            }
            forward::run(&forward::Options {
                backends,
                connections,
                seconds,
                memory_sessions,
            })
            .await
        }
    }
}

async fn contain_all(backend: &str, users: &str, repeat: usize) -> anyhow::Result<()> {
    let sizes: Vec<i64> = users
        .split(',')
        .map(|s| s.trim().parse().context("--users takes numbers"))
        .collect::<anyhow::Result<_>>()?;
    if sizes.is_empty() || sizes.iter().any(|n| *n < 1) || repeat == 0 {
        bail!("--users needs positive numbers and --repeat at least 1");
    }
    for backend in backend.split(',').map(str::trim) {
        let mut results = Vec::new();
        for &n in &sizes {
            let figures = contain::run(backend, n, repeat).await?;
            contain::print(backend, n, &figures);
            results.push((n, figures.contain_ms));
        }
        if let (Some(small), Some(large)) = (
            results.iter().min_by_key(|r| r.0),
            results.iter().max_by_key(|r| r.0),
        ) {
            if small.0 != large.0 {
                println!(
                    "{}",
                    json!({"bench": "contain-all", "backend": backend, "ratio": node::round(large.1 / small.1), "of": format!("{}/{}", large.0, small.0)})
                );
            }
        }
    }
    Ok(())
}
