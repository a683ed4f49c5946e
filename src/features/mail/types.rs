//! The data the server functions exchange with the pages (isomorphic).

use serde::{Deserialize, Serialize};

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
