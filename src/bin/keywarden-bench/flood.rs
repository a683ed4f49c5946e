//! `sign-in-flood`: what a sign-in flood costs a real `keywarden serve` process (run separately,
//! so the benchmark's own allocations do not count in its memory figures).
//!
//! 1. Memory: the server's resident size idle, at its peak during a flood of `--sign-ins` correct
//!    sign-ins from 64 clients, and a few seconds after it ended (`/proc/<pid>/status`).
//! 2. Throughput: successful sign-ins per second from `--clients` clients against raw argon2
//!    verifications per second with the same parameters and worker count, in this process, in
//!    four alternating windows of `--seconds` each (the ratio is of the totals).
//! 3. Latency: p50/p99 of a signed-in page (`GET /account`) while 64 clients flood sign-in with
//!    wrong passwords, and the share of those answered 503 once the hash queue is full.
//!
//! Flood clients come from distinct addresses (`X-Forwarded-For` through a trusted proxy) and,
//! for the wrong passwords, distinct e-mails: the worst case, where neither the per-IP limit nor
//! the per-account delay stops them and every attempt asks for argon2.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use keywarden::config::Config;
use keywarden::runtime::hasher::PasswordHasher;
use keywarden::storage::Store;
use secrecy::SecretString;
use serde_json::json;

use crate::node::{percentile, round, Database};

const PASSWORD: &str = "Vivid-Harbor-Lantern-2931";
const FLOOD_CLIENTS: usize = 64;
/// Alternating raw and sign-in windows for the throughput figure.
const THROUGHPUT_ROUNDS: usize = 4;
/// Addresses for the throughput step's sign-ins, one each.
static NEXT_ADDRESS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
/// Each request gives up after this long.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

pub struct Options {
    pub backend: String,
    /// Clients signing in with correct passwords for the throughput figure.
    pub clients: usize,
    /// Sign-ins in the memory flood.
    pub sign_ins: usize,
    /// Length of the throughput and latency steps.
    pub seconds: f64,
    /// Hash workers (the server's `max_concurrent_hashes`).
    pub workers: usize,
}

pub async fn run(o: &Options) -> anyhow::Result<()> {
    let db = Database::create(&o.backend).await?;
    let result = measure(&db.url, o).await;
    db.drop_it().await?;
    result
}

async fn measure(url: &str, o: &Options) -> anyhow::Result<()> {
    let server = Server::start(url, o.workers).await?;
    let users = seed(url, FLOOD_CLIENTS.max(o.clients) + 1).await?;

    // 1. Memory.
    let idle_kib = server.status_kib("VmRSS")?;
    let outcome = sign_in_flood(&server.address, &users, FLOOD_CLIENTS, o.sign_ins).await;
    let peak_kib = server.status_kib("VmHWM")?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after_kib = server.status_kib("VmRSS")?;
    let mib = |kib: u64| round(kib as f64 / 1024.0);
    println!(
        "{}",
        json!({
            "bench": "sign-in-flood", "figure": "memory", "backend": o.backend,
            "workers": o.workers, "sign_ins": o.sign_ins, "clients": FLOOD_CLIENTS,
            "succeeded": outcome.ok, "answered_503": outcome.busy, "other": outcome.other,
            "idle_rss_mib": mib(idle_kib), "peak_rss_mib": mib(peak_kib),
            "after_rss_mib": mib(after_kib),
            "target_peak_mib": o.workers as f64 * 19.0 + 40.0, "target_after_mib": 60.0,
        })
    );

    // 2. Throughput: raw argon2 and sign-ins in alternating windows (raw first, then sign-ins
    // first, ...), so that a shared machine's changing speed weighs on both alike; the ratio is
    // of the totals over equal time.
    let window = Duration::from_secs_f64(o.seconds);
    let (mut raw_total, mut signed_total, mut rounds) = (0.0, 0.0, Vec::new());
    for turn in 0..THROUGHPUT_ROUNDS {
        let (raw, signed) = if turn % 2 == 0 {
            let raw = raw_verify_rate(o.workers, window).await?;
            (
                raw,
                sign_in_rate(&server.address, &users[..o.clients], window).await,
            )
        } else {
            let signed = sign_in_rate(&server.address, &users[..o.clients], window).await;
            (raw_verify_rate(o.workers, window).await?, signed)
        };
        raw_total += raw;
        signed_total += signed;
        rounds.push(round(signed / raw));
    }
    let n = THROUGHPUT_ROUNDS as f64;
    println!(
        "{}",
        json!({
            "bench": "sign-in-flood", "figure": "throughput", "backend": o.backend,
            "workers": o.workers, "clients": o.clients, "window_s": o.seconds,
            "raw_verify_per_s": round(raw_total / n), "sign_in_per_s": round(signed_total / n),
            "ratio": round(signed_total / raw_total), "round_ratios": rounds,
            "target_ratio": 0.85,
        })
    );

    // 3. Latency of a signed-in page under a flood of wrong passwords.
    let prober = client(Some("10.255.0.1"))?;
    let probe_user = users.last().context("no users")?;
    let r = sign_in(&prober, &server.address, probe_user, PASSWORD).await?;
    if r != 200 {
        bail!("the probing user could not sign in ({r})");
    }
    let quiet = probe(&prober, &server.address, Duration::from_secs(1)).await?;
    let stop = Arc::new(AtomicBool::new(false));
    let counts = Arc::new(Counts::default());
    let flood: Vec<_> = (0..FLOOD_CLIENTS)
        .map(|i| {
            let (stop, counts, address) = (stop.clone(), counts.clone(), server.address.clone());
            tokio::spawn(async move { wrong_passwords(i, &address, &stop, &counts).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let loaded = probe(&prober, &server.address, window).await;
    stop.store(true, Ordering::Relaxed);
    for f in flood {
        let _ = f.await;
    }
    let loaded = loaded?;
    let total = counts.total().max(1) as f64;
    println!(
        "{}",
        json!({
            "bench": "sign-in-flood", "figure": "latency", "backend": o.backend,
            "workers": o.workers, "flood_clients": FLOOD_CLIENTS,
            "page_p50_ms": round(percentile(&loaded, 50.0)),
            "page_p99_ms": round(percentile(&loaded, 99.0)),
            "quiet_page_p50_ms": round(percentile(&quiet, 50.0)),
            "quiet_page_p99_ms": round(percentile(&quiet, 99.0)),
            "pages": loaded.len(),
            "flood_requests": counts.total(),
            "flood_401": counts.unauthorized.load(Ordering::Relaxed),
            "flood_503": counts.busy.load(Ordering::Relaxed),
            "flood_other": counts.other.load(Ordering::Relaxed),
            "flood_503_rate": round(counts.busy.load(Ordering::Relaxed) as f64 / total),
            "target_p99_ms": 20.0,
        })
    );
    Ok(())
}

/// A `keywarden serve` process on the benchmark database, killed when dropped.
struct Server {
    child: tokio::process::Child,
    address: String,
    _dir: TempDir,
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Server {
    async fn start(url: &str, workers: usize) -> anyhow::Result<Self> {
        let dir =
            std::env::temp_dir().join(format!("keywarden-flood-{:08x}", rand::random::<u32>()));
        std::fs::create_dir_all(&dir)?;
        let dir = TempDir(dir);
        let empty = dir.0.join("keywarden.toml");
        std::fs::write(&empty, "")?;
        let key = std::env::temp_dir().join("keywarden-bench.key");
        keywarden::runtime::server_key::ServerKey::open(&key, true)?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let address = format!("http://127.0.0.1:{port}");
        let bin = std::env::current_exe()?.with_file_name("keywarden");
        let child = tokio::process::Command::new(&bin)
            .arg("serve")
            .env("KEYWARDEN_CONFIG", &empty)
            .env("KEYWARDEN_DATABASE_URL", url)
            .env("KEYWARDEN_SECRET_KEY_FILE", &key)
            .env("KEYWARDEN_LISTEN", format!("127.0.0.1:{port}"))
            .env("KEYWARDEN_BASE_URL", &address)
            .env("KEYWARDEN_MAIL_WORKER_ENABLED", "false")
            .env("KEYWARDEN_MAIL_DIR", dir.0.join("mail"))
            .env("KEYWARDEN_TRUSTED_PROXIES", "127.0.0.1/32")
            .env("KEYWARDEN_MAX_CONCURRENT_HASHES", workers.to_string())
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("run {}", bin.display()))?;
        let probe = reqwest::Client::new();
        for _ in 0..200 {
            if probe
                .get(format!("{address}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(Self {
                    child,
                    address,
                    _dir: dir,
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("keywarden serve did not become ready on {address}")
    }

    /// A `kB` line of the server's `/proc/<pid>/status` (VmRSS now, VmHWM its peak).
    fn status_kib(&self, field: &str) -> anyhow::Result<u64> {
        let pid = self.child.id().context("the server exited")?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .context("read /proc/<pid>/status (Linux only)")?;
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .with_context(|| format!("no {field} in /proc/{pid}/status"))
    }
}

/// `count` members with the same correct password (hashed once, with the configured parameters).
async fn seed(url: &str, count: usize) -> anyhow::Result<Vec<String>> {
    let config = Config::defaults()?;
    let hasher = PasswordHasher::new(
        (
            config.argon2_memory_kib,
            config.argon2_iterations,
            config.argon2_parallelism,
        ),
        1,
        1,
        None,
    )?;
    let hash = hasher.hash(SecretString::from(PASSWORD)).await?;
    let store = Store::connect(url).await?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let mut emails = Vec::new();
    for i in 0..count {
        let email = format!("flood{i}@example.org");
        sqlx::query(
            "INSERT INTO users (email, email_normalized, role, password_hash, password_set_at, created_at) \
             VALUES ($1, $1, 'member', $2, $3, $3)",
        )
        .bind(&email)
        .bind(&hash)
        .bind(now)
        .execute(store.pool())
        .await
        .context("seed a user")?;
        emails.push(email);
    }
    store.close().await;
    Ok(emails)
}

fn client(forwarded_for: Option<&str>) -> anyhow::Result<reqwest::Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(ip) = forwarded_for {
        headers.insert("x-forwarded-for", ip.parse()?);
    }
    Ok(reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .timeout(REQUEST_TIMEOUT)
        .build()?)
}

/// The address flood client `i` appears to come from.
fn address_of(i: usize) -> String {
    format!("10.{}.{}.{}", (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff)
}

async fn sign_in(
    client: &reqwest::Client,
    address: &str,
    email: &str,
    password: &str,
) -> anyhow::Result<u16> {
    sign_in_from(client, address, email, password, None).await
}

/// The same, appearing to come from `from` (through the trusted proxy) when given.
async fn sign_in_from(
    client: &reqwest::Client,
    address: &str,
    email: &str,
    password: &str,
    from: Option<&str>,
) -> anyhow::Result<u16> {
    let mut request = client
        .post(format!("{address}/api/sign_in"))
        .header("Origin", address);
    if let Some(ip) = from {
        request = request.header("x-forwarded-for", ip);
    }
    let r = request
        .header("Accept", "application/json")
        .form(&[("email", email), ("password", password), ("next", "")])
        .send()
        .await
        .context("sign-in request")?;
    Ok(r.status().as_u16())
}

/// A 503's `Retry-After`, as a client that honours it waits.
async fn sign_in_or_wait(
    client: &reqwest::Client,
    address: &str,
    email: &str,
    from: &str,
) -> anyhow::Result<u16> {
    let r = client
        .post(format!("{address}/api/sign_in"))
        .header("Origin", address)
        .header("x-forwarded-for", from)
        .header("Accept", "application/json")
        .form(&[("email", email), ("password", PASSWORD), ("next", "")])
        .send()
        .await
        .context("sign-in request")?;
    let status = r.status().as_u16();
    if status == 503 {
        let wait = r
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            .unwrap_or(1);
        tokio::time::sleep(Duration::from_secs(wait.min(5))).await;
    }
    Ok(status)
}

struct Outcome {
    ok: u64,
    busy: u64,
    other: u64,
}

/// `total` correct sign-ins shared by `clients` clients, each on its own account and address.
/// A 503 is retried after a short pause (it does not count as one of the sign-ins).
async fn sign_in_flood(address: &str, users: &[String], clients: usize, total: usize) -> Outcome {
    let next = Arc::new(AtomicU64::new(0));
    let counts = Arc::new(Counts::default());
    let tasks: Vec<_> = (0..clients)
        .map(|i| {
            let (next, counts) = (next.clone(), counts.clone());
            let (address, email) = (address.to_owned(), users[i % users.len()].clone());
            tokio::spawn(async move {
                let Ok(c) = client(None) else {
                    return;
                };
                let deadline = Instant::now() + Duration::from_secs(120);
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= total as u64 || Instant::now() >= deadline {
                        break;
                    }
                    // Each sign-in from its own address: a real flood's clients are many, and
                    // one address signing in dozens of times a minute meets the per-IP limit.
                    let from = address_of(1 << 16 | usize::try_from(n).unwrap_or(0));
                    loop {
                        match sign_in_or_wait(&c, &address, &email, &from).await {
                            Ok(503) => {
                                counts.busy.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(200) => {
                                counts.ok.fetch_add(1, Ordering::Relaxed);
                                break;
                            }
                            other => {
                                eprintln!("memory flood: unexpected answer {other:?}");
                                counts.other.fetch_add(1, Ordering::Relaxed);
                                break;
                            }
                        }
                        if Instant::now() >= deadline {
                            break;
                        }
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    Outcome {
        ok: counts.ok.load(Ordering::Relaxed),
        busy: counts.busy.load(Ordering::Relaxed),
        other: counts.other.load(Ordering::Relaxed),
    }
}

/// Raw argon2 verifications per second with the server's parameters and worker count.
async fn raw_verify_rate(workers: usize, window: Duration) -> anyhow::Result<f64> {
    let config = Config::defaults()?;
    let params = (
        config.argon2_memory_kib,
        config.argon2_iterations,
        config.argon2_parallelism,
    );
    let hasher = PasswordHasher::new(params, workers, workers * 4, None)?;
    let hash = hasher.hash(SecretString::from(PASSWORD)).await?;
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..workers * 2)
        .map(|_| {
            let (hasher, hash, done) = (hasher.clone(), hash.clone(), done.clone());
            tokio::spawn(async move {
                while started.elapsed() < window {
                    if let Ok(true) = hasher
                        .verify(SecretString::from(PASSWORD), Some(hash.clone()))
                        .await
                    {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    Ok(done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64())
}

/// Successful sign-ins per second from one client per user, each sign-in from its own address.
async fn sign_in_rate(address: &str, users: &[String], window: Duration) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = users
        .iter()
        .map(|email| {
            let (done, address, email) = (done.clone(), address.to_owned(), email.clone());
            tokio::spawn(async move {
                let Ok(c) = client(None) else {
                    return;
                };
                while started.elapsed() < window {
                    // Each sign-in from its own address, as in the memory flood: the windows
                    // together would otherwise meet the per-IP limit.
                    let from = address_of(2 << 16 | NEXT_ADDRESS.fetch_add(1, Ordering::Relaxed));
                    if let Ok(200) = sign_in_or_wait(&c, &address, &email, &from).await {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

#[derive(Default)]
struct Counts {
    ok: AtomicU64,
    unauthorized: AtomicU64,
    busy: AtomicU64,
    other: AtomicU64,
}

impl Counts {
    fn total(&self) -> u64 {
        self.ok.load(Ordering::Relaxed)
            + self.unauthorized.load(Ordering::Relaxed)
            + self.busy.load(Ordering::Relaxed)
            + self.other.load(Ordering::Relaxed)
    }
}

/// Flood client `i`: wrong passwords for e-mails that change with every attempt, each attempt
/// from another address (a botnet), until `stop`.
async fn wrong_passwords(i: usize, address: &str, stop: &AtomicBool, counts: &Counts) {
    let Ok(c) = client(None) else {
        return;
    };
    let mut n = 0usize;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let email = format!("guess{i}-{n}@example.org");
        let from = address_of(0x40_0000 + i * 0x1_0000 + n % 0x1_0000);
        match sign_in_from(&c, address, &email, "Wrong-Password-123456", Some(&from)).await {
            Ok(401) => counts.unauthorized.fetch_add(1, Ordering::Relaxed),
            Ok(503) => counts.busy.fetch_add(1, Ordering::Relaxed),
            Ok(200) => counts.ok.fetch_add(1, Ordering::Relaxed),
            _ => counts.other.fetch_add(1, Ordering::Relaxed),
        };
    }
}

/// Latencies (ms) of `GET /account` with the prober's session, one after another for `window`.
async fn probe(c: &reqwest::Client, address: &str, window: Duration) -> anyhow::Result<Vec<f64>> {
    let mut times = Vec::new();
    let started = Instant::now();
    while started.elapsed() < window {
        let t = Instant::now();
        let r = c
            .get(format!("{address}/account"))
            .send()
            .await
            .context("page request")?;
        let status = r.status();
        let _ = r.bytes().await;
        if status != 200 {
            bail!("the signed-in page answered {status}");
        }
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(times)
}
