use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

use crate::ui::use_viewer;

#[component]
pub fn HomePage() -> impl IntoView {
    let viewer = use_viewer();
    view! {
        <Title text="Identity for the day credentials leak"/>
        <section class="hero">
            <h1>"Contain leaked credentials in one click."</h1>
            <p class="lead">
                "Keywarden is your self-hosted sign-in service. When passwords leak, administrators can set them as "
                "compromised and sign sessions out instantly, and every action is recorded."
            </p>
            {move || match viewer.get() {
                Some(_) => view! { <p><A href="/account" attr:class="btn btn-primary">"Go to your account"</A></p> }.into_any(),
                None => view! {
                    <p class="hero-actions">
                        <A href="/sign-in" attr:class="btn btn-primary">"Sign in"</A>
                        <A href="/sign-up" attr:class="btn btn-secondary">"Create account"</A>
                    </p>
                }.into_any(),
            }}
        </section>
    }
}
