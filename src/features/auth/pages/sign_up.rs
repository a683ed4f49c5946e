use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

use crate::error::AppError;
use crate::features::auth::{sign_up_open, SignUp};
use crate::ui::{Field, FormError};

#[component]
pub fn SignUpPage() -> impl IntoView {
    let action = ServerAction::<SignUp>::new();
    let error = move || action.value().get().and_then(|r| r.err());
    let open = Resource::new(|| (), |_| sign_up_open());
    view! {
        <Title text="Create your account"/>
        <section class="card card-narrow">
            <h1>"Create your account"</h1>
            <p class="muted">"One account for every application protected by Keywarden."</p>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    (open.await == Ok(false)).then(|| view! {
                        <p class="alert alert-warning" role="status">{AppError::SignUpPaused.to_string()}</p>
                    })
                })}
            </Suspense>
            <FormError message=Signal::derive(move || error().and_then(|e| e.form_message()))/>
            <ActionForm action=action attr:novalidate=true attr:class="form">
                <Field label="Email" name="email" kind="email" autocomplete="email"
                    error=Signal::derive(move || error().and_then(|e| e.for_field("email")))/>
                <Field label="Password" name="password" kind="password" autocomplete="new-password"
                    hint="At least 12 characters. A passphrase of a few unrelated words works well; common passwords are refused."
                    error=Signal::derive(move || error().and_then(|e| e.for_field("password")))/>
                <button type="submit" class="btn btn-primary btn-block" disabled=move || action.pending().get()>
                    "Create account"
                </button>
            </ActionForm>
            <p class="card-footer">"Already have an account? " <A href="/sign-in">"Sign in"</A></p>
        </section>
    }
}
