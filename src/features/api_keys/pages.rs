//! Admin console → API keys: the keys scripts use to call the management API, created with
//! scopes and an expiry, their secret shown once, revoked in one click.
//!
//! The secret lives only in this page's memory, from the answer to "Create" until the admin hides
//! it or leaves: a reload shows the hint (`kw_live_ab12cd34…`) only. The form sits outside the
//! list, so re-reading the list after a change never touches what the admin has typed.

use leptos::prelude::*;
use leptos_meta::Title;

use super::{list_api_keys, ApiKeyView, CreateApiKey, CreatedApiKey, RevokeApiKey};
use crate::domain::{ApiScope, MAX_KEY_LIFETIME_DAYS};
use crate::error::AppError;
use crate::ui::format::utc;
use crate::ui::{field_error, AdminOnly, ConfirmDialog, FormError, Notice};

#[component]
pub fn ApiKeysPage() -> impl IntoView {
    view! { <AdminOnly><ApiKeys/></AdminOnly> }
}

#[component]
fn ApiKeys() -> impl IntoView {
    let create = ServerAction::<CreateApiKey>::new();
    let revoke = ServerAction::<RevokeApiKey>::new();
    let keys = Resource::new(
        move || (create.version().get(), revoke.version().get()),
        |_| list_api_keys(),
    );
    let notice = RwSignal::new(None);
    // Kept apart from the action's value, so a later refused form does not take the secret away.
    let fresh = RwSignal::new(None::<CreatedApiKey>);
    let form = NodeRef::<leptos::html::Form>::new();
    Effect::new(move |_| match create.value().get() {
        Some(Ok(created)) => {
            notice.set(Some("API key created: copy its secret now."));
            fresh.set(Some(created));
            if let Some(form) = form.get_untracked() {
                form.reset();
            }
        }
        Some(Err(_)) => notice.set(None),
        None => {}
    });
    Effect::new(move |_| match revoke.value().get() {
        Some(Ok(_)) => notice.set(Some("API key revoked.")),
        Some(Err(_)) => notice.set(None),
        None => {}
    });
    let row_error = Signal::derive(move || {
        revoke
            .value()
            .get()
            .and_then(|r| r.err())
            .map(|e| e.to_string())
    });
    view! {
        <Title text="API keys"/>
        <section class="page-header">
            <h1>"API keys"</h1>
            <p class="muted">
                "Scripts and other services call the management API (" <span class="mono">"/api/v1"</span> ") with "
                <span class="mono">"Authorization: Bearer <key>"</span> ". A key may do only what its scopes allow, "
                "until it expires or is revoked. Keywarden keeps a hash of each key, never the key itself. "
                <a href="/api/docs" rel="external">"API reference"</a>
                " (and its OpenAPI document, " <a href="/api/v1/openapi.json" rel="external" class="mono">"/api/v1/openapi.json"</a> ")."
            </p>
        </section>
        <Notice message=Signal::derive(move || notice.get())/>
        <FormError message=row_error/>
        <section class="panel" aria-labelledby="keys-heading">
            <h2 id="keys-heading">"Keys"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match keys.await {
                        Ok(list) => view! { <KeyTable keys=list revoke/> }.into_any(),
                        Err(e) => view! { <p class="alert alert-error" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
        <CreateForm action=create form fresh/>
    }
}

/// The secret of the key just created, with the warning that this is the only time it shows.
/// It sits under the form's button, where the admin is looking.
#[component]
fn SecretBox(fresh: RwSignal<Option<CreatedApiKey>>) -> impl IntoView {
    move || {
        fresh.get().map(|c| {
            view! {
                <section class="alert alert-warning" aria-labelledby="secret-heading">
                    <h3 id="secret-heading">{format!("New API key: {}", c.key.name)}</h3>
                    <p><strong>"Copy this key now: it will not be shown again."</strong></p>
                    <p><code class="mono api-key-secret" data-testid="api-key-secret">{c.secret}</code></p>
                    <p class="button-row">
                        <button type="button" class="btn btn-small btn-secondary" on:click=move |_| fresh.set(None)>
                            "I have copied it: hide the key"
                        </button>
                    </p>
                </section>
            }
        })
    }
}

#[component]
fn KeyTable(keys: Vec<ApiKeyView>, revoke: ServerAction<RevokeApiKey>) -> impl IntoView {
    if keys.is_empty() {
        return view! { <p class="muted">"No API keys yet: the management API refuses every call."</p> }
            .into_any();
    }
    view! {
        <div class="table-scroll" tabindex="0" role="region" aria-label="API keys (scrolls sideways)">
            <table class="table apps-table" aria-label="API keys">
                <thead><tr>
                    <th scope="col">"Name"</th><th scope="col">"Key"</th><th scope="col">"Scopes"</th>
                    <th scope="col">"Status"</th><th scope="col">"Created (UTC)"</th><th scope="col">"Expires (UTC)"</th>
                    <th scope="col">"Last used (UTC)"</th>
                    <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                </tr></thead>
                <tbody>
                    {keys.into_iter().map(|k| view! { <KeyRow k revoke/> }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

#[component]
fn KeyRow(k: ApiKeyView, revoke: ServerAction<RevokeApiKey>) -> impl IntoView {
    let status = match k.status.as_str() {
        "Active" => view! { <span class="status">"Active"</span> }.into_any(),
        other => {
            view! { <span class="status status-disabled">{other.to_owned()}</span> }.into_any()
        }
    };
    let revoked = k.revoked_at.map(|at| {
        let by = k.revoked_by.clone().unwrap_or_else(|| "unknown".to_owned());
        view! { <br/><span class="muted small">{format!("{} by {by}", utc(at))}</span> }
    });
    let last_used = match (k.last_used_at, k.last_used_ip.clone()) {
        (Some(at), Some(ip)) => format!("{} from {ip}", utc(at)),
        (Some(at), None) => utc(at),
        (None, _) => "never".to_owned(),
    };
    // Built apart and type-erased: the whole row as one type overflows rustc's query depth when
    // compiling for wasm (as on the applications page).
    let confirm_revoke = (k.status == "Active").then(|| {
        let name = k.name.clone();
        view! {
            <ConfirmDialog class="confirm-dialog" opener="Revoke…" opener_label=format!("Revoke {name}…") opener_class="btn btn-small btn-danger">
                <p>"Revoke " <strong>{name.clone()}</strong> "? Its next call is refused (401). This cannot be undone."</p>
                <ActionForm action=revoke attr:class="inline-form">
                    <input type="hidden" name="id" value=k.id.to_string()/>
                    <button type="submit" class="btn btn-small btn-danger">"Revoke key"</button>
                </ActionForm>
            </ConfirmDialog>
        }
        .into_any()
    });
    view! {
        <tr>
            <td>{k.name.clone()}</td>
            <td class="mono">{k.hint.clone()}</td>
            <td class="mono">{k.scopes.join(", ")}</td>
            <td>{status}{revoked}</td>
            <td>{format!("{} by {}", utc(k.created_at), k.created_by)}</td>
            <td>{utc(k.expires_at)}</td>
            <td>{last_used}</td>
            <td class="row-actions">{confirm_revoke}</td>
        </tr>
    }
    .into_any()
}

/// Name, scopes, lifetime and the admin's password: creating a key is a powerful action.
#[component]
fn CreateForm(
    action: ServerAction<CreateApiKey>,
    form: NodeRef<leptos::html::Form>,
    fresh: RwSignal<Option<CreatedApiKey>>,
) -> impl IntoView {
    let value = Signal::derive(move || action.value().get().map(|r| r.map(|_| ())));
    let invalid = move |field: &'static str| {
        move || {
            value
                .get()
                .and_then(|r| r.err())
                .and_then(|e: AppError| e.for_field(field))
                .map(|_| "true")
        }
    };
    let scopes = ApiScope::ALL
        .iter()
        .map(|s| {
            view! {
                <label class="check">
                    <input type="checkbox" name="scopes[]" value=s.as_str()/>
                    <span><span class="mono">{s.as_str()}</span>" — "{s.label()}</span>
                </label>
            }
        })
        .collect_view();
    view! {
        <section class="panel" aria-labelledby="create-key-heading">
            <h2 id="create-key-heading">"Create API key"</h2>
            <FormError message=Signal::derive(move || value.get().and_then(|r| r.err()).and_then(|e| e.form_message()))/>
            <ActionForm action node_ref=form attr:class="form form-wide" attr:novalidate=true>
                <div class="field" class:field-invalid=move || invalid("name")().is_some()>
                    <label for="key-name">"Name"</label>
                    <p class="field-hint" id="key-name-hint">"What uses it, e.g. \"nightly user export\"."</p>
                    <input id="key-name" name="name" autocomplete="off" aria-describedby="key-name-hint" aria-invalid=invalid("name")/>
                    {field_error(value, "name")}
                </div>
                <fieldset class="fieldset">
                    <legend>"Scopes"</legend>
                    {scopes}
                    {field_error(value, "scopes")}
                </fieldset>
                <div class="field" class:field-invalid=move || invalid("expires_in_days")().is_some()>
                    <label for="key-expiry">"Expires in (days)"</label>
                    <p class="field-hint" id="key-expiry-hint">{format!("1 to {MAX_KEY_LIFETIME_DAYS} days.")}</p>
                    <input id="key-expiry" name="expires_in_days" inputmode="numeric" value="90"
                        aria-describedby="key-expiry-hint" aria-invalid=invalid("expires_in_days")/>
                    {field_error(value, "expires_in_days")}
                </div>
                <div class="field step-up" class:field-invalid=move || invalid("password")().is_some()>
                    <label for="key-password">"Your password (asked again for powerful actions)"</label>
                    <p class="field-hint" id="key-password-hint">"May stay empty if you signed in or confirmed it less than 5 minutes ago."</p>
                    <input id="key-password" name="password" type="password" autocomplete="current-password"
                        aria-describedby="key-password-hint" aria-invalid=invalid("password")/>
                    {field_error(value, "password")}
                </div>
                <p class="button-row">
                    <button type="submit" class="btn btn-primary">"Create API key"</button>
                </p>
            </ActionForm>
            <SecretBox fresh/>
        </section>
    }
}
