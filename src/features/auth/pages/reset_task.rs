use leptos::prelude::*;
use leptos_meta::Title;

use crate::features::auth::{
    reset_task_status, ResetTaskComplete, ResetTaskResendCode, ResetTaskVerifyCode, SignOut,
    TaskStatus,
};
use crate::ui::{Field, FormError, Notice};

/// The only page a restricted session may see: prove the e-mail, then set a new password.
#[component]
pub fn ResetTaskPage() -> impl IntoView {
    let verify = ServerAction::<ResetTaskVerifyCode>::new();
    let resend = ServerAction::<ResetTaskResendCode>::new();
    let status = Resource::new(move || verify.version().get(), |_| reset_task_status());
    view! {
        <Title text="Reset your password"/>
        <section class="card card-narrow">
            <h1>"Reset your password"</h1>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match status.await {
                        Ok(s) if s.email_verified => view! { <NewPasswordStep/> }.into_any(),
                        Ok(TaskStatus { locked: Some(why), .. }) => view! { <p class="alert alert-error" role="alert">{why}</p> }.into_any(),
                        Ok(s) => view! { <CodeStep masked_email=s.masked_email verify resend/> }.into_any(),
                        Err(e) => view! { <p class="alert alert-error" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
            <SignOutLink/>
        </section>
    }
}

#[component]
fn CodeStep(
    masked_email: String,
    verify: ServerAction<ResetTaskVerifyCode>,
    resend: ServerAction<ResetTaskResendCode>,
) -> impl IntoView {
    let error = move || verify.value().get().and_then(|r| r.err());
    let resend_error = move || {
        resend
            .value()
            .get()
            .and_then(|r| r.err())
            .map(|e| e.for_field("code").unwrap_or_else(|| e.to_string()))
    };
    let resent = Signal::derive(move || {
        matches!(resend.value().get(), Some(Ok(())))
            .then_some("We sent a new code. Earlier codes no longer work.")
    });
    view! {
        <p>"Your password was set as compromised, so it must be changed before you can continue."</p>
        <p>"To prove this account is yours, enter the 6-digit code we sent to " <strong>{masked_email}</strong> ". It expires in 10 minutes."</p>
        <Notice message=resent/>
        <FormError message=Signal::derive(move || error().and_then(|e| e.form_message()).or_else(resend_error))/>
        <ActionForm action=verify attr:class="form" attr:novalidate=true>
            <div class="field" class:field-invalid=move || error().and_then(|e| e.for_field("code")).is_some()>
                <label for="task-code">"Code"</label>
                <input id="task-code" name="code" class="code-input" inputmode="numeric" autocomplete="one-time-code" maxlength="6"/>
                {move || error().and_then(|e| e.for_field("code")).map(|m| view! { <p class="field-error" role="alert">{m}</p> })}
            </div>
            <button type="submit" class="btn btn-primary btn-block">"Verify code"</button>
        </ActionForm>
        <ActionForm action=resend attr:class="form-actions">
            <button type="submit" class="btn btn-secondary">"Send a new code"</button>
        </ActionForm>
    }
}

#[component]
fn NewPasswordStep() -> impl IntoView {
    let action = ServerAction::<ResetTaskComplete>::new();
    let error = move || action.value().get().and_then(|r| r.err());
    let field =
        move |name: &'static str| Signal::derive(move || error().and_then(|e| e.for_field(name)));
    view! {
        <p class="alert alert-success" role="status">"Thanks, your e-mail is confirmed."</p>
        <p>"Choose a new password. Your compromised password cannot be used again, and every other session of your account will be signed out."</p>
        <FormError message=Signal::derive(move || error().and_then(|e| e.form_message()))/>
        <ActionForm action=action attr:class="form" attr:novalidate=true>
            <Field label="New password" name="password" kind="password" autocomplete="new-password"
                hint="At least 12 characters; common passwords are refused." error=field("password")/>
            <Field label="Repeat new password" name="password_confirm" kind="password" autocomplete="new-password" error=field("password_confirm")/>
            <button type="submit" class="btn btn-primary btn-block">"Set new password"</button>
        </ActionForm>
    }
}

#[component]
fn SignOutLink() -> impl IntoView {
    let sign_out = ServerAction::<SignOut>::new();
    view! {
        <ActionForm action=sign_out attr:class="card-footer">
            <button type="submit" class="btn btn-ghost-dark">"Not now — sign out"</button>
        </ActionForm>
    }
}
