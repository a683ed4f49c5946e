//! Admin server functions for e-mail. Every one checks the admin role on its first line.

use leptos::prelude::*;

use crate::error::AppError;

use super::types::*;

/// Requires: admin.
#[server(endpoint = "admin_mail_overview")]
pub async fn get_mail_overview() -> Result<MailOverview, AppError> {
    use crate::runtime::request::{require_admin, respond, state};
    respond(
        async {
            require_admin()?;
            super::service::overview(&state()?).await
        }
        .await,
    )
}

/// Requires: admin. Sets the product name and support e-mail used in every mail.
#[server(endpoint = "admin_save_mail_settings")]
pub async fn save_mail_settings(
    product_name: String,
    support_email: String,
) -> Result<(), AppError> {
    use crate::runtime::request::{request_meta, require_admin, respond, state};
    respond(
        async {
            let admin = require_admin()?;
            super::service::save_settings(
                &state()?,
                &admin,
                &product_name,
                &support_email,
                &request_meta(),
            )
            .await
        }
        .await,
    )
}

/// Requires: admin.
#[server(endpoint = "admin_template_draft")]
pub async fn get_template_draft(kind: String) -> Result<TemplateDraft, AppError> {
    use crate::runtime::request::{require_admin, respond, state};
    respond(
        async {
            let admin = require_admin()?;
            super::service::draft(&state()?, &admin, &kind).await
        }
        .await,
    )
}

/// Requires: admin. Renders a draft with sample data; a template error names the field.
#[server(endpoint = "admin_preview_template")]
pub async fn preview_template(
    kind: String,
    subject: String,
    html: String,
    text: String,
) -> Result<MailPreview, AppError> {
    use crate::runtime::request::{require_admin, respond};
    respond(
        async {
            require_admin()?;
            super::service::preview(&kind, &subject, &html, &text)
        }
        .await,
    )
}

/// Requires: admin and a recent password (step-up). Refused with the error when the template
/// does not pass the checks; audited with a diff; the other administrators are told by mail.
#[server(endpoint = "admin_save_template")]
pub async fn save_template(
    kind: String,
    subject: String,
    html: String,
    text: String,
    password: Option<String>,
) -> Result<(), AppError> {
    use crate::runtime::request::{request_meta, require_admin, respond, session, state};
    respond(
        async {
            let admin = require_admin()?;
            let input = super::service::TemplateInput {
                kind: &kind,
                subject: &subject,
                html: &html,
                text: &text,
            };
            super::service::save_template(
                &state()?,
                &admin,
                &session().await?,
                input,
                password.as_deref().unwrap_or(""),
                &request_meta(),
            )
            .await
        }
        .await,
    )
}

/// Requires: admin. Goes back to the template shipped with Keywarden.
#[server(endpoint = "admin_reset_template")]
pub async fn reset_template(kind: String) -> Result<(), AppError> {
    use crate::runtime::request::{request_meta, require_admin, respond, state};
    respond(
        async {
            let admin = require_admin()?;
            super::service::reset_template(&state()?, &admin, &kind, &request_meta()).await
        }
        .await,
    )
}
