//! Step-up on a form: the user's password again, asked when their last proof is older than the
//! action's window (the server decides; the page only shows the field).

use leptos::prelude::*;

use crate::error::AppError;

/// The message for field `name` in an action's latest error, as a view.
pub fn field_error(
    value: Signal<Option<Result<(), AppError>>>,
    name: &'static str,
) -> impl Fn() -> Option<AnyView> + Send + Sync + Clone {
    move || {
        value
            .get()
            .and_then(|r| r.err())
            .and_then(|e| e.for_field(name))
            .map(|m| view! { <p class="field-error" role="alert">{m}</p> }.into_any())
    }
}

/// The admin's password, asked again when their last proof is older than five minutes.
#[component]
pub fn StepUp(
    needed: bool,
    id: &'static str,
    error: Signal<Option<Result<(), AppError>>>,
) -> impl IntoView {
    let shown = RwSignal::new(needed);
    Effect::new(move |_| {
        if error
            .get()
            .and_then(|r| r.err())
            .and_then(|e| e.for_field("password"))
            .is_some()
        {
            shown.set(true);
        }
    });
    view! {
        {move || if shown.get() {
            view! {
                <div class="field">
                    <label for=id>"Your password"</label>
                    <p class="field-hint">"You signed in more than 5 minutes ago: confirm it is you."</p>
                    <input id=id name="password" type="password" autocomplete="current-password"/>
                    {field_error(error, "password")}
                </div>
            }.into_any()
        } else {
            view! { <p class="muted small">"You signed in less than 5 minutes ago, so your password is not asked again."</p> }.into_any()
        }}
    }
}
