use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

use crate::features::auth::SignOut;
use crate::ui::use_viewer;

#[component]
pub fn AccountPage() -> impl IntoView {
    let viewer = use_viewer();
    let sign_out = ServerAction::<SignOut>::new();
    let query = leptos_router::hooks::use_query_map();
    let changed = Signal::derive(move || {
        query.read().get("password_changed").map(|_| {
            "Your password was changed and every other session of your account was signed out."
        })
    });
    view! {
        <Title text="Your account"/>
        <section class="card">
            <h1>"Your account"</h1>
            <crate::ui::Notice message=changed/>
            {move || match viewer.get() {
                Some(v) => view! {
                    <p class="lead">"Signed in as " <strong>{v.email.clone()}</strong></p>
                    <dl class="facts">
                        <div><dt>"Role"</dt><dd>{if v.is_admin() { "Administrator" } else { "Member" }}</dd></div>
                    </dl>
                    <p class="hero-actions">
                        <A href="/account/devices" attr:class="btn btn-secondary">"Devices"</A>
                        {v.is_admin().then(|| view! { <A href="/admin" attr:class="btn btn-secondary">"Admin console"</A> })}
                    </p>
                }.into_any(),
                None => view! { <p>"You are not signed in. " <A href="/sign-in">"Sign in"</A></p> }.into_any(),
            }}
            <ActionForm action=sign_out attr:class="form-actions">
                <button type="submit" class="btn btn-secondary">"Sign out"</button>
            </ActionForm>
        </section>
    }
}
