//! Admin server functions for e-mail. Every one checks the admin role on its first line.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailProblem {
    pub id: i64,
    pub to: String,
    pub subject: String,
    pub status: String,
    pub attempts: i64,
    pub last_error: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateSummary {
    pub kind: String,
    pub title: String,
    pub customized: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailOverview {
    pub product_name: String,
    pub support_email: String,
    pub transport: String,
    pub queued: i64,
    pub sent: i64,
    pub failed: i64,
    pub problems: Vec<MailProblem>,
    pub templates: Vec<TemplateSummary>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateDraft {
    pub kind: String,
    pub title: String,
    pub subject: String,
    pub html: String,
    pub text: String,
    pub customized: bool,
    pub variables: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailPreview {
    pub subject: String,
    pub html: String,
    pub text: String,
}

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
            require_admin()?;
            super::service::draft(&state()?, &kind).await
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

/// Requires: admin. Refused with the error when the template does not render.
#[server(endpoint = "admin_save_template")]
pub async fn save_template(
    kind: String,
    subject: String,
    html: String,
    text: String,
) -> Result<(), AppError> {
    use crate::runtime::request::{request_meta, require_admin, respond, state};
    respond(
        async {
            let admin = require_admin()?;
            super::service::save_template(
                &state()?,
                &admin,
                &kind,
                &subject,
                &html,
                &text,
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
