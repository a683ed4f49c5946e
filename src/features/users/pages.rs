use leptos::prelude::*;

use crate::features::devices::pages::{DeviceTable, EndedTable};
use crate::features::devices::DeviceSession;
use leptos_meta::Title;
use leptos_router::components::{Form, A};
use leptos_router::hooks::{use_params_map, use_query_map};

use super::{
    get_user_details, list_users, CompromiseUser, RevokeSession, SendResetEmail, SetUserDisabled,
    SignOutUser, UserDetails,
};
use crate::error::AppError;
use crate::ui::format::{plural, utc};
use crate::ui::{AdminOnly, ConfirmDialog, FormError, StepUp};

#[component]
pub fn UsersPage() -> impl IntoView {
    view! { <AdminOnly><Users/></AdminOnly> }
}

#[component]
fn Users() -> impl IntoView {
    let query = use_query_map();
    let get = move |k: &str| query.read().get(k).filter(|v| !v.is_empty());
    let page = Resource::new(
        move || {
            (
                get("q"),
                get("status"),
                get("role"),
                get("after").and_then(|a| a.parse::<i64>().ok()),
            )
        },
        |(q, status, role, after)| list_users(q, status, role, after),
    );
    let selected = move |k: &'static str, v: &'static str| get(k).as_deref() == Some(v);
    view! {
        <Title text="Users"/>
        <section class="page-header">
            <h1>"Users"</h1>
        </section>
        <Form method="GET" action="" attr:class="filters" attr:role="search">
            <div class="field">
                <label for="users-q">"Search"</label>
                <input id="users-q" name="q" type="search" placeholder="Email or name starts with…" value=move || get("q").unwrap_or_default()/>
            </div>
            <div class="field">
                <label for="users-status">"Status"</label>
                <select id="users-status" name="status">
                    <option value="">"Any status"</option>
                    <option value="active" selected=move || selected("status", "active")>"Active"</option>
                    <option value="compromised" selected=move || selected("status", "compromised")>"Password compromised"</option>
                    <option value="reset_pending" selected=move || selected("status", "reset_pending")>"Reset pending"</option>
                    <option value="disabled" selected=move || selected("status", "disabled")>"Disabled"</option>
                </select>
            </div>
            <div class="field">
                <label for="users-role">"Role"</label>
                <select id="users-role" name="role">
                    <option value="">"Any role"</option>
                    <option value="admin" selected=move || selected("role", "admin")>"Admin"</option>
                    <option value="member" selected=move || selected("role", "member")>"Member"</option>
                </select>
            </div>
            <button type="submit" class="btn btn-primary">"Filter"</button>
        </Form>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Ok(p) => {
                        let next = p.next_after.map(|after| {
                            let mut params: Vec<String> = ["q", "status", "role"].iter()
                                .filter_map(|k| get(k).map(|v| format!("{k}={}", urlencode(&v)))).collect();
                            params.push(format!("after={after}"));
                            format!("/admin/users?{}", params.join("&"))
                        });
                        view! {
                            <table class="table" aria-label="Users">
                                <thead><tr><th scope="col">"Email"</th><th scope="col">"Name"</th><th scope="col">"Role"</th><th scope="col">"Status"</th><th scope="col">"Created"</th></tr></thead>
                                <tbody>
                                    {p.users.into_iter().map(|u| {
                                        let class = format!("status status-{}", u.status.to_lowercase().replace(' ', "-"));
                                        view! {
                                        <tr>
                                            <td><A href=format!("/admin/users/{}", u.id)>{u.email}</A></td>
                                            <td>{u.name.unwrap_or_default()}</td>
                                            <td>{u.role}</td>
                                            <td><span class=class>{u.status}</span></td>
                                            <td>{utc(u.created_at)}</td>
                                        </tr>
                                    }}).collect_view()}
                                </tbody>
                            </table>
                            <p class="pager">{next.map(|href| view! { <A href=href>"Next page →"</A> })}</p>
                        }.into_any()
                    }
                    Err(e) => view! { <p class="alert alert-error" role="alert">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[component]
pub fn UserDetailsPage() -> impl IntoView {
    view! { <AdminOnly><UserDetailsView/></AdminOnly> }
}

/// What the latest action on a user's page did, in words, or why it was refused.
type Outcome = Option<Result<String, AppError>>;

/// Reports `action` in `last` when it completes, worded by `say` from the input it was sent with
/// and the live sessions the page listed when it was sent (those "sign out all" ends). Whichever
/// action completes last owns the notice, so it never describes an earlier one.
fn report<A>(
    action: ServerAction<A>,
    last: RwSignal<Outcome>,
    live: impl Fn() -> i64 + 'static,
    say: impl Fn(&A, i64) -> String + 'static,
) where
    A: leptos::server_fn::ServerFn<Output = (), Error = AppError> + Clone + Send + Sync + 'static,
{
    // The action clears its input when it completes: keep what it was sent with.
    let sent = StoredValue::new(None::<(A, i64)>);
    Effect::new(move |_| {
        if let Some(input) = action.input().get() {
            sent.set_value(Some((input, live())));
        }
    });
    Effect::new(move |_| match action.value().get() {
        Some(Ok(())) => last.set(sent.with_value(|s| s.as_ref().map(|(a, n)| Ok(say(a, *n))))),
        Some(Err(e)) => last.set(Some(Err(e))),
        None => {}
    });
}

#[component]
fn UserDetailsView() -> impl IntoView {
    let params = use_params_map();
    let id = move || {
        params
            .read()
            .get("id")
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0)
    };
    let compromise = ServerAction::<CompromiseUser>::new();
    let sign_out = ServerAction::<SignOutUser>::new();
    let revoke = ServerAction::<RevokeSession>::new();
    let send_reset = ServerAction::<SendResetEmail>::new();
    let disable = ServerAction::<SetUserDisabled>::new();
    let version = move || {
        compromise.version().get()
            + sign_out.version().get()
            + revoke.version().get()
            + send_reset.version().get()
            + disable.version().get()
    };
    let details = Resource::new(move || (id(), version()), |(id, _)| get_user_details(id));
    let live = move || {
        details.with_untracked(|d| match d {
            Some(Ok(d)) => d.sessions.len() as i64,
            _ => 0,
        })
    };
    let last = RwSignal::new(None::<Result<String, AppError>>);
    report(compromise, last, live, |a, n| {
        if a.sign_out.is_some() {
            format!(
                "Password set as compromised. {} signed out.",
                plural(n, "session", "sessions")
            )
        } else if n == 0 {
            "Password set as compromised. No session was signed in.".to_owned()
        } else {
            let stay = if n == 1 { "stays" } else { "stay" };
            format!(
                "Password set as compromised. {} {stay} signed in, restricted to resetting the password.",
                plural(n, "session", "sessions")
            )
        }
    });
    report(sign_out, last, live, |_, n| {
        format!("{} signed out.", plural(n, "session", "sessions"))
    });
    report(revoke, last, live, |_, _| "Session signed out.".to_owned());
    report(send_reset, last, live, |_, _| {
        "Password-reset e-mail queued.".to_owned()
    });
    report(disable, last, live, |a, n| {
        if a.disabled {
            format!(
                "Account disabled. {} signed out.",
                plural(n, "session", "sessions")
            )
        } else {
            "Account enabled.".to_owned()
        }
    });
    // Another user's page (same component): nothing done there yet.
    Effect::new(move |prev: Option<i64>| {
        let id = id();
        if prev.is_some_and(|p| p != id) {
            last.set(None);
        }
        id
    });
    // Done: close the dialog and clear it, so a second click cannot send it again.
    let dialog = NodeRef::<leptos::html::Details>::new();
    let compromise_form = NodeRef::<leptos::html::Form>::new();
    Effect::new(move |_| {
        if matches!(compromise.value().get(), Some(Ok(()))) {
            if let Some(form) = compromise_form.get_untracked() {
                form.reset();
            }
            if let Some(dialog) = dialog.get_untracked() {
                dialog.set_open(false);
            }
        }
    });
    let done = move || last.get().and_then(|r| r.ok());
    // Before any action completes here (and without wasm), an error the form post came back with.
    let error = Signal::derive(move || match last.get() {
        Some(r) => r.err(),
        None => [
            compromise.value().get(),
            sign_out.value().get(),
            revoke.value().get(),
            send_reset.value().get(),
            disable.value().get(),
        ]
        .into_iter()
        .flatten()
        .find_map(|r| r.err()),
    });
    view! {
        <Title text="User"/>
        <p><A href="/admin/users">"← Users"</A></p>
        {move || done().map(|m| view! { <p class="alert alert-success" role="status">{m}</p> })}
        <FormError message=Signal::derive(move || error.get().map(|e| e.to_string()))/>
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match details.await {
                    Ok(d) => view! { <Details d=d compromise sign_out revoke send_reset disable dialog compromise_form/> }.into_any(),
                    Err(e) => view! { <p class="alert alert-error" role="alert">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Details(
    d: UserDetails,
    compromise: ServerAction<CompromiseUser>,
    sign_out: ServerAction<SignOutUser>,
    revoke: ServerAction<RevokeSession>,
    send_reset: ServerAction<SendResetEmail>,
    disable: ServerAction<SetUserDisabled>,
    dialog: NodeRef<leptos::html::Details>,
    compromise_form: NodeRef<leptos::html::Form>,
) -> impl IntoView {
    let uid = d.id;
    let p = d.password.clone();
    // Acting on another administrator asks for the viewer's password (step-up).
    let admin_target = d.role == "admin" && !d.is_self;
    let step_up = d.step_up_needed;
    let confirm = move |id: &'static str, error: Signal<Option<Result<(), AppError>>>| {
        admin_target.then(|| view! { <StepUp needed=step_up id error/> })
    };
    view! {
        <section class="page-header">
            <h1>{d.email.clone()}</h1>
            <p class="muted">{format!("{} · {} · created {}", d.role, d.status, utc(d.created_at))}</p>
        </section>
        <div class="columns">
            <section class="panel" aria-labelledby="pw-heading">
                <h2 id="pw-heading">"Password"</h2>
                <dl class="facts">
                    <div><dt>"Set at"</dt><dd>{utc(p.set_at)}</dd></div>
                    {p.compromised.clone().map(|c| view! {
                        <div><dt>"Compromised"</dt><dd>{format!("{} — {} by {}{}", c.scope, utc(c.at), c.by.unwrap_or_else(|| "unknown".into()), c.reason.map(|r| format!(": {r}")).unwrap_or_default())}</dd></div>
                        <div><dt>"Reset"</dt><dd>"Not completed yet"</dd></div>
                    })}
                    {p.resolved.into_iter().map(|(c, done)| view! {
                        <div><dt>"Was compromised"</dt><dd>{format!("{} — {}{}; reset completed {}", c.scope, utc(c.at), c.reason.map(|r| format!(" ({r})")).unwrap_or_default(), utc(done))}</dd></div>
                    }).collect_view()}
                </dl>
            </section>
            <section class="panel" aria-labelledby="actions-heading">
                <h2 id="actions-heading">"Actions"</h2>
                <ConfirmDialog opener="Set password as compromised…" dialog>
                    <p>"The user must prove control of their e-mail and choose a new password. Sessions signed in now are restricted to that on their next request; signing them out ends them outright."</p>
                    <ActionForm action=compromise node_ref=compromise_form attr:class="form form-wide" attr:novalidate=true>
                        <input type="hidden" name="user_id" value=uid.to_string()/>
                        <label class="check"><input type="checkbox" name="sign_out" checked=true/>" Also sign out all sessions"</label>
                        <div class="field">
                            <label for="user-compromise-reason">"Reason"</label>
                            <textarea id="user-compromise-reason" name="reason" rows="2"></textarea>
                            {move || compromise.value().get().and_then(|r| r.err()).and_then(|e| e.for_field("reason")).map(|m| view! { <p class="field-error">{m}</p> })}
                        </div>
                        {confirm("user-compromise-password", Signal::derive(move || compromise.value().get()))}
                        <p><button type="submit" class="btn btn-danger">"Set password as compromised"</button></p>
                    </ActionForm>
                </ConfirmDialog>
                <div class="action-row">
                    <ActionForm action=sign_out>
                        <input type="hidden" name="user_id" value=uid.to_string()/>
                        {confirm("user-signout-password", Signal::derive(move || sign_out.value().get()))}
                        <button type="submit" class="btn btn-secondary">"Sign out all sessions"</button>
                    </ActionForm>
                    <ActionForm action=send_reset>
                        <input type="hidden" name="user_id" value=uid.to_string()/>
                        <button type="submit" class="btn btn-secondary">"Send password-reset e-mail"</button>
                    </ActionForm>
                    {(!d.is_self).then(|| {
                        let disabled = d.disabled_at.is_some();
                        view! {
                            <ActionForm action=disable>
                                <input type="hidden" name="user_id" value=uid.to_string()/>
                                <input type="hidden" name="disabled" value=(!disabled).to_string()/>
                                {confirm("user-disable-password", Signal::derive(move || disable.value().get()))}
                                <button type="submit" class="btn btn-secondary">{if disabled { "Enable account" } else { "Disable account" }}</button>
                            </ActionForm>
                        }
                    })}
                </div>
            </section>
        </div>
        <section class="panel" aria-labelledby="sessions-heading">
            <h2 id="sessions-heading">"Sessions"</h2>
            <DeviceTable sessions=d.sessions action=move |s: DeviceSession| view! {
                <ActionForm action=revoke attr:class="inline-form">
                    <input type="hidden" name="user_id" value=uid.to_string()/>
                    <input type="hidden" name="session" value=s.key.clone()/>
                    {(admin_target && step_up).then(|| view! {
                        <input type="password" name="password" autocomplete="current-password" class="input-small"
                            aria-label="Your password (needed to sign out another administrator)"/>
                    })}
                    <button type="submit" class="btn btn-small btn-secondary"
                        aria-label=format!("Sign out session on {} ({}), signed in {}", s.browser, s.os, utc(s.created_at))>
                        "Sign out"
                    </button>
                </ActionForm>
            }/>
            <h3>"Ended in the last 30 days"</h3>
            <EndedTable sessions=d.ended_sessions/>
        </section>
        <section class="panel" aria-labelledby="history-heading">
            <h2 id="history-heading">"History"</h2>
            <table class="table" aria-label="History">
                <thead><tr><th scope="col">"Time"</th><th scope="col">"Event"</th><th scope="col">"By"</th><th scope="col">"Reason"</th><th scope="col">"IP"</th></tr></thead>
                <tbody>
                    {d.history.into_iter().map(|h| view! {
                        // Words for the event; the stored code stays on hover (and in exports).
                        <tr><td>{utc(h.at)}</td><td title=h.action.clone()>{crate::domain::AuditAction::parse(&h.action).map_or_else(|| h.action.clone(), |a| a.label().to_owned())}</td><td>{h.actor}</td><td>{h.reason.unwrap_or_default()}</td><td>{h.ip.unwrap_or_default()}</td></tr>
                    }).collect_view()}
                </tbody>
            </table>
        </section>
    }
}
