use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use super::{
    get_security_overview, CompromiseAllPasswords, Impact, SaveAlertSettings, SaveSecuritySettings,
    SecurityOverview, SignOutEveryone, COMPROMISE_ALL_PHRASE, SIGN_OUT_ALL_PHRASE,
};
use crate::ui::format::{plural, utc};
use crate::ui::{field_error, AdminOnly, ConfirmDialog, FormError, Notice, StepUp};

#[component]
pub fn SecurityPage() -> impl IntoView {
    view! { <AdminOnly><Security/></AdminOnly> }
}

/// The incident panel's state, kept by the page: the panel is rebuilt whenever the overview is
/// re-read, and the actions, the dialogs and the notice must outlive that.
#[derive(Clone, Copy)]
struct Incident {
    compromise: ServerAction<CompromiseAllPasswords>,
    sign_out: ServerAction<SignOutEveryone>,
    /// Whether "And sign out every session now" is ticked (the impact shown depends on it).
    with_sign_out: RwSignal<bool>,
    compromise_dialog: NodeRef<leptos::html::Details>,
    compromise_form: NodeRef<leptos::html::Form>,
    sign_out_dialog: NodeRef<leptos::html::Details>,
    sign_out_form: NodeRef<leptos::html::Form>,
}

const COMPROMISED: &str =
    "Done: every existing password is now compromised. The action is recorded in the audit trail.";
const SIGNED_OUT: &str =
    "Done: every session issued until now is signed out. Your own session was re-issued.";

/// What a done instance-wide action did, worded from the impact the admin was shown when they sent
/// it (the server answers with a redirect only, so these are the counts of that moment).
fn compromised_notice(impact: &Impact, sign_out: bool) -> String {
    let users = plural(
        impact.users_with_password,
        "user with a password",
        "users with a password",
    );
    if sign_out {
        format!(
            "Done: every existing password is now compromised ({users}) and every session is signed out ({}). Your own session was re-issued.",
            plural(impact.live_sessions, "session", "sessions")
        )
    } else {
        format!("Done: every existing password is now compromised ({users}). Signed-in sessions must reset the password at their next request.")
    }
}

fn signed_out_notice(impact: &Impact) -> String {
    format!(
        "Done: every session issued until now is signed out ({}). Your own session was re-issued.",
        plural(impact.live_sessions, "session", "sessions")
    )
}

/// Closes a dialog and clears its form, so a done action cannot be sent twice by accident.
fn close(dialog: NodeRef<leptos::html::Details>, form: NodeRef<leptos::html::Form>) {
    if let Some(form) = form.get_untracked() {
        form.reset();
    }
    if let Some(dialog) = dialog.get_untracked() {
        dialog.set_open(false);
    }
}

#[component]
fn Security() -> impl IntoView {
    let settings = ServerAction::<SaveSecuritySettings>::new();
    let alerts = ServerAction::<SaveAlertSettings>::new();
    let incident = Incident {
        compromise: ServerAction::new(),
        sign_out: ServerAction::new(),
        with_sign_out: RwSignal::new(true),
        compromise_dialog: NodeRef::new(),
        compromise_form: NodeRef::new(),
        sign_out_dialog: NodeRef::new(),
        sign_out_form: NodeRef::new(),
    };
    let query = use_query_map();
    // The dangerous actions redirect here with `?done=…`: re-read then too, not only after a save
    // (and after a second one, which leaves the query as it was).
    let overview = Resource::new(
        move || {
            (
                settings.version().get(),
                alerts.version().get(),
                incident.compromise.version().get(),
                incident.sign_out.version().get(),
                query.read().get("done"),
            )
        },
        |_| get_security_overview(),
    );
    // The notice of the latest action done in this page; `Some(None)` once a later save made it
    // stale. Before any (and without wasm), the `?done=` of the redirect speaks.
    let latest = RwSignal::new(None::<Option<String>>);
    let impact = move || {
        overview.with_untracked(|o| {
            o.as_ref()
                .and_then(|o| o.as_ref().ok())
                .map(|o| o.impact.clone())
        })
    };
    let sent = StoredValue::new(None::<(bool, Impact)>);
    Effect::new(move |_| {
        if let Some(input) = incident.compromise.input().get() {
            sent.set_value(impact().map(|i| (input.sign_out.is_some(), i)));
        }
    });
    Effect::new(move |_| {
        if incident.sign_out.input().get().is_some() {
            sent.set_value(impact().map(|i| (true, i)));
        }
    });
    Effect::new(move |_| {
        if matches!(incident.compromise.value().get(), Some(Ok(()))) {
            close(incident.compromise_dialog, incident.compromise_form);
            incident.with_sign_out.set(true);
            let notice = sent.with_value(|s| {
                s.as_ref()
                    .map(|(sign_out, i)| compromised_notice(i, *sign_out))
            });
            latest.set(Some(notice.or(Some(COMPROMISED.to_owned()))));
        }
    });
    Effect::new(move |_| {
        if matches!(incident.sign_out.value().get(), Some(Ok(()))) {
            close(incident.sign_out_dialog, incident.sign_out_form);
            let notice = sent.with_value(|s| s.as_ref().map(|(_, i)| signed_out_notice(i)));
            latest.set(Some(notice.or(Some(SIGNED_OUT.to_owned()))));
        }
    });
    // A later save has its own notice: the incident one is no longer the latest.
    for saved in [settings.value(), alerts.value()] {
        Effect::new(move |_| {
            if matches!(saved.get(), Some(Ok(()))) {
                latest.set(Some(None));
            }
        });
    }
    let done = move || match latest.get() {
        Some(notice) => notice,
        None => match query.read().get("done").as_deref() {
            Some("compromised") => Some(COMPROMISED.to_owned()),
            Some("signed_out") => Some(SIGNED_OUT.to_owned()),
            _ => None,
        },
    };
    view! {
        <Title text="Security"/>
        <section class="page-header">
            <h1>"Security"</h1>
            <p class="muted">"Contain an incident for the whole instance, and set the password and session rules."</p>
        </section>
        {move || done().map(|m| view! { <p class="alert alert-success" role="status">{m}</p> })}
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match overview.await {
                    Ok(o) => view! { <IncidentPanel o=o.clone() incident/> <SettingsPanel o=o.clone() action=settings/> <AlertPanel o=o action=alerts/> }.into_any(),
                    Err(e) => view! { <p class="alert alert-error" role="alert">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn IncidentPanel(o: SecurityOverview, incident: Incident) -> impl IntoView {
    let Incident {
        compromise,
        sign_out,
        with_sign_out,
        ..
    } = incident;
    let users = plural(
        o.impact.users_with_password,
        "user with a password",
        "users with a password",
    );
    let sessions = plural(o.impact.live_sessions, "session", "sessions");
    let impact = {
        let (users, sessions) = (users.clone(), sessions.clone());
        move || {
            if with_sign_out.get() {
                format!("Affects {users} and signs out {sessions}.")
            } else {
                format!("Affects {users}. Sessions stay signed in until they end.")
            }
        }
    };
    let s = &o.settings;
    let step_up = o.step_up_needed;
    let c_err = Signal::derive(move || compromise.value().get());
    let s_err = Signal::derive(move || sign_out.value().get());
    view! {
        <section class="panel panel-danger" aria-labelledby="incident-heading">
            <h2 id="incident-heading">"Incident response"</h2>
            <ul class="watermarks">
                <li>{match s.passwords_compromised_before {
                    Some(at) => format!("Passwords set before {} are compromised (by {}: {}).", utc(at), s.passwords_compromised_by.clone().unwrap_or_default(), s.passwords_compromised_reason.clone().unwrap_or_default()),
                    None => "No instance-wide password compromise so far.".to_owned(),
                }}</li>
                <li>{match s.sessions_revoked_before {
                    Some(at) => format!("Sessions issued before {} are signed out (by {}: {}).", utc(at), s.sessions_revoked_by.clone().unwrap_or_default(), s.sessions_revoked_reason.clone().unwrap_or_default()),
                    None => "No instance-wide sign-out so far.".to_owned(),
                }}</li>
            </ul>
            <ConfirmDialog opener="Set all passwords as compromised…" dialog=incident.compromise_dialog>
                <h3>"Set all passwords as compromised"</h3>
                <p class="impact" role="status">{impact}</p>
                <p>"Every user must prove control of their e-mail and choose a new password: at their next sign-in, and "
                   "sessions that are signed in now are restricted to that on their next request. "
                   "Signing out every session is the stronger choice: it ends them outright. "
                   "You keep your own session to handle the incident, and are offered to change your password. "
                   <strong>"This cannot be undone."</strong></p>
                <FormError message=Signal::derive(move || c_err.get().and_then(|r| r.err()).and_then(|e| e.form_message()))/>
                <ActionForm action=compromise node_ref=incident.compromise_form attr:class="form form-wide" attr:novalidate=true>
                    <label class="check">
                        <input type="checkbox" name="sign_out" checked=true prop:checked=with_sign_out on:change=move |ev| with_sign_out.set(event_target_checked(&ev))/>
                        " And sign out every session now"
                    </label>
                    <label class="check">
                        <input type="checkbox" name="sign_out_me"/>
                        " Sign me out too (otherwise your own session is re-issued)"
                    </label>
                    <div class="field">
                        <label for="compromise-reason">"Reason"</label>
                        <textarea id="compromise-reason" name="reason" rows="2" placeholder="e.g. credential dump of 2026-11-21"></textarea>
                        {field_error(c_err, "reason")}
                    </div>
                    <div class="field">
                        <label for="compromise-confirmation">"Confirmation"</label>
                        <p class="field-hint">"Type " <strong class="mono">{COMPROMISE_ALL_PHRASE}</strong> " to confirm."</p>
                        <input id="compromise-confirmation" name="confirmation" autocomplete="off"/>
                        {field_error(c_err, "confirmation")}
                    </div>
                    <StepUp needed=step_up id="compromise-password" error=c_err/>
                    <p><button type="submit" class="btn btn-danger">"Set all passwords as compromised"</button></p>
                </ActionForm>
            </ConfirmDialog>
            <ConfirmDialog opener="Sign out everyone…" opener_class="btn btn-secondary" dialog=incident.sign_out_dialog>
                <h3>"Sign out everyone"</h3>
                <p class="impact" role="status">{format!("Signs out {sessions}. Passwords stay valid.")}</p>
                <p><strong>"This cannot be undone."</strong></p>
                <FormError message=Signal::derive(move || s_err.get().and_then(|r| r.err()).and_then(|e| e.form_message()))/>
                <ActionForm action=sign_out node_ref=incident.sign_out_form attr:class="form form-wide" attr:novalidate=true>
                    <label class="check">
                        <input type="checkbox" name="sign_out_me"/>
                        " Sign me out too (otherwise your own session is re-issued)"
                    </label>
                    <div class="field">
                        <label for="signout-reason">"Reason"</label>
                        <textarea id="signout-reason" name="reason" rows="2"></textarea>
                        {field_error(s_err, "reason")}
                    </div>
                    <div class="field">
                        <label for="signout-confirmation">"Confirmation"</label>
                        <p class="field-hint">"Type " <strong class="mono">{SIGN_OUT_ALL_PHRASE}</strong> " to confirm."</p>
                        <input id="signout-confirmation" name="confirmation" autocomplete="off"/>
                        {field_error(s_err, "confirmation")}
                    </div>
                    <StepUp needed=step_up id="signout-password" error=s_err/>
                    <p><button type="submit" class="btn btn-danger">"Sign out everyone"</button></p>
                </ActionForm>
            </ConfirmDialog>
        </section>
    }
}

#[component]
fn SettingsPanel(o: SecurityOverview, action: ServerAction<SaveSecuritySettings>) -> impl IntoView {
    let s = o.settings;
    let value = Signal::derive(move || action.value().get());
    let saved = Signal::derive(move || {
        matches!(value.get(), Some(Ok(()))).then_some("Security settings saved.")
    });
    view! {
        <section class="panel" aria-labelledby="settings-heading">
            <h2 id="settings-heading">"Password and session rules"</h2>
            <Notice message=saved/>
            {(!s.tightening_in_force.is_empty()).then(|| view! {
                <p class="alert alert-warning">
                    {format!("An open incident tightens these now: {}. The rules below apply again when it closes. ", s.tightening_in_force.join("; "))}
                    <a href="/admin/incidents">"Incidents"</a>
                </p>
            })}
            <FormError message=Signal::derive(move || value.get().and_then(|r| r.err()).and_then(|e| e.form_message()))/>
            <ActionForm action=action attr:class="form form-wide" attr:novalidate=true>
                <label class="check">
                    <input type="checkbox" name="reset_task_enabled" checked=s.reset_task_enabled/>
                    " Reset-password task: a user with a compromised password proves their e-mail and sets a new password at sign-in (otherwise they must use \"Forgot your password?\")"
                </label>
                <div class="field">
                    <label for="password_min_length">"Minimum password length"</label>
                    <input id="password_min_length" name="password_min_length" inputmode="numeric" value=s.password_min_length.to_string()/>
                    {field_error(value, "password_min_length")}
                </div>
                <div class="field">
                    <label for="session_idle_timeout_minutes">"Session idle timeout (minutes)"</label>
                    <input id="session_idle_timeout_minutes" name="session_idle_timeout_minutes" inputmode="numeric" value=s.session_idle_timeout_minutes.to_string()/>
                    {field_error(value, "session_idle_timeout_minutes")}
                </div>
                <div class="field">
                    <label for="session_absolute_lifetime_hours">"Session lifetime (hours)"</label>
                    <input id="session_absolute_lifetime_hours" name="session_absolute_lifetime_hours" inputmode="numeric" value=s.session_absolute_lifetime_hours.to_string()/>
                    {field_error(value, "session_absolute_lifetime_hours")}
                </div>
                <p><button type="submit" class="btn btn-primary">"Save rules"</button></p>
            </ActionForm>
        </section>
    }
}

#[component]
fn AlertPanel(o: SecurityOverview, action: ServerAction<SaveAlertSettings>) -> impl IntoView {
    let s = o.settings;
    let value = Signal::derive(move || action.value().get());
    let saved = Signal::derive(move || {
        matches!(value.get(), Some(Ok(()))).then_some("New-device alert settings saved.")
    });
    view! {
        <section class="panel" aria-labelledby="alerts-heading">
            <h2 id="alerts-heading">"New-device sign-in alerts"</h2>
            <p class="muted">"A user who signs in from a browser they have not used before gets an e-mail with the device, IP address, location and time, and a single-use link that signs that device out. Edit the mail under E-mail → templates."</p>
            <Notice message=saved/>
            <FormError message=Signal::derive(move || value.get().and_then(|r| r.err()).and_then(|e| e.form_message()))/>
            <ActionForm action=action attr:class="form form-wide" attr:novalidate=true>
                <label class="check">
                    <input type="checkbox" name="new_device_alerts" checked=s.new_device_alerts/>
                    " Send the \"Sign-in from a new device\" e-mail"
                </label>
                <label class="check">
                    <input type="checkbox" name="alert_on_new_country" checked=s.alert_on_new_country/>
                    <span>
                        " Also when a known device signs in from a country not seen before for that user"
                        {(!s.geoip_enabled).then(|| view! { <span class="muted">" (needs a GeoIP database: set KEYWARDEN_GEOIP_DATABASE)"</span> })}
                    </span>
                </label>
                <div class="field">
                    <label for="device_alert_path">"Path of the \"This wasn't me\" page"</label>
                    <p class="field-hint">"Links in alert e-mails open this page. Links already sent keep working only while the path stays the same."</p>
                    <input id="device_alert_path" name="device_alert_path" value=s.device_alert_path.clone()/>
                    {field_error(value, "device_alert_path")}
                </div>
                <p><button type="submit" class="btn btn-primary">"Save alert settings"</button></p>
            </ActionForm>
        </section>
    }
}
