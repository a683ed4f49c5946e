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
    let prepared = Prepared::load(conn, base_url, kind, vars).await?;
    let rendered = prepared.render(to)?;
    let id = outbox::insert(conn, new_mail(&rendered, kind, to, now))
        .await
        .context("insert outbox row")?;
    Ok(id)
}

/// The same mail to many recipients (an incident notice to a cohort batch): the settings and the
/// template are read once, each mail is rendered for its recipient, and the rows go in a few
/// multi-row statements, tagged with the cohort they notify. Returns the outbox id of each
/// recipient's mail.
pub async fn queue_many(
    conn: &mut Conn,
    now: i64,
    base_url: &url::Url,
    kind: MailKind,
    to: &[&str],
    vars: Value,
    cohort_id: Option<i64>,
) -> anyhow::Result<std::collections::HashMap<String, i64>> {
    let prepared = Prepared::load(conn, base_url, kind, vars).await?;
    let rendered = to
        .iter()
        .map(|to| prepared.render(to))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mails: Vec<outbox::NewMail> = rendered
        .iter()
        .zip(to)
        .map(|(r, to)| new_mail(r, kind, to, now))
        .collect();
    outbox::insert_many(conn, &mails, cohort_id)
        .await
        .context("insert outbox rows")
}

fn new_mail<'a>(
    r: &'a templates::Rendered,
    kind: MailKind,
    to: &'a str,
    now: i64,
) -> outbox::NewMail<'a> {
    outbox::NewMail {
        kind: kind.key(),
        to_address: to,
        subject: &r.subject,
        html: &r.html,
        text: &r.text,
        now,
    }
}

/// A kind's template and variables, ready to render for any recipient.
struct Prepared {
    kind: MailKind,
    template: Template,
    vars: Value,
    secret: Option<Value>,
}

impl Prepared {
    async fn load(
        conn: &mut Conn,
        base_url: &url::Url,
        kind: MailKind,
        vars: Value,
    ) -> anyhow::Result<Self> {
        let ctx = MailContext::load(conn, base_url)
            .await
            .context("load mail settings")?;
        let mut all = serde_json::json!({
            "product_name": ctx.product_name,
            "support_email": ctx.support_email,
            "base_url": ctx.base_url,
        });
        let mut secret = None;
        if let (Some(map), Value::Object(mut more)) = (all.as_object_mut(), vars) {
            if let Some(name) = kind.secret_variable() {
                secret = more.remove(name);
            }
            map.extend(more);
        }
        let (template, _) = current_template(conn, kind).await?;
        Ok(Self {
            kind,
            template,
            vars: all,
            secret,
        })
    }

    fn render(&self, to: &str) -> anyhow::Result<templates::Rendered> {
        let mut vars = self.vars.clone();
        if let Some(map) = vars.as_object_mut() {
            map.insert("user_email".to_owned(), Value::String(to.to_owned()));
        }
        let secret = self.secret.as_ref().and_then(Value::as_str);
        // Templates are checked when saved; one saved before a check existed (or that fails now)
        // is replaced by the default, so mail keeps flowing and nothing leaks.
        match templates::render(&self.template, self.kind, &vars, secret) {
            Ok(r) => Ok(r),
            Err(e) => {
                tracing::error!(kind = self.kind.key(), error = %e, "saved template refused; using the built-in one");
                templates::render(
                    &templates::default_template(self.kind),
                    self.kind,
                    &vars,
                    secret,
                )
                .context("render default template")
            }
        }
    }
}
