//! `keywarden incident …`: the instance-wide and per-user actions, and incidents with their
//! cohorts (the same services as the console, recorded with actor CLI).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};

use super::os_user;
use crate::config::Config;
use crate::domain::{
    emails_from_text, time, Actor, CohortActions, CohortCriteria, RequestMeta, Tightening, Window,
};
use crate::error::{AppError, Result};
use crate::features::incidents::{cohort, job, service as incidents};
use crate::runtime::clock::SystemClock;
use crate::runtime::AppState;
use crate::storage::users;
use crate::ui::format::{duration, plural};

#[derive(Debug, Subcommand)]
pub enum IncidentCommand {
    /// Open an incident; prints its reference (e.g. KW-2026-0007).
    Open {
        #[arg(long)]
        title: String,
        /// low, medium, high or critical.
        #[arg(long, default_value = "medium")]
        severity: String,
        #[arg(long, default_value = "")]
        description: String,
        /// What happened and what to do, in words for the affected users (notice and banner).
        #[arg(long, default_value = "")]
        notice: String,
        /// When the compromise was detected (RFC 3339, e.g. 2026-11-29T08:00:00Z); now without it.
        #[arg(long)]
        detected_at: Option<String>,
    },
    /// The incidents, newest first.
    List,
    /// An incident and its cohorts' progress. REF is the reference or the numeric id.
    Status { reference: String },
    /// Close an incident (its cohort jobs must have finished or been cancelled). Its temporary
    /// tightening reverts.
    Close { reference: String },
    /// Tighten the instance while incident REF is open: the switches given replace the ones set
    /// before (none lifts them). They apply on every node, to live sessions too, and revert when
    /// the incident closes.
    Tighten {
        reference: String,
        /// Session idle timeout at most this many minutes.
        #[arg(long)]
        idle_minutes: Option<i64>,
        /// Session lifetime at most this many hours.
        #[arg(long)]
        lifetime_hours: Option<i64>,
        /// New-device alerts on, whatever the setting.
        #[arg(long)]
        force_alerts: bool,
        /// Refuse self-service sign-up.
        #[arg(long)]
        pause_sign_up: bool,
        /// One reset link per account per hour, 3 forgot-password requests per address per hour.
        #[arg(long)]
        strict_forgot: bool,
    },
    /// Show which users the criteria take now: count, first matches, live sessions, admins.
    /// Changes nothing.
    Preview {
        #[command(flatten)]
        criteria: CriteriaArgs,
    },
    /// Freeze the cohort the criteria take now, attach it to incident REF and act on it in
    /// batches (containment first, then the notice). Runs the job here until it finishes.
    Apply {
        reference: String,
        #[command(flatten)]
        criteria: CriteriaArgs,
        /// Set the members' passwords as compromised.
        #[arg(long)]
        compromise: bool,
        /// Sign out every session of the members (alone: force re-authentication).
        #[arg(long)]
        sign_out: bool,
        /// Send the incident notice to each member.
        #[arg(long)]
        notify: bool,
        #[arg(long)]
        reason: String,
        /// Leave the job to the servers instead of running it here.
        #[arg(long)]
        background: bool,
    },
    /// Write the evidence bundle (.tar.gz: the record, timeline, audit window with a signed
    /// checkpoint, cohort lists, notice states, figures, MANIFEST of SHA-256) to FILE.
    Export {
        reference: String,
        #[arg(long)]
        out: PathBuf,
    },
    /// Stop a cohort's job (batches already done stay done).
    Cancel {
        #[arg(long)]
        cohort: i64,
    },
    /// Set every existing password as compromised (O(1): one watermark). Signed-in sessions are
    /// restricted to the reset-password task on their next request (ended when it is off).
    CompromiseAll {
        /// Also sign out every session now (the stronger choice: sessions end outright).
        #[arg(long)]
        sign_out: bool,
        #[arg(long)]
        reason: String,
        /// Attach the action to this open incident.
        #[arg(long)]
        incident: Option<String>,
    },
    /// Set one user's password as compromised. Their signed-in sessions are restricted to the
    /// reset-password task on their next request.
    CompromiseUser {
        #[arg(long)]
        email: String,
        /// Also sign out all of the user's sessions (they end outright).
        #[arg(long)]
        sign_out: bool,
        #[arg(long)]
        reason: String,
        /// Attach the action to this open incident.
        #[arg(long)]
        incident: Option<String>,
    },
    /// Sign out every session now.
    SignOutAll {
        #[arg(long)]
        reason: String,
        /// Attach the action to this open incident.
        #[arg(long)]
        incident: Option<String>,
    },
}

/// Which users a cohort takes (every criterion given must hold). Times are RFC 3339; a window
/// without its end runs until now.
#[derive(Debug, Args)]
pub struct CriteriaArgs {
    /// admin or member.
    #[arg(long)]
    role: Option<String>,
    #[arg(long)]
    created_before: Option<String>,
    #[arg(long)]
    created_after: Option<String>,
    /// Signed in within the window starting here.
    #[arg(long)]
    signed_in_from: Option<String>,
    #[arg(long)]
    signed_in_to: Option<String>,
    /// Signed in from a new device within the window starting here.
    #[arg(long)]
    new_device_from: Option<String>,
    #[arg(long)]
    new_device_to: Option<String>,
    /// Signed in from this address range (CIDR), within the sign-in window when given.
    #[arg(long)]
    ip_range: Option<String>,
    /// Signed in from this country (ISO 3166-1 alpha-2, e.g. FR; needs a GeoIP database), within
    /// the sign-in window when given.
    #[arg(long)]
    country: Option<String>,
    /// Password set or reset within the window starting here.
    #[arg(long)]
    password_set_from: Option<String>,
    #[arg(long)]
    password_set_to: Option<String>,
    /// A list of e-mail addresses, one per line, or a CSV whose first column holds them
    /// (`-` for standard input).
    #[arg(long)]
    emails_file: Option<PathBuf>,
}

fn instant(field: &'static str, text: &str) -> Result<i64> {
    let t = ::time::OffsetDateTime::parse(
        text.trim(),
        &::time::format_description::well_known::Rfc3339,
    )
    .map_err(|_| {
        AppError::field(
            field,
            format!("\"{text}\" is not an RFC 3339 time such as 2026-11-29T08:00:00Z"),
        )
    })?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| AppError::field(field, "out of range"))
}

fn window(
    field: &'static str,
    from: &Option<String>,
    to: &Option<String>,
    now: i64,
) -> Result<Option<Window>> {
    match (from, to) {
        (None, None) => Ok(None),
        (None, Some(_)) => Err(AppError::field(field, "a window needs its start (…-from)")),
        (Some(from), to) => Ok(Some(Window {
            from: instant(field, from)?,
            to: match to {
                Some(to) => instant(field, to)?,
                None => now + 1,
            },
        })),
    }
}

impl CriteriaArgs {
    fn criteria(&self, now: i64) -> Result<CohortCriteria> {
        let emails = match &self.emails_file {
            None => Vec::new(),
            Some(path) => {
                let text = if path.as_os_str() == "-" {
                    std::io::read_to_string(std::io::stdin()).map_err(|e| {
                        AppError::field("emails_file", format!("cannot read standard input: {e}"))
                    })?
                } else {
                    std::fs::read_to_string(path).map_err(|e| {
                        AppError::field(
                            "emails_file",
                            format!("cannot read {}: {e}", path.display()),
                        )
                    })?
                };
                emails_from_text(&text)
            }
        };
        let at = |field, v: &Option<String>| v.as_deref().map(|t| instant(field, t)).transpose();
        Ok(CohortCriteria {
            role: self.role.clone(),
            created_before: at("created_before", &self.created_before)?,
            created_after: at("created_after", &self.created_after)?,
            signed_in: window("signed_in", &self.signed_in_from, &self.signed_in_to, now)?,
            new_device: window(
                "new_device",
                &self.new_device_from,
                &self.new_device_to,
                now,
            )?,
            ip_range: self.ip_range.clone(),
            country: self.country.as_deref().map(str::to_ascii_uppercase),
            password_set: window(
                "password_set",
                &self.password_set_from,
                &self.password_set_to,
                now,
            )?,
            emails,
            user_ids: Vec::new(),
        })
    }
}

pub async fn run(config: Config, cmd: IncidentCommand) -> anyhow::Result<()> {
    let state = AppState::build(config, Arc::new(SystemClock)).await?;
    let op = Actor::cli(&os_user());
    let result = execute(&state, &op, cmd).await;
    state.store.close().await;
    match result {
        Ok(message) => {
            println!("{message}");
            Ok(())
        }
        Err(AppError::Field { field, message }) => anyhow::bail!("{field}: {message}"),
        Err(e) => anyhow::bail!("{e}"),
    }
}

/// The request metadata of an action attached to `incident` (when given).
async fn attached(state: &AppState, incident: Option<&str>) -> Result<RequestMeta> {
    Ok(RequestMeta {
        incident: match incident {
            Some(r) => Some(incidents::attachable(state, r).await?),
            None => None,
        },
        ..RequestMeta::default()
    })
}

async fn execute(state: &AppState, op: &Actor, cmd: IncidentCommand) -> Result<String> {
    use crate::features::security::service as security;
    let meta = RequestMeta::default();
    match cmd {
        IncidentCommand::Open {
            title,
            severity,
            description,
            notice,
            detected_at,
        } => {
            let detected_at = detected_at
                .as_deref()
                .map(|t| instant("detected_at", t))
                .transpose()?;
            let input = incidents::OpenIncident {
                title: &title,
                severity: &severity,
                description: &description,
                notice: &notice,
                detected_at,
            };
            Ok(incidents::open(state, op, &input, &meta).await?.reference)
        }
        IncidentCommand::List => Ok(incidents::list(state)
            .await?
            .iter()
            .map(|i| {
                format!(
                    "{}\t{}\t{}\t{}\topened {}",
                    i.reference,
                    i.state,
                    i.severity,
                    i.title,
                    time::utc(i.opened_at)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")),
        IncidentCommand::Status { reference } => {
            let (i, cohorts) = incidents::status(state, &reference).await?;
            let mut out = vec![
                format!(
                    "{} {} ({} severity): {}",
                    i.reference, i.state, i.severity, i.title
                ),
                format!("opened {} by {}", time::utc(i.opened_at), i.opened_by),
                format!("detected {}", time::utc(i.detected_at)),
            ];
            if let Some(at) = i.contained_at {
                out.push(format!(
                    "contained {} (MTTR {})",
                    time::utc(at),
                    duration(at - i.detected_at)
                ));
            }
            if let Some(at) = i.closed_at {
                out.push(format!("closed {}", time::utc(at)));
            }
            if i.tightening.any() {
                let when = if i.closed_at.is_some() {
                    "tightened while open (reverted)"
                } else {
                    "tightens now"
                };
                out.push(format!("{when}: {}", i.tightening.describe().join(", ")));
            }
            for c in cohorts {
                out.push(format!(
                    "cohort {}: {} members, {}; {}: {} contained, {} notified; ids sha256 {}",
                    c.id, c.size, c.actions, c.state, c.contained, c.notified, c.ids_sha256
                ));
            }
            Ok(out.join("\n"))
        }
        IncidentCommand::Close { reference } => {
            let i = incidents::close(state, op, &reference, &meta).await?;
            let reverted = if i.tightening.any() {
                format!(
                    " Tightening reverted: {}.",
                    i.tightening.describe().join(", ")
                )
            } else {
                String::new()
            };
            Ok(format!("Incident {} closed.{reverted}", i.reference))
        }
        IncidentCommand::Tighten {
            reference,
            idle_minutes,
            lifetime_hours,
            force_alerts,
            pause_sign_up,
            strict_forgot,
        } => {
            let t = Tightening {
                idle_minutes,
                lifetime_hours,
                force_alerts,
                pause_sign_up,
                strict_forgot,
            };
            let i = incidents::tighten(state, op, &reference, &t, &meta).await?;
            Ok(if t.any() {
                format!(
                    "Incident {} tightens, until it closes: {}.",
                    i.reference,
                    t.describe().join(", ")
                )
            } else {
                format!("Incident {} tightens nothing now.", i.reference)
            })
        }
        IncidentCommand::Preview { criteria } => {
            let p = cohort::preview(state, &criteria.criteria(state.now())?).await?;
            let mut out = vec![format!(
                "{} match ({} with live sessions, {})",
                plural(p.count, "user", "users"),
                p.with_live_sessions,
                plural(p.admins, "administrator", "administrators"),
            )];
            out.extend(p.first.iter().map(|(id, email)| format!("  {id}\t{email}")));
            if !p.unknown_emails.is_empty() {
                out.push(format!(
                    "{} no account has: {}",
                    plural(
                        p.unknown_emails.len() as i64,
                        "listed address",
                        "listed addresses"
                    ),
                    p.unknown_emails.join(", ")
                ));
            }
            Ok(out.join("\n"))
        }
        IncidentCommand::Apply {
            reference,
            criteria,
            compromise,
            sign_out,
            notify,
            reason,
            background,
        } => {
            let actions = CohortActions {
                compromise,
                sign_out,
                notify,
            };
            let criteria = criteria.criteria(state.now())?;
            let id =
                cohort::apply(state, op, &reference, &criteria, actions, &reason, &meta).await?;
            if background {
                return Ok(format!("Cohort {id} applied; the servers run its job."));
            }
            let owner = job::node_name();
            while job::step(state, &owner, id).await? == job::Step::Progressed {}
            let (_, cohorts) = incidents::status(state, &reference).await?;
            let c = cohorts
                .iter()
                .find(|c| c.id == id)
                .context("cohort vanished")?;
            Ok(format!(
                "Cohort {id}: {} members, {}: {} contained, {} notified ({}).",
                c.size, c.actions, c.contained, c.notified, c.state
            ))
        }
        IncidentCommand::Export { reference, out } => {
            if out.exists() {
                return Err(AppError::field(
                    "out",
                    format!("{} exists already: choose another file", out.display()),
                ));
            }
            let (_, bytes) =
                crate::features::incidents::bundle::build(state, op, &reference, &meta).await?;
            std::fs::write(&out, &bytes).map_err(|e| {
                AppError::field("out", format!("cannot write {}: {e}", out.display()))
            })?;
            Ok(format!("Wrote {} ({} bytes).", out.display(), bytes.len()))
        }
        IncidentCommand::Cancel { cohort } => {
            job::cancel(state, op, cohort, &meta).await?;
            Ok(format!("Cohort {cohort}'s job cancelled."))
        }
        IncidentCommand::CompromiseAll {
            sign_out,
            reason,
            incident,
        } => {
            let meta = attached(state, incident.as_deref()).await?;
            let at = security::compromise_all(state, op, sign_out, &reason, &meta).await?;
            let sessions = if sign_out {
                " and every session issued until then is signed out"
            } else {
                ""
            };
            Ok(format!(
                "Every password set until {} is now compromised{sessions}.",
                time::utc(at)
            ))
        }
        IncidentCommand::SignOutAll { reason, incident } => {
            let meta = attached(state, incident.as_deref()).await?;
            let at = security::sign_out_everyone(state, op, &reason, &meta).await?;
            Ok(format!(
                "Every session issued until {} is signed out.",
                time::utc(at)
            ))
        }
        IncidentCommand::CompromiseUser {
            email,
            sign_out,
            reason,
            incident,
        } => {
            let meta = attached(state, incident.as_deref()).await?;
            compromise_user(state, op, &email, sign_out, &reason, &meta).await
        }
    }
}

async fn compromise_user(
    state: &AppState,
    op: &Actor,
    email: &str,
    sign_out: bool,
    reason: &str,
    meta: &RequestMeta,
) -> Result<String> {
    let normalized = crate::domain::Email::parse(email)
        .map_err(|e| AppError::field("email", e))?
        .normalized();
    let mut conn = state.conn().await?;
    let user = users::find_by_email(&mut conn, &normalized)
        .await
        .context("look up user")?;
    drop(conn);
    let user =
        user.ok_or_else(|| AppError::field("email", format!("no user with e-mail {normalized}")))?;
    crate::features::users::service::compromise(state, op, user.id, reason, sign_out, meta).await?;
    let sessions = if sign_out {
        " and all of their sessions are signed out"
    } else {
        ""
    };
    Ok(format!(
        "The password of {} is now compromised{sessions}.",
        user.email
    ))
}
