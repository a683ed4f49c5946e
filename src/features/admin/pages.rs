use leptos::prelude::*;
use leptos_meta::Title;

use crate::features::admin::admin_overview;
use crate::ui::AdminOnly;

#[component]
pub fn AdminHome() -> impl IntoView {
    view! { <AdminOnly><AdminDashboard/></AdminOnly> }
}

#[component]
fn AdminDashboard() -> impl IntoView {
    let overview = Resource::new(|| (), |_| admin_overview());
    view! {
        <Title text="Admin console"/>
        <section class="page-header">
            <h1>"Admin console"</h1>
            <p class="muted">"Users, sessions and incident response for this Keywarden instance."</p>
        </section>
        <Suspense fallback=|| view! { <p class="muted">"Loading figures…"</p> }>
            {move || Suspend::new(async move {
                match overview.await {
                    Ok(o) => view! {
                        <section class="stats" aria-label="Instance figures">
                            <Stat label="Users" value=o.users/>
                            <Stat label="Administrators" value=o.admins/>
                            <Stat label="Active sessions" value=o.active_sessions/>
                            <Stat label="Disabled accounts" value=o.disabled/>
                        </section>
                        <p class="muted small">"Database: " {o.database}</p>
                    }.into_any(),
                    Err(e) => view! { <p class="alert alert-error" role="alert">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Stat(label: &'static str, value: i64) -> impl IntoView {
    view! {
        <div class="stat">
            <p class="stat-value">{crate::ui::format::count(value)}</p>
            <p class="stat-label">{label}</p>
        </div>
    }
}
