use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;

use super::{
    get_mail_overview, get_template_draft, preview_template, MailOverview, ResetTemplate,
    SaveMailSettings, SaveTemplate, TemplateDraft,
};
use crate::ui::{AdminOnly, FormError, Notice};

#[component]
pub fn MailAdminPage() -> impl IntoView {
    view! { <AdminOnly><MailAdmin/></AdminOnly> }
}

#[component]
fn MailAdmin() -> impl IntoView {
    let save = ServerAction::<SaveMailSettings>::new();
    let overview = Resource::new(move || save.version().get(), |_| get_mail_overview());
    view! {
        <Title text="E-mail"/>
        <section class="page-header">
            <h1>"E-mail"</h1>
            <p class="muted">"What users receive, and whether it reached them."</p>
        </section>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match overview.await {
                    Ok(o) => view! { <MailSections o=o save=save/> }.into_any(),
                    Err(e) => view! { <p class="alert alert-error" role="alert">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn MailSections(o: MailOverview, save: ServerAction<SaveMailSettings>) -> impl IntoView {
    let error = move || save.value().get().and_then(|r| r.err());
    let saved = Signal::derive(move || {
        matches!(save.value().get(), Some(Ok(()))).then_some("Settings saved.")
    });
    let field_error = move |name: &'static str| move || error().and_then(|e| e.for_field(name));
    view! {
        <section class="panel" aria-labelledby="delivery-heading">
            <h2 id="delivery-heading">"Delivery"</h2>
            <p class="muted">{o.transport.clone()}</p>
            <div class="stats">
                <div class="stat"><p class="stat-value">{o.queued}</p><p class="stat-label">"Queued"</p></div>
                <div class="stat"><p class="stat-value">{o.sent}</p><p class="stat-label">"Sent"</p></div>
                <div class="stat"><p class="stat-value">{o.failed}</p><p class="stat-label">"Failed"</p></div>
            </div>
            <p class="muted small">"A mail's body (with its links and codes) is deleted once it is delivered or has finally failed; recipient, subject, times and status are kept."</p>
            {(!o.problems.is_empty()).then(move || view! {
                <h3>"Recent delivery problems"</h3>
                <table class="table">
                    <thead><tr><th scope="col">"To"</th><th scope="col">"Subject"</th><th scope="col">"Status"</th><th scope="col">"Attempts"</th><th scope="col">"Last error"</th><th scope="col">"Body"</th></tr></thead>
                    <tbody>
                        {o.problems.into_iter().map(|p| view! {
                            <tr><td>{p.to}</td><td>{p.subject}</td><td>{p.status}</td><td>{p.attempts}</td><td class="mono">{p.last_error}</td><td>{p.body}</td></tr>
                        }).collect_view()}
                    </tbody>
                </table>
            })}
        </section>
        <section class="panel" aria-labelledby="sender-heading">
            <h2 id="sender-heading">"Sender details"</h2>
            <Notice message=saved/>
            <FormError message=Signal::derive(move || error().and_then(|e| e.form_message()))/>
            <ActionForm action=save attr:novalidate=true attr:class="form form-wide">
                <div class="field">
                    <label for="product_name">"Product name"</label>
                    <input id="product_name" name="product_name" value=o.product_name.clone()/>
                    {move || field_error("product_name")().map(|m| view! { <p class="field-error">{m}</p> })}
                </div>
                <div class="field">
                    <label for="support_email">"Support email"</label>
                    <p class="field-hint">"Shown in mails when set. Leave empty to hide it."</p>
                    <input id="support_email" name="support_email" type="email" value=o.support_email.clone()/>
                    {move || field_error("support_email")().map(|m| view! { <p class="field-error">{m}</p> })}
                </div>
                <p><button type="submit" class="btn btn-primary">"Save sender details"</button></p>
            </ActionForm>
        </section>
        <section class="panel" aria-labelledby="templates-heading">
            <h2 id="templates-heading">"Templates"</h2>
            <ul class="list">
                {o.templates.into_iter().map(|t| view! {
                    <li>
                        <A href=format!("/admin/email/templates/{}", t.kind)>{t.title}</A>
                        {t.customized.then(|| view! { <span class="badge">"Customized"</span> })}
                        {(!t.in_use).then(|| view! { <span class="badge badge-danger">"Not in use: the built-in template is sent"</span> })}
                    </li>
                }).collect_view()}
            </ul>
        </section>
    }
}

#[component]
pub fn TemplateEditorPage() -> impl IntoView {
    view! { <AdminOnly><TemplateEditor/></AdminOnly> }
}

#[component]
fn TemplateEditor() -> impl IntoView {
    let params = use_params_map();
    let kind = move || params.read().get("kind").unwrap_or_default();
    let reset = ServerAction::<ResetTemplate>::new();
    let save = ServerAction::<SaveTemplate>::new();
    // Re-read after a save or a reset, so "Customized" and "Reset to default" follow at once.
    let draft = Resource::new(
        move || (kind(), reset.version().get(), save.version().get()),
        |(k, _, _)| get_template_draft(k),
    );
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match draft.await {
                    Ok(d) => view! { <Editor draft=d reset=reset save=save/> }.into_any(),
                    Err(e) => view! { <p class="alert alert-error" role="alert">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Editor(
    draft: TemplateDraft,
    reset: ServerAction<ResetTemplate>,
    save: ServerAction<SaveTemplate>,
) -> impl IntoView {
    let subject = RwSignal::new(draft.subject.clone());
    let html = RwSignal::new(draft.html.clone());
    let text = RwSignal::new(draft.text.clone());
    let kind = draft.kind.clone();
    let kind_for_save = kind.clone();
    let kind_for_reset = kind.clone();
    let preview = Resource::new(move || (subject.get(), html.get(), text.get()), {
        let kind = kind.clone();
        move |(s, h, t)| preview_template(kind.clone(), s, h, t)
    });
    let save_error = move || save.value().get().and_then(|r| r.err());
    let saved = Signal::derive(move || {
        matches!(save.value().get(), Some(Ok(())))
            .then_some("Template saved. New mails use it from now on.")
    });
    let preview_error = move |field: &'static str| {
        move || {
            preview
                .get()
                .and_then(|r| r.err())
                .and_then(|e| e.for_field(field))
        }
    };
    let field_error = move |field: &'static str| {
        move || {
            save_error()
                .and_then(|e| e.for_field(field))
                .or_else(preview_error(field))
        }
    };
    view! {
        <Title text=format!("Template: {}", draft.title)/>
        <section class="page-header">
            <p><A href="/admin/email">"← E-mail"</A></p>
            <h1>"Template: " {draft.title.clone()}</h1>
            <p class="muted">{if draft.customized { "Customized for this instance." } else { "The default template shipped with Keywarden." }}</p>
            {draft.notice.clone().map(|n| view! { <p class="alert alert-error" role="alert">{n}</p> })}
        </section>
        <div class="editor">
            <section class="panel" aria-labelledby="edit-heading">
                <h2 id="edit-heading">"Edit"</h2>
                <Notice message=saved/>
                <FormError message=Signal::derive(move || save_error().and_then(|e| e.form_message()))/>
                <ActionForm action=save attr:class="form form-wide">
                    <input type="hidden" name="kind" value=kind_for_save/>
                    <div class="field">
                        <label for="tpl-subject">"Subject"</label>
                        <input id="tpl-subject" name="subject" value=draft.subject.clone() on:input=move |ev| subject.set(event_target_value(&ev))/>
                        {move || field_error("subject")().map(|m| view! { <p class="field-error" role="alert">{m}</p> })}
                    </div>
                    <div class="field">
                        <label for="tpl-html">"HTML body"</label>
                        <textarea id="tpl-html" name="html" rows="12" class="mono" on:input=move |ev| html.set(event_target_value(&ev))>{draft.html.clone()}</textarea>
                        {move || field_error("html")().map(|m| view! { <p class="field-error" role="alert">{m}</p> })}
                    </div>
                    <div class="field">
                        <label for="tpl-text">"Plain-text body"</label>
                        <textarea id="tpl-text" name="text" rows="10" class="mono" on:input=move |ev| text.set(event_target_value(&ev))>{draft.text.clone()}</textarea>
                        {move || field_error("text")().map(|m| view! { <p class="field-error" role="alert">{m}</p> })}
                    </div>
                    <StepUp needed=draft.step_up_needed error=Signal::derive(move || save_error())/>
                    <p><button type="submit" class="btn btn-primary">"Save template"</button></p>
                </ActionForm>
                {draft.customized.then({
                    let kind = kind_for_reset;
                    move || view! {
                    <ActionForm action=reset attr:class="form-actions">
                        <input type="hidden" name="kind" value=kind/>
                        <button type="submit" class="btn btn-secondary">"Reset to default"</button>
                    </ActionForm>
                }})}
                <p class="muted small">"Links and codes are not variables: " <code class="mono">"{{ action_block }}"</code> " places the fixed button or code where it stands alone. Links and images may only point to this instance."</p>
                <h3>"Variables"</h3>
                <dl class="variables">
                    {draft.variables.iter().map(|(n, d)| view! { <dt class="mono">{format!("{{{{ {n} }}}}")}</dt><dd>{d.clone()}</dd> }).collect_view()}
                </dl>
            </section>
            <section class="panel" aria-labelledby="preview-heading">
                <h2 id="preview-heading">"Preview with sample data"</h2>
                <Transition fallback=|| view! { <p class="muted">"Rendering…"</p> }>
                    {move || preview.get().map(|r| match r {
                        Ok(p) => view! {
                            <p><strong>"Subject: "</strong><span data-testid="preview-subject">{p.subject}</span></p>
                            <iframe title="HTML preview" class="preview-frame" sandbox="" srcdoc=p.html></iframe>
                            <h3>"Plain text"</h3>
                            <pre class="preview-text">{p.text}</pre>
                        }.into_any(),
                        Err(e) => view! { <p class="alert alert-error" role="alert">{e.to_string()}</p> }.into_any(),
                    })}
                </Transition>
            </section>
        </div>
    }
}

/// The admin's password, asked again when their last proof is older than five minutes (the
/// same rule and wording as the Security page).
#[component]
fn StepUp(needed: bool, error: Signal<Option<crate::error::AppError>>) -> impl IntoView {
    let shown = RwSignal::new(needed);
    let message = move || error.get().and_then(|e| e.for_field("password"));
    Effect::new(move |_| {
        if message().is_some() {
            shown.set(true);
        }
    });
    view! {
        {move || if shown.get() {
            view! {
                <div class="field">
                    <label for="tpl-password">"Your password"</label>
                    <p class="field-hint">"You signed in more than 5 minutes ago: confirm it is you."</p>
                    <input id="tpl-password" name="password" type="password" autocomplete="current-password"/>
                    {move || message().map(|m| view! { <p class="field-error" role="alert">{m}</p> })}
                </div>
            }.into_any()
        } else {
            view! { <p class="muted small">"You signed in less than 5 minutes ago, so your password is not asked again."</p> }.into_any()
        }}
    }
}
