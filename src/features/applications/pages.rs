//! Admin console → Applications: the hosts forward-auth lets through, and who may enter.
//!
//! Editing is a link (`?edit=<id>`) that fills the one form, so it works before the wasm has
//! loaded too. The list is re-read after a change only: a refused form keeps what was typed.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_query_map};

use super::{
    list_applications, ApplicationView, DeleteApplication, SaveApplication, SetApplicationEnabled,
};
use crate::error::AppError;
use crate::ui::format::count;
use crate::ui::{field_error, AdminOnly, ConfirmDialog, FormError, Notice};

const PAGE: &str = "/admin/applications";
const ROLES: [&str; 2] = ["admin", "member"];

#[component]
pub fn ApplicationsPage() -> impl IntoView {
    view! { <AdminOnly><Applications/></AdminOnly> }
}

/// Counts `action`'s successes into `changes` and says so in `notice`; a failure clears it.
fn on_result<A>(
    action: ServerAction<A>,
    changes: RwSignal<usize>,
    notice: RwSignal<Option<&'static str>>,
    done: &'static str,
    mut then: impl FnMut() + 'static,
) where
    A: leptos::server_fn::ServerFn<Output = (), Error = AppError> + Send + Sync + Clone + 'static,
{
    Effect::new(move |_| match action.value().get() {
        Some(Ok(())) => {
            notice.set(Some(done));
            changes.update(|n| *n += 1);
            then();
        }
        Some(Err(_)) => notice.set(None),
        None => {}
    });
}

#[component]
fn Applications() -> impl IntoView {
    let save = ServerAction::<SaveApplication>::new();
    let toggle = ServerAction::<SetApplicationEnabled>::new();
    let remove = ServerAction::<DeleteApplication>::new();
    let query = use_query_map();
    let editing = Memo::new(move |_| query.read().get("edit").and_then(|v| v.parse::<i64>().ok()));
    let changes = RwSignal::new(0usize);
    let notice = RwSignal::new(None);
    let navigate = use_navigate();
    let form = NodeRef::<leptos::html::Form>::new();
    on_result(save, changes, notice, "Application saved.", move || {
        // The re-read list re-renders the form in place, and an input the admin typed in keeps
        // its text over a new `value` attribute: reset it to its attributes first.
        if let Some(form) = form.get_untracked() {
            form.reset();
        }
        if editing.get_untracked().is_some() {
            navigate(PAGE, Default::default());
        }
    });
    // The same when "Edit" (or "Cancel") fills the form with another application.
    Effect::new(move |first: Option<()>| {
        editing.track();
        if first.is_some() {
            if let Some(form) = form.get_untracked() {
                form.reset();
            }
        }
    });
    on_result(toggle, changes, notice, "Application updated.", || {});
    on_result(remove, changes, notice, "Application removed.", || {});
    let apps = Resource::new(move || changes.get(), |_| list_applications());
    let row_error = Signal::derive(move || {
        [toggle.value().get(), remove.value().get()]
            .into_iter()
            .flatten()
            .find_map(|r| r.err())
            .map(|e| e.to_string())
    });
    view! {
        <Title text="Applications"/>
        <section class="page-header">
            <h1>"Applications"</h1>
            <p class="muted">
                "Reverse proxies (nginx, Caddy, Traefik) ask Keywarden whether a request for one of these applications may pass: "
                "it passes when its user is signed in with one of the roles allowed. "
                "A request for a host no enabled application matches is refused."
            </p>
        </section>
        <Notice message=Signal::derive(move || notice.get())/>
        <FormError message=row_error/>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                let edit = editing.get();
                Suspend::new(async move {
                    match apps.await {
                        Ok(list) => {
                            let current = edit.and_then(|id| list.iter().find(|a| a.id == id).cloned());
                            view! {
                                <AppTable apps=list toggle remove/>
                                <ApplicationForm app=current action=save form/>
                            }.into_any()
                        }
                        Err(e) => view! { <p class="alert alert-error" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })
            }}
        </Transition>
    }
}

#[component]
fn AppTable(
    apps: Vec<ApplicationView>,
    toggle: ServerAction<SetApplicationEnabled>,
    remove: ServerAction<DeleteApplication>,
) -> impl IntoView {
    if apps.is_empty() {
        return view! {
            <section class="panel">
                <p class="muted">"No applications yet: every forward-auth request is refused."</p>
            </section>
        }
        .into_any();
    }
    view! {
        <section class="panel table-scroll" tabindex="0" aria-label="Applications (scrolls sideways)">
            <table class="table apps-table" aria-label="Applications">
                <thead><tr>
                    <th scope="col">"Name"</th><th scope="col">"Host"</th><th scope="col">"Roles allowed"</th>
                    <th scope="col">"Status"</th><th scope="col">"Last access (UTC)"</th><th scope="col" class="numeric">"Sessions, last 24 h"</th>
                    <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                </tr></thead>
                <tbody>
                    {apps.into_iter().map(|a| view! { <AppRow a toggle remove/> }).collect_view()}
                </tbody>
            </table>
        </section>
    }
    .into_any()
}

#[component]
fn AppRow(
    a: ApplicationView,
    toggle: ServerAction<SetApplicationEnabled>,
    remove: ServerAction<DeleteApplication>,
) -> impl IntoView {
    let id = a.id.to_string();
    let name = a.name.clone();
    let (edit_href, edit_label) = (format!("{PAGE}?edit={id}"), format!("Edit {name}"));
    let remove_label = format!("Remove {name}…");
    let host = a.host.clone();
    let verb = if a.enabled { "Disable" } else { "Enable" };
    let toggle_label = format!("{verb} {name}");
    let remove_id = id.clone();
    // Built in parts and type-erased: the whole row as one type overflows rustc's query depth
    // when compiling for wasm.
    let toggle_form = view! {
        // Only the switch: a concurrent edit of the other settings stays.
        <ActionForm action=toggle attr:class="inline-form">
            <input type="hidden" name="id" value=id.clone()/>
            {(!a.enabled).then(|| view! { <input type="hidden" name="enabled" value="true"/> })}
            <button type="submit" class="btn btn-small btn-secondary" aria-label=toggle_label>{verb}</button>
        </ActionForm>
    }
    .into_any();
    let confirm_remove = view! {
        <ConfirmDialog class="confirm-dialog" opener="Remove…" opener_label=remove_label opener_class="btn btn-small btn-danger">
            <p>"Remove " <strong>{name.clone()}</strong> "? Requests for " <span class="mono">{host}</span>
               " are refused from then on, unless another application covers the host."</p>
            <ActionForm action=remove attr:class="inline-form">
                <input type="hidden" name="id" value=remove_id/>
                <button type="submit" class="btn btn-small btn-danger">"Remove application"</button>
            </ActionForm>
        </ConfirmDialog>
    }
    .into_any();
    view! {
        <tr>
            <td>{a.name.clone()}</td>
            <td class="mono">{a.host.clone()}</td>
            <td>{a.roles.join(", ")}</td>
            <td>{if a.enabled {
                view! { <span class="status">"Enabled"</span> }
            } else {
                view! { <span class="status status-disabled">"Disabled"</span> }
            }}</td>
            <td>{a.last_access.clone().unwrap_or_else(|| "never".to_owned())}</td>
            <td class="numeric">{count(a.sessions_24h)}</td>
            <td class="row-actions">
                {toggle_form}
                <a class="btn btn-small btn-secondary" href=edit_href aria-label=edit_label>"Edit"</a>
                {confirm_remove}
            </td>
        </tr>
    }
    .into_any()
}

/// Adds an application, or edits `app`.
#[component]
fn ApplicationForm(
    app: Option<ApplicationView>,
    action: ServerAction<SaveApplication>,
    form: NodeRef<leptos::html::Form>,
) -> impl IntoView {
    let value = Signal::derive(move || action.value().get());
    let heading = match &app {
        Some(a) => format!("Edit {}", a.name),
        None => "Add application".to_owned(),
    };
    let id = app.as_ref().map(|a| a.id.to_string());
    let (name, host, enabled) = app
        .as_ref()
        .map(|a| (a.name.clone(), a.host.clone(), a.enabled))
        .unwrap_or((String::new(), String::new(), true));
    // A new application lets every signed-in user in until the admin narrows it.
    let roles = app
        .as_ref()
        .map(|a| a.roles.clone())
        .unwrap_or_else(|| ROLES.iter().map(|r| (*r).to_owned()).collect());
    let invalid = move |field: &'static str| {
        move || {
            value
                .get()
                .and_then(|r| r.err())
                .and_then(|e| e.for_field(field))
                .map(|_| "true")
        }
    };
    view! {
        <section class="panel" aria-labelledby="app-form-heading">
            <h2 id="app-form-heading">{heading}</h2>
            <FormError message=Signal::derive(move || value.get().and_then(|r| r.err()).and_then(|e| e.form_message()))/>
            {field_error(value, "application")}
            <ActionForm action node_ref=form attr:class="form form-wide app-form" attr:novalidate=true>
                {id.clone().map(|id| view! { <input type="hidden" name="id" value=id/> })}
                <div class="field" class:field-invalid=move || invalid("name")().is_some()>
                    <label for="app-name">"Name"</label>
                    <input id="app-name" name="name" value=name aria-invalid=invalid("name")/>
                    {field_error(value, "name")}
                </div>
                <div class="field" class:field-invalid=move || invalid("host")().is_some()>
                    <label for="app-host">"Host"</label>
                    <p class="field-hint" id="app-host-hint">"app.example.com or *.example.com"</p>
                    <input id="app-host" name="host" class="mono" value=host autocomplete="off"
                        aria-describedby="app-host-hint" aria-invalid=invalid("host")/>
                    {field_error(value, "host")}
                </div>
                <fieldset class="fieldset">
                    <legend>"Roles allowed"</legend>
                    {ROLES.iter().map(|r| view! {
                        <label class="check">
                            <input type="checkbox" name="roles[]" value=*r checked=roles.iter().any(|x| x == r)/>
                            " " {*r}
                        </label>
                    }).collect_view()}
                    {field_error(value, "roles")}
                </fieldset>
                <label class="check">
                    <input type="checkbox" name="enabled" value="true" checked=enabled/>
                    " Enabled"
                </label>
                <p class="button-row">
                    <button type="submit" class="btn btn-primary">{if id.is_some() { "Save changes" } else { "Add application" }}</button>
                    {id.is_some().then(|| view! { <a class="btn btn-secondary" href=PAGE>"Cancel"</a> })}
                </p>
            </ActionForm>
        </section>
    }
    .into_any()
}
