//! The header on every page: brand, main navigation for the signed-in user, sign-out.

use leptos::prelude::*;
use leptos_router::components::A;

use crate::features::auth::SignOut;
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
