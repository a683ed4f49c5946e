//! How a node hears of changes to the instance security row made elsewhere: another node, or the
//! command line on the same host.
//!
//! - PostgreSQL: a dedicated `LISTEN keywarden_security` connection. Every notification re-reads
//!   the row; so does every reconnection (notifications sent while it was down are lost, so the
//!   catch-up read covers the gap). A version poll every few seconds is the backstop.
//! - SQLite (one server; the CLI is a second process): the row's version is polled every 250 ms,
//!   a one-row primary-key read.
//!
//! `/readyz` reports the listener while it is down.

use std::time::Duration;

use anyhow::Context;
use secrecy::ExposeSecret;
use sqlx::postgres::PgListener;
use tokio::sync::watch;

use super::supervise::LISTENER;
use super::AppState;
use crate::storage::{security, Backend, Conn};

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

/// Re-reads the row when its version moved past the one this node holds.
async fn catch_up(state: &AppState, conn: &mut Conn) -> anyhow::Result<()> {
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
    listener.listen(security::CHANNEL).await.context("LISTEN")?;
    // Anything committed before LISTEN took effect was not heard: read it now.
    state.refresh_security_on(&mut conn).await?;
    state.health.up(LISTENER);
    loop {
        tokio::select! {
            _ = stop.changed() => return Ok(()),
            received = listener.try_recv() => match received.context("receive")? {
                Some(_) => state.refresh_security_on(&mut conn).await?,
                // The connection was lost and re-established: notifications in between are gone.
                None => {
                    state.health.up(LISTENER);
                    state.refresh_security_on(&mut conn).await?
                }
            },
            _ = tokio::time::sleep(POSTGRES_BACKSTOP) => catch_up(state, &mut conn).await?,
        }
    }
}
