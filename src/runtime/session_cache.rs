//! The per-node session cache: session rows (by id hash) and their users (by id) held in memory,
//! so a signed-in request (a page, or a forward-auth check from a proxy) costs no database round
//! trip. Bounded: at most `session_cache_capacity` sessions and as many users, least recently
//! used first out.
//!
//! It stays correct because everything that could make an entry wrong is forgotten at commit:
//! - the database writes a cache event in the transaction that ended a session, changed its data,
//!   or changed or deleted a user (triggers, migration 0009; the command line is covered too):
//!   SQLite nodes read them by id, PostgreSQL nodes hear them on `LISTEN keywarden_cache`;
//! - after every [`super::AuditedTx`] commit this node applies its own events before the response
//!   is sent ([`SessionCache::sync`]), so the very next request sees the change;
//! - the session store forgets a session it ends or saves itself, at once;
//! - instance-wide changes need nothing here: the watermarks are in the security snapshot, read on
//!   every request.
//!
//! Every invalidation moves an epoch; a load that raced one is used once but not kept. Concurrent
//! misses for the same session wait for one load. A lost listener or a missed poll clears the
//! whole cache (fail closed: the next requests load from the database).
//!
//! Session activity (`last_seen_at`) is written behind: a hit only marks the entry, and
//! [`SessionCache::flush`] writes the marked ones every `last_seen_flush_ms`, so a crash loses at
//! most that interval.

use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use anyhow::Context;
use quick_cache::sync::Cache;
use tokio::sync::oneshot;

use crate::storage::cache_events::{self, CacheEvent};
use crate::storage::sessions::SessionRow;
use crate::storage::users::UserRow;
use crate::storage::{applications, Backend, Conn, Store};

/// How long [`SessionCache::sync`] waits for this node's listener to hear its own commit before
/// it clears the cache instead.
const SYNC_TIMEOUT: Duration = Duration::from_secs(2);
/// Cache events are kept this long (a node that could not read them for longer clears its cache).
/// Bound of [`SessionCache::ended_by_commit`]'s set.
const ENDED_BY_COMMIT_MAX: usize = 1024;
pub const EVENTS_KEPT_MS: i64 = 60 * 60 * 1000;

/// A live session as the cache holds it: its row without what judging it does not need (address,
/// user agent, device, location), the data as stored (JSON text), and the decoded form the
/// session feature keeps with it.
pub struct CachedSession {
    pub row: SessionRow,
    /// The last activity this node saw (written behind).
    last_seen: AtomicI64,
    /// The last activity written to the database (or loaded from it).
    stored_last_seen: AtomicI64,
    dirty: AtomicBool,
    /// What the session feature decoded from `data`, kept with the entry.
    decoded: OnceLock<Arc<dyn Any + Send + Sync>>,
}

impl CachedSession {
    pub fn new(mut row: SessionRow) -> Self {
        for field in [
            &mut row.ip,
            &mut row.user_agent,
            &mut row.device_hash,
            &mut row.location,
            &mut row.end_reason,
        ] {
            *field = None;
        }
        row.data.shrink_to_fit();
        Self {
            last_seen: AtomicI64::new(row.last_seen_at),
            stored_last_seen: AtomicI64::new(row.last_seen_at),
            dirty: AtomicBool::new(false),
            decoded: OnceLock::new(),
            row,
        }
    }

    pub fn last_seen(&self) -> i64 {
        self.last_seen.load(Ordering::Relaxed)
    }

    /// `decode(data)`, computed once per entry.
    pub fn decoded<T: Any + Send + Sync>(&self, decode: impl Fn(&Self) -> T) -> Arc<T> {
        let any = self
            .decoded
            .get_or_init(|| Arc::new(decode(self)) as Arc<dyn Any + Send + Sync>)
            .clone();
        // Only one type is ever stored per entry (the session feature's).
        any.downcast::<T>()
            .unwrap_or_else(|_| Arc::new(decode(self)))
    }
}

/// Approximate bytes one cached session takes (the figure the README states): the entry, its
/// strings and decoded data, and the cache's own bookkeeping.
pub fn approximate_entry_bytes(entry: &CachedSession) -> usize {
    let row = &entry.row;
    let opt = |s: &Option<String>| s.as_ref().map_or(0, String::capacity);
    std::mem::size_of::<CachedSession>()
        + row.id_hash.capacity()
        + row.data.capacity()
        + opt(&row.ip)
        + opt(&row.user_agent)
        + opt(&row.end_reason)
        + opt(&row.public_id)
        + opt(&row.device_hash)
        + opt(&row.location)
        + 64 // key copy and cache slot
}

struct Inner {
    sessions: Cache<String, Arc<CachedSession>>,
    users: Cache<i64, Arc<UserRow>>,
    epoch: AtomicU64,
    /// Sessions with activity not yet written.
    pending: Mutex<Vec<Arc<CachedSession>>>,
    /// (application id, session public id) → last access, not yet written.
    accesses: Mutex<HashMap<(i64, String), i64>>,
    /// SQLite: the last cache event applied.
    cursor: AtomicI64,
    /// When events were last read without error (this node's clock, ms).
    last_read_at: AtomicI64,
    /// PostgreSQL: [`SessionCache::sync`] calls waiting for their marker to come back.
    waiters: Mutex<HashMap<u64, oneshot::Sender<()>>>,
    next_marker: AtomicU64,
    node: String,
    enabled: bool,
    /// Sessions ended by a transaction this node committed, whose id the session layer is about
    /// to cycle (see [`SessionCache::ended_by_commit`]).
    ended_by_commit: Mutex<std::collections::HashSet<String>>,
}

/// Shared by every request of this node.
#[derive(Clone)]
pub struct SessionCache {
    inner: Arc<Inner>,
}

/// What a cache event asks of this node.
#[derive(Debug, PartialEq, Eq)]
pub enum Forget {
    Sessions(Vec<String>),
    Users(Vec<i64>),
    Applications,
    /// A `sync` marker of this node came back.
    Marker(u64),
    /// An announcement that does not read: the cache is cleared.
    Garbled,
    Nothing,
}

impl Forget {
    /// Reads a NOTIFY payload or an event row (`s:<hash>[,<hash>…]`, `u:<id>[,<id>…]`, `a:`,
    /// `m:<node>:<n>`). A user id that does not parse makes the whole event clear the cache
    /// (never a silent miss).
    pub fn parse(payload: &str, node: &str) -> Self {
        match payload.split_once(':') {
            Some(("s", hashes)) => Self::Sessions(hashes.split(',').map(str::to_owned).collect()),
            Some(("u", ids)) => ids
                .split(',')
                .map(str::parse)
                .collect::<Result<Vec<i64>, _>>()
                .map_or(Self::Garbled, Self::Users),
            Some(("a", _)) => Self::Applications,
            Some(("m", rest)) => match rest.rsplit_once(':') {
                Some((n, seq)) if n == node => {
                    seq.parse().map(Self::Marker).unwrap_or(Self::Nothing)
                }
                _ => Self::Nothing,
            },
            _ => Self::Nothing,
        }
    }

    fn of(event: &CacheEvent) -> Self {
        Self::parse(&format!("{}:{}", event.kind, event.key), "")
    }
}

impl SessionCache {
    pub fn new(capacity: usize, enabled: bool) -> Self {
        let capacity = capacity.max(1);
        Self {
            inner: Arc::new(Inner {
                sessions: Cache::new(capacity),
                users: Cache::new(capacity),
                epoch: AtomicU64::new(0),
                pending: Mutex::new(Vec::new()),
                accesses: Mutex::new(HashMap::new()),
                cursor: AtomicI64::new(0),
                last_read_at: AtomicI64::new(0),
                waiters: Mutex::new(HashMap::new()),
                next_marker: AtomicU64::new(0),
                node: crate::runtime::token::random_hex(8),
                enabled,
                ended_by_commit: Mutex::new(std::collections::HashSet::new()),
            }),
        }
    }

    pub fn enabled(&self) -> bool {
        self.inner.enabled
    }

    /// Starts reading cache events from the newest one (SQLite).
    pub async fn start(&self, conn: &mut Conn, now: i64) -> anyhow::Result<()> {
        let newest = cache_events::newest(conn)
            .await
            .context("newest cache event")?;
        self.inner.cursor.store(newest, Ordering::SeqCst);
        self.inner.last_read_at.store(now, Ordering::SeqCst);
        Ok(())
    }

    /// How many sessions and users are held now.
    pub fn len(&self) -> (usize, usize) {
        (self.inner.sessions.len(), self.inner.users.len())
    }

    pub fn is_empty(&self) -> bool {
        self.inner.sessions.is_empty()
    }

    /// The session with this id hash: from memory, or loaded with `load` (once for concurrent
    /// misses). `load` returns `None` for a session that does not exist or ended; that is not
    /// kept.
    pub async fn session<F, Fut>(
        &self,
        id_hash: &str,
        load: F,
    ) -> anyhow::Result<Option<Arc<CachedSession>>>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<Option<CachedSession>>>,
    {
        let inner = &self.inner;
        if !inner.enabled {
            return Ok(load().await?.map(Arc::new));
        }
        if let Some(hit) = inner.sessions.get(id_hash) {
            return Ok(Some(hit));
        }
        let epoch = inner.epoch.load(Ordering::SeqCst);
        let guard = match inner.sessions.get_value_or_guard_async(id_hash).await {
            Ok(hit) => return Ok(Some(hit)),
            Err(guard) => guard,
        };
        let Some(loaded) = load().await? else {
            return Ok(None);
        };
        let loaded = Arc::new(loaded);
        if inner.epoch.load(Ordering::SeqCst) == epoch {
            let _ = guard.insert(loaded.clone());
        }
        Ok(Some(loaded))
    }

    /// The user with this id: from memory, or loaded with `load`. The password hash is never
    /// kept in memory.
    pub async fn user<F, Fut>(&self, id: i64, load: F) -> anyhow::Result<Option<Arc<UserRow>>>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<Option<UserRow>>>,
    {
        let inner = &self.inner;
        let strip = |mut u: UserRow| {
            u.password_hash = String::new();
            Arc::new(u)
        };
        if !inner.enabled {
            return Ok(load().await?.map(strip));
        }
        if let Some(hit) = inner.users.get(&id) {
            return Ok(Some(hit));
        }
        let epoch = inner.epoch.load(Ordering::SeqCst);
        let guard = match inner.users.get_value_or_guard_async(&id).await {
            Ok(hit) => return Ok(Some(hit)),
            Err(guard) => guard,
        };
        let Some(loaded) = load().await? else {
            return Ok(None);
        };
        let loaded = strip(loaded);
        if inner.epoch.load(Ordering::SeqCst) == epoch {
            let _ = guard.insert(loaded.clone());
        }
        Ok(Some(loaded))
    }

    /// A session this node has just written (a sign-in's): kept at once, so the requests that
    /// follow it (the page a sign-in leads to) need no read. Nobody else knows its id yet, so no
    /// change to it can have been missed.
    pub fn remember_new_session(&self, session: CachedSession) {
        if self.inner.enabled {
            let id_hash = session.row.id_hash.clone();
            self.inner.sessions.insert(id_hash, Arc::new(session));
        }
    }

    /// Forgets one session (ended or changed here).
    pub fn forget_session(&self, id_hash: &str) {
        self.inner.epoch.fetch_add(1, Ordering::SeqCst);
        self.inner.sessions.remove(id_hash);
    }

    /// A session ended by a transaction of this node that has committed (a sign-in ends the
    /// session it replaces): forgotten here at once, and the session store's `delete` of its id
    /// that follows (the id cycles) writes nothing. Whether the cache is on or off.
    pub fn ended_by_commit(&self, id_hash: &str) {
        self.forget_session(id_hash);
        let mut ended = self
            .inner
            .ended_by_commit
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        // Only a failure between the commit and the cycle leaves an entry behind: bounded.
        if ended.len() >= ENDED_BY_COMMIT_MAX {
            ended.clear();
        }
        ended.insert(id_hash.to_owned());
    }

    /// Whether `id_hash` was ended by a commit of this node and not yet deleted (taken once).
    pub fn take_ended_by_commit(&self, id_hash: &str) -> bool {
        self.inner
            .ended_by_commit
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id_hash)
    }

    pub fn forget_user(&self, id: i64) {
        self.inner.epoch.fetch_add(1, Ordering::SeqCst);
        self.inner.users.remove(&id);
    }

    /// Forgets everything (events may have been missed).
    pub fn clear(&self) {
        self.inner.epoch.fetch_add(1, Ordering::SeqCst);
        self.inner.sessions.clear();
        self.inner.users.clear();
    }

    /// Applies one event. Returns whether the applications changed.
    pub fn apply(&self, forget: Forget) -> bool {
        match forget {
            Forget::Sessions(hashes) => {
                for hash in hashes {
                    self.forget_session(&hash);
                }
            }
            Forget::Users(ids) => {
                for id in ids {
                    self.forget_user(id);
                }
            }
            Forget::Garbled => self.clear(),
            Forget::Applications => return true,
            Forget::Marker(n) => {
                if let Some(tx) = self.lock_waiters().remove(&n) {
                    let _ = tx.send(());
                }
            }
            Forget::Nothing => {}
        }
        false
    }

    fn lock_waiters(&self) -> std::sync::MutexGuard<'_, HashMap<u64, oneshot::Sender<()>>> {
        self.inner.waiters.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// This node's name in `sync` markers.
    pub fn node(&self) -> &str {
        &self.inner.node
    }

    /// SQLite: applies the events written since the last read. Returns whether the applications
    /// changed. A node that could not read them for longer than they are kept clears its cache.
    pub async fn catch_up(&self, conn: &mut Conn, now: i64) -> anyhow::Result<bool> {
        let inner = &self.inner;
        if now - inner.last_read_at.load(Ordering::SeqCst) > EVENTS_KEPT_MS / 2 {
            self.clear();
        }
        let mut apps = false;
        loop {
            let from = inner.cursor.load(Ordering::SeqCst);
            let events = cache_events::after(conn, from, 1000)
                .await
                .context("read cache events")?;
            for e in &events {
                if inner.enabled {
                    apps |= self.apply(Forget::of(e));
                } else {
                    apps |= e.kind == "a";
                }
            }
            if let Some(last) = events.last() {
                inner.cursor.fetch_max(last.id, Ordering::SeqCst);
            }
            if events.len() < 1000 {
                break;
            }
        }
        inner.last_read_at.store(now, Ordering::SeqCst);
        Ok(apps)
    }

    /// Makes sure this node applied the cache events of a transaction it just committed, before
    /// its response is sent. SQLite: reads them. PostgreSQL: sends a marker on the channel after
    /// the commit and waits until this node's listener hears it (notifications arrive in commit
    /// order, so the transaction's came first); without an answer in time, clears the cache.
    /// Returns whether the applications changed.
    pub async fn sync(&self, store: &Store, now: i64) -> anyhow::Result<bool> {
        let mut conn = store.pool().acquire().await.context("acquire connection")?;
        match store.backend() {
            Backend::Sqlite => self.catch_up(&mut conn, now).await,
            Backend::Postgres => {
                let n = self.inner.next_marker.fetch_add(1, Ordering::SeqCst);
                let (tx, rx) = oneshot::channel();
                self.lock_waiters().insert(n, tx);
                let payload = format!("m:{}:{n}", self.inner.node);
                let sent = sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(cache_events::CHANNEL)
                    .bind(&payload)
                    .execute(&mut *conn)
                    .await;
                drop(conn);
                if let Err(e) = sent {
                    self.lock_waiters().remove(&n);
                    self.clear();
                    return Err(anyhow::Error::new(e).context("send the cache marker"));
                }
                if tokio::time::timeout(SYNC_TIMEOUT, rx).await.is_err() {
                    self.lock_waiters().remove(&n);
                    tracing::warn!("cache listener did not answer in time; cache cleared");
                    self.clear();
                }
                // The applications are reloaded by the caller of a change to them.
                Ok(false)
            }
        }
    }

    /// Marks activity on a cached session now (written by the next [`Self::flush`]).
    pub fn touch(&self, entry: &Arc<CachedSession>, now: i64) {
        entry.last_seen.fetch_max(now, Ordering::Relaxed);
        if now - entry.stored_last_seen.load(Ordering::Relaxed) >= 1000
            && !entry.dirty.swap(true, Ordering::AcqRel)
        {
            self.inner
                .pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(entry.clone());
        }
    }

    /// Records that a session reached an application (written by the next [`Self::flush`]).
    pub fn record_access(&self, application_id: i64, session_key: &str, now: i64) {
        let mut accesses = self
            .inner
            .accesses
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match accesses.get_mut(&(application_id, session_key.to_owned())) {
            Some(at) => *at = (*at).max(now),
            None => {
                accesses.insert((application_id, session_key.to_owned()), now);
            }
        }
    }

    /// Writes the activity and application accesses marked since the last flush, in one
    /// transaction. Returns how many rows were written.
    pub async fn flush(&self, store: &Store) -> anyhow::Result<usize> {
        let pending =
            std::mem::take(&mut *self.inner.pending.lock().unwrap_or_else(|p| p.into_inner()));
        let accesses = std::mem::take(
            &mut *self
                .inner
                .accesses
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        );
        if pending.is_empty() && accesses.is_empty() {
            return Ok(0);
        }
        let mut tx = store.begin().await.context("begin")?;
        let mut written = 0;
        for entry in &pending {
            entry.dirty.store(false, Ordering::Release);
            let seen = entry.last_seen.load(Ordering::Relaxed);
            crate::storage::sessions::touch(&mut tx, &entry.row.id_hash, seen)
                .await
                .context("write session activity")?;
            entry.stored_last_seen.fetch_max(seen, Ordering::Relaxed);
            written += 1;
        }
        for ((app, key), at) in &accesses {
            applications::record_access(&mut tx, *app, key, *at)
                .await
                .context("record application access")?;
            written += 1;
        }
        tx.commit().await.context("commit")?;
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::Forget;

    #[test]
    fn announcements_name_one_key_or_many() {
        assert_eq!(
            Forget::parse("s:ab12", "n1"),
            Forget::Sessions(vec!["ab12".into()])
        );
        assert_eq!(
            Forget::parse("s:ab12,cd34", "n1"),
            Forget::Sessions(vec!["ab12".into(), "cd34".into()])
        );
        assert_eq!(Forget::parse("u:7", "n1"), Forget::Users(vec![7]));
        assert_eq!(Forget::parse("u:7,8,9", "n1"), Forget::Users(vec![7, 8, 9]));
        // A list that does not read clears the cache rather than missing a user.
        assert_eq!(Forget::parse("u:7,x", "n1"), Forget::Garbled);
        assert_eq!(Forget::parse("a:", "n1"), Forget::Applications);
        assert_eq!(Forget::parse("m:n1:42", "n1"), Forget::Marker(42));
        assert_eq!(Forget::parse("m:n2:42", "n1"), Forget::Nothing);
    }
}
