//! The incident record: open, look up, close. Each change is one audited transaction attached
//! to the incident's timeline.

use anyhow::Context;
use serde_json::json;

use super::{CohortView, IncidentView};
use crate::domain::{
    incident_reference, parse_incident_reference, Actor, AuditAction, CohortActions, IncidentState,
    RequestMeta, Severity, Tightening,
};
use crate::error::{AppError, Result};
use crate::runtime::{AppState, AuditedTx};
use crate::storage::incidents::{self, CohortRow, IncidentRow, NewIncident};
use crate::storage::security;

/// What an administrator gives to open an incident.
pub struct OpenIncident<'a> {
    pub title: &'a str,
    pub severity: &'a str,
    pub description: &'a str,
    /// What happened and what to do, in words for the affected users.
    pub notice: &'a str,
    /// When the compromise was detected (often before the incident is opened); now without it.
    pub detected_at: Option<i64>,
}

/// How far in the future a detection time may lie (clock skew between people and machines).
const DETECTED_AT_SLACK_MS: i64 = 5 * 60 * 1000;

fn check_text(field: &'static str, text: &str, max: usize, required: bool) -> Result<String> {
    let text = text.trim();
    if required && text.is_empty() {
        return Err(AppError::field(field, "Required."));
    }
    if text.chars().count() > max {
        return Err(AppError::field(field, format!("At most {max} characters.")));
    }
    let single_line = field == "title";
    if text
        .chars()
        .any(|c| c.is_control() && (single_line || (c != '\n' && c != '\r' && c != '\t')))
    {
        return Err(AppError::field(
            field,
            "Control characters are not allowed here.",
        ));
    }
    Ok(text.to_owned())
}

/// The tightening an incident row records.
pub fn tightening_of(r: &IncidentRow) -> Tightening {
    let secs = |v: Option<i64>, unit: i64| v.filter(|s| *s > 0).map(|s| s / unit);
    Tightening {
        idle_minutes: secs(r.tight_idle_secs, 60),
        lifetime_hours: secs(r.tight_lifetime_secs, 3600),
        force_alerts: r.tight_alerts != 0,
        pause_sign_up: r.tight_sign_up_paused != 0,
        strict_forgot: r.tight_forgot != 0,
    }
}

pub fn view(r: IncidentRow) -> IncidentView {
    let tightening = tightening_of(&r);
    IncidentView {
        tightening,
        id: r.id,
        reference: r.reference,
        title: r.title,
        severity: r.severity,
        description: r.description,
        notice: r.notice,
        state: r.state,
        opened_by: r.opened_by,
        opened_at: r.opened_at,
        detected_at: r.detected_at,
        contained_at: r.contained_at,
        closed_at: r.closed_at,
    }
}

pub fn cohort_view(c: &CohortRow) -> CohortView {
    CohortView {
        id: c.id,
        actions: CohortActions {
            compromise: c.compromise != 0,
            sign_out: c.sign_out != 0,
            notify: c.notify != 0,
        }
        .describe(),
        size: c.size,
        ids_sha256: c.ids_sha256.clone(),
        state: c.state.clone(),
        contained: c.contained,
        notified: c.notified,
        created_at: c.created_at,
        contained_at: c.contained_at,
        finished_at: c.finished_at,
    }
}

pub async fn open(
    state: &AppState,
    op: &Actor,
    input: &OpenIncident<'_>,
    meta: &RequestMeta,
) -> Result<IncidentView> {
    let title = check_text("title", input.title, 200, true)?;
    let description = check_text("description", input.description, 10_000, false)?;
    let notice = check_text("notice", input.notice, 4_000, false)?;
    let severity = Severity::parse(input.severity)
        .ok_or_else(|| AppError::field("severity", "Choose low, medium, high or critical."))?;
    let mut tx = AuditedTx::begin(state, meta).await?;
    let now = tx.now();
    let detected_at = input.detected_at.unwrap_or(now);
    if detected_at <= 0 || detected_at > now + DETECTED_AT_SLACK_MS {
        return Err(AppError::field(
            "detected_at",
            "The detection time cannot be in the future.",
        ));
    }
    let placeholder = format!("pending-{:016x}", rand::random::<u64>());
    let id = incidents::insert(
        &mut tx,
        &NewIncident {
            title: &title,
            severity: severity.as_str(),
            description: &description,
            notice: &notice,
            opened_by: &op.label(),
            opened_at: now,
            detected_at,
        },
        &placeholder,
    )
    .await
    .context("insert incident")?;
    let year = time::OffsetDateTime::from_unix_timestamp(now / 1000)
        .map(|t| t.year())
        .unwrap_or(1970);
    let reference = incident_reference(year, id);
    incidents::set_reference(&mut tx, id, &reference)
        .await
        .context("set incident reference")?;
    tx.for_incident(Some((id, reference.clone())));
    tx.record(
        op,
        AuditAction::IncidentOpened,
        None,
        None,
        json!({
            "title": title,
            "severity": severity.as_str(),
            "detected_at": crate::domain::time::utc_seconds(detected_at),
        }),
    )
    .await?;
    tx.commit().await?;
    let mut conn = state.conn().await?;
    let row = incidents::find(&mut conn, id)
        .await
        .context("load incident")?
        .context("incident vanished")?;
    Ok(view(row))
}

/// The incident a reference (`KW-2026-0007`) or a bare id names.
pub async fn find(state: &AppState, reference: &str) -> Result<IncidentRow> {
    let id = parse_incident_reference(reference).ok_or_else(|| {
        AppError::field(
            "incident",
            format!("\"{reference}\" is not an incident reference such as KW-2026-0007."),
        )
    })?;
    let mut conn = state.conn().await?;
    incidents::find(&mut conn, id)
        .await
        .context("load incident")?
        .ok_or_else(|| AppError::field("incident", format!("No incident {reference}.")))
}

/// The incident an action is attached to (`--incident REF`): it must not be closed.
pub async fn attachable(state: &AppState, reference: &str) -> Result<(i64, String)> {
    let row = find(state, reference).await?;
    if IncidentState::parse(&row.state) == Some(IncidentState::Closed) {
        return Err(AppError::field(
            "incident",
            format!("Incident {} is closed.", row.reference),
        ));
    }
    Ok((row.id, row.reference))
}

pub async fn list(state: &AppState) -> Result<Vec<IncidentView>> {
    let mut conn = state.conn().await?;
    Ok(incidents::list(&mut conn, 200)
        .await
        .context("list incidents")?
        .into_iter()
        .map(view)
        .collect())
}

/// The incident and its cohorts.
pub async fn status(state: &AppState, reference: &str) -> Result<(IncidentView, Vec<CohortView>)> {
    let row = find(state, reference).await?;
    let mut conn = state.conn().await?;
    let cohorts = incidents::cohorts_of(&mut conn, row.id)
        .await
        .context("load cohorts")?;
    Ok((view(row), cohorts.iter().map(cohort_view).collect()))
}

/// Closes an incident. A cohort still running must finish or be cancelled first.
pub async fn close(
    state: &AppState,
    op: &Actor,
    reference: &str,
    meta: &RequestMeta,
) -> Result<IncidentView> {
    let row = find(state, reference).await?;
    let mut tx = AuditedTx::begin(state, meta).await?;
    let cohorts = incidents::cohorts_of(&mut tx, row.id)
        .await
        .context("load cohorts")?;
    if cohorts.iter().any(|c| c.state == "running") {
        return Err(AppError::field(
            "incident",
            "A cohort job is still running: wait for it or cancel it before closing.",
        ));
    }
    let now = tx.now();
    if !incidents::set_state(&mut tx, row.id, &["open", "contained"], "closed", now)
        .await
        .context("close incident")?
    {
        return Err(AppError::field(
            "incident",
            format!("Incident {} is already closed.", row.reference),
        ));
    }
    tx.for_incident(Some((row.id, row.reference.clone())));
    tx.record(
        op,
        AuditAction::IncidentClosed,
        None,
        None,
        json!({"open_for_ms": now - row.opened_at}),
    )
    .await?;
    // Its tightening stops counting with the close (nodes take the strictest over incidents not
    // closed): every node re-reads it, and the revert is on the record.
    let closed = incidents::find(&mut tx, row.id)
        .await
        .context("reload incident")?
        .context("incident vanished")?;
    let tightening = tightening_of(&closed);
    if tightening.any() {
        security::bump_version(&mut tx)
            .await
            .context("announce the revert")?;
        tx.security_changed();
        tx.record(
            op,
            AuditAction::IncidentTighteningReverted,
            None,
            None,
            json!({"reverted": tightening.describe().join(", ")}),
        )
        .await?;
    }
    tx.commit().await?;
    let row = find(state, &row.id.to_string()).await?;
    Ok(view(row))
}

/// Sets (or, with nothing switched on, lifts) the incident's temporary tightening. It applies on
/// every node at once, to live sessions as well, and reverts when the incident closes.
pub async fn tighten(
    state: &AppState,
    op: &Actor,
    reference: &str,
    tightening: &Tightening,
    meta: &RequestMeta,
) -> Result<IncidentView> {
    tightening
        .check()
        .map_err(|(field, message)| AppError::field(field, message))?;
    let row = find(state, reference).await?;
    let before = tightening_of(&row);
    let mut tx = AuditedTx::begin(state, meta).await?;
    if !incidents::set_tightening(
        &mut tx,
        row.id,
        tightening.idle_minutes.map(|m| m * 60),
        tightening.lifetime_hours.map(|h| h * 3600),
        tightening.force_alerts,
        tightening.pause_sign_up,
        tightening.strict_forgot,
    )
    .await
    .context("set tightening")?
    {
        return Err(AppError::field(
            "incident",
            format!("Incident {} is closed.", row.reference),
        ));
    }
    security::bump_version(&mut tx)
        .await
        .context("announce the tightening")?;
    tx.security_changed();
    tx.for_incident(Some((row.id, row.reference.clone())));
    let words = |t: &Tightening| {
        let d = t.describe();
        if d.is_empty() {
            "nothing".to_owned()
        } else {
            d.join(", ")
        }
    };
    tx.record(
        op,
        AuditAction::IncidentTightened,
        None,
        None,
        json!({"before": words(&before), "now": words(tightening)}),
    )
    .await?;
    tx.commit().await?;
    let row = find(state, &row.id.to_string()).await?;
    Ok(view(row))
}

/// What a cohort's actions ask of its members, in words (the notice and the banner).
pub fn what_to_do(compromise: bool, sign_out: bool) -> &'static str {
    match (compromise, sign_out) {
        (true, _) => "Your password must be changed: at your next sign-in you will be asked to confirm your e-mail address and choose a new password. Do not reuse the old one anywhere.",
        (false, true) => "You have been signed out everywhere: sign in again. Review the devices signed in to your account.",
        (false, false) => "Review the devices signed in to your account and sign out any you do not recognise.",
    }
}

/// The banner for this user: their newest contained membership in an open incident, until they
/// dismiss it or (when the cohort set their password as compromised) choose a new password.
pub async fn banner(state: &AppState, user_id: i64) -> Result<Option<super::IncidentBannerView>> {
    let mut conn = state.conn().await?;
    let Some(b) = incidents::banner_for(&mut conn, user_id)
        .await
        .context("read the incident banner")?
    else {
        return Ok(None);
    };
    if b.compromise != 0 {
        let user = crate::storage::users::find_by_id(&mut conn, user_id)
            .await
            .context("load user")?;
        if user.is_none_or(|u| u.password_set_at > b.contained_at) {
            return Ok(None);
        }
    }
    Ok(Some(super::IncidentBannerView {
        incident_id: b.incident_id,
        reference: b.reference,
        title: b.title,
        what_happened: b.notice,
        what_to_do: what_to_do(b.compromise != 0, b.sign_out != 0).to_owned(),
    }))
}

/// The user dismisses the banner of one incident (audited, on the incident's timeline).
pub async fn dismiss_banner(
    state: &AppState,
    user: &Actor,
    user_id: i64,
    incident_id: i64,
    meta: &RequestMeta,
) -> Result<()> {
    let row = find(state, &incident_id.to_string()).await?;
    let mut meta = meta.clone();
    meta.incident = Some((row.id, row.reference.clone()));
    let mut tx = AuditedTx::begin(state, &meta).await?;
    let now = tx.now();
    if incidents::dismiss_banner(&mut tx, user_id, row.id, now)
        .await
        .context("dismiss the banner")?
        == 0
    {
        return Ok(());
    }
    tx.record(
        user,
        AuditAction::IncidentBannerDismissed,
        Some(user_id),
        None,
        json!({}),
    )
    .await?;
    tx.commit().await
}
