//! The HTML shell and the routes.

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, HashedStylesheet, Link, Meta, MetaTags, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::hooks::use_location;
use leptos_router::{lazy_route, Lazy, LazyRoute, ParamSegment, SsrMode, StaticSegment};

use crate::features::admin::pages::AdminHome;
use crate::features::api_keys::pages::ApiKeysPage;
use crate::features::applications::pages::ApplicationsPage;
use crate::features::audit::pages::AuditTrailPage;
use crate::features::auth::pages::{
    AccountPage, ForgotPasswordPage, ResetPasswordPage, ResetTaskPage, SignInPage, SignUpPage,
};
use crate::features::devices::pages::{AlertPage, DevicesPage};
use crate::features::home::HomePage;
use crate::features::incidents::pages::{IncidentPage, IncidentsPage};
use crate::features::mail::pages::{MailAdminPage, TemplateEditorPage};
use crate::features::security::pages::SecurityPage;
use crate::features::users::pages::{UserDetailsPage, UsersPage};
use crate::site_header::{IncidentBanner, OwnPasswordNotice, SiteHeader};
use crate::ui::{provide_viewer, NotFound};

pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                // The stylesheet and scripts of this build: hashed names when it has a hash file.
                <HashedStylesheet options=options.clone() id="leptos"/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Link rel="icon" href="/favicon.svg" type_="image/svg+xml"/>
        <Meta name="color-scheme" content="light"/>
        <Title formatter=|text: String| format!("{text} · Keywarden")/>
        <Router>
            <Layout/>
        </Router>
    }
}

/// Everything inside the router: the signed-in user is re-read on every navigation, so the
/// header and pages follow sign-in, sign-out and revocation without a full reload.
#[component]
fn Layout() -> impl IntoView {
    provide_viewer();
    view! {
            <SiteHeader/>
            <main id="main" class="main">
                <OwnPasswordNotice/>
                <IncidentBanner/>
                <Routes fallback=Fallback>
                    <Route path=StaticSegment("") view=HomePage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("sign-in") view=SignInPage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("sign-up") view=SignUpPage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("forgot-password") view=ForgotPasswordPage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("reset-password") view=ResetPasswordPage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("account") view=AccountPage ssr=SsrMode::Async/>
                    <Route path=(StaticSegment("account"), StaticSegment("devices")) view=DevicesPage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("reset-task") view=ResetTaskPage ssr=SsrMode::Async/>
                    <Route path=(StaticSegment("admin"), StaticSegment("users")) view={Lazy::<UsersRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=(StaticSegment("admin"), StaticSegment("users"), ParamSegment("id")) view={Lazy::<UserDetailsRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=(StaticSegment("admin"), StaticSegment("security")) view={Lazy::<SecurityRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=StaticSegment("admin") view={Lazy::<AdminHomeRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=(StaticSegment("admin"), StaticSegment("applications")) view={Lazy::<ApplicationsRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=(StaticSegment("admin"), StaticSegment("api-keys")) view={Lazy::<ApiKeysRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=(StaticSegment("admin"), StaticSegment("incidents")) view={Lazy::<IncidentsRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=(StaticSegment("admin"), StaticSegment("incidents"), ParamSegment("id")) view={Lazy::<IncidentRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=(StaticSegment("admin"), StaticSegment("email")) view={Lazy::<MailAdminRoute>::new()} ssr=SsrMode::Async/>
                    <Route path=(StaticSegment("admin"), StaticSegment("audit")) view={Lazy::<AuditTrailRoute>::new()} ssr=SsrMode::Async/>
                    <Route
                        path=(StaticSegment("admin"), StaticSegment("email"), StaticSegment("templates"), ParamSegment("kind"))
                        view={Lazy::<TemplateEditorRoute>::new()}
                        ssr=SsrMode::Async
                    />
                </Routes>
            </main>
            <footer class="site-footer">"Keywarden · self-hosted identity"</footer>
    }
}

/// A page loaded on demand: its code is split out of the main wasm (`cargo leptos build
/// --split`) and fetched when the route is first visited, so the first visit to a public page
/// does not carry the whole console. Without `--split` it is an ordinary route.
macro_rules! lazy_page {
    ($route:ident, $page:ident) => {
        pub struct $route;

        #[lazy_route]
        impl LazyRoute for $route {
            fn data() -> Self {
                Self
            }

            fn view(_this: Self) -> AnyView {
                view! { <$page/> }.into_any()
            }
        }
    };
}

// The administrator's console: none of it is needed before an administrator signs in.
lazy_page!(AdminHomeRoute, AdminHome);
lazy_page!(UsersRoute, UsersPage);
lazy_page!(UserDetailsRoute, UserDetailsPage);
lazy_page!(SecurityRoute, SecurityPage);
lazy_page!(ApplicationsRoute, ApplicationsPage);
lazy_page!(ApiKeysRoute, ApiKeysPage);
lazy_page!(IncidentsRoute, IncidentsPage);
lazy_page!(IncidentRoute, IncidentPage);
lazy_page!(MailAdminRoute, MailAdminPage);
lazy_page!(AuditTrailRoute, AuditTrailPage);
lazy_page!(TemplateEditorRoute, TemplateEditorPage);

#[cfg(feature = "ssr")]
fn server_alert_path() -> String {
    use_context::<crate::runtime::AppState>()
        .map(|s| s.security.get().device_alert_path.clone())
        .unwrap_or_else(|| crate::domain::DEFAULT_ALERT_PATH.to_owned())
}

#[cfg(not(feature = "ssr"))]
fn server_alert_path() -> String {
    crate::domain::DEFAULT_ALERT_PATH.to_owned()
}

/// Unknown paths: the "This wasn't me" page when the path is the configured one (administrators
/// choose it, so it cannot be a static route), "Page not found" otherwise.
#[component]
pub fn Fallback() -> impl IntoView {
    let alert_path = SharedValue::new(server_alert_path).into_inner();
    let location = use_location();
    move || {
        if location.pathname.get() == alert_path {
            view! { <AlertPage/> }.into_any()
        } else {
            view! { <NotFound/> }.into_any()
        }
    }
}
