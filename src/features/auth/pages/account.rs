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
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match viewer.await {
                        Ok(Some(v)) => view! {
                            <p class="lead">"Signed in as " <strong>{v.email.clone()}</strong></p>
                            <dl class="facts">
                                <div><dt>"Role"</dt><dd>{if v.is_admin() { "Administrator" } else { "Member" }}</dd></div>
                            </dl>
                            {v.is_admin().then(|| view! {
                                <p><A href="/admin" attr:class="btn btn-secondary">"Admin console"</A></p>
                            })}
                        }.into_any(),
                        Ok(None) => view! { <p>"You are not signed in. " <A href="/sign-in">"Sign in"</A></p> }.into_any(),
                        Err(e) => view! { <p class="alert alert-error" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
            <ActionForm action=sign_out attr:class="form-actions">
                <button type="submit" class="btn btn-secondary">"Sign out"</button>
            </ActionForm>
        </section>
    }
}
