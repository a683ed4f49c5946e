//! The header on every page: brand, main navigation for the signed-in user, sign-out.

use leptos::prelude::*;
use leptos_router::components::A;

use crate::features::auth::{SignOut, StartPasswordChange};
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
