//! The signed-in user as pages see them, and the full-page errors.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

use crate::domain::Viewer;
use crate::error::AppError;

/// The signed-in user. The server renders with the user its request gate resolved and ships it
/// to the browser with the page ([`SharedValue`]), so SSR and hydration agree without a
/// `Suspense`; in the browser it is re-read after every navigation, so the header and pages follow
/// sign-in, sign-out and revocation without a full reload.
///
/// A plain signal rather than a resource on purpose: one resource awaited by several `Suspense`
/// boundaries (header, page, admin guard) intermittently left SSR responses hanging.
#[derive(Clone, Copy)]
pub struct CurrentViewer(pub RwSignal<Option<Viewer>>);

/// Must be called inside the router.
pub fn provide_viewer() {
    let initial = SharedValue::new(server_viewer).into_inner();
    let viewer = RwSignal::new(initial);
    #[cfg(feature = "hydrate")]
    refresh_on_navigation(viewer);
    provide_context(CurrentViewer(viewer));
}

#[cfg(feature = "ssr")]
fn server_viewer() -> Option<Viewer> {
    crate::runtime::request::viewer()
}

/// The signed-in user, or `None` for an anonymous visitor.
#[server(endpoint = "whoami")]
pub async fn whoami() -> Result<Option<Viewer>, AppError> {
    Ok(crate::runtime::request::viewer())
}

#[cfg(not(feature = "ssr"))]
fn server_viewer() -> Option<Viewer> {
    None
}

/// Re-reads the user whenever the path changes (not on the first, hydrating run). Answers that
/// arrive after a later navigation started are dropped.
#[cfg(feature = "hydrate")]
fn refresh_on_navigation(viewer: RwSignal<Option<Viewer>>) {
    use std::cell::Cell;
    use std::rc::Rc;
    let location = leptos_router::hooks::use_location();
    let generation = Rc::new(Cell::new(0u64));
    Effect::new(move |previous: Option<String>| {
        let path = location.pathname.get();
        if previous.is_some_and(|p| p != path) {
            let current = generation.get() + 1;
            generation.set(current);
            let generation = Rc::clone(&generation);
            leptos::task::spawn_local(async move {
                if let Ok(v) = whoami().await {
                    if generation.get() != current {
                        return;
                    }
                    // The session ended (or was restricted) since the last page: leave for
                    // sign-in or the reset task rather than show a page that cannot load.
                    let path = location.pathname.get_untracked();
                    match &v {
                        None if crate::domain::needs_sign_in(&path) => {
                            crate::error::leave_if_locked_out(&AppError::Unauthenticated)
                        }
                        Some(v) if v.reset_required => {
                            crate::error::leave_if_locked_out(&AppError::PasswordResetRequired)
                        }
                        _ => {}
                    }
                    // Setting an equal value would re-render everything that depends on it.
                    if viewer.get_untracked() != v {
                        viewer.set(v);
                    }
                }
            });
        }
        path
    });
}

pub fn use_viewer() -> Signal<Option<Viewer>> {
    expect_context::<CurrentViewer>().0.into()
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
