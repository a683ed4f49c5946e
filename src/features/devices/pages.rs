use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;

use super::{
    get_alert_link, get_my_devices, AlertLink, DeviceSession, MyDevices, NotMeOutcome, ReportNotMe,
    SignOutDevice, SignOutEverywhere, SignOutOtherDevices,
};
use crate::error::AppError;
use crate::ui::format::utc;
use crate::ui::FormError;

fn place(d: &DeviceSession) -> String {
    d.location.clone().unwrap_or_else(|| "unknown".into())
}

/// The columns every session table starts with.
#[component]
fn DeviceHeadings() -> impl IntoView {
    view! {
        <th scope="col">"Browser"</th><th scope="col">"Operating system"</th><th scope="col">"Device"</th>
        <th scope="col">"IP address"</th><th scope="col">"Location"</th>
    }
}

#[component]
fn DeviceCells(s: DeviceSession) -> impl IntoView {
    view! {
        <td>{s.browser.clone()} {s.current.then(|| view! { " " <span class="badge badge-ok">"This device"</span> })}</td>
        <td>{s.os.clone()}</td>
        <td>{s.device_type.clone()}</td>
        <td class="mono">{s.ip.clone().unwrap_or_else(|| "unknown".into())}</td>
        <td>{place(&s)}</td>
    }
}

/// Live sessions with the same columns everywhere; `action` renders the last cell of a row.
#[component]
pub fn DeviceTable<F, V>(sessions: Vec<DeviceSession>, action: F) -> impl IntoView
where
    F: Fn(DeviceSession) -> V + 'static,
    V: IntoView + 'static,
{
    if sessions.is_empty() {
        return view! { <p class="muted">"No active sessions."</p> }.into_any();
    }
    view! {
        <div class="table-scroll" tabindex="0" role="region" aria-label="Active sessions (scrolls sideways)"><table class="table" aria-label="Active sessions">
            <thead><tr>
                <DeviceHeadings/><th scope="col">"First signed in"</th>
                <th scope="col">"Last active"</th><th scope="col"><span class="visually-hidden">"Actions"</span></th>
            </tr></thead>
            <tbody>
                {sessions.iter().map(|s| view! {
                    <tr data-session=s.key.clone() class:current-row=s.current>
                        <DeviceCells s=s.clone()/>
                        <td>{utc(s.created_at)}</td>
                        <td>{utc(s.last_seen_at)}</td>
                        <td>{action(s.clone())}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table></div>
    }
    .into_any()
}

/// Sessions ended in the last 30 days, with the reason.
#[component]
pub fn EndedTable(sessions: Vec<DeviceSession>) -> impl IntoView {
    if sessions.is_empty() {
        return view! { <p class="muted">"No session ended in the last 30 days."</p> }.into_any();
    }
    view! {
        <div class="table-scroll" tabindex="0" role="region" aria-label="Ended sessions (scrolls sideways)"><table class="table" aria-label="Ended sessions">
            <thead><tr>
                <DeviceHeadings/><th scope="col">"Signed in"</th>
                <th scope="col">"Ended"</th><th scope="col">"Reason"</th>
            </tr></thead>
            <tbody>
                {sessions.into_iter().map(|s| view! {
                    <tr data-session=s.key.clone()>
                        <DeviceCells s=s.clone()/>
                        <td>{utc(s.created_at)}</td>
                        <td>{s.ended_at.map(utc).unwrap_or_default()}</td>
                        <td class="end-reason">{s.end_reason.clone().unwrap_or_default()}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table></div>
    }
    .into_any()
}

/// The signed-in user's devices.
#[component]
pub fn DevicesPage() -> impl IntoView {
    let one = ServerAction::<SignOutDevice>::new();
    let others = ServerAction::<SignOutOtherDevices>::new();
    let everywhere = ServerAction::<SignOutEverywhere>::new();
    let devices = Resource::new(
        move || (one.version().get(), others.version().get()),
        |_| get_my_devices(),
    );
    let error = Signal::derive(move || {
        let err = |v: Option<Result<_, AppError>>| v.and_then(|r| r.err());
        err(one.value().get().map(|r| r.map(|_| ())))
            .or_else(|| err(others.value().get().map(|r| r.map(|_| ()))))
            .or_else(|| err(everywhere.value().get()))
    });
    let done = Signal::derive(move || match (one.value().get(), others.value().get()) {
        (_, Some(Ok(n))) => Some(match n {
            0 => "There were no other sessions to sign out.".to_owned(),
            1 => "Signed out of 1 other session.".to_owned(),
            n => format!("Signed out of {n} other sessions."),
        }),
        (Some(Ok(())), _) => Some("That session was signed out.".to_owned()),
        _ => None,
    });
    view! {
        <Title text="Your devices"/>
        <section class="card card-wide">
            <h1>"Devices"</h1>
            <p class="muted">"Every browser signed in to your account. Sign out any you do not recognise, then change your password."</p>
            {move || done.get().map(|m| view! { <p class="alert alert-success" role="status">{m}</p> })}
            <FormError message=Signal::derive(move || error.get().map(|e| e.for_field("password").or_else(|| e.for_field("session")).unwrap_or_else(|| e.to_string())))/>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match devices.await {
                        Ok(d) => view! { <DevicesView d one others everywhere/> }.into_any(),
                        Err(e) => view! { <p class="alert alert-error" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
            <p><A href="/account">"Back to your account"</A></p>
        </section>
    }
}

#[component]
fn DevicesView(
    d: MyDevices,
    one: ServerAction<SignOutDevice>,
    others: ServerAction<SignOutOtherDevices>,
    everywhere: ServerAction<SignOutEverywhere>,
) -> impl IntoView {
    let password = RwSignal::new(String::new());
    // Each form carries the password typed once in the step-up field.
    let confirm =
        move || view! { <input type="hidden" name="password" prop:value=move || password.get()/> };
    let has_others = d.active.iter().any(|s| !s.current);
    view! {
        {d.step_up_needed.then(|| view! {
            <div class="field step-up">
                <label for="step-up-password">"Your password"</label>
                <p class="field-hint">"You signed in more than 10 minutes ago: enter your password to sign sessions out."</p>
                <input id="step-up-password" type="password" autocomplete="current-password"
                    bind:value=password/>
            </div>
        })}
        <h2>"Active sessions"</h2>
        <DeviceTable sessions=d.active action=move |s: DeviceSession| {
            (!s.current).then(move || view! {
                <ActionForm action=one attr:class="inline-form">
                    <input type="hidden" name="key" value=s.key.clone()/>
                    {confirm()}
                    <button type="submit" class="btn btn-small btn-secondary"
                        aria-label=format!("Sign out {} on {}, signed in {}", s.browser, s.os, utc(s.created_at))>
                        "Sign out"
                    </button>
                </ActionForm>
            })
        }/>
        <div class="button-row">
            {has_others.then(|| view! {
                <ActionForm action=others attr:class="inline-form">
                    {confirm()}
                    <button type="submit" class="btn btn-secondary">"Sign out of all other sessions"</button>
                </ActionForm>
            })}
            <ActionForm action=everywhere attr:class="inline-form">
                {confirm()}
                <button type="submit" class="btn btn-danger">"Sign out everywhere"</button>
            </ActionForm>
        </div>
        <h2>"Recently ended sessions"</h2>
        <EndedTable sessions=d.ended/>
    }
}

/// Opened from the new-device alert mail. Showing it changes nothing (mail scanners prefetch
/// links); only the button does.
#[component]
pub fn AlertPage() -> impl IntoView {
    let query = use_query_map();
    let token = move || query.read().get("token").unwrap_or_default();
    let link = Resource::new(token, get_alert_link);
    let report = ServerAction::<ReportNotMe>::new();
    // Owned here, not by the form: a success replaces the form while this is still read.
    let error = Signal::derive(move || {
        report
            .value()
            .get()
            .and_then(|r| r.err())
            .map(|e| e.for_field("token").unwrap_or_else(|| e.to_string()))
    });
    view! {
        <Title text="Unrecognised sign-in"/>
        <section class="card">
            <h1>"A sign-in you don't recognise?"</h1>
            {move || match report.value().get() {
                Some(Ok(outcome)) => view! { <Reported outcome/> }.into_any(),
                _ => view! {
                    <Suspense fallback=|| view! { <p class="muted">"Checking your link…"</p> }>
                        {move || Suspend::new(async move {
                            match link.await {
                                Ok(AlertLink::Valid { session, active }) => view! { <ConfirmNotMe session active token=token() report error/> }.into_any(),
                                Ok(AlertLink::Used) => view! { <LinkProblem message="This link has already been used."/> }.into_any(),
                                Ok(AlertLink::Expired) => view! { <LinkProblem message="This link has expired."/> }.into_any(),
                                Ok(AlertLink::Unknown) => view! { <LinkProblem message="This link is not valid."/> }.into_any(),
                                Err(e) => view! { <p class="alert alert-error" role="alert">{e.to_string()}</p> }.into_any(),
                            }
                        })}
                    </Suspense>
                }.into_any(),
            }}
        </section>
    }
}

#[component]
fn LinkProblem(message: &'static str) -> impl IntoView {
    view! {
        <p class="alert alert-error" role="alert">{message}</p>
        <p>"Links in new-device alerts work once, for 7 days. To review and sign out the devices signed in to your account, sign in and open Devices; if you cannot sign in, reset your password."</p>
        <p class="hero-actions">
            <A href="/account/devices" attr:class="btn btn-primary">"Review your devices"</A>
            <A href="/forgot-password" attr:class="btn btn-secondary">"Reset your password"</A>
        </p>
    }
}

#[component]
fn ConfirmNotMe(
    session: DeviceSession,
    active: bool,
    token: String,
    report: ServerAction<ReportNotMe>,
    error: Signal<Option<String>>,
) -> impl IntoView {
    view! {
        <p>"We sent you this link because your account was signed in to from a new device:"</p>
        <dl class="facts">
            <div><dt>"Signed in"</dt><dd>{utc(session.created_at)}</dd></div>
            <div><dt>"Device"</dt><dd>{session.device_type.clone()}</dd></div>
            <div><dt>"Browser"</dt><dd>{session.browser.clone()}</dd></div>
            <div><dt>"Operating system"</dt><dd>{session.os.clone()}</dd></div>
            <div><dt>"IP address"</dt><dd class="mono">{session.ip.clone().unwrap_or_else(|| "unknown".into())}</dd></div>
            <div><dt>"Location"</dt><dd>{place(&session)}</dd></div>
            <div><dt>"Status"</dt><dd>{if active { "Still signed in".to_owned() } else { format!("Already ended: {}", session.end_reason.clone().unwrap_or_default()) }}</dd></div>
        </dl>
        <FormError message=error/>
        <ActionForm action=report attr:class="form">
            <input type="hidden" name="token" value=token/>
            <label class="check">
                <input type="checkbox" name="compromise_password" value="on" checked=true/>
                " My password may be known: set it as compromised. I will confirm my e-mail and choose a new password at my next sign-in"
            </label>
            <label class="check">
                <input type="checkbox" name="sign_out_everywhere" value="on"/>
                " Sign out everywhere: end every session of my account, not only that device's"
            </label>
            <button type="submit" class="btn btn-danger btn-block" disabled=move || report.pending().get()>
                {if active { "Sign out that device" } else { "Report this sign-in" }}
            </button>
        </ActionForm>
        <p class="muted small">"If this was you, close this page: nothing changes until you press the button."</p>
    }
}

fn reported_message(outcome: &NotMeOutcome) -> String {
    let n = outcome.sessions_ended;
    let sessions = if n == 1 {
        "1 session".to_owned()
    } else {
        format!("{n} sessions")
    };
    match (outcome.signed_out_everywhere, n) {
        (true, 0) => {
            "Your report was recorded; no session of your account was still signed in.".to_owned()
        }
        (true, _) => format!("Your account has been signed out everywhere. {sessions} ended."),
        (false, 0) => "That device was no longer signed in; your report was recorded.".to_owned(),
        (false, _) => format!("That device has been signed out. {sessions} ended."),
    }
}

#[component]
fn Reported(outcome: NotMeOutcome) -> impl IntoView {
    view! {
        <p class="alert alert-success" role="status">
            {reported_message(&outcome)}
        </p>
        {outcome.password_compromised.then(|| view! {
            <p>"Your password is now set as compromised. The next time you sign in, you will confirm your e-mail address with a code and choose a new password."</p>
        })}
        <p>"Someone may know your password. If you use it anywhere else, change it there too, and make sure your e-mail account is secure."</p>
        <p class="hero-actions">
            <A href="/sign-in" attr:class="btn btn-primary">"Sign in"</A>
            <A href="/account/devices" attr:class="btn btn-secondary">"Review your devices"</A>
        </p>
    }
}
