//! The incident page's data: the timeline and the remediation figures, each computed from
//! recorded facts (never estimated); and the cohort form's fields parsed into criteria.

use anyhow::Context;
use serde_json::Value;

use super::{IncidentPageData, Kpis, TimelineItem};
use crate::domain::{emails_from_text, AuditAction, CohortCriteria, Window};
use crate::error::{AppError, Result};
use crate::runtime::AppState;
use crate::storage::incidents;

/// How many timeline entries the page shows (the export holds them all).
const TIMELINE_LIMIT: i64 = 500;
/// How many hours the completion chart covers at most.
const CHART_HOURS: i64 = 72;
const HOUR_MS: i64 = 3_600_000;

pub async fn page(state: &AppState, reference: &str) -> Result<IncidentPageData> {
    let row = super::service::find(state, reference).await?;
    let now = state.now();
    let mut conn = state.conn().await?;
    let cohorts = incidents::cohorts_of(&mut conn, row.id)
        .await
        .context("load cohorts")?;
    let entries = incidents::timeline(&mut conn, row.id, TIMELINE_LIMIT)
        .await
        .context("load timeline")?;
    let mut sessions_ended = 0;
    let timeline = entries
        .into_iter()
        .map(|e| {
            let details: Value = serde_json::from_str(&e.details).unwrap_or(Value::Null);
            // Containment batches recorded the sessions they ended until the session rows
            // were stamped in a phase of their own.
            if e.action == AuditAction::IncidentCohortSessionsEnded.as_str()
                || e.action == AuditAction::IncidentCohortBatch.as_str()
            {
                sessions_ended += details["sessions_ended"].as_i64().unwrap_or(0);
            }
            TimelineItem {
                seq: e.seq,
                at: e.at,
                actor: e
                    .actor_label
                    .clone()
                    .unwrap_or_else(|| e.actor_kind.clone()),
                label: AuditAction::parse(&e.action)
                    .map_or_else(|| e.action.clone(), |a| a.label().to_owned()),
                code: e.action.clone(),
                summary: summary(&details, e.reason.as_deref()),
            }
        })
        .collect();
    let facts = incidents::remediation(&mut conn, row.id, row.opened_at)
        .await
        .context("read remediation figures")?;
    let first_cohort = cohorts.iter().map(|c| c.created_at).min();
    let kpis = Kpis {
        members: facts.members,
        sessions_ended,
        mttr_ms: row.contained_at.map(|at| at - row.detected_at),
        compromised_members: facts.compromised_members,
        reset_completed: facts.reset_times.len() as i64,
        completion_by_hour: first_cohort
            .map(|start| by_hour(start, now, &facts.reset_times))
            .unwrap_or_default(),
        notices_sent: facts.notices_sent,
        notices_failed: facts.notices_failed,
        notices_pending: facts.notices_pending,
        not_me_reports: facts.not_me_reports,
        refused_sign_ins: facts.refused_sign_ins,
    };
    Ok(IncidentPageData {
        incident: super::service::view(row),
        cohorts: cohorts.iter().map(super::service::cohort_view).collect(),
        timeline,
        kpis,
        now,
    })
}

/// One line of an entry's details, for the timeline.
fn summary(details: &Value, reason: Option<&str>) -> String {
    let mut parts = Vec::new();
    if let Some(r) = reason {
        parts.push(format!("reason: {r}"));
    }
    if let Value::Object(map) = details {
        for (k, v) in map {
            if k == "incident" || k == "criteria" || k == "actions" {
                continue;
            }
            let v = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            parts.push(format!("{}: {v}", k.replace('_', " ")));
        }
    }
    parts.join(" · ")
}

/// Cumulative completions at the end of each hour from `start`, up to now (at most 72 hours).
fn by_hour(start: i64, now: i64, reset_times: &[i64]) -> Vec<(i64, i64)> {
    let first = start - start.rem_euclid(HOUR_MS);
    let hours = ((now - first) / HOUR_MS + 1).clamp(1, CHART_HOURS);
    (0..hours)
        .map(|h| {
            let hour = first + h * HOUR_MS;
            let end = hour + HOUR_MS;
            let done = reset_times.iter().filter(|t| **t < end).count() as i64;
            (hour, done)
        })
        .collect()
}

/// A time typed in the console: `2026-11-29T08:00` (a `datetime-local` field, read as UTC),
/// `2026-11-29` (midnight UTC) or RFC 3339.
pub fn parse_time(field: &'static str, text: &str) -> Result<Option<i64>> {
    use time::format_description::well_known::Rfc3339;
    use time::macros::format_description;
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let bad = || AppError::field(field, "Use a date and time such as 2026-11-29T08:00 (UTC).");
    let at = if let Ok(t) = time::OffsetDateTime::parse(text, &Rfc3339) {
        t
    } else if let Ok(t) = time::PrimitiveDateTime::parse(
        text,
        format_description!("[year]-[month]-[day]T[hour]:[minute]"),
    ) {
        t.assume_utc()
    } else if let Ok(d) = time::Date::parse(text, format_description!("[year]-[month]-[day]")) {
        d.midnight().assume_utc()
    } else {
        return Err(bad());
    };
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000)
        .map(Some)
        .map_err(|_| bad())
}

/// The cohort form's fields, as typed.
#[derive(Default)]
pub struct CriteriaForm {
    pub role: String,
    pub created_before: String,
    pub created_after: String,
    pub signed_in_from: String,
    pub signed_in_to: String,
    pub new_device_from: String,
    pub new_device_to: String,
    pub ip_range: String,
    pub country: String,
    pub password_set_from: String,
    pub password_set_to: String,
    pub emails: String,
}

fn window(field: &'static str, from: &str, to: &str, now: i64) -> Result<Option<Window>> {
    match (parse_time(field, from)?, parse_time(field, to)?) {
        (None, None) => Ok(None),
        (None, Some(_)) => Err(AppError::field(field, "Give the start of the window too.")),
        (Some(from), to) => Ok(Some(Window {
            from,
            to: to.unwrap_or(now + 1),
        })),
    }
}

impl CriteriaForm {
    /// The fields as sent, non-empty ones only.
    pub fn fields(&self) -> Vec<(String, String)> {
        [
            ("role", &self.role),
            ("created_before", &self.created_before),
            ("created_after", &self.created_after),
            ("signed_in_from", &self.signed_in_from),
            ("signed_in_to", &self.signed_in_to),
            ("new_device_from", &self.new_device_from),
            ("new_device_to", &self.new_device_to),
            ("ip_range", &self.ip_range),
            ("country", &self.country),
            ("password_set_from", &self.password_set_from),
            ("password_set_to", &self.password_set_to),
            ("emails", &self.emails),
        ]
        .into_iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, v)| (k.to_owned(), v.clone()))
        .collect()
    }

    pub fn parse(&self, now: i64) -> Result<CohortCriteria> {
        let text = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        Ok(CohortCriteria {
            role: text(&self.role),
            created_before: parse_time("created_before", &self.created_before)?,
            created_after: parse_time("created_after", &self.created_after)?,
            signed_in: window("signed_in", &self.signed_in_from, &self.signed_in_to, now)?,
            new_device: window(
                "new_device",
                &self.new_device_from,
                &self.new_device_to,
                now,
            )?,
            ip_range: text(&self.ip_range),
            country: text(&self.country).map(|c| c.to_ascii_uppercase()),
            password_set: window(
                "password_set",
                &self.password_set_from,
                &self.password_set_to,
                now,
            )?,
            emails: emails_from_text(&self.emails),
            user_ids: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_times_are_read_as_utc() {
        assert_eq!(parse_time("t", "").unwrap(), None);
        assert_eq!(
            parse_time("t", "1970-01-01T01:00").unwrap(),
            Some(3_600_000)
        );
        assert_eq!(parse_time("t", "1970-01-02").unwrap(), Some(86_400_000));
        assert_eq!(parse_time("t", "1970-01-01T00:00:01Z").unwrap(), Some(1000));
        assert!(parse_time("t", "yesterday").is_err());
    }

    #[test]
    fn completion_is_cumulative_by_hour() {
        let start = 10 * HOUR_MS + 5;
        let now = 12 * HOUR_MS + 1;
        let resets = [10 * HOUR_MS + 100, 11 * HOUR_MS + 1, 11 * HOUR_MS + 2];
        assert_eq!(
            by_hour(start, now, &resets),
            vec![(10 * HOUR_MS, 1), (11 * HOUR_MS, 3), (12 * HOUR_MS, 3)]
        );
    }
}
