//! Cohorts: which users an incident affects. A preview computes the match from the data as it is
//! (nothing is written); applying computes it again in the transaction that freezes it: the member
//! list is stored with the incident and the audit entry records its size and the SHA-256 of the
//! sorted ids. The job (`super::job`) then acts on the frozen list.

use std::collections::{HashMap, HashSet};

use anyhow::Context;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::CohortPreview;
use crate::domain::{
    cidr_contains, parse_cidr, Actor, AuditAction, CohortActions, CohortCriteria, Email,
    IncidentState, RequestMeta, Role,
};
use crate::error::{AppError, Result};
use crate::features::security::service::check_reason;
use crate::geo::GeoIp;
use crate::runtime::{AppState, AuditedTx};
use crate::storage::incidents::{self, NewCohort, UserMatch};
use crate::storage::{Backend, Conn};

/// How many matches a preview lists.
pub const PREVIEW_FIRST: usize = 20;

/// The users the criteria take, in id order, with their role; and the listed addresses no
/// account has.
struct Matched {
    users: Vec<(i64, String)>,
    unknown_emails: Vec<String>,
    unknown_ids: Vec<i64>,
}

/// Whether a sign-in address is in the range and the country asked for (each when given).
fn address_matches(
    geo: &GeoIp,
    range: Option<(std::net::IpAddr, u8)>,
    country: Option<&str>,
    ip: std::net::IpAddr,
) -> bool {
    range.is_none_or(|r| cidr_contains(r, ip))
        && country.is_none_or(|want| {
            geo.locate(ip)
                .and_then(|l| l.country_code)
                .is_some_and(|code| code == want)
        })
}

/// Resolves the criteria on `conn`. With `spare` (a second connection, for a preview, which
/// writes nothing), a pasted list is looked up in two halves at once, one on each: the database
/// then works on two cores.
async fn resolve(
    conn: &mut Conn,
    spare: Option<&mut Conn>,
    backend: Backend,
    geo: &GeoIp,
    c: &CohortCriteria,
) -> Result<Matched> {
    c.check()
        .map_err(|(field, message)| AppError::field(field, message))?;
    let window = |w: Option<crate::domain::Window>| w.map(|w| (w.from, w.to));
    // The narrowest source first: a list of addresses, or the sessions from an address range or
    // a country, so a cohort of a few thousand on a large instance never reads every user.
    let mut users: Option<Vec<(i64, String)>> = None;
    let mut unknown_emails = Vec::new();
    if !c.emails.is_empty() {
        let mut wanted: HashMap<String, String> = HashMap::new();
        for typed in &c.emails {
            match Email::parse(typed) {
                Ok(e) => {
                    wanted.insert(e.normalized(), typed.clone());
                }
                Err(_) => unknown_emails.push(typed.clone()),
            }
        }
        let normalized: Vec<String> = wanted.keys().cloned().collect();
        let found = match spare {
            Some(spare) if normalized.len() > 1 => {
                let (a, b) = normalized.split_at(normalized.len() / 2);
                let (mut a, b) = tokio::try_join!(
                    incidents::ids_by_email(conn, backend, a),
                    incidents::ids_by_email(spare, backend, b)
                )
                .context("look up listed addresses")?;
                a.extend(b);
                a
            }
            _ => incidents::ids_by_email(conn, backend, &normalized)
                .await
                .context("look up listed addresses")?,
        };
        let found_emails: HashSet<&str> = found.iter().map(|(_, e, _)| e.as_str()).collect();
        unknown_emails.extend(
            wanted
                .iter()
                .filter(|(n, _)| !found_emails.contains(n.as_str()))
                .map(|(_, typed)| typed.clone()),
        );
        unknown_emails.sort();
        let mut listed: Vec<(i64, String)> =
            found.into_iter().map(|(id, _, role)| (id, role)).collect();
        listed.sort();
        users = Some(listed);
    }
    let mut unknown_ids = Vec::new();
    if !c.user_ids.is_empty() {
        let mut wanted = c.user_ids.clone();
        wanted.sort_unstable();
        wanted.dedup();
        let mut found = incidents::roles_of(conn, &wanted)
            .await
            .context("look up listed ids")?;
        found.sort();
        let known: HashSet<i64> = found.iter().map(|(id, _)| *id).collect();
        unknown_ids = wanted
            .into_iter()
            .filter(|id| !known.contains(id))
            .collect();
        // Listed ids and listed addresses together are one list (either names a member).
        users = Some(match users {
            Some(mut listed) => {
                listed.extend(found);
                listed.sort();
                listed.dedup();
                listed
            }
            None => found,
        });
    }
    let range = c.ip_range.as_deref().and_then(parse_cidr);
    if c.country.is_some() && !geo.is_enabled() {
        return Err(AppError::field(
            "country",
            "Choosing by country needs a GeoIP database (geoip_database in the configuration).",
        ));
    }
    if range.is_some() || c.country.is_some() {
        let from_addresses: HashSet<i64> = incidents::session_addresses(conn, window(c.signed_in))
            .await
            .context("read session addresses")?
            .into_iter()
            .filter(|(_, ip)| {
                ip.parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| address_matches(geo, range, c.country.as_deref(), ip))
            })
            .map(|(id, _)| id)
            .collect();
        users = Some(match users {
            Some(mut listed) => {
                listed.retain(|(id, _)| from_addresses.contains(id));
                listed
            }
            None => {
                let mut ids: Vec<i64> = from_addresses.into_iter().collect();
                ids.sort_unstable();
                let mut found = incidents::roles_of(conn, &ids)
                    .await
                    .context("read roles")?;
                found.sort();
                found
            }
        });
    }
    let sql = UserMatch {
        role: c.role.as_deref(),
        created_before: c.created_before,
        created_after: c.created_after,
        signed_in: window(c.signed_in),
        new_device: window(c.new_device),
        password_set: window(c.password_set),
    };
    let users = match users {
        Some(mut narrowed) if sql.any() => {
            let matching: HashSet<i64> = incidents::matching_users(conn, &sql)
                .await
                .context("match users")?
                .into_iter()
                .map(|(id, _)| id)
                .collect();
            narrowed.retain(|(id, _)| matching.contains(id));
            narrowed
        }
        Some(narrowed) => narrowed,
        None => incidents::matching_users(conn, &sql)
            .await
            .context("match users")?,
    };
    Ok(Matched {
        users,
        unknown_emails,
        unknown_ids,
    })
}

/// What applying these criteria would take now. Writes nothing.
pub async fn preview(state: &AppState, criteria: &CohortCriteria) -> Result<CohortPreview> {
    let backend = state.store.backend();
    let mut conn = state.conn().await?;
    let mut spare = state.conn().await?;
    let matched = resolve(&mut conn, Some(&mut spare), backend, &state.geo, criteria).await?;
    let ids: Vec<i64> = matched.users.iter().map(|(id, _)| *id).collect();
    let first_ids: Vec<i64> = ids.iter().take(PREVIEW_FIRST).copied().collect();
    let (a, b) = ids.split_at(ids.len() / 2);
    let now = state.now();
    // The live-session count in two halves too, one on each connection.
    let ((first, live_a), live_b) = tokio::try_join!(
        async {
            let first = incidents::emails_of(&mut conn, &first_ids).await?;
            let live = incidents::with_live_sessions(&mut conn, backend, a, now).await?;
            Ok::<_, sqlx::Error>((first, live))
        },
        incidents::with_live_sessions(&mut spare, backend, b, now),
    )
    .context("count live sessions")?;
    let with_live_sessions = live_a + live_b;
    let admins = matched
        .users
        .iter()
        .filter(|(_, role)| Role::parse(role) == Some(Role::Admin))
        .count();
    Ok(CohortPreview {
        count: i64::try_from(ids.len()).unwrap_or(i64::MAX),
        first,
        with_live_sessions,
        admins: i64::try_from(admins).unwrap_or(i64::MAX),
        unknown_emails: matched.unknown_emails,
        unknown_ids: matched.unknown_ids,
    })
}

/// The SHA-256 of the sorted member ids, one decimal id per line: what the audit entry records
/// so the stored list can be checked against it.
pub fn ids_digest(sorted_ids: &[i64]) -> String {
    let mut hasher = Sha256::new();
    for id in sorted_ids {
        hasher.update(id.to_string().as_bytes());
        hasher.update(b"\n");
    }
    hex::encode(hasher.finalize())
}

/// A frozen cohort: its id and size, and what the lists named that no account has.
#[derive(Debug, Clone)]
pub struct Applied {
    pub cohort_id: i64,
    pub size: i64,
    pub unknown_emails: Vec<String>,
    pub unknown_ids: Vec<i64>,
}

/// Freezes the cohort the criteria take now and starts its job. Returns the cohort id.
pub async fn apply(
    state: &AppState,
    op: &Actor,
    incident: &str,
    criteria: &CohortCriteria,
    actions: CohortActions,
    reason: &str,
    meta: &RequestMeta,
) -> Result<i64> {
    apply_checked(state, op, incident, criteria, actions, reason, false, meta)
        .await
        .map(|a| a.cohort_id)
}

/// [`apply`], and with `strict` nothing is frozen when a listed address or id is unknown.
#[allow(clippy::too_many_arguments)]
pub async fn apply_checked(
    state: &AppState,
    op: &Actor,
    incident: &str,
    criteria: &CohortCriteria,
    actions: CohortActions,
    reason: &str,
    strict: bool,
    meta: &RequestMeta,
) -> Result<Applied> {
    let reason = check_reason(reason)?;
    if !actions.any() {
        return Err(AppError::field(
            "actions",
            "Choose at least one action: compromise, sign out or notify.",
        ));
    }
    let row = super::service::find(state, incident).await?;
    if IncidentState::parse(&row.state) == Some(IncidentState::Closed) {
        return Err(AppError::field(
            "incident",
            format!("Incident {} is closed.", row.reference),
        ));
    }
    let mut tx = AuditedTx::begin(state, meta).await?;
    let matched = resolve(&mut tx, None, state.store.backend(), &state.geo, criteria).await?;
    if strict && !(matched.unknown_emails.is_empty() && matched.unknown_ids.is_empty()) {
        let mut unknown: Vec<String> = matched.unknown_emails.clone();
        unknown.extend(matched.unknown_ids.iter().map(|id| format!("#{id}")));
        let shown = unknown
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        return Err(AppError::field(
            "target",
            format!(
                "{} listed users are unknown (strict: nothing was done): {shown}{}",
                unknown.len(),
                if unknown.len() > 20 { ", …" } else { "" }
            ),
        ));
    }
    if matched.users.is_empty() {
        return Err(AppError::field(
            "criteria",
            "No user matches these criteria.",
        ));
    }
    let ids: Vec<i64> = matched.users.iter().map(|(id, _)| *id).collect();
    let digest = ids_digest(&ids);
    let criteria_json = serde_json::to_string(criteria).context("encode criteria")?;
    let size = i64::try_from(ids.len()).unwrap_or(i64::MAX);
    let now = tx.now();
    let cohort_id = incidents::insert_cohort(
        &mut tx,
        &NewCohort {
            incident_id: row.id,
            criteria: &criteria_json,
            compromise: actions.compromise,
            sign_out: actions.sign_out,
            notify: actions.notify,
            reason,
            size,
            ids_sha256: &digest,
            created_by: &op.label(),
            created_at: now,
        },
    )
    .await
    .context("store cohort")?;
    incidents::insert_members(&mut tx, cohort_id, &ids)
        .await
        .context("store cohort members")?;
    tx.for_incident(Some((row.id, row.reference.clone())));
    tx.record(
        op,
        AuditAction::IncidentCohortApplied,
        None,
        Some(reason),
        json!({
            "cohort": cohort_id,
            "size": size,
            "ids_sha256": digest,
            "actions": actions,
            "criteria": criteria,
            "unknown_emails": matched.unknown_emails.len(),
            "unknown_ids": matched.unknown_ids.len(),
        }),
    )
    .await?;
    tx.commit().await?;
    // The member list can be large next to the table's statistics: refreshed before the job
    // plans its batches.
    super::job::refresh_statistics(state, incidents::BulkTable::Members).await;
    state.incident_wake.notify_one();
    Ok(Applied {
        cohort_id,
        size,
        unknown_emails: matched.unknown_emails,
        unknown_ids: matched.unknown_ids,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_digest_is_of_the_sorted_ids_one_per_line() {
        // printf '1\n2\n10\n' | sha256sum
        assert_eq!(
            super::ids_digest(&[1, 2, 10]),
            "29186ee59865abdf5f37da40cefc9e7f345e49860aefd7a8f43438cdaf88f856"
        );
    }
}
