use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;

use crate::features::auth::ForgotPassword;
use crate::ui::{Field, FormError, Notice};

#[component]
pub fn ForgotPasswordPage() -> impl IntoView {
    let action = ServerAction::<ForgotPassword>::new();
    let query = use_query_map();
    let error = move || action.value().get().and_then(|r| r.err());
    let sent = Signal::derive(move || {
        query.read().get("sent").map(|_| "If an account exists for that email address, we have sent it a link to reset the password. Check your inbox; the link expires in 30 minutes.")
    });
    view! {
        <Title text="Forgot your password?"/>
        <section class="card card-narrow">
            <h1>"Forgot your password?"</h1>
            <p class="muted">"Enter the email address of your account and we will send you a link to choose a new password."</p>
            <Notice message=sent/>
            <FormError message=Signal::derive(move || error().and_then(|e| e.form_message()))/>
            <ActionForm action=action attr:novalidate=true attr:class="form">
                <Field label="Email" name="email" kind="email" autocomplete="username"
                    error=Signal::derive(move || error().and_then(|e| e.for_field("email")))/>
                <button type="submit" class="btn btn-primary btn-block" disabled=move || action.pending().get()>
                    "Send reset link"
                </button>
            </ActionForm>
            <p class="card-footer"><A href="/sign-in">"Back to sign in"</A></p>
        </section>
    }
}
