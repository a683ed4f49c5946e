//! argon2id on a fixed set of worker threads (as many as `max_concurrent_hashes`), each reusing
//! its own memory block, fed by a bounded queue.
//!
//! Why not the blocking pool: every verification allocated 19 MiB on whichever blocking thread
//! ran it, glibc kept one arena per thread, and a few dozen concurrent sign-ins left the process
//! at hundreds of megabytes for good. Here memory is at most one block per worker (released after
//! a short idle spell), and a flood past `max_queued_hashes` waiting jobs is refused at once
//! ([`HashError::Busy`], 503 with `Retry-After`) instead of stalling every other request.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use crate::error::AppError;

/// A worker gives its memory block back after this long without work.
const IDLE_RELEASE: Duration = Duration::from_secs(2);

/// Holds the next password verification at its start until released (tests of races with a
/// sign-in in flight: an action commits while the verification waits).
#[derive(Debug, Default)]
pub struct VerifyGate {
    /// Notified when a verification reached the gate.
    pub entered: tokio::sync::Notify,
    /// Notify to let it go on.
    pub release: tokio::sync::Notify,
}

/// Why a hash or verification did not run.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// The queue is full: try again after this many seconds.
    #[error("too many password hashes waiting; retry after {retry_after_secs} s")]
    Busy { retry_after_secs: u64 },
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

impl From<HashError> for AppError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy { retry_after_secs } => AppError::Busy { retry_after_secs },
            HashError::Failed(cause) => AppError::internal(cause),
        }
    }
}

#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
    gate: Arc<arc_swap::ArcSwapOption<VerifyGate>>,
}

struct Inner {
    params: Params,
    queue: Arc<Queue>,
    /// Verified against when the e-mail is unknown, so both paths cost one argon2 run with the
    /// parameters most stored hashes have.
    dummy_hash: Arc<str>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.queue.close();
    }
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.inner.params)
            .finish_non_exhaustive()
    }
}

/// The argon2 parameters of a stored PHC string (m KiB, t, p), if it parses.
pub fn params_of(phc: &str) -> Option<(u32, u32, u32)> {
    let parsed = PasswordHash::new(phc).ok()?;
    let p = Params::try_from(&parsed).ok()?;
    Some((p.m_cost(), p.t_cost(), p.p_cost()))
}

impl PasswordHasher {
    /// Starts `workers` hashing threads. `max_queued` jobs may wait for one; `dummy` gives the
    /// parameters of the dummy hash (the median of the stored hashes; the configured ones when
    /// there are none yet).
    pub fn new(
        params: (u32, u32, u32),
        workers: usize,
        max_queued: usize,
        dummy: Option<(u32, u32, u32)>,
    ) -> anyhow::Result<Self> {
        let build = |(m, t, p): (u32, u32, u32)| {
            Params::new(m, t, p, None)
                .map_err(|e| anyhow::anyhow!("invalid argon2 parameters: {e}"))
        };
        let params = build(params)?;
        let dummy_params = match dummy {
            Some(d) => build(d).unwrap_or_else(|_| params.clone()),
            None => params.clone(),
        };
        let mut scratch = Vec::new();
        let dummy_hash = hash_with(
            &dummy_params,
            b"keywarden-dummy-password-for-timing",
            &mut scratch,
        )?;
        let workers = workers.max(1);
        let queue = Arc::new(Queue::new(workers, max_queued));
        for n in 0..workers {
            let (queue, params) = (Arc::clone(&queue), params.clone());
            std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || {
                    lower_priority();
                    work(&queue, &params)
                })
                .context("start a hashing thread")?;
        }
        Ok(Self {
            inner: Arc::new(Inner {
                params,
                queue,
                dummy_hash: dummy_hash.into(),
            }),
            gate: Arc::default(),
        })
    }

    /// Makes the next verification wait at its start until the returned gate is released.
    pub fn hold_next_verification(&self) -> Arc<VerifyGate> {
        let gate = Arc::new(VerifyGate::default());
        self.gate.store(Some(Arc::clone(&gate)));
        gate
    }

    /// Makes the workers take no job until the returned guard is dropped (tests of a full queue:
    /// the jobs stay queued as they would behind slow hashes).
    pub fn pause_workers(&self) -> WorkersPaused {
        self.inner.queue.set_paused(true);
        WorkersPaused(Arc::clone(&self.inner.queue))
    }

    /// The parameters (m KiB, t, p) of the dummy hash an unknown e-mail is verified against.
    pub fn dummy_params(&self) -> Option<(u32, u32, u32)> {
        params_of(&self.inner.dummy_hash)
    }

    /// Jobs waiting for a worker now (not counting those running).
    pub fn waiting(&self) -> usize {
        self.inner.queue.waiting()
    }

    /// Holds a place in the queue for one hash or verification, or refuses at once
    /// ([`HashError::Busy`]) when `max_queued_hashes` jobs already wait. Taking it first lets a
    /// request that would be refused anyway be refused before any other work.
    pub fn reserve(&self) -> Result<Reservation, HashError> {
        self.inner.queue.reserve()?;
        Ok(Reservation {
            queue: Arc::clone(&self.inner.queue),
            held: true,
        })
    }

    /// `Some(retry_after_secs)` when a reservation would be refused right now (the HTTP edge
    /// answers 503 before counting the request against the client's per-IP limit).
    pub fn busy(&self) -> Option<u64> {
        match self.inner.queue.reserve() {
            Ok(()) => {
                self.inner.queue.release();
                None
            }
            Err(HashError::Busy { retry_after_secs }) => Some(retry_after_secs),
            Err(HashError::Failed(_)) => Some(1),
        }
    }

    /// Hashes a new password into a PHC string (argon2id, random salt).
    pub async fn hash(&self, password: SecretString) -> Result<String, HashError> {
        self.hash_reserved(self.reserve()?, password).await
    }

    /// The same in a place reserved before.
    #[tracing::instrument(skip_all)]
    pub async fn hash_reserved(
        &self,
        place: Reservation,
        password: SecretString,
    ) -> Result<String, HashError> {
        match self.run(place, Work::Hash(password)).await? {
            Done::Hashed(phc) => Ok(phc),
            Done::Verified(_) => Err(anyhow::anyhow!("hashing answered a verification").into()),
        }
    }

    /// Checks a password against a stored hash, or against the dummy hash when there is no user,
    /// so that an unknown e-mail takes as long as a wrong password.
    pub async fn verify(
        &self,
        password: SecretString,
        stored: Option<String>,
    ) -> Result<bool, HashError> {
        self.verify_reserved(self.reserve()?, password, stored)
            .await
    }

    /// The same in a place reserved before.
    #[tracing::instrument(skip_all)]
    pub async fn verify_reserved(
        &self,
        place: Reservation,
        password: SecretString,
        stored: Option<String>,
    ) -> Result<bool, HashError> {
        if let Some(gate) = self.gate.swap(None) {
            gate.entered.notify_one();
            gate.release.notified().await;
        }
        let known = stored.is_some();
        let stored = stored.map_or_else(|| Arc::clone(&self.inner.dummy_hash), Arc::from);
        match self.run(place, Work::Verify(password, stored)).await? {
            Done::Verified(ok) => Ok(ok && known),
            Done::Hashed(_) => Err(anyhow::anyhow!("verification answered a hash").into()),
        }
    }

    async fn run(&self, mut place: Reservation, work: Work) -> Result<Done, HashError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = Job {
            work,
            reply,
            span: tracing::Span::current(),
        };
        place.held = false;
        self.inner.queue.push_reserved(job)?;
        Ok(answer.await.context("hashing thread stopped")??)
    }
}

/// A place in the hash queue ([`PasswordHasher::reserve`]); given back if dropped unused.
pub struct Reservation {
    queue: Arc<Queue>,
    held: bool,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.held {
            self.queue.release();
        }
    }
}

/// Returned by [`PasswordHasher::pause_workers`]; the workers resume when it is dropped.
pub struct WorkersPaused(Arc<Queue>);

impl Drop for WorkersPaused {
    fn drop(&mut self) {
        self.0.set_paused(false);
    }
}

enum Work {
    Hash(SecretString),
    Verify(SecretString, Arc<str>),
}

enum Done {
    Hashed(String),
    Verified(bool),
}

struct Job {
    work: Work,
    reply: tokio::sync::oneshot::Sender<anyhow::Result<Done>>,
    span: tracing::Span,
}

/// The jobs waiting for a worker, bounded.
struct Queue {
    state: Mutex<QueueState>,
    ready: Condvar,
    workers: usize,
    max_queued: usize,
    /// Recent time per job (exponential average, microseconds), for `Retry-After`.
    job_micros: AtomicU64,
}

struct QueueState {
    jobs: VecDeque<Job>,
    /// Places reserved for jobs not queued yet.
    reserved: usize,
    busy: usize,
    closed: bool,
    /// Workers take no job while set (tests fill the queue with it).
    paused: bool,
}

enum Next {
    Job(Job),
    Idle,
    Closed,
}

impl Queue {
    fn new(workers: usize, max_queued: usize) -> Self {
        Self {
            state: Mutex::new(QueueState {
                jobs: VecDeque::new(),
                reserved: 0,
                busy: 0,
                closed: false,
                paused: false,
            }),
            ready: Condvar::new(),
            workers,
            max_queued,
            job_micros: AtomicU64::new(50_000),
        }
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, QueueState>, HashError> {
        // Fail closed: a poisoned queue refuses work.
        self.state
            .lock()
            .map_err(|_| HashError::Failed(anyhow::anyhow!("hash queue poisoned")))
    }

    fn waiting(&self) -> usize {
        self.state.lock().map(|s| s.jobs.len()).unwrap_or(0)
    }

    /// Reserves a place, or refuses at once when `max_queued` jobs already wait for a worker.
    fn reserve(&self) -> Result<(), HashError> {
        let mut s = self.lock()?;
        let pending = s.jobs.len() + s.reserved;
        let idle = self.workers.saturating_sub(s.busy);
        let would_wait = (pending + 1).saturating_sub(idle);
        if s.closed || would_wait > self.max_queued {
            let ahead = (pending + s.busy) as u64;
            let per_job = self.job_micros.load(Ordering::Relaxed);
            let wait_micros = ahead * per_job / self.workers as u64;
            return Err(HashError::Busy {
                retry_after_secs: wait_micros.div_ceil(1_000_000).max(1),
            });
        }
        s.reserved += 1;
        Ok(())
    }

    fn release(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.reserved = s.reserved.saturating_sub(1);
        }
    }

    /// Queues a job in a place reserved before.
    fn push_reserved(&self, job: Job) -> Result<(), HashError> {
        let mut s = self.lock()?;
        s.reserved = s.reserved.saturating_sub(1);
        if s.closed {
            return Err(HashError::Failed(anyhow::anyhow!("hasher stopped")));
        }
        s.jobs.push_back(job);
        drop(s);
        self.ready.notify_one();
        Ok(())
    }

    /// The next job for a worker; `Idle` after `IDLE_RELEASE` without one.
    fn next(&self, finished: Option<Duration>) -> Next {
        let Ok(mut s) = self.state.lock() else {
            return Next::Closed;
        };
        if let Some(took) = finished {
            s.busy = s.busy.saturating_sub(1);
            let took = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
            let old = self.job_micros.load(Ordering::Relaxed);
            self.job_micros
                .store((old * 7 + took) / 8, Ordering::Relaxed);
        }
        let deadline = Instant::now() + IDLE_RELEASE;
        loop {
            if !s.paused {
                if let Some(job) = s.jobs.pop_front() {
                    s.busy += 1;
                    return Next::Job(job);
                }
            }
            if s.closed {
                return Next::Closed;
            }
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return Next::Idle;
            };
            s = match self.ready.wait_timeout(s, left) {
                Ok((guard, _)) => guard,
                Err(_) => return Next::Closed,
            };
        }
    }

    fn set_paused(&self, paused: bool) {
        if let Ok(mut s) = self.state.lock() {
            s.paused = paused;
        }
        self.ready.notify_all();
    }

    fn close(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.closed = true;
        }
        self.ready.notify_all();
    }
}

/// One worker thread: takes jobs until the hasher is dropped, reusing one memory block sized for
/// the configured parameters.
fn work(queue: &Queue, params: &Params) {
    let mut memory: Vec<Block> = Vec::new();
    let mut finished = None;
    loop {
        let job = match queue.next(finished.take()) {
            Next::Job(job) => job,
            Next::Idle => {
                // Give the block back to the allocator (and the system) while nothing runs.
                memory = Vec::new();
                continue;
            }
            Next::Closed => return,
        };
        let started = Instant::now();
        let span = job.span.clone();
        let done = span.in_scope(|| match &job.work {
            Work::Hash(password) => {
                hash_with(params, password.expose_secret().as_bytes(), &mut memory)
                    .map(Done::Hashed)
            }
            Work::Verify(password, stored) => verify_with(
                params,
                password.expose_secret().as_bytes(),
                stored,
                &mut memory,
            )
            .map(Done::Verified),
        });
        let _ = job.reply.send(done);
        finished = Some(started.elapsed());
    }
}

/// Runs argon2 in `memory` (grown to the configured size when needed); a job whose parameters ask
/// for more than that gets a block of its own, freed after it.
fn fill(
    argon: &Argon2<'_>,
    configured: &Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
    memory: &mut Vec<Block>,
) -> anyhow::Result<()> {
    let needed = argon.params().block_count();
    let result = if needed <= configured.block_count().max(memory.len()) {
        if memory.len() < needed {
            *memory = block_buffer(configured.block_count().max(needed));
        }
        argon.hash_password_into_with_memory(password, salt, out, &mut memory[..needed])
    } else {
        let mut own = block_buffer(needed);
        argon.hash_password_into_with_memory(password, salt, out, &mut own[..])
    };
    result.map_err(|e| anyhow::anyhow!("argon2 failed: {e}"))
}

/// glibc serves a request below its mmap threshold from the thread's arena, and it raises that
/// threshold (up to 32 MiB) each time a large block is freed: a 19 MiB block then stays in the
/// arena after it is freed, and the process keeps it for good. Reserving more than 32 MiB always
/// gets a mapping of its own, returned to the system when freed; only the `blocks` actually used
/// are touched, so the resident size is what argon2 needs.
const OWN_MAPPING_BYTES: usize = 33 << 20;

fn block_buffer(blocks: usize) -> Vec<Block> {
    let mut memory = Vec::with_capacity(blocks.max(OWN_MAPPING_BYTES / Block::SIZE));
    memory.resize(blocks, Block::new());
    memory
}

fn hash_with(params: &Params, password: &[u8], memory: &mut Vec<Block>) -> anyhow::Result<String> {
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let salt_bytes: [u8; 16] = rand::random();
    let salt = Salt::new(&salt_bytes).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    fill(&argon, params, password, &salt, &mut out, memory)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| anyhow::anyhow!("params: {e}"))?,
        salt: Some(salt),
        hash: Some(Output::new(&out).map_err(|e| anyhow::anyhow!("output: {e}"))?),
    };
    Ok(phc.to_string())
}

/// Recomputes the raw hash with the stored salt and parameters, compared in constant time.
fn verify_with(
    configured: &Params,
    password: &[u8],
    stored: &str,
    memory: &mut Vec<Block>,
) -> anyhow::Result<bool> {
    let malformed = |e: &dyn std::fmt::Display| anyhow::anyhow!("stored hash is malformed: {e}");
    let parsed = PasswordHash::new(stored).map_err(|e| malformed(&e))?;
    let algorithm = Algorithm::try_from(parsed.algorithm.as_str()).map_err(|e| malformed(&e))?;
    let version = match parsed.version {
        Some(v) => Version::try_from(v).map_err(|e| malformed(&e))?,
        None => Version::V0x10,
    };
    let params = Params::try_from(&parsed).map_err(|e| malformed(&e))?;
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return Err(anyhow::anyhow!("stored hash has no salt or output"));
    };
    let argon = Argon2::new(algorithm, version, params);
    let mut out = vec![0u8; expected.len()];
    fill(&argon, configured, password, salt, &mut out, memory)?;
    Ok(bool::from(out.ct_eq(expected.as_bytes())))
}

/// Hashing threads run at the lowest scheduling priority (Linux: niceness 19), so a sign-in flood
/// that keeps them busy cannot take the CPU from request handling: signed-in pages stay fast,
/// and argon2 still gets every cycle nothing else wants. Failing to lower it (an unusual
/// platform) only costs latency, so it is logged and hashing goes on.
fn lower_priority() {
    if let Err(e) =
        thread_priority::set_current_thread_priority(thread_priority::ThreadPriority::Min)
    {
        tracing::warn!(error = ?e, "could not lower the priority of a hashing thread");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher(workers: usize, queued: usize) -> PasswordHasher {
        PasswordHasher::new((1024, 1, 1), workers, queued, None).unwrap()
    }

    #[tokio::test]
    async fn a_hash_verifies_and_a_wrong_password_does_not() {
        let h = hasher(1, 4);
        let phc = h.hash(SecretString::from("right horse")).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{phc}");
        assert!(h
            .verify(SecretString::from("right horse"), Some(phc.clone()))
            .await
            .unwrap());
        assert!(!h
            .verify(SecretString::from("wrong horse"), Some(phc))
            .await
            .unwrap());
        assert!(!h.verify(SecretString::from("x"), None).await.unwrap());
    }

    #[tokio::test]
    async fn hashes_made_elsewhere_and_with_other_parameters_verify() {
        use argon2::password_hash::PasswordHasher as _;
        let h = hasher(1, 4);
        // Bigger than the worker's block (a job of its own) and smaller than it.
        for (m, t) in [(4096, 2), (256, 3)] {
            let other = Argon2::new(
                Algorithm::Argon2id,
                Version::V0x13,
                Params::new(m, t, 1, None).unwrap(),
            );
            let phc = other.hash_password(b"tr0ub4dor").unwrap().to_string();
            assert_eq!(params_of(&phc), Some((m, t, 1)));
            assert!(h
                .verify(SecretString::from("tr0ub4dor"), Some(phc.clone()))
                .await
                .unwrap());
            assert!(!h
                .verify(SecretString::from("tr0ub4dor!"), Some(phc))
                .await
                .unwrap());
        }
    }

    #[test]
    fn a_full_queue_refuses_at_once_with_a_wait() {
        let q = Queue::new(1, 1);
        let job = || {
            let (reply, _) = tokio::sync::oneshot::channel();
            Job {
                work: Work::Hash(SecretString::from("x")),
                reply,
                span: tracing::Span::none(),
            }
        };
        // No worker takes them: the first would run at once, the second waits (a place given
        // back is free again), the third is refused.
        q.reserve().unwrap();
        q.push_reserved(job()).unwrap();
        q.reserve().unwrap();
        q.release();
        q.reserve().unwrap();
        match q.reserve() {
            Err(HashError::Busy { retry_after_secs }) => assert!(retry_after_secs >= 1),
            other => panic!("expected Busy, got {:?}", other.err()),
        }
    }
}
