use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;

use crate::features::auth::SignIn;
use crate::ui::{Field, FormError, Notice};

#[component]
pub fn SignInPage() -> impl IntoView {
    let action = ServerAction::<SignIn>::new();
    let query = use_query_map();
    let error = move || action.value().get().and_then(|r| r.err());
    let notice = Signal::derive(move || {
        let q = query.read();
        if q.get("registered").is_some() {
            Some("Sign-up complete. Sign in to continue. (If this address already had an account, nothing changed and its owner was told by e-mail.)")
        } else if q.get("reset").is_some() {
            Some("Your password was changed and every session was signed out. Sign in with your new password.")
        } else if q.get("signed_out").is_some() {
            Some("You have been signed out.")
        } else {
            None
        }
    });
    view! {
        <Title text="Sign in"/>
        <section class="card card-narrow">
            <h1>"Sign in"</h1>
            <p class="muted">"Use the email address and password of your Keywarden account."</p>
            <Notice message=notice/>
            <FormError message=Signal::derive(move || error().and_then(|e| e.form_message()))/>
            <ActionForm action=action attr:novalidate=true attr:class="form">
                <input type="hidden" name="next" value=move || query.read().get("next").unwrap_or_default()/>
                <input type="hidden" name="rd" value=move || query.read().get("rd").unwrap_or_default()/>
                <Field label="Email" name="email" kind="email" autocomplete="username"
                    error=Signal::derive(move || error().and_then(|e| e.for_field("email")))/>
                <Field label="Password" name="password" kind="password" autocomplete="current-password"
                    error=Signal::derive(move || error().and_then(|e| e.for_field("password")))/>
                <p class="form-aside"><A href="/forgot-password">"Forgot your password?"</A></p>
                <button type="submit" class="btn btn-primary btn-block" disabled=move || action.pending().get()>
                    "Sign in"
                </button>
            </ActionForm>
            <p class="card-footer">"New to Keywarden? " <A href="/sign-up">"Create an account"</A></p>
        </section>
    }
}
