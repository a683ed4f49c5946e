use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::{Form, A};
use leptos_router::hooks::use_query_map;

use super::{
    last_audit_checkpoint, list_audit, AuditEntryDto, AuditFilter, AuditPage, ChainStatus,
    VerifyAuditChain,
};
use crate::domain::AuditAction;
use crate::error::AppError;
use crate::ui::AdminOnly;

#[component]
pub fn AuditTrailPage() -> impl IntoView {
    view! { <AdminOnly><AuditTrail/></AdminOnly> }
}

/// Filters and the cursor live in the URL, so a filtered view can be bookmarked and shared, and
/// the form works without JavaScript.
#[component]
fn AuditTrail() -> impl IntoView {
    let query = use_query_map();
    let filter = Memo::new(move |_| AuditFilter::from_query(&query.read()));
    let before = Memo::new(move |_| {
        query
            .read()
            .get("before")
            .and_then(|b| b.parse::<i64>().ok())
    });
    let page = Resource::new(
        move || (filter.get(), before.get()),
        |(f, before)| list_audit(f.actor, f.target, f.action, f.from, f.to, before),
    );
    view! {
        <Title text="Audit trail"/>
        <section class="page-header">
            <h1>"Audit trail"</h1>
            <p class="muted">"Every security event and administrator action, newest first."</p>
        </section>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let result = page.await;
                let f = filter.get();
                let field_error = result.as_ref().err().cloned();
                let body = match result {
                    Ok(p) => view! { <Entries page=p filter=f.clone()/> }.into_any(),
                    Err(AppError::Field { .. }) => ().into_any(),
                    Err(e) => view! { <p class="alert alert-error" role="alert">{e.to_string()}</p> }.into_any(),
                };
                view! { <Filters filter=f error=field_error/> {body} }
            })}
        </Transition>
        <ChainCheck/>
        <LastCheckpoint/>
    }
}

#[component]
fn Filters(filter: AuditFilter, error: Option<AppError>) -> impl IntoView {
    let err = move |name: &str| error.as_ref().and_then(|e| e.for_field(name));
    view! {
        <section class="panel" aria-labelledby="filters-heading">
            <h2 id="filters-heading">"Filters"</h2>
            <Form method="get" action="/admin/audit" attr:class="audit-filters">
                <FilterField label="Actor" name="actor" value=filter.actor.clone()
                    hint="An e-mail, or anonymous, user, admin, cli, system." error=err("actor")/>
                <FilterField label="Target user email" name="target" kind="email" value=filter.target.clone() error=err("target")/>
                <FilterField label="Action" name="action" value=filter.action.clone()
                    hint="Exact, or a prefix ending in “.” such as password_reset." error=err("action")/>
                <FilterField label="From" name="from" kind="date" value=filter.from.clone() error=err("from")/>
                <FilterField label="To" name="to" kind="date" value=filter.to.clone() error=err("to")/>
                <p class="audit-filter-actions">
                    <button type="submit" class="btn btn-primary">"Apply filters"</button>
                    <A href="/admin/audit">"Clear"</A>
                </p>
            </Form>
        </section>
    }
}

/// A labelled input prefilled from the URL, with its hint and error linked for screen readers.
#[component]
fn FilterField(
    label: &'static str,
    name: &'static str,
    #[prop(default = "text")] kind: &'static str,
    value: Option<String>,
    #[prop(optional)] hint: Option<&'static str>,
    error: Option<String>,
) -> impl IntoView {
    let id = format!("audit-{name}");
    let hint_id = format!("{id}-hint");
    let error_id = format!("{id}-error");
    let described_by = [
        hint.map(|_| hint_id.clone()),
        error.as_ref().map(|_| error_id.clone()),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ");
    let invalid = error.is_some();
    view! {
        <div class="field" class:field-invalid=invalid>
            <label for=id.clone()>{label}</label>
            {hint.map(|h| view! { <p class="field-hint" id=hint_id>{h}</p> })}
            <input
                id=id
                name=name
                type=kind
                value=value.unwrap_or_default()
                aria-invalid=invalid.then_some("true")
                aria-describedby=(!described_by.is_empty()).then_some(described_by)
            />
            {error.map(|e| view! { <p class="field-error" id=error_id>{e}</p> })}
        </div>
    }
}

#[component]
fn Entries(page: AuditPage, filter: AuditFilter) -> impl IntoView {
    let exports = filter.query_string(None);
    let newer = page
        .newer
        .map(|n| format!("/admin/audit{}", filter.query_string(n.before)));
    let older = page
        .next_before
        .map(|b| format!("/admin/audit{}", filter.query_string(Some(b))));
    let empty = page.entries.is_empty();
    // Rows leave out the year they share with the newest entry; the header names it.
    let year = page
        .entries
        .first()
        .map(|e| year_of(&e.time).to_owned())
        .unwrap_or_default();
    let time_heading = if year.is_empty() {
        "Time (UTC)".to_owned()
    } else {
        format!("Time (UTC, {year})")
    };
    view! {
        <section class="panel" aria-labelledby="entries-heading">
            <div class="audit-toolbar">
                <h2 id="entries-heading">"Entries"</h2>
                <p class="audit-exports">
                    // Real downloads, not client-side routes.
                    <a href=format!("/admin/audit/export.csv{exports}") rel="external" download="">"Export CSV"</a>
                    <a href=format!("/admin/audit/export.jsonl{exports}") rel="external" download="">"Export JSON Lines"</a>
                </p>
            </div>
            {if empty {
                view! { <p class="muted">"No entries match these filters."</p> }.into_any()
            } else {
                view! {
                    <table class="table audit-table" aria-label="Audit entries">
                        <thead>
                            <tr>
                                <th scope="col">{time_heading}</th>
                                <th scope="col">"Actor"</th>
                                <th scope="col">"Action"</th>
                                <th scope="col">"Target"</th>
                                <th scope="col"><span class="visually-hidden">"More"</span></th>
                            </tr>
                        </thead>
                        <tbody>{page.entries.into_iter().map(|e| view! { <EntryRow e=e year=year.clone()/> }).collect_view()}</tbody>
                    </table>
                }.into_any()
            }}
            <nav class="pagination" aria-label="Audit pages">
                {newer.map(|href| view! { <A href=href attr:rel="prev">"← Newer"</A> })}
                {older.map(|href| view! { <A href=href attr:rel="next">"Older →"</A> })}
            </nav>
        </section>
    }
}

/// One entry on one line: when, who, what in words, to whom. The rest (the code, where from,
/// reason, details, hash) is behind a disclosure, so long values never stretch the row.
#[component]
fn EntryRow(e: AuditEntryDto, year: String) -> impl IntoView {
    let actor = super::actor_in_words(&e.actor_kind, e.actor_label.as_deref());
    let action = AuditAction::parse(&e.action).map(AuditAction::label);
    let target = match (e.target_email.clone(), e.target_user_id) {
        (Some(email), _) => email,
        (None, Some(id)) => format!("user #{id} (deleted)"),
        (None, None) => "—".to_owned(),
    };
    let dash = || "—".to_owned();
    view! {
        <tr>
            <td class="audit-time">
                <time datetime=iso_time(&e.time) title=e.time.clone()>{compact_time(&e.time, &year)}</time>
            </td>
            <td title=actor.clone()>{actor.clone()}</td>
            {match action {
                Some(words) => view! { <td title=format!("{words} ({})", e.action)>{words}</td> }.into_any(),
                None => view! { <td class="mono" title=e.action.clone()>{e.action.clone()}</td> }.into_any(),
            }}
            <td title=target.clone()>{target.clone()}</td>
            <td class="audit-more">
                <details>
                    <summary>"Details"</summary>
                    <dl class="audit-entry-facts">
                        <div><dt>"Action"</dt><dd>{action.map(|w| format!("{w} · "))}<code class="mono">{e.action.clone()}</code></dd></div>
                        <div><dt>"Entry"</dt><dd class="mono">{format!("#{} · {}", e.seq, e.time)}</dd></div>
                        <div><dt>"Actor"</dt><dd>{actor}<span class="muted">{format!(" · {}", e.actor_kind)}</span></dd></div>
                        <div><dt>"IP address"</dt><dd class="mono nowrap">{e.ip.clone().unwrap_or_else(dash)}</dd></div>
                        <div><dt>"Device"</dt><dd>
                            {e.user_agent_summary.clone().unwrap_or_else(dash)}
                            {e.user_agent.clone().map(|ua| view! { <br/><span class="muted small mono">{ua}</span> })}
                        </dd></div>
                        <div><dt>"Reason"</dt><dd>{e.reason.clone().unwrap_or_else(dash)}</dd></div>
                        <div><dt>"Data"</dt><dd><code class="mono">{if e.details == "{}" { dash() } else { e.details.clone() }}</code></dd></div>
                        // The whole hash is in the text (selecting it copies all of it); the
                        // style shows its first 12 digits.
                        <div><dt>"Hash"</dt><dd><code class="mono audit-hash" title=e.hash.clone()>{e.hash.clone()}</code></dd></div>
                    </dl>
                </details>
            </td>
        </tr>
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// "2025" from `YYYY-MM-DD HH:MM:SS UTC`.
fn year_of(time: &str) -> &str {
    time.get(..4).unwrap_or_default()
}

/// "Dec 7, 12:04:31" from `YYYY-MM-DD HH:MM:SS UTC`, with the year when it is not `year`.
fn compact_time(time: &str, year: &str) -> String {
    let parsed = (|| {
        let (date, clock) = time.strip_suffix(" UTC")?.split_once(' ')?;
        let mut parts = date.split('-');
        let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
        let month = MONTHS.get(m.parse::<usize>().ok()?.checked_sub(1)?)?;
        let day = d.parse::<u32>().ok()?;
        Some(if y == year {
            format!("{month} {day}, {clock}")
        } else {
            format!("{month} {day} {y}, {clock}")
        })
    })();
    parsed.unwrap_or_else(|| time.to_owned())
}

/// `2025-12-07T12:04:31Z` for `<time datetime>`.
fn iso_time(time: &str) -> String {
    match time.strip_suffix(" UTC") {
        Some(t) => format!("{}Z", t.replacen(' ', "T", 1)),
        None => time.to_owned(),
    }
}

#[component]
fn ChainCheck() -> impl IntoView {
    let verify = ServerAction::<VerifyAuditChain>::new();
    let result = move || {
        verify.value().get().map(|r| match r {
            Ok(ChainStatus::Intact { entries }) => {
                view! { <p class="alert alert-success" role="status">{format!("Chain intact: {entries} entries")}</p> }.into_any()
            }
            Ok(ChainStatus::Broken { seq, problem }) => {
                view! { <p class="alert alert-error" role="alert">{format!("Chain broken at entry {seq}: {problem}")}</p> }.into_any()
            }
            Err(e) => view! { <p class="alert alert-error" role="alert">{e.to_string()}</p> }.into_any(),
        })
    };
    view! {
        <section class="panel" aria-labelledby="chain-heading">
            <h2 id="chain-heading">"Chain integrity"</h2>
            <p class="muted">
                "Each entry carries the hash of the one before it, so an edited, removed or reordered entry breaks the chain. "
                "Check it here, or on the server with " <code>"keywarden audit verify"</code> "."
            </p>
            <ActionForm action=verify>
                <button type="submit" class="btn btn-secondary" disabled=move || verify.pending().get()>"Verify chain"</button>
            </ActionForm>
            {result}
        </section>
    }
}

/// The last signed checkpoint and its download: a copy kept away from the server is what makes
/// a truncated or re-hashed trail detectable.
#[component]
fn LastCheckpoint() -> impl IntoView {
    let last = Resource::new(|| (), |_| last_audit_checkpoint());
    view! {
        <section class="panel" aria-labelledby="checkpoint-heading">
            <h2 id="checkpoint-heading">"Signed checkpoints"</h2>
            <p class="muted">
                "Every day and after every instance-wide action, the head of the chain is signed with the server key, "
                "mailed to administrators and stored. Keep a copy elsewhere: "
                <code>"keywarden audit verify --checkpoint FILE"</code>
                " then proves that no entry up to it was removed or changed."
            </p>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match last.await {
                        Ok(Some(c)) => view! {
                            <dl class="checkpoint-summary">
                                <dt>"Last entry"</dt><dd class="mono">{c.seq}</dd>
                                <dt>"Taken"</dt><dd class="mono">{c.time}" ("{c.cause}")"</dd>
                                <dt>"Hash"</dt><dd class="mono">{format!("{}…", c.short_hash)}</dd>
                            </dl>
                            <p>
                                // A real download, not a client-side route.
                                <a href="/admin/audit/checkpoint.txt" rel="external" download="">"Download the last checkpoint"</a>
                            </p>
                        }.into_any(),
                        Ok(None) => view! { <p class="muted">"No checkpoint yet: the first is taken within a day."</p> }.into_any(),
                        Err(e) => view! { <p class="alert alert-error" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::{compact_time, iso_time};

    #[test]
    fn times_are_compact_with_the_year_only_when_it_differs() {
        assert_eq!(
            compact_time("2025-12-07 12:04:31 UTC", "2025"),
            "Dec 7, 12:04:31"
        );
        assert_eq!(
            compact_time("2024-01-30 00:00:05 UTC", "2025"),
            "Jan 30 2024, 00:00:05"
        );
        assert_eq!(compact_time("garbage", "2025"), "garbage");
        assert_eq!(iso_time("2025-12-07 12:04:31 UTC"), "2025-12-07T12:04:31Z");
    }
}
