//! E-mail administration rules. Every change is one transaction with its audit entry.

use anyhow::Context;
use serde_json::json;

use super::{MailOverview, MailPreview, MailProblem, TemplateDraft, TemplateSummary};
use crate::domain::{Actor, AuditAction, Email, RequestMeta, Viewer};
use crate::email::outbox::{current_template, MailContext};
use crate::email::templates::{self, MailKind, Template};
use crate::email::transport;
use crate::error::{AppError, Result};
use crate::runtime::{AppState, AuditedTx};
use crate::storage::{outbox, settings};

fn kind_of(key: &str) -> Result<MailKind> {
    MailKind::parse(key).ok_or_else(|| AppError::field("kind", "Unknown e-mail template."))
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
            id: r.id,
            to: r.to_address,
            subject: r.subject,
            status: r.status,
            attempts: r.attempts,
            last_error: r.last_error.unwrap_or_default(),
        })
        .collect();
    let mut summaries = Vec::new();
    for kind in MailKind::ALL {
        let (_, customized) = current_template(&mut conn, kind).await?;
        summaries.push(TemplateSummary {
            kind: kind.key().into(),
            title: kind.title().into(),
            customized,
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

pub async fn draft(state: &AppState, key: &str) -> Result<TemplateDraft> {
    let kind = kind_of(key)?;
    let mut conn = state.conn().await?;
    let (t, customized) = current_template(&mut conn, kind).await?;
    Ok(TemplateDraft {
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

/// Renders with the kind's sample data. The error names the field that failed.
pub fn preview(key: &str, subject: &str, html: &str, text: &str) -> Result<MailPreview> {
    let kind = kind_of(key)?;
    let t = Template {
        subject: subject.to_owned(),
        html: html.to_owned(),
        text: text.to_owned(),
    };
    match templates::render(&t, &kind.sample()) {
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

pub async fn save_template(
    state: &AppState,
    admin: &Viewer,
    key: &str,
    subject: &str,
    html: &str,
    text: &str,
    meta: &RequestMeta,
) -> Result<()> {
    let kind = kind_of(key)?;
    preview(key, subject, html, text)?;
    let mut tx = AuditedTx::begin(state, meta).await?;
    let now = tx.now();
    settings::put_template(&mut tx, kind.key(), subject, html, text, now, admin.user_id)
        .await
        .context("save template")?;
    tx.record(
        &admin_actor(admin),
        AuditAction::EmailTemplateUpdated,
        None,
        None,
        json!({"kind": kind.key()}),
    )
    .await?;
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
