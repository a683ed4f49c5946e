//! E-mail administration rules. Every change is one transaction with its audit entry.

use anyhow::Context;
use serde_json::json;
use tower_sessions::Session;

use super::diff::line_diff;
use super::{MailOverview, MailPreview, MailProblem, TemplateDraft, TemplateSummary};
use crate::domain::{Actor, AuditAction, Email, RequestMeta, Viewer};
use crate::email::outbox::{current_template, MailContext};
use crate::email::templates::{self, MailKind, Template};
use crate::email::transport;
use crate::error::{AppError, Result};
use crate::features::sessions::service::mark_authenticated;
use crate::features::sessions::step_up::{self, ADMIN_WINDOW_MS};
use crate::runtime::{AppState, AuditedTx};
use crate::storage::{outbox, settings, users};

/// Characters allowed per part of a template.
const MAX_PART_CHARS: usize = 50_000;

fn kind_of(key: &str) -> Result<MailKind> {
    MailKind::parse(key)
        .filter(|k| k.editable())
        .ok_or_else(|| AppError::field("kind", "Unknown e-mail template."))
}

/// Why a stored template is not used (it fails today's checks), if it is not.
fn fallback_notice(t: &Template, kind: MailKind) -> Option<String> {
    templates::render_sample(t, kind).err().map(|e| {
        format!(
            "This saved template is not in use: {e}. Mails of this kind use the built-in template until you save a corrected version or reset it to the default."
        )
    })
}

fn admin_actor(admin: &Viewer) -> Actor {
    Actor::admin(admin)
}

pub async fn overview(state: &AppState) -> Result<MailOverview> {
    let mut conn = state.conn().await?;
    let ctx = MailContext::load(&mut conn, &state.config.base_url).await?;
    let counts = outbox::counts(&mut conn).await.context("count outbox")?;
    let problems = outbox::recent_problems(&mut conn, 20)
        .await
        .context("outbox problems")?
        .into_iter()
        .map(|r| MailProblem {
            body: if r.status == "queued" {
                "Kept for the next attempt".into()
            } else {
                "Deleted after the last attempt".into()
            },
            id: r.id,
            to: r.to_address,
            subject: r.subject,
            status: r.status,
            attempts: r.attempts,
            last_error: r.last_error.unwrap_or_default(),
        })
        .collect();
    let mut summaries = Vec::new();
    for kind in MailKind::EDITABLE {
        let (t, customized) = current_template(&mut conn, kind).await?;
        summaries.push(TemplateSummary {
            kind: kind.key().into(),
            title: kind.title().into(),
            customized,
            in_use: !customized || fallback_notice(&t, kind).is_none(),
        });
    }
    Ok(MailOverview {
        product_name: ctx.product_name,
        support_email: ctx.support_email,
        transport: transport::describe(&state.config),
        queued: counts.queued,
        sent: counts.sent,
        failed: counts.failed,
        problems,
        templates: summaries,
    })
}

pub async fn save_settings(
    state: &AppState,
    admin: &Viewer,
    product_name: &str,
    support_email: &str,
    meta: &RequestMeta,
) -> Result<()> {
    let product_name = product_name.trim();
    if product_name.is_empty() || product_name.chars().count() > 60 {
        return Err(AppError::field(
            "product_name",
            "Enter a product name of 1 to 60 characters.",
        ));
    }
    // It goes into every subject line: a line break there would end the header early.
    if product_name.chars().any(char::is_control) {
        return Err(AppError::field(
            "product_name",
            "The product name must be one line, without tabs or line breaks.",
        ));
    }
    let support_email = match support_email.trim() {
        "" => String::new(),
        s => Email::parse(s)
            .map_err(|e| AppError::field("support_email", e))?
            .to_string(),
    };
    let mut tx = AuditedTx::begin(state, meta).await?;
    let now = tx.now();
    settings::put(&mut tx, "product_name", product_name, now)
        .await
        .context("save product name")?;
    settings::put(&mut tx, "support_email", &support_email, now)
        .await
        .context("save support email")?;
    let details = json!({"product_name": product_name, "support_email": support_email});
    tx.record(
        &admin_actor(admin),
        AuditAction::SettingsMailUpdated,
        None,
        None,
        details,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn draft(state: &AppState, admin: &Viewer, key: &str) -> Result<TemplateDraft> {
    let kind = kind_of(key)?;
    let mut conn = state.conn().await?;
    let (t, customized) = current_template(&mut conn, kind).await?;
    let notice = if customized {
        fallback_notice(&t, kind)
    } else {
        None
    };
    Ok(TemplateDraft {
        step_up_needed: step_up::needed(state, admin, ADMIN_WINDOW_MS),
        notice,
        kind: kind.key().into(),
        title: kind.title().into(),
        subject: t.subject,
        html: t.html,
        text: t.text,
        customized,
        variables: kind
            .variables()
            .iter()
            .map(|(n, d)| ((*n).to_owned(), (*d).to_owned()))
            .collect(),
    })
}

/// Renders with the kind's sample data, running every save-time check (the secret block, links
/// outside this instance). The error names the field that failed.
pub fn preview(key: &str, subject: &str, html: &str, text: &str) -> Result<MailPreview> {
    let kind = kind_of(key)?;
    for (field, value) in [("subject", subject), ("html", html), ("text", text)] {
        if value.chars().count() > MAX_PART_CHARS {
            return Err(AppError::field(
                field,
                format!("Keep each part under {MAX_PART_CHARS} characters."),
            ));
        }
    }
    let t = Template {
        subject: subject.to_owned(),
        html: html.to_owned(),
        text: text.to_owned(),
    };
    match templates::render_sample(&t, kind) {
        Ok(r) => Ok(MailPreview {
            subject: r.subject,
            html: r.html,
            text: r.text,
        }),
        Err(e) => {
            let field = match e.part {
                "Subject" => "subject",
                "HTML body" => "html",
                _ => "text",
            };
            Err(AppError::field(
                field,
                format!("This template cannot be rendered: {}", e.message),
            ))
        }
    }
}

/// What an administrator submits for a template.
pub struct TemplateInput<'a> {
    pub kind: &'a str,
    pub subject: &'a str,
    pub html: &'a str,
    pub text: &'a str,
}

/// Saves a template: checked like the preview, after step-up (the password unless proved in the
/// last 5 minutes), recorded with a line diff of each part, and announced by mail to every other
/// administrator, in one transaction.
pub async fn save_template(
    state: &AppState,
    admin: &Viewer,
    session: &Session,
    input: TemplateInput<'_>,
    password: &str,
    meta: &RequestMeta,
) -> Result<()> {
    let kind = kind_of(input.kind)?;
    preview(input.kind, input.subject, input.html, input.text)?;
    if step_up::check(state, admin, password, ADMIN_WINDOW_MS).await? {
        mark_authenticated(state, session).await?;
    }
    let mut tx = AuditedTx::begin(state, meta).await?;
    let now = tx.now();
    let (old, _) = current_template(&mut tx, kind).await?;
    settings::put_template(
        &mut tx,
        kind.key(),
        input.subject,
        input.html,
        input.text,
        now,
        admin.user_id,
    )
    .await
    .context("save template")?;
    let details = json!({
        "kind": kind.key(),
        "diff": {
            "subject": line_diff(&old.subject, input.subject),
            "html": line_diff(&old.html, input.html),
            "text": line_diff(&old.text, input.text),
        },
    });
    tx.record(
        &admin_actor(admin),
        AuditAction::EmailTemplateUpdated,
        None,
        None,
        details,
    )
    .await?;
    let others = users::other_admin_emails(&mut tx, admin.user_id)
        .await
        .context("list administrators")?;
    let review_url = state
        .config
        .base_url
        .join(&format!("/admin/email/templates/{}", kind.key()))
        .context("template URL")?;
    for to in others {
        let vars = json!({
            "template": kind.title(),
            "changed_by": admin.email,
            "changed_at": crate::domain::time::utc(now),
            "review_url": review_url.as_str(),
        });
        tx.queue_mail(MailKind::TemplateChanged, &to, vars).await?;
    }
    tx.commit().await?;
    Ok(())
}

pub async fn reset_template(
    state: &AppState,
    admin: &Viewer,
    key: &str,
    meta: &RequestMeta,
) -> Result<()> {
    let kind = kind_of(key)?;
    let mut tx = AuditedTx::begin(state, meta).await?;
    settings::delete_template(&mut tx, kind.key())
        .await
        .context("delete template")?;
    tx.record(
        &admin_actor(admin),
        AuditAction::EmailTemplateReset,
        None,
        None,
        json!({"kind": kind.key()}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
