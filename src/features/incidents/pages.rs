//! Admin console → Incidents: the list and "open an incident"; an incident's page with its
//! remediation figures, cohorts (preview, apply with the typed reference and step-up, live
//! progress, cancel), the completion chart (SVG drawn on the server, a table beside it) and the
//! timeline.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

use super::types::{CohortView, IncidentPageData, IncidentView, Kpis};
use super::{
    get_incident, get_incident_record, list_incidents, ApplyCohort, CancelCohort, CloseIncident,
    OpenIncident, PreviewCohort, TightenIncident,
};
use crate::ui::format::{count, duration, plural, utc};
use crate::ui::{field_error, AdminOnly, FormError, StepUp};

#[component]
pub fn IncidentsPage() -> impl IntoView {
    view! { <AdminOnly><Incidents/></AdminOnly> }
}

#[component]
pub fn IncidentPage() -> impl IntoView {
    view! { <AdminOnly><Incident/></AdminOnly> }
}

#[component]
fn Incidents() -> impl IntoView {
    let open = ServerAction::<OpenIncident>::new();
    let list = Resource::new(|| (), |_| list_incidents());
    let value = Signal::derive(move || open.value().get());
    view! {
        <Title text="Incidents"/>
        <section class="page-header">
            <h1>"Incidents"</h1>
            <p class="muted">"Record a response, contain the affected users as a cohort, tell them, and watch remediation."</p>
        </section>
        <section class="panel" aria-labelledby="incidents-heading">
            <h2 id="incidents-heading">"All incidents"</h2>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match list.await {
                        Ok(items) if items.is_empty() => view! { <p class="muted">"No incident so far."</p> }.into_any(),
                        Ok(items) => view! {
                            <table class="table">
                                <thead><tr><th scope="col">"Reference"</th><th scope="col">"Title"</th><th scope="col">"Severity"</th><th scope="col">"State"</th><th scope="col">"Opened"</th></tr></thead>
                                <tbody>
                                    {items.into_iter().map(|i| view! {
                                        <tr>
                                            <td><a href=format!("/admin/incidents/{}", i.id) class="mono">{i.reference}</a></td>
                                            <td>{i.title}</td>
                                            <td>{i.severity}</td>
                                            <td>{i.state}</td>
                                            <td>{utc(i.opened_at)}</td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        }.into_any(),
                        Err(e) => view! { <p class="alert alert-error" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
        <section class="panel" aria-labelledby="open-heading">
            <h2 id="open-heading">"Open an incident"</h2>
            <FormError message=Signal::derive(move || value.get().and_then(|r| r.err()).and_then(|e| e.form_message()))/>
            <ActionForm action=open attr:class="form form-wide" attr:novalidate=true>
                <div class="field">
                    <label for="incident-title">"Title"</label>
                    <input id="incident-title" name="title" autocomplete="off"/>
                    {field_error(value, "title")}
                </div>
                <div class="field">
                    <label for="incident-severity">"Severity"</label>
                    <select id="incident-severity" name="severity">
                        <option value="low">"Low"</option>
                        <option value="medium" selected=true>"Medium"</option>
                        <option value="high">"High"</option>
                        <option value="critical">"Critical"</option>
                    </select>
                    {field_error(value, "severity")}
                </div>
                <div class="field">
                    <label for="incident-detected">"Detected at (UTC)"</label>
                    <p class="field-hint">"When the compromise was detected; MTTR counts from here. Empty: now."</p>
                    <input id="incident-detected" name="detected_at" type="datetime-local"/>
                    {field_error(value, "detected_at")}
                </div>
                <div class="field">
                    <label for="incident-description">"Description (for administrators)"</label>
                    <textarea id="incident-description" name="description" rows="3"></textarea>
                    {field_error(value, "description")}
                </div>
                <div class="field">
                    <label for="incident-notice">"What happened (for the affected users)"</label>
                    <p class="field-hint">"Shown in the incident notice e-mail with the reference."</p>
                    <textarea id="incident-notice" name="notice" rows="3"></textarea>
                    {field_error(value, "notice")}
                </div>
                <p><button type="submit" class="btn btn-primary">"Open incident"</button></p>
            </ActionForm>
        </section>
    }
}

#[component]
fn Incident() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let id = Memo::new(move |_| {
        params
            .read()
            .get("id")
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0)
    });
    let apply = ServerAction::<ApplyCohort>::new();
    let cancel = ServerAction::<CancelCohort>::new();
    let close = ServerAction::<CloseIncident>::new();
    let tighten = ServerAction::<TightenIncident>::new();
    // Counts successful applies only: a refused one keeps the form, its preview and its errors.
    let applied = RwSignal::new(0u32);
    Effect::new(move |_| {
        if matches!(apply.value().get(), Some(Ok(()))) {
            applied.update(|n| *n += 1);
        }
    });
    // The record and the cohort form: re-read after an apply or a close only, so what the admin
    // types is not lost while a job's progress refreshes.
    let base = Resource::new(
        move || {
            (
                id.get(),
                applied.get(),
                close.version().get(),
                tighten.version().get(),
            )
        },
        |(id, _, _, _)| get_incident_record(id),
    );
    // The figures, cohorts and timeline: re-read every second while a cohort job runs (in the
    // browser), and after each action.
    let tick = RwSignal::new(0u64);
    let live = Resource::new(
        move || {
            (
                id.get(),
                tick.get(),
                applied.get(),
                cancel.version().get(),
                close.version().get(),
                tighten.version().get(),
            )
        },
        |(id, _, _, _, _, _)| get_incident(id),
    );
    Effect::new(move |_| {
        let running = live
            .get()
            .and_then(|r| r.ok())
            .is_some_and(|d| d.cohorts.iter().any(|c| c.state == "running"));
        if running {
            set_timeout(
                move || tick.update(|t| *t += 1),
                std::time::Duration::from_secs(1),
            );
        }
    });
    let done = Signal::derive(move || match query.read().get("done").as_deref() {
        Some("applied") => {
            Some("Cohort applied: its job runs now (containment first, then the notices).")
        }
        Some("tightened") => Some("Tightening saved: it applies on every node now."),
        _ => None,
    });
    let action_error = Signal::derive(move || {
        [cancel.value().get(), close.value().get()]
            .into_iter()
            .flatten()
            .find_map(|r| r.err())
            .and_then(|e| e.form_message())
    });
    view! {
        <Title text="Incident"/>
        <crate::ui::Notice message=done/>
        <FormError message=action_error/>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match base.await {
                    Ok(d) => view! { <Header i=d.incident/> }.into_any(),
                    Err(e) => view! { <p class="alert alert-error" role="alert">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                match live.await {
                    Ok(d) => view! {
                        <Figures k=d.kpis.clone() mttr_reached=d.incident.contained_at.is_some()/>
                        <Completion k=d.kpis.clone()/>
                        <Cohorts cohorts=d.cohorts.clone() now=d.now cancel=cancel/>
                    }.into_any(),
                    Err(_) => ().into_any(),
                }
            })}
        </Transition>
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                match base.await {
                    Ok(d) if d.incident.state != "closed" => view! {
                        <CohortForm incident_id=d.incident.id reference=d.incident.reference.clone() step_up=d.step_up_needed apply=apply/>
                        <TighteningForm i=d.incident.clone() tighten=tighten/>
                    }.into_any(),
                    _ => ().into_any(),
                }
            })}
        </Suspense>
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                match live.await {
                    Ok(d) => view! { <Timeline d=d/> }.into_any(),
                    Err(_) => ().into_any(),
                }
            })}
        </Transition>
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                match base.await {
                    Ok(d) if d.incident.state != "closed" => view! {
                        <section class="panel" aria-labelledby="close-heading">
                            <h2 id="close-heading">"Close the incident"</h2>
                            <p class="muted">"Closing records the end of the response. Running cohort jobs must finish or be cancelled first."</p>
                            <ActionForm action=close attr:class="form">
                                <input type="hidden" name="incident_id" value=d.incident.id.to_string()/>
                                <p><button type="submit" class="btn btn-secondary">"Close incident"</button></p>
                            </ActionForm>
                        </section>
                    }.into_any(),
                    _ => ().into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Header(i: IncidentView) -> impl IntoView {
    view! {
        <section class="page-header">
            <p><a href="/admin/incidents">"← Incidents"</a></p>
            <h1><span class="mono">{i.reference.clone()}</span>" · "{i.title.clone()}</h1>
            <p class="muted">
                {format!("{} severity · {} · opened {} by {} · detected {}", i.severity, i.state, utc(i.opened_at), i.opened_by, utc(i.detected_at))}
                {i.contained_at.map(|at| format!(" · contained {}", utc(at)))}
                {i.closed_at.map(|at| format!(" · closed {}", utc(at)))}
            </p>
            {(!i.description.is_empty()).then(|| view! { <p>{i.description.clone()}</p> })}
            {i.tightening.any().then(|| {
                let words = i.tightening.describe().join(", ");
                if i.state == "closed" {
                    view! { <p class="muted">{format!("Tightened while open (reverted at close): {words}.")}</p> }.into_any()
                } else {
                    view! { <p class="alert alert-warning">{format!("Tightened while open: {words}.")}</p> }.into_any()
                }
            })}
            <p>
                <a class="btn btn-secondary" href=format!("/admin/incidents/{}/evidence.tar.gz", i.id) rel="external" download="">
                    "Download evidence bundle"
                </a>
                <span class="muted small">" The record, timeline, audit entries with a signed checkpoint, cohort lists, notice states and figures, with a MANIFEST of SHA-256."</span>
            </p>
        </section>
    }
}

/// The temporary tightening switches: they replace the ones saved before, apply on every node
/// at once (live sessions included) and revert when the incident closes.
#[component]
fn TighteningForm(i: IncidentView, tighten: ServerAction<TightenIncident>) -> impl IntoView {
    let t = i.tightening;
    let value = Signal::derive(move || tighten.value().get());
    let form_message = Signal::derive(move || {
        value
            .get()
            .and_then(|r| r.err())
            .and_then(|e| e.form_message())
    });
    let number = |v: Option<i64>| v.map(|n| n.to_string()).unwrap_or_default();
    view! {
        <section class="panel" aria-labelledby="tighten-heading">
            <h2 id="tighten-heading">"Tighten while open"</h2>
            <p class="muted">"These apply on every node at once, to live sessions as well, and revert by themselves when the incident closes. Both changes are in the audit trail."</p>
            <FormError message=form_message/>
            <ActionForm action=tighten attr:class="form">
                <input type="hidden" name="incident_id" value=i.id.to_string()/>
                <div class="field">
                    <label for="tight_idle_minutes">"Session idle timeout at most (minutes)"</label>
                    <input id="tight_idle_minutes" name="tight_idle_minutes" inputmode="numeric" value=number(t.idle_minutes)/>
                    <p class="field-hint">"Empty: the Security page's setting."</p>
                    {field_error(value, "tight_idle_minutes")}
                </div>
                <div class="field">
                    <label for="tight_lifetime_hours">"Session lifetime at most (hours)"</label>
                    <input id="tight_lifetime_hours" name="tight_lifetime_hours" inputmode="numeric" value=number(t.lifetime_hours)/>
                    {field_error(value, "tight_lifetime_hours")}
                </div>
                <label class="check"><input type="checkbox" name="force_alerts" checked=t.force_alerts/>" Send new-device alerts, whatever the setting"</label>
                <label class="check"><input type="checkbox" name="pause_sign_up" checked=t.pause_sign_up/>" Pause self-service sign-up"</label>
                <label class="check"><input type="checkbox" name="strict_forgot" checked=t.strict_forgot/>" Throttle forgot-password harder (one link per account per hour, 3 requests per address per hour)"</label>
                <p><button type="submit" class="btn btn-secondary">"Save tightening"</button></p>
            </ActionForm>
        </section>
    }
}

#[component]
fn Figures(k: Kpis, mttr_reached: bool) -> impl IntoView {
    let at_risk = k.compromised_members - k.reset_completed;
    let rate = if k.compromised_members > 0 {
        format!("{} %", k.reset_completed * 100 / k.compromised_members)
    } else {
        "—".to_owned()
    };
    view! {
        <section class="panel" aria-labelledby="figures-heading">
            <h2 id="figures-heading">"Remediation"</h2>
            <dl class="figures">
                <div><dt>"Cohort size"</dt><dd>{plural(k.members, "user", "users")}</dd></div>
                <div><dt>"Sessions ended"</dt><dd>{count(k.sessions_ended)}</dd></div>
                <div><dt>"MTTR (detection → contained)"</dt><dd>{match (mttr_reached, k.mttr_ms) {
                    (true, Some(ms)) => duration(ms),
                    _ => "not contained yet".to_owned(),
                }}</dd></div>
                <div><dt>"Reset completed"</dt><dd>{format!("{rate} ({} of {})", count(k.reset_completed), count(k.compromised_members))}</dd></div>
                <div><dt>"Still at risk"</dt><dd><a href="/admin/users?status=compromised">{plural(at_risk, "user", "users")}</a></dd></div>
                <div><dt>"Notices"</dt><dd>{format!("{} delivered, {} failed, {} pending", count(k.notices_sent), count(k.notices_failed), count(k.notices_pending))}</dd></div>
                <div><dt>"\"This wasn't me\" reports since opening"</dt><dd>{count(k.not_me_reports)}</dd></div>
                <div><dt>"Sign-ins refused by containment"</dt><dd>{count(k.refused_sign_ins)}</dd></div>
            </dl>
        </section>
    }
}

/// The share of compromised members who completed the reset, by hour: an SVG line readable
/// without JavaScript, and the same figures in a table.
#[component]
fn Completion(k: Kpis) -> impl IntoView {
    if k.compromised_members == 0 || k.completion_by_hour.is_empty() {
        return ().into_any();
    }
    let total = k.compromised_members;
    let points = k.completion_by_hour.clone();
    let (w, h, pad) = (600.0_f64, 160.0_f64, 30.0_f64);
    let n = points.len().max(2) as f64 - 1.0;
    let xy = |i: usize, done: i64| {
        let x = pad + (w - 2.0 * pad) * (i as f64) / n;
        let y = h - pad - (h - 2.0 * pad) * (done as f64 / total as f64);
        (x, y)
    };
    let path: String = points
        .iter()
        .enumerate()
        .map(|(i, (_, done))| {
            let (x, y) = xy(i, *done);
            format!("{}{x:.1},{y:.1}", if i == 0 { "M" } else { " L" })
        })
        .collect();
    let dots: Vec<(f64, f64)> = points
        .iter()
        .enumerate()
        .map(|(i, (_, done))| xy(i, *done))
        .collect();
    let last = points.last().map_or(0, |(_, d)| *d);
    let label = format!(
        "Reset completion by hour: {} % after {} hours",
        last * 100 / total,
        points.len()
    );
    view! {
        <section class="panel" aria-labelledby="completion-heading">
            <h2 id="completion-heading">"Reset completion by hour"</h2>
            <svg viewBox=format!("0 0 {w} {h}") width="100%" role="img" aria-label=label class="chart">
                <line x1=pad y1=h - pad x2=w - pad y2=h - pad stroke="#8a94a6"/>
                <line x1=pad y1=pad x2=pad y2=h - pad stroke="#8a94a6"/>
                <text x="2" y=pad + 4.0 font-size="11">"100%"</text>
                <text x="8" y=h - pad + 4.0 font-size="11">"0%"</text>
                <path d=path fill="none" stroke="#1d4ed8" stroke-width="2"/>
                {dots.into_iter().map(|(x, y)| view! { <circle cx=x cy=y r="3" fill="#1d4ed8"/> }).collect_view()}
            </svg>
            <table class="table">
                <caption class="muted">"Members who completed the reset, by the end of each hour (UTC)"</caption>
                <thead><tr><th scope="col">"Hour"</th><th scope="col">"Completed"</th><th scope="col">"Share"</th></tr></thead>
                <tbody>
                    {points.into_iter().map(|(hour, done)| view! {
                        <tr><td>{utc(hour)}</td><td>{count(done)}</td><td>{format!("{} %", done * 100 / total)}</td></tr>
                    }).collect_view()}
                </tbody>
            </table>
        </section>
    }
    .into_any()
}

#[component]
fn Cohorts(
    cohorts: Vec<CohortView>,
    now: i64,
    cancel: ServerAction<CancelCohort>,
) -> impl IntoView {
    if cohorts.is_empty() {
        return ().into_any();
    }
    view! {
        <section class="panel" aria-labelledby="cohorts-heading">
            <h2 id="cohorts-heading">"Cohorts"</h2>
            {cohorts.into_iter().map(|c| {
                let (done, total, phase) = if c.contained < c.size {
                    (c.contained, c.size, "contained")
                } else if c.actions.contains("notice") {
                    (c.notified, c.size, "notified")
                } else {
                    (c.contained, c.size, "contained")
                };
                let elapsed_s = ((c.finished_at.unwrap_or(now) - c.created_at).max(1)) as f64 / 1000.0;
                let work = (c.contained + c.notified) as f64;
                let rate = work / elapsed_s;
                let remaining = (if c.actions.contains("notice") { 2 * c.size } else { c.size }) as f64 - work;
                let eta = (c.state == "running" && rate > 0.0).then(|| duration((remaining / rate * 1000.0) as i64));
                view! {
                    <div class="cohort">
                        <h3>{format!("Cohort {} · {} · {}", c.id, plural(c.size, "member", "members"), c.actions)}</h3>
                        <p>
                            <progress max=total.to_string() value=done.to_string() aria-label=format!("cohort {} progress", c.id)></progress>
                            {format!(" {} / {} {phase} · {} contained, {} notified · {}", count(done), count(total), count(c.contained), count(c.notified), c.state)}
                            {format!(" · {:.0} per second", rate)}
                            {eta.map(|e| format!(" · about {e} left"))}
                        </p>
                        <p class="muted small">"Member list SHA-256 "<span class="mono" title=c.ids_sha256.clone()>{c.ids_sha256[..16.min(c.ids_sha256.len())].to_owned()}"…"</span></p>
                        {(c.state == "running").then(|| view! {
                            <ActionForm action=cancel attr:class="form">
                                <input type="hidden" name="cohort_id" value=c.id.to_string()/>
                                <button type="submit" class="btn btn-secondary">"Cancel job"</button>
                            </ActionForm>
                        })}
                    </div>
                }
            }).collect_view()}
        </section>
    }
    .into_any()
}

#[component]
fn CohortForm(
    incident_id: i64,
    reference: String,
    step_up: bool,
    apply: ServerAction<ApplyCohort>,
) -> impl IntoView {
    let preview = ServerAction::<PreviewCohort>::new();
    let p_err = Signal::derive(move || preview.value().get().map(|r| r.map(|_| ())));
    let a_err = Signal::derive(move || apply.value().get());
    let criteria_field = |label: &'static str,
                          name: &'static str,
                          kind: &'static str,
                          hint: Option<&'static str>| {
        let id = format!("cohort-{name}");
        view! {
            <div class="field">
                <label for=id.clone()>{label}</label>
                {hint.map(|h| view! { <p class="field-hint">{h}</p> })}
                <input id=id name=name type=kind/>
            </div>
        }
    };
    view! {
        <section class="panel panel-danger" aria-labelledby="cohort-heading">
            <h2 id="cohort-heading">"Contain a cohort"</h2>
            <p class="muted">"Pick the affected users: every criterion given must hold. Times are UTC. Preview first; the cohort is frozen when you apply."</p>
            <FormError message=Signal::derive(move || p_err.get().and_then(|r| r.err()).and_then(|e| e.form_message()))/>
            <ActionForm action=preview attr:class="form form-wide" attr:novalidate=true>
                <div class="field">
                    <label for="cohort-role">"Role"</label>
                    <select id="cohort-role" name="role">
                        <option value="">"Any"</option>
                        <option value="member">"Member"</option>
                        <option value="admin">"Administrator"</option>
                    </select>
                    {field_error(p_err, "role")}
                </div>
                {criteria_field("Account created after", "created_after", "datetime-local", None)}
                {criteria_field("Account created before", "created_before", "datetime-local", None)}
                {field_error(p_err, "created_after")}
                {criteria_field("Signed in from", "signed_in_from", "datetime-local", Some("A session started within this window."))}
                {criteria_field("Signed in until", "signed_in_to", "datetime-local", None)}
                {field_error(p_err, "signed_in")}
                {criteria_field("New device from", "new_device_from", "datetime-local", Some("Signed in from a device first seen within this window."))}
                {criteria_field("New device until", "new_device_to", "datetime-local", None)}
                {field_error(p_err, "new_device")}
                {criteria_field("Address range", "ip_range", "text", Some("Signed in from this range (CIDR, e.g. 203.0.113.0/24), within the sign-in window when given."))}
                {field_error(p_err, "ip_range")}
                {criteria_field("Country", "country", "text", Some("Signed in from this country (two letters, e.g. FR; needs a GeoIP database), within the sign-in window when given."))}
                {field_error(p_err, "country")}
                {criteria_field("Password set from", "password_set_from", "datetime-local", None)}
                {criteria_field("Password set until", "password_set_to", "datetime-local", None)}
                {field_error(p_err, "password_set")}
                <div class="field">
                    <label for="cohort-emails">"E-mail addresses"</label>
                    <p class="field-hint">"One per line, or paste a CSV whose first column holds them. Unknown addresses are reported, not fatal."</p>
                    <textarea id="cohort-emails" name="emails" rows="4"></textarea>
                    {field_error(p_err, "emails")}
                    {field_error(p_err, "criteria")}
                </div>
                <p><button type="submit" class="btn btn-secondary">"Preview"</button></p>
            </ActionForm>
            {move || preview.value().get().and_then(|r| r.ok()).map(|r| {
                let p = r.preview;
                let reference = reference.clone();
                view! {
                    <div class="preview" role="status">
                        <h3>{format!("{} match", plural(p.count, "user", "users"))}</h3>
                        <p>{format!("{} with live sessions · {}", count(p.with_live_sessions), plural(p.admins, "administrator", "administrators"))}</p>
                        {(!p.unknown_emails.is_empty()).then(|| view! {
                            <p class="alert alert-warning">{format!("{} no account has: {}", plural(p.unknown_emails.len() as i64, "listed address", "listed addresses"), p.unknown_emails.join(", "))}</p>
                        })}
                        <ul class="compact">
                            {p.first.iter().map(|(id, email)| view! { <li><a href=format!("/admin/users/{id}")>{email.clone()}</a></li> }).collect_view()}
                        </ul>
                        {(p.count > p.first.len() as i64).then(|| view! { <p class="muted small">{format!("and {} more", count(p.count - p.first.len() as i64))}</p> })}
                        <FormError message=Signal::derive(move || a_err.get().and_then(|r| r.err()).and_then(|e| e.form_message()))/>
                        <ActionForm action=apply attr:class="form form-wide" attr:novalidate=true>
                            <input type="hidden" name="incident_id" value=incident_id.to_string()/>
                            {r.fields.into_iter().map(|(k, v)| view! { <input type="hidden" name=k value=v/> }).collect_view()}
                            <fieldset>
                                <legend>"Actions (containment runs first, then the notice)"</legend>
                                <label class="check"><input type="checkbox" name="compromise" checked=true/>" Set passwords as compromised (live sessions restricted to the reset)"</label>
                                <label class="check"><input type="checkbox" name="sign_out" checked=true/>" Sign out every session (alone: force re-authentication)"</label>
                                <label class="check"><input type="checkbox" name="notify" checked=true/>" Send the incident notice"</label>
                                {field_error(a_err, "actions")}
                            </fieldset>
                            <div class="field">
                                <label for="cohort-reason">"Reason"</label>
                                <textarea id="cohort-reason" name="reason" rows="2"></textarea>
                                {field_error(a_err, "reason")}
                            </div>
                            <div class="field">
                                <label for="cohort-confirmation">"Confirmation"</label>
                                <p class="field-hint">"Type " <strong class="mono">{reference.clone()}</strong> " to confirm."</p>
                                <input id="cohort-confirmation" name="confirmation" autocomplete="off"/>
                                {field_error(a_err, "confirmation")}
                            </div>
                            <StepUp needed=step_up id="cohort-password" error=a_err/>
                            {field_error(a_err, "criteria")}
                            <p><button type="submit" class="btn btn-danger">{format!("Apply to {}", plural(p.count, "user", "users"))}</button></p>
                        </ActionForm>
                    </div>
                }
            })}
        </section>
    }
}

#[component]
fn Timeline(d: IncidentPageData) -> impl IntoView {
    view! {
        <section class="panel" aria-labelledby="timeline-heading">
            <h2 id="timeline-heading">"Timeline"</h2>
            <ol class="timeline">
                {d.timeline.into_iter().map(|t| view! {
                    <li>
                        <span class="muted">{utc(t.at)}</span>" · "<strong>{t.label}</strong>" · "{t.actor}
                        <details><summary class="small">"Details"</summary><p class="small"><span class="mono">{t.code}</span>" · entry "{t.seq}" · "{t.summary}</p></details>
                    </li>
                }).collect_view()}
            </ol>
        </section>
    }
}
