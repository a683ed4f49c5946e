//! The header on every page: brand, main navigation for the signed-in user, sign-out.

use leptos::prelude::*;
use leptos_router::components::A;

use crate::features::auth::{SignOut, StartPasswordChange};
use crate::features::incidents::{incident_banner, DismissIncidentBanner};
use crate::ui::use_viewer;

#[component]
pub fn SiteHeader() -> impl IntoView {
    let viewer = use_viewer();
    let sign_out = ServerAction::<SignOut>::new();
    view! {
        <a class="skip-link" href="#main">"Skip to content"</a>
        <header class="site-header">
            <A href="/" attr:class="brand">
                <span class="brand-mark" aria-hidden="true">"K"</span>
                <span>"Keywarden"</span>
            </A>
            <nav aria-label="Main">
                {move || match viewer.get() {
                    Some(v) => view! {
                        {v.is_admin().then(|| view! { <A href="/admin">"Admin console"</A> })}
                        {(!v.reset_required).then(|| view! { <A href="/account">"Account"</A> })}
                        <span class="nav-user">{v.email.clone()}</span>
                        <ActionForm action=sign_out attr:class="inline-form">
                            <button type="submit" class="btn btn-ghost">"Sign out"</button>
                        </ActionForm>
                    }.into_any(),
                    None => view! {
                        <A href="/sign-in">"Sign in"</A>
                        <A href="/sign-up" attr:class="btn btn-primary btn-small">"Create account"</A>
                    }.into_any(),
                }}
            </nav>
        </header>
    }
}

/// Shown to the administrator who set their own password as compromised and kept their session
/// to handle the incident.
#[component]
pub fn OwnPasswordNotice() -> impl IntoView {
    let viewer = use_viewer();
    let start = ServerAction::<StartPasswordChange>::new();
    move || {
        viewer.get().filter(|v| v.password_compromised).map(|_| view! {
            <div class="alert alert-warning own-password-notice" role="status">
                <p>
                    "Your own password is set as compromised too. You kept this session to handle the incident; "
                    "change your password as soon as you can (a code is sent to your e-mail first)."
                </p>
                <ActionForm action=start attr:class="inline-form">
                    <button type="submit" class="btn btn-secondary btn-small">"Change my password now"</button>
                </ActionForm>
            </div>
        })
    }
}

/// The notice of an incident that affected this user (its reference, what happened, what to
/// do), on the account pages and the reset task, until they complete the reset or dismiss it.
#[component]
pub fn IncidentBanner() -> impl IntoView {
    let viewer = use_viewer();
    let location = leptos_router::hooks::use_location();
    let dismiss = ServerAction::<DismissIncidentBanner>::new();
    let shown_here = move || {
        let path = location.pathname.get();
        path == "/reset-task" || path == "/account" || path.starts_with("/account/")
    };
    // Read again on each page (the reset completed on the last one ends it) and after a dismissal.
    let banner = Resource::new(
        move || {
            (
                viewer.get().map(|v| (v.user_id, v.reset_required)),
                shown_here(),
                location.pathname.get(),
                dismiss.version().get(),
            )
        },
        |(user, here, _, _)| async move {
            match (user, here) {
                (Some(_), true) => incident_banner().await.ok().flatten(),
                _ => None,
            }
        },
    );
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                banner.await.map(|b| view! {
                    <section class="alert alert-warning incident-banner" aria-labelledby="incident-banner-heading">
                        <h2 id="incident-banner-heading">{format!("Security notice {}", b.reference)}</h2>
                        <p>{format!("We are responding to a security incident that affects your account: {}.", b.title)}</p>
                        {(!b.what_happened.is_empty()).then(|| view! { <p>{b.what_happened.clone()}</p> })}
                        <p><strong>"What you must do: "</strong>{b.what_to_do.clone()}</p>
                        <p class="small">{format!("Quote the reference {} if you contact us. We will never ask for your password.", b.reference)}</p>
                        <ActionForm action=dismiss attr:class="inline-form">
                            <input type="hidden" name="incident_id" value=b.incident_id.to_string()/>
                            <button type="submit" class="btn btn-secondary btn-small">"Dismiss"</button>
                        </ActionForm>
                    </section>
                })
            })}
        </Transition>
    }
}
