use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;

use crate::features::auth::{reset_link_state, ResetLink, ResetPassword};
use crate::ui::{Field, FormError};

#[component]
pub fn ResetPasswordPage() -> impl IntoView {
    let query = use_query_map();
    let token = move || query.read().get("token").unwrap_or_default();
    let link = Resource::new(token, reset_link_state);
    view! {
        <Title text="Choose a new password"/>
        <section class="card card-narrow">
            <h1>"Choose a new password"</h1>
            <Suspense fallback=|| view! { <p class="muted">"Checking your link…"</p> }>
                {move || Suspend::new(async move {
                    match link.await {
                        Ok(ResetLink::Valid) => view! { <ResetForm token=token()/> }.into_any(),
                        Ok(ResetLink::Expired) => view! { <LinkProblem message="This reset link has expired."/> }.into_any(),
                        Ok(ResetLink::Invalid) => view! { <LinkProblem message="This reset link is invalid or has already been used."/> }.into_any(),
                        Err(e) => view! { <p class="alert alert-error" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn LinkProblem(message: &'static str) -> impl IntoView {
    view! {
        <p class="alert alert-error" role="alert">{message}</p>
        <p>"Only the most recent link we sent works, once, for 30 minutes."</p>
        <p><A href="/forgot-password" attr:class="btn btn-primary">"Request a new link"</A></p>
    }
}

#[component]
fn ResetForm(token: String) -> impl IntoView {
    let action = ServerAction::<ResetPassword>::new();
    let error = move || action.value().get().and_then(|r| r.err());
    let field =
        move |name: &'static str| Signal::derive(move || error().and_then(|e| e.for_field(name)));
    let link_error = move || error().and_then(|e| e.for_field("token"));
    view! {
        <p class="muted">"Your new password signs you out everywhere. You will then sign in with it."</p>
        <FormError message=Signal::derive(move || error().and_then(|e| e.form_message()).or_else(link_error))/>
        {move || link_error().map(|_| view! { <p><A href="/forgot-password">"Request a new link"</A></p> })}
        <ActionForm action=action attr:novalidate=true attr:class="form">
            <input type="hidden" name="token" value=token/>
            <Field label="New password" name="password" kind="password" autocomplete="new-password"
                hint="At least 12 characters; not your current password; common passwords are refused."
                error=field("password")/>
            <Field label="Repeat new password" name="password_confirm" kind="password" autocomplete="new-password"
                error=field("password_confirm")/>
            <button type="submit" class="btn btn-primary btn-block" disabled=move || action.pending().get()>
                "Set new password"
            </button>
        </ActionForm>
    }
}
