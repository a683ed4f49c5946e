use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

use crate::error::AppError;
use crate::features::auth::{whoami, SignOut, Viewer};

/// The signed-in user, loaded once per page (blocking, so SSR and hydration agree).
#[derive(Clone, Copy)]
pub struct ViewerResource(pub Resource<Result<Option<Viewer>, AppError>>);

/// Must be called inside the router: the user is re-read whenever the path changes.
pub fn provide_viewer() {
    let location = leptos_router::hooks::use_location();
    provide_context(ViewerResource(Resource::new_blocking(
        move || location.pathname.get(),
        |_| whoami(),
    )));
}

pub fn use_viewer() -> Resource<Result<Option<Viewer>, AppError>> {
    expect_context::<ViewerResource>().0
}

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
                <Suspense fallback=|| ()>
                    {move || Suspend::new(async move {
                        match viewer.await {
                            Ok(Some(v)) => view! {
                                {v.is_admin().then(|| view! { <A href="/admin">"Admin console"</A> })}
                                {(!v.reset_required).then(|| view! { <A href="/account">"Account"</A> })}
                                <span class="nav-user">{v.email.clone()}</span>
                                <ActionForm action=sign_out attr:class="inline-form">
                                    <button type="submit" class="btn btn-ghost">"Sign out"</button>
                                </ActionForm>
                            }.into_any(),
                            _ => view! {
                                <A href="/sign-in">"Sign in"</A>
                                <A href="/sign-up" attr:class="btn btn-primary btn-small">"Create account"</A>
                            }.into_any(),
                        }
                    })}
                </Suspense>
            </nav>
        </header>
    }
}

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(opts) = use_context::<leptos_axum::ResponseOptions>() {
        opts.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <ErrorPage code="404" title="Page not found">
            "The page you asked for does not exist or has moved."
        </ErrorPage>
    }
}

/// A full-page error with a way back.
#[component]
pub fn ErrorPage(code: &'static str, title: &'static str, children: Children) -> impl IntoView {
    view! {
        <Title text=title/>
        <section class="card card-narrow error-page">
            <p class="error-code">{code}</p>
            <h1>{title}</h1>
            <p class="muted">{children()}</p>
            <p><A href="/" attr:class="btn btn-secondary">"Go to the home page"</A></p>
        </section>
    }
}
