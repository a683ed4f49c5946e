use leptos::prelude::*;
use leptos_router::components::A;

use super::{use_viewer, ErrorPage};

/// Renders its children for admins only: "Access denied" for members (the HTTP gate has set
/// 403), "Sign in required" otherwise. Admin data still comes from server functions that check
/// the role themselves.
#[component]
pub fn AdminOnly(children: ChildrenFn) -> impl IntoView {
    let viewer = use_viewer();
    // Only a change of access re-renders the page (not a refreshed but equal user).
    let access = Memo::new(move |_| viewer.with(|v| v.as_ref().map(|v| v.is_admin())));
    view! {
        {move || match access.get() {
            Some(true) => view! { <AdminNav/> {children()} }.into_any(),
            Some(false) => view! {
                <ErrorPage code="403" title="Access denied">
                    "You need administrator rights to view this page. If you think you should have them, ask an administrator of this Keywarden instance."
                </ErrorPage>
            }.into_any(),
            None => view! {
                <ErrorPage code="401" title="Sign in required">"Sign in with an administrator account to continue."</ErrorPage>
            }.into_any(),
        }}
    }
}

#[component]
fn AdminNav() -> impl IntoView {
    view! {
        <nav class="admin-nav" aria-label="Admin">
            <A href="/admin" exact=true>"Overview"</A>
            <A href="/admin/incidents">"Incidents"</A>
            <A href="/admin/users">"Users"</A>
            <A href="/admin/security">"Security"</A>
            <A href="/admin/applications">"Applications"</A>
            <A href="/admin/api-keys">"API keys"</A>
            <A href="/admin/email">"E-mail"</A>
            <A href="/admin/audit">"Audit trail"</A>
        </nav>
    }
}
