//! One unit of work: every change goes through [`AuditedTx`]. It begins the transaction, records
//! the audit entries, queues mail, and only after the commit succeeds wakes the mail worker and
//! refreshes this node's security cache (Django's `transaction.on_commit`). Nothing a caller has
//! to remember: a forgotten wake-up is not possible.

use std::ops::{Deref, DerefMut};

use anyhow::Context;
use serde_json::Value;

use super::audit::{self, Event};
use super::state::AppState;
use crate::domain::{Actor, AuditAction, RequestMeta};
use crate::email::{self, MailKind};
use crate::error::Result;
use crate::storage::{security, Conn, Tx};

pub struct AuditedTx<'a> {
    state: &'a AppState,
    meta: &'a RequestMeta,
    tx: Tx,
    now: i64,
    mail_queued: bool,
    security_changed: bool,
    applications_changed: bool,
    /// The caller's promise that no cached row changes here (see [`Self::changes_no_cached_rows`]).
    no_cached_rows: bool,
    /// Every entry recorded is attached to this incident (id, reference).
    incident: Option<(i64, String)>,
    /// The audit head, advanced by the caller's statement for the next entry (seq, previous hash).
    advanced_head: Option<(i64, String)>,
    /// Sessions ended here that this node forgets at commit (see [`Self::session_ended`]).
    ended_sessions: Vec<String>,
}

impl<'a> AuditedTx<'a> {
    /// Begins a write transaction; its entries are stamped with the clock's time now.
    pub async fn begin(state: &'a AppState, meta: &'a RequestMeta) -> Result<Self> {
        let tx = state.store.begin().await.context("begin transaction")?;
        Ok(Self {
            state,
            meta,
            tx,
            now: state.now(),
            mail_queued: false,
            security_changed: false,
            applications_changed: false,
            no_cached_rows: false,
            incident: meta.incident.clone(),
            advanced_head: None,
            ended_sessions: Vec::new(),
        })
    }

    /// The time this unit of work acts at.
    pub fn now(&self) -> i64 {
        self.now
    }

    /// The database's clock, read in this transaction: the time for watermarks and other stamps
    /// that order events across nodes (see [`AppState::order_time`]).
    pub async fn order_time(&mut self) -> Result<i64> {
        let backend = self.state.store.backend();
        Ok(crate::storage::now_ms(&mut self.tx, backend)
            .await
            .context("read the database clock")?)
    }

    /// Acts at `at` instead (a watermark written in this transaction), so the entry and the
    /// watermark carry the same time.
    pub fn at(&mut self, at: i64) {
        self.now = at;
    }

    pub fn state(&self) -> &'a AppState {
        self.state
    }

    pub fn meta(&self) -> &'a RequestMeta {
        self.meta
    }

    /// The caller's statement advanced the audit head in this transaction (to `seq`, after the
    /// entry hashed `prev_hash`): the next entry recorded takes that place. Committing before one
    /// does is refused, since the chain would have a gap.
    pub fn head_advanced(&mut self, seq: i64, prev_hash: String) {
        self.advanced_head = Some((seq, prev_hash));
    }

    /// A session whose row ended in this transaction: this node forgets it at commit and the
    /// session store's `delete` of its id writes nothing (see
    /// [`crate::runtime::session_cache::SessionCache::ended_by_commit`]). Other nodes hear of it
    /// from the row's change.
    pub fn session_ended(&mut self, id_hash: &str) {
        self.ended_sessions.push(id_hash.to_owned());
    }

    /// Appends an audit entry to the chain, inside this transaction.
    pub async fn record(
        &mut self,
        actor: &Actor,
        action: AuditAction,
        target_user_id: Option<i64>,
        reason: Option<&str>,
        details: Value,
    ) -> Result<i64> {
        let mut details = details;
        if let (Some((_, reference)), Value::Object(map)) = (&self.incident, &mut details) {
            // In the details, so the chain's hash covers the attachment too.
            map.insert("incident".into(), Value::String(reference.clone()));
        }
        let event = Event {
            actor,
            action,
            target_user_id,
            reason,
            details,
        };
        let seq = audit::record(
            &mut self.tx,
            self.state.store.backend(),
            self.now,
            self.advanced_head.take(),
            self.meta,
            event,
        )
        .await?;
        if let Some((incident_id, _)) = &self.incident {
            crate::storage::incidents::attach_audit(&mut self.tx, *incident_id, seq)
                .await
                .context("attach the entry to its incident")?;
        }
        Ok(seq)
    }

    /// Attaches every entry this unit of work records to an incident (its timeline).
    pub fn for_incident(&mut self, incident: Option<(i64, String)>) {
        self.incident = incident;
    }

    /// Renders and queues a mail in this transaction; the worker is woken after the commit.
    pub async fn queue_mail(&mut self, kind: MailKind, to: &str, vars: Value) -> Result<i64> {
        let id = email::queue(
            &mut self.tx,
            self.now,
            &self.state.config.base_url,
            kind,
            to,
            vars,
        )
        .await?;
        self.mail_queued = true;
        Ok(id)
    }

    /// The same mail to many recipients (see [`email::queue_many`]); each recipient's outbox id.
    pub async fn queue_mails(
        &mut self,
        kind: MailKind,
        to: &[&str],
        vars: Value,
        cohort_id: Option<i64>,
    ) -> Result<std::collections::HashMap<String, i64>> {
        let ids = email::queue_many(
            &mut self.tx,
            self.now,
            &self.state.config.base_url,
            kind,
            to,
            vars,
            cohort_id,
        )
        .await?;
        self.mail_queued |= !ids.is_empty();
        Ok(ids)
    }

    /// This transaction changes the instance security row: other nodes are told at commit
    /// (PostgreSQL `NOTIFY`), and this node's cache is refreshed right after it.
    pub fn security_changed(&mut self) {
        self.security_changed = true;
    }

    /// This transaction changes the applications behind forward-auth: this node's directory is
    /// reloaded right after the commit (other nodes hear of it through the cache events).
    pub fn applications_changed(&mut self) {
        self.applications_changed = true;
    }

    /// This unit of work changes no row the nodes cache (sessions, users, applications), so its
    /// commit skips the cache sync (on PostgreSQL a marker round trip and its wait). Only for hot
    /// paths whose every step is known, each with a test that fails when the promise breaks
    /// (`a_sign_in_changes_no_cached_row` for the sign-in).
    pub fn changes_no_cached_rows(&mut self) {
        self.no_cached_rows = true;
    }

    /// Commits, then runs the after-commit effects. Dropping an `AuditedTx` without committing
    /// rolls everything back and runs none of them.
    pub async fn commit(mut self) -> Result<()> {
        if self.advanced_head.is_some() {
            return Err(
                anyhow::anyhow!("the audit head was advanced for an entry never recorded").into(),
            );
        }
        if self.security_changed {
            security::announce_change(&mut self.tx, self.state.store.backend())
                .await
                .context("announce the change to other nodes")?;
        }
        self.tx.commit().await.context("commit")?;
        for id_hash in &self.ended_sessions {
            self.state.session_cache.ended_by_commit(id_hash);
        }
        if self.mail_queued {
            self.state.mail_wake.notify_one();
        }
        if self.security_changed {
            self.state.refresh_security().await?;
        }
        // Sessions ended and users changed in this transaction are forgotten by this node's
        // cache before the response: the very next request sees the change.
        // The change is committed whatever happens here: a failure clears the cache instead.
        if self.no_cached_rows && !self.applications_changed {
            return Ok(());
        }
        if let Err(e) = self.state.sync_caches(self.applications_changed).await {
            tracing::error!(
                error = format!("{e:#}"),
                "cache sync after commit failed; cache cleared"
            );
            self.state.session_cache.clear();
        }
        Ok(())
    }
}

impl Deref for AuditedTx<'_> {
    type Target = Conn;

    fn deref(&self) -> &Conn {
        &self.tx
    }
}

impl DerefMut for AuditedTx<'_> {
    fn deref_mut(&mut self) -> &mut Conn {
        &mut self.tx
    }
}
