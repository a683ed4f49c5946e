//! Reading the audit trail for admins: the form's strings become search criteria here, the SQL
//! lives in the store. Reads are not audited, except exports (they take data off the server).

use ::time::{Date, Month};
use anyhow::Context;
use serde_json::{json, Value};

use super::{AuditEntryDto, AuditFilter, AuditPage, ChainStatus, CheckpointSummary, NewerPage};
use crate::domain::{time, Actor, AuditAction, RequestMeta};
use crate::error::{AppError, Result};
use crate::runtime::audit::{verify, Verification};
use crate::runtime::checkpoint::{self, Cause};
use crate::runtime::user_agent;
use crate::runtime::{AppState, AuditedTx};
use crate::storage::audit::{self, ActionMatch, ActorMatch, Criteria, ListedRow};

/// Entries per page on the admin page.
pub const PAGE_SIZE: i64 = 50;
/// Entries per query while exporting.
pub const EXPORT_BATCH: i64 = 1000;

const ACTOR_KINDS: [&str; 6] = ["anonymous", "user", "admin", "cli", "api_key", "system"];
const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// Turns the filters into criteria. A date that is not `YYYY-MM-DD`, or a range that ends before
/// it starts, is a field error; an unknown target e-mail simply matches nothing.
pub fn criteria(filter: &AuditFilter) -> Result<Criteria> {
    let text = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let actor = text(&filter.actor).map(|a| {
        let a = a.to_lowercase();
        if ACTOR_KINDS.contains(&a.as_str()) {
            ActorMatch::KindOrLabel(a)
        } else {
            ActorMatch::Label(a)
        }
    });
    // Action names are lower-case identifiers; lower-casing keeps both backends' LIKE alike.
    let action = text(&filter.action).map(|a| {
        let a = a.to_lowercase();
        if a.ends_with('.') {
            ActionMatch::Prefix(a)
        } else {
            ActionMatch::Exact(a)
        }
    });
    let from_ms = text(&filter.from)
        .map(|d| day_start_ms(&d, "from"))
        .transpose()?;
    let until_ms = text(&filter.to)
        .map(|d| day_start_ms(&d, "to").map(|ms| ms + DAY_MS))
        .transpose()?;
    if let (Some(from), Some(until)) = (from_ms, until_ms) {
        if until <= from {
            return Err(AppError::field(
                "to",
                "The end date is before the start date.",
            ));
        }
    }
    Ok(Criteria {
        actor,
        target_email: text(&filter.target).map(|e| e.to_lowercase()),
        action,
        from_ms,
        until_ms,
    })
}

/// Midnight UTC at the start of a `YYYY-MM-DD` day, in Unix ms.
fn day_start_ms(input: &str, field: &str) -> Result<i64> {
    let bad = || AppError::field(field, "Enter a date as YYYY-MM-DD.");
    let parts: Vec<&str> = input.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return Err(bad());
    };
    if y.len() != 4
        || m.len() != 2
        || d.len() != 2
        || !input.bytes().all(|b| b.is_ascii_digit() || b == b'-')
    {
        return Err(bad());
    }
    let (y, m, d): (i32, u8, u8) = (
        y.parse().map_err(|_| bad())?,
        m.parse().map_err(|_| bad())?,
        d.parse().map_err(|_| bad())?,
    );
    let month = Month::try_from(m).map_err(|_| bad())?;
    let date = Date::from_calendar_date(y, month, d).map_err(|_| bad())?;
    Ok(date.midnight().assume_utc().unix_timestamp() * 1000)
}

/// `YYYY-MM-DD HH:MM:SS UTC`.
pub fn format_time(ms: i64) -> String {
    time::utc_seconds(ms)
}

/// `YYYYMMDD`, for file names.
pub fn file_date(ms: i64) -> String {
    time::compact_date(ms)
}

/// A stored row as pages and exports present it.
pub fn entry(row: ListedRow) -> AuditEntryDto {
    AuditEntryDto {
        seq: row.seq,
        at: row.at,
        time: format_time(row.at),
        actor_kind: row.actor_kind,
        actor_label: row.actor_label,
        action: row.action,
        target_user_id: row.target_user_id,
        target_email: row.target_email,
        ip: row.ip,
        user_agent_summary: row
            .user_agent
            .as_deref()
            .map(|ua| user_agent::parse(Some(ua)).summary()),
        user_agent: row.user_agent,
        reason: row.reason,
        details: row.details,
        hash: row.hash,
    }
}

/// At most `limit` matches older than `before`, newest first, and the cursor of the next (older)
/// page when there is one (the management API's keyset listing).
pub async fn page_before(
    state: &AppState,
    filter: &AuditFilter,
    before: Option<i64>,
    limit: i64,
) -> Result<(Vec<AuditEntryDto>, Option<i64>)> {
    let criteria = criteria(filter)?;
    let mut conn = state.conn().await?;
    let mut rows = audit::search(&mut conn, &criteria, before, limit + 1)
        .await
        .context("search audit log")?;
    let next = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| r.seq)
    } else {
        None
    };
    Ok((rows.into_iter().map(entry).collect(), next))
}

/// One page, newest first, with the cursors of the older and newer pages.
pub async fn list(
    state: &AppState,
    filter: &AuditFilter,
    before: Option<i64>,
) -> Result<AuditPage> {
    let criteria = criteria(filter)?;
    let mut conn = state.conn().await?;
    let mut rows = audit::search(&mut conn, &criteria, before, PAGE_SIZE + 1)
        .await
        .context("search audit log")?;
    let next_before = if rows.len() as i64 > PAGE_SIZE {
        rows.truncate(PAGE_SIZE as usize);
        rows.last().map(|r| r.seq)
    } else {
        None
    };
    // The newer page holds the PAGE_SIZE oldest matches at or after the cursor; its own cursor
    // is the match just above them, if any.
    let newer = match before {
        None => None,
        Some(cursor) => {
            let above = audit::seqs_from(&mut conn, &criteria, cursor, PAGE_SIZE + 1)
                .await
                .context("search newer audit entries")?;
            match above.len() {
                0 => None,
                n if (n as i64) <= PAGE_SIZE => Some(NewerPage { before: None }),
                _ => Some(NewerPage {
                    before: above.last().copied(),
                }),
            }
        }
    };
    Ok(AuditPage {
        entries: rows.into_iter().map(entry).collect(),
        next_before,
        newer,
    })
}

/// Walks the whole chain (see [`verify`]); a broken chain is a result, not an error.
pub async fn verify_chain(state: &AppState) -> Result<ChainStatus> {
    Ok(match verify(&state.store).await? {
        // Entries are numbered from 1 without gaps, so the last number is the count.
        Verification::Intact { head_seq, .. } => ChainStatus::Intact { entries: head_seq },
        Verification::Broken { seq, problem } => ChainStatus::Broken { seq, problem },
    })
}

/// The last stored checkpoint, for the page.
pub async fn last_checkpoint(state: &AppState) -> Result<Option<CheckpointSummary>> {
    Ok(checkpoint::latest(state)
        .await?
        .map(|row| CheckpointSummary {
            seq: row.seq,
            time: format_time(row.at),
            short_hash: checkpoint::short(&row.hash),
            cause: Cause::parse(&row.cause)
                .map_or("unknown", Cause::label)
                .to_owned(),
        }))
}

/// What an export will write: every match older than `before`.
#[derive(Debug, Clone)]
pub struct ExportPlan {
    pub criteria: Criteria,
    pub before: i64,
}

/// Fixes the export to the entries that exist now (the chain head), counts them and records
/// `audit.exported` in its own transaction, before a single row leaves the server.
pub async fn start_export(
    state: &AppState,
    op: &Actor,
    filter: &AuditFilter,
    format: &str,
    meta: &RequestMeta,
) -> Result<ExportPlan> {
    let criteria = criteria(filter)?;
    let mut conn = state.conn().await?;
    let (head_seq, _) = audit::head(&mut conn).await.context("read audit head")?;
    let before = head_seq + 1;
    let count = audit::count_matching(&mut conn, &criteria, Some(before))
        .await
        .context("count audit entries")?;
    drop(conn);
    let filters: serde_json::Map<String, Value> = filter
        .pairs()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), json!(v)))
        .collect();
    let details = json!({"format": format, "filters": filters, "count": count});
    let mut tx = AuditedTx::begin(state, meta).await?;
    tx.record(op, AuditAction::AuditExported, None, None, details)
        .await?;
    tx.commit().await?;
    Ok(ExportPlan { criteria, before })
}

/// The next batch of an export, newest first, older than `before`.
pub async fn export_batch(
    state: &AppState,
    criteria: &Criteria,
    before: i64,
) -> Result<Vec<AuditEntryDto>> {
    let mut conn = state.conn().await?;
    let rows = audit::search(&mut conn, criteria, Some(before), EXPORT_BATCH)
        .await
        .context("read audit batch")?;
    Ok(rows.into_iter().map(entry).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(actor: &str, action: &str, from: &str, to: &str) -> AuditFilter {
        let opt = |s: &str| Some(s.to_owned());
        AuditFilter {
            actor: opt(actor),
            target: opt(" Ada@Example.org "),
            action: opt(action),
            from: opt(from),
            to: opt(to),
        }
    }

    #[test]
    fn dates_are_whole_utc_days_with_an_inclusive_end() {
        let c = criteria(&filter("", "", "2026-03-01", "2026-03-01")).unwrap();
        assert_eq!(c.from_ms, Some(1_772_323_200_000));
        assert_eq!(c.until_ms, Some(1_772_323_200_000 + DAY_MS));
        assert_eq!(c.target_email.as_deref(), Some("ada@example.org"));
        assert_eq!(c.actor, None);
    }

    #[test]
    fn a_bad_date_or_an_inverted_range_names_its_field() {
        for bad in [
            "2026-02-30",
            "26-03-01",
            "2026/03/01",
            "2026-3-1",
            "tomorrow",
            "+2026-03-01",
        ] {
            assert!(
                criteria(&filter("", "", bad, ""))
                    .unwrap_err()
                    .for_field("from")
                    .is_some(),
                "{bad}"
            );
        }
        assert!(criteria(&filter("", "", "2026-03-02", "2026-03-01"))
            .unwrap_err()
            .for_field("to")
            .is_some());
    }

    #[test]
    fn kinds_and_prefixes_are_recognised() {
        let c = criteria(&filter("Admin", "password_reset.", "", "")).unwrap();
        assert_eq!(c.actor, Some(ActorMatch::KindOrLabel("admin".into())));
        assert_eq!(
            c.action,
            Some(ActionMatch::Prefix("password_reset.".into()))
        );
        let c = criteria(&filter("Ada@Example.org", "auth.sign_in", "", "")).unwrap();
        assert_eq!(c.actor, Some(ActorMatch::Label("ada@example.org".into())));
        assert_eq!(c.action, Some(ActionMatch::Exact("auth.sign_in".into())));
    }

    #[test]
    fn times_read_as_utc() {
        assert_eq!(
            format_time(1_772_323_200_000 + 3_723_000),
            "2026-03-01 01:02:03 UTC"
        );
        assert_eq!(file_date(1_772_323_200_000), "20260301");
    }
}
