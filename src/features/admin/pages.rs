use leptos::prelude::*;
use leptos_meta::Title;

use crate::features::admin::{admin_overview, ChainFigures, InstanceAction, Overview, SignInHour};
use crate::ui::chart::{Series, StackedBars};
use crate::ui::format::{count, utc};
use crate::ui::AdminOnly;

#[component]
pub fn AdminHome() -> impl IntoView {
    view! { <AdminOnly><AdminDashboard/></AdminOnly> }
}

#[component]
fn AdminDashboard() -> impl IntoView {
    let overview = Resource::new(|| (), |_| admin_overview());
    view! {
        <Title text="Admin console"/>
        <section class="page-header">
            <h1>"Admin console"</h1>
            <p class="muted">"Users, sessions and incident response for this Keywarden instance."</p>
        </section>
        <Suspense fallback=|| view! { <p class="muted">"Loading figures…"</p> }>
            {move || Suspend::new(async move {
                match overview.await {
                    Ok(o) => view! { <Figures o=o/> }.into_any(),
                    Err(e) => view! { <p class="alert alert-error" role="alert">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// The audit trail filtered on one action since the first day of the 7-day window.
fn audit_since(action: &str, from: &str) -> String {
    format!("/admin/audit?action={action}&from={from}")
}

/// When a count was taken, as a note under it: "counted at 14:05 UTC".
fn counted_at(at: i64) -> String {
    format!("counted at {}", &utc(at)[11..])
}

#[component]
fn Figures(o: Overview) -> impl IntoView {
    let week = format!("since {}", o.week_from);
    let signed_in: i64 = o.sign_ins.iter().map(|h| h.succeeded).sum();
    view! {
        <section class="stats" aria-label="Instance figures">
            <Stat label="Users" value=o.users href="/admin/users"/>
            <Stat label="Administrators" value=o.admins href="/admin/users?role=admin"/>
            <Stat label="Active sessions" value=o.active_sessions note=counted_at(o.active_sessions_at)/>
            <Stat label="Signed in, last 24 hours" value=signed_in/>
        </section>

        <section class="panel overview-section" aria-labelledby="posture-heading">
            <h2 id="posture-heading">"Security posture"</h2>
            <div class="stats">
                <Stat label="Password compromised, no reset yet" value=o.compromised href="/admin/users?status=compromised" warn=true/>
                <Stat label="Reset pending (code sent)" value=o.reset_pending href="/admin/users?status=reset_pending" warn=true/>
                <Stat label="Resets completed, last 7 days" value=o.resets_completed href=audit_since("reset_task.completed", &o.week_from) note=week.clone()/>
                <Stat label="Disabled accounts" value=o.disabled href="/admin/users?status=disabled"/>
            </div>
        </section>

        <SignIns hours=o.sign_ins.clone()/>

        <div class="overview-grid">
            <section class="panel" aria-labelledby="alerts-heading">
                <h2 id="alerts-heading">"Device alerts, last 7 days"</h2>
                <div class="stats">
                    <Stat label="New-device alerts sent" value=o.new_device_alerts href=audit_since("session.new_device_alert", &o.week_from) note=week.clone()/>
                    <Stat label="\"This wasn't me\" reports" value=o.not_me_reports href=audit_since("session.reported_not_me", &o.week_from) note=week.clone() warn=true/>
                </div>
            </section>
            <section class="panel" aria-labelledby="outbox-heading">
                <h2 id="outbox-heading">"Mail outbox"</h2>
                <div class="stats">
                    <Stat label="Waiting to be sent" value=o.outbox_pending href="/admin/email"/>
                    <Stat label="Failed" value=o.outbox_failed href="/admin/email" warn=true/>
                </div>
            </section>
        </div>

        <div class="overview-grid">
            <InstanceActions actions=o.instance_actions.clone()/>
            <Chain chain=o.chain.clone()/>
        </div>
        <p class="muted small">{format!("Figures as of {} · database: {}", utc(o.at), o.database)}</p>
    }
}

/// One figure. With `href`, the whole card links to the list behind it; with `warn`, a non-zero
/// value is shown in the danger colour.
#[component]
fn Stat(
    label: &'static str,
    value: i64,
    #[prop(optional, into)] href: Option<String>,
    #[prop(optional, into)] note: Option<String>,
    #[prop(optional)] warn: bool,
) -> impl IntoView {
    let value_class = if warn && value > 0 {
        "stat-value stat-warn"
    } else {
        "stat-value"
    };
    let body = view! {
        <p class=value_class>{count(value)}</p>
        <p class="stat-label">{label}</p>
        {note.map(|n| view! { <p class="stat-note">{n}</p> })}
    };
    match href {
        Some(href) => view! { <a class="stat stat-link" href=href>{body}</a> }.into_any(),
        None => view! { <div class="stat">{body}</div> }.into_any(),
    }
}

const SERIES: [Series; 3] = [
    Series {
        name: "Signed in",
        color: "#067647",
    },
    Series {
        name: "Failed",
        color: "#b42318",
    },
    Series {
        name: "Refused by containment",
        color: "#b54708",
    },
];

/// Sign-ins by hour: the chart and, in a disclosure, the same figures as a table.
#[component]
fn SignIns(hours: Vec<SignInHour>) -> impl IntoView {
    let total = |f: fn(&SignInHour) -> i64| hours.iter().map(f).sum::<i64>();
    let (ok, failed, refused) = (
        total(|h| h.succeeded),
        total(|h| h.failed),
        total(|h| h.refused),
    );
    let description = format!(
        "Over the last 24 hours: {} signed in, {} failed, {} refused by containment.",
        count(ok),
        count(failed),
        count(refused)
    );
    let labels: Vec<String> = hours
        .iter()
        .map(|h| utc(h.hour)[11..16].to_owned())
        .collect();
    let bars: Vec<Vec<i64>> = hours
        .iter()
        .map(|h| vec![h.succeeded, h.failed, h.refused])
        .collect();
    view! {
        <section class="panel" aria-labelledby="sign-ins-heading">
            <h2 id="sign-ins-heading">"Sign-ins, last 24 hours"</h2>
            <p class="muted small">{description.clone()}" Hours in UTC; the last bar is the current hour."</p>
            <StackedBars id="sign-ins-chart" title="Sign-ins per hour, last 24 hours".to_owned()
                description=description series=SERIES.to_vec() labels=labels bars=bars label_every=3/>
            <details class="chart-table">
                <summary>"Sign-ins per hour as a table"</summary>
                <table class="table">
                    <caption class="muted">"Sign-ins per hour (UTC)"</caption>
                    <thead><tr>
                        <th scope="col">"Hour"</th>
                        <th scope="col">"Signed in"</th>
                        <th scope="col">"Failed"</th>
                        <th scope="col">"Refused by containment"</th>
                    </tr></thead>
                    <tbody>
                        {hours.into_iter().rev().map(|h| view! {
                            <tr><td>{utc(h.hour)}</td><td>{count(h.succeeded)}</td><td>{count(h.failed)}</td><td>{count(h.refused)}</td></tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </details>
            <p class="small">
                <a href="/admin/audit?action=auth.sign_in">"Successful sign-ins"</a>" · "
                <a href="/admin/audit?action=auth.sign_in_failed">"Failed sign-ins"</a>" · "
                <a href="/admin/audit?action=reset_task.started">"Sign-ins restricted to a reset"</a>" · "
                <a href="/admin/audit?action=auth.sign_in_blocked">"Sign-ins blocked"</a>
            </p>
        </section>
    }
}

#[component]
fn InstanceActions(actions: Vec<InstanceAction>) -> impl IntoView {
    view! {
        <section class="panel" aria-labelledby="instance-heading">
            <h2 id="instance-heading">"Last instance-wide actions"</h2>
            {if actions.is_empty() {
                view! { <p class="muted">"None: no one has set all passwords as compromised or signed everyone out."</p> }.into_any()
            } else {
                view! {
                    <ul class="events">
                        {actions.into_iter().map(|a| view! {
                            <li>
                                <strong>{a.what}</strong>
                                <span class="event-meta muted small">{format!("{} · {}", a.when, a.who)}</span>
                                {a.reason.map(|r| view! { <span class="event-meta small">{format!("“{r}”")}</span> })}
                            </li>
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
            <p class="small"><a href="/admin/audit?action=instance.">"Every instance-wide action in the audit trail"</a></p>
        </section>
    }
}

#[component]
fn Chain(chain: ChainFigures) -> impl IntoView {
    let head = chain.head_seq;
    view! {
        <section class="panel" aria-labelledby="chain-heading">
            <h2 id="chain-heading">"Audit chain"</h2>
            {match chain.checkpoint {
                None => view! {
                    <p><span class="badge badge-plain">"No checkpoint yet"</span></p>
                    <dl class="facts">
                        <div><dt>"Entries"</dt><dd>{count(head)}</dd></div>
                    </dl>
                    <p class="muted small">"A signed checkpoint is taken daily and after every instance-wide action."</p>
                }.into_any(),
                Some(cp) => {
                    let (badge, text) = if cp.entry_matches {
                        ("badge badge-ok", "Anchored: the checkpointed entry is unchanged")
                    } else {
                        ("badge badge-bad", "The checkpointed entry has changed: verify the chain")
                    };
                    view! {
                        <p><span class=badge>{text}</span></p>
                        <dl class="facts">
                            <div><dt>"Entries"</dt><dd>{count(head)}</dd></div>
                            <div><dt>"Last checkpoint"</dt><dd>{format!("entry {}, {}", count(cp.seq), cp.when)}<span class="muted small">{format!(" ({})", cp.cause)}</span></dd></div>
                            <div><dt>"Entries since"</dt><dd>{count(head - cp.seq)}</dd></div>
                        </dl>
                    }.into_any()
                }
            }}
            <p class="small"><a href="/admin/audit">"Verify the whole chain on the audit trail page"</a></p>
        </section>
    }
}
