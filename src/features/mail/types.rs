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
    /// "Kept for the next attempt" or "Deleted after the last attempt": bodies carry links
    /// and codes, so they are kept only while the mail may still be sent.
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateSummary {
    pub kind: String,
    pub title: String,
    pub customized: bool,
    /// False when a customized template fails today's checks: mails use the built-in one.
    pub in_use: bool,
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
    /// Saving asks for the password again (no proof in the last 5 minutes).
    pub step_up_needed: bool,
    /// Why the saved template is not in use (mails fall back to the built-in one).
    pub notice: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailPreview {
    pub subject: String,
    pub html: String,
    pub text: String,
}
