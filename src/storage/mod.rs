//! The store: one implementation over `sqlx::AnyPool` with portable SQL (`$n` placeholders,
//! BIGINT times and flags), chosen once at start-up from the URL scheme. Backend differences stay
//! in this module (connection options, migrations); services never branch on the backend.

pub mod api_keys;
pub mod applications;
pub mod audit;
pub mod bench;
pub mod cache_events;
pub mod checkpoints;
pub mod devices;
pub mod incidents;
pub mod outbox;
pub mod overview;
pub mod resets;
pub mod security;
pub mod sessions;
pub mod settings;
pub mod throttle;
pub mod users;

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

pub type Tx = sqlx::Transaction<'static, sqlx::Any>;
pub type Conn = sqlx::AnyConnection;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A pooled connection idle for longer than this is checked (a round trip) before it is handed
/// out; one in steady use is not (the check added six round trips to a sign-in). A connection
/// that broke meanwhile fails its statement and is closed, not returned to the pool.
const CHECK_IDLE_CONNECTION_AFTER: Duration = Duration::from_secs(30);

/// The pool's settings on both databases: `max` connections, a bounded wait for one, and the
/// liveness check only for connections that sat idle (see [`CHECK_IDLE_CONNECTION_AFTER`]).
fn pool_options(max: u32) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(10))
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= CHECK_IDLE_CONNECTION_AFTER {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
}

#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// Kept for connections outside the pool (the PostgreSQL listener). Redacted in `Debug`.
    url: std::sync::Arc<secrecy::SecretString>,
}

impl Store {
    /// Connects to `sqlite://…` (file created if missing, WAL journal) or `postgres://…`.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            anyhow::bail!("unsupported database URL: expected sqlite:// or postgres://");
        };
        let url = match backend {
            Backend::Sqlite if !url.contains("mode=") => {
                format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
            }
            _ => url.to_owned(),
        };
        let options = AnyConnectOptions::from_str(&url).context("invalid database URL")?;
        let pool = match backend {
            Backend::Sqlite => {
                pool_options(8)
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            // secure_delete: deleted content (mail bodies with links and codes) is
                            // overwritten, not left in free space of the file.
                            conn.execute("PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA secure_delete = ON;")
                                .await?;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await
            }
            Backend::Postgres => {
                pool_options(16).connect_with(options).await
            }
        }
        .context("cannot connect to the database")?;
        Ok(Self {
            pool,
            backend,
            url: std::sync::Arc::new(secrecy::SecretString::from(url)),
        })
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator
            .run(&self.pool)
            .await
            .context("database migration failed")?;
        Ok(())
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The connection URL (secret: it may hold a password).
    pub fn url(&self) -> &secrecy::SecretString {
        &self.url
    }

    /// Starts a write transaction. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`),
    /// so a transaction that reads before writing cannot fail on upgrade under concurrency.
    pub async fn begin(&self) -> sqlx::Result<Tx> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    /// Starts a read-only transaction that sees one snapshot of the database from its first read
    /// to its end, whatever commits meanwhile: REPEATABLE READ on PostgreSQL; on SQLite (WAL) a
    /// deferred transaction, whose snapshot is fixed by its first read.
    pub async fn begin_snapshot(&self) -> sqlx::Result<Tx> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN DEFERRED").await,
            Backend::Postgres => {
                self.pool
                    .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .await
            }
        }
    }

    /// Makes deleted secrets (mail bodies) unrecoverable from the database files. On SQLite the
    /// write-ahead log still holds the pages as they were written until a checkpoint copies it
    /// into the database (whose deleted content `secure_delete` zeroes) and truncates it. On
    /// PostgreSQL old row versions are removed by (auto)vacuum; nothing to do here.
    pub async fn scrub_deleted(&self) -> sqlx::Result<()> {
        if self.backend == Backend::Sqlite {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// A cheap round trip for `/readyz`.
    pub async fn ping(&self) -> sqlx::Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// The database's clock, in Unix milliseconds: the one source of time for ordering (watermarks,
/// `password_set_at`, session issue times), shared by every node and the CLI whatever their own
/// clocks say.
pub async fn now_ms(conn: &mut Conn, backend: Backend) -> sqlx::Result<i64> {
    let (ms,): (i64,) = sqlx::query_as(&format!("SELECT {}", now_ms_sql(backend)))
        .fetch_one(conn)
        .await?;
    Ok(ms)
}

/// The SQL expression [`now_ms`] reads, for a statement that returns the clock with its result
/// (one round trip less).
pub fn now_ms_sql(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)",
        Backend::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
    }
}

/// For a write run as a statement of its own whose loss in a database crash is harmless (a new
/// session's row: its holder signs in again; a throttle count: the request's audit entry, written
/// with a normal commit moments later, flushes it anyway): an expression for its `RETURNING` list
/// that makes PostgreSQL commit it without waiting for the WAL flush (`synchronous_commit` off
/// for that one transaction; the next statement has it on again). Order is kept: a later commit
/// that waits flushes this one too. `None` on SQLite, whose WAL commits do not wait for a sync
/// (`synchronous = NORMAL`).
pub fn unflushed_commit(backend: Backend) -> Option<&'static str> {
    match backend {
        Backend::Postgres => Some("set_config('synchronous_commit', 'off', true)"),
        Backend::Sqlite => None,
    }
}

/// True when the error is a unique violation of the named constraint. SQLite does not report
/// constraint names, so there a unique violation on a table with one unique key is accepted.
pub fn is_unique_violation(e: &sqlx::Error, constraint: &str) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            db.is_unique_violation() && db.constraint().map_or(true, |c| c == constraint)
        }
        _ => false,
    }
}
