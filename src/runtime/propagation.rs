//! How a node hears of changes to the instance security row made elsewhere: another node, or the
//! command line on the same host.
//!
//! - PostgreSQL: a dedicated `LISTEN keywarden_security` connection. Every notification re-reads
//!   the row; so does every reconnection (notifications sent while it was down are lost, so the
//!   catch-up read covers the gap). A version poll every few seconds is the backstop.
//! - SQLite (one server; the CLI is a second process): the row's version is polled every 250 ms,
//!   a one-row primary-key read.
//!
//! The same task keeps the session cache right (see [`super::session_cache`]): on PostgreSQL it
//! also listens on `keywarden_cache`, and clears the cache whenever the listener was down
//! (notifications in between are lost); on SQLite it reads the cache events at each poll.
//!
//! `/readyz` reports the listener while it is down.

use std::time::Duration;

use anyhow::Context;
use secrecy::ExposeSecret;
use sqlx::postgres::PgListener;
use tokio::sync::watch;

use super::session_cache::Forget;
use super::supervise::LISTENER;
use super::AppState;
use crate::storage::{cache_events, security, Backend, Conn};

const SQLITE_POLL: Duration = Duration::from_millis(250);
const POSTGRES_BACKSTOP: Duration = Duration::from_secs(5);
const RECONNECT_PAUSE: Duration = Duration::from_millis(200);

/// Runs until `stop` turns true.
pub async fn run(state: AppState, stop: watch::Receiver<bool>) {
    match state.store.backend() {
        Backend::Sqlite => poll(&state, stop, SQLITE_POLL).await,
        Backend::Postgres => listen(&state, stop).await,
    }
}

/// Re-reads the row when its version moved past the one this node holds; on SQLite, applies the
/// cache events written since the last poll.
async fn catch_up(state: &AppState, conn: &mut Conn) -> anyhow::Result<()> {
    if state.store.backend() == Backend::Sqlite
        && state.session_cache.catch_up(conn, state.now()).await?
    {
        state.applications.reload(conn).await?;
    }
    let version = security::version(conn)
        .await
        .context("read security version")?;
    if version > state.security.get().row.version {
        state.refresh_security_on(conn).await?;
    }
    Ok(())
}

/// A connection of the task's own, outside the pool: reading the row after a notification never
/// waits behind request traffic for a pooled connection.
async fn own_connection(state: &AppState) -> anyhow::Result<Conn> {
    use sqlx::Connection;
    Conn::connect(state.store.url().expose_secret())
        .await
        .context("connect")
}

async fn poll(state: &AppState, mut stop: watch::Receiver<bool>, every: Duration) {
    let mut conn: Option<Conn> = None;
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(every) => {}
        }
        if conn.is_none() {
            conn = own_connection(state).await.ok();
        }
        let result = match conn.as_mut() {
            Some(c) => catch_up(state, c).await,
            None => Err(anyhow::anyhow!("no connection")),
        };
        if let Err(e) = result {
            tracing::warn!(error = format!("{e:#}"), "security version poll failed");
            state.health.down(LISTENER, format!("{e:#}"));
            conn = None;
        } else {
            state.health.up(LISTENER);
        }
    }
}

async fn listen(state: &AppState, mut stop: watch::Receiver<bool>) {
    loop {
        match listen_once(state, &mut stop).await {
            Ok(()) => return,
            Err(e) => {
                tracing::error!(
                    error = format!("{e:#}"),
                    "security listener down; reconnecting"
                );
                state.health.down(LISTENER, format!("{e:#}"));
            }
        }
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(RECONNECT_PAUSE) => {}
        }
    }
}

/// One listener connection's life. Returns `Ok` on stop, `Err` when the connection is lost.
async fn listen_once(state: &AppState, stop: &mut watch::Receiver<bool>) -> anyhow::Result<()> {
    let mut listener = PgListener::connect(state.store.url().expose_secret())
        .await
        .context("connect the listener")?;
    let mut conn = own_connection(state).await?;
    listener
        .listen_all([security::CHANNEL, cache_events::CHANNEL])
        .await
        .context("LISTEN")?;
    // Anything committed before LISTEN took effect was not heard: read it now.
    forget_everything(state, &mut conn).await?;
    state.health.up(LISTENER);
    loop {
        tokio::select! {
            _ = stop.changed() => return Ok(()),
            received = listener.try_recv() => match received.context("receive")? {
                Some(n) if n.channel() == cache_events::CHANNEL => {
                    let forget = Forget::parse(n.payload(), state.session_cache.node());
                    if state.session_cache.apply(forget) {
                        state.applications.reload(&mut conn).await?;
                    }
                }
                Some(_) => state.refresh_security_on(&mut conn).await?,
                // The connection was lost and re-established: notifications in between are gone.
                None => {
                    state.health.up(LISTENER);
                    forget_everything(state, &mut conn).await?
                }
            },
            _ = tokio::time::sleep(POSTGRES_BACKSTOP) => catch_up(state, &mut conn).await?,
        }
    }
}

/// After a gap in notifications: the security row re-read, the session cache cleared, the
/// applications reloaded.
async fn forget_everything(state: &AppState, conn: &mut Conn) -> anyhow::Result<()> {
    state.session_cache.clear();
    state.applications.reload(conn).await?;
    state.refresh_security_on(conn).await
}

/// Writes session activity and application accesses behind, every `last_seen_flush_ms`, and once
/// more on stop.
pub async fn write_activity(state: AppState, mut stop: watch::Receiver<bool>) {
    let every = Duration::from_millis(state.config.last_seen_flush_ms);
    loop {
        let stopping = tokio::select! {
            _ = stop.changed() => true,
            _ = tokio::time::sleep(every) => false,
        };
        if let Err(e) = state.session_cache.flush(&state.store).await {
            tracing::warn!(error = format!("{e:#}"), "writing session activity failed");
        }
        if stopping {
            return;
        }
    }
}
