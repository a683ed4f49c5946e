//! Queuing mail: render the template and insert the outbox row inside the caller's transaction,
//! so the mail exists exactly when the action that caused it committed.

use anyhow::Context;
use serde_json::Value;

use super::templates::{self, MailKind, Template};
use crate::storage::{outbox, settings, Conn};

/// The instance-wide values every template can use.
#[derive(Debug, Clone)]
pub struct MailContext {
    pub product_name: String,
    pub support_email: String,
    pub base_url: String,
}

impl MailContext {
    pub async fn load(conn: &mut Conn, base_url: &url::Url) -> anyhow::Result<Self> {
        Ok(Self {
            product_name: settings::get(conn, "product_name")
                .await?
                .unwrap_or_else(|| "Keywarden".to_owned()),
            support_email: settings::get(conn, "support_email")
                .await?
                .unwrap_or_default(),
            base_url: base_url.as_str().trim_end_matches('/').to_owned(),
        })
    }
}

/// The template stored for a kind: the admin's version, or the default (always the default for
/// kinds that are not editable).
pub async fn current_template(conn: &mut Conn, kind: MailKind) -> anyhow::Result<(Template, bool)> {
    if !kind.editable() {
        return Ok((templates::default_template(kind), false));
    }
    Ok(
        match settings::template(conn, kind.key())
            .await
            .context("load template")?
        {
            Some((subject, html, text, _)) => (
                Template {
                    subject,
                    html,
                    text,
                },
                true,
            ),
            None => (templates::default_template(kind), false),
        },
    )
}

/// Renders `kind` for `to` and inserts it into the outbox. `vars` adds the kind's own variables;
/// the kind's secret among them (see [`MailKind::secret_variable`]) is taken out and only
/// reaches the fixed block, never the template.
pub async fn queue(
    conn: &mut Conn,
    now: i64,
    base_url: &url::Url,
    kind: MailKind,
    to: &str,
    vars: Value,
) -> anyhow::Result<i64> {
    let ctx = MailContext::load(conn, base_url)
        .await
        .context("load mail settings")?;
    let mut all = serde_json::json!({
        "product_name": ctx.product_name,
        "support_email": ctx.support_email,
        "base_url": ctx.base_url,
        "user_email": to,
    });
    let mut secret = None;
    if let (Some(map), Value::Object(mut more)) = (all.as_object_mut(), vars) {
        if let Some(name) = kind.secret_variable() {
            secret = more.remove(name);
        }
        map.extend(more);
    }
    let secret = secret.as_ref().and_then(Value::as_str);
    let (template, _) = current_template(conn, kind).await?;
    // Templates are checked when saved; one saved before a check existed (or that fails now)
    // is replaced by the default, so mail keeps flowing and nothing leaks.
    let rendered = match templates::render(&template, kind, &all, secret) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(kind = kind.key(), error = %e, "saved template refused; using the built-in one");
            templates::render(&templates::default_template(kind), kind, &all, secret)
                .context("render default template")?
        }
    };
    let id = outbox::insert(
        conn,
        outbox::NewMail {
            kind: kind.key(),
            to_address: to,
            subject: &rendered.subject,
            html: &rendered.html,
            text: &rendered.text,
            now,
        },
    )
    .await
    .context("insert outbox row")?;
    Ok(id)
}
