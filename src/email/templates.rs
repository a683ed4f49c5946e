//! Mail templates: defaults shipped in the binary, admin overrides in the database, rendered with
//! minijinja (HTML auto-escaped; unknown variables are errors). A template is rendered against
//! sample data when saved, so a broken template is refused then and never fails at send time.
//!
//! Secrets (reset link, code, "This wasn't me" link) are not template variables: a template
//! places the fixed block that carries them with `{{ action_block }}`, and [`super::guard`]
//! checks where it stands and that nothing links outside this instance (see `blocks`).

use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::Serialize;
use serde_json::{json, Value};

/// Every kind of mail Keywarden sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum MailKind {
    PasswordReset,
    PasswordChanged,
    ResetCode,
    NewDevice,
    /// To the other administrators when one saves a template (fixed, not editable).
    TemplateChanged,
    /// A signed audit checkpoint for the administrators: a fixed system mail, not in
    /// [`MailKind::ALL`] (the editable ones), so no saved template can change or drop it.
    AuditCheckpoint,
    /// To the owner of an address someone tried to sign up with (fixed, not editable): sign-up
    /// answers the same for a taken address, so the owner hears of it instead.
    SignUpAttempt,
    /// To each member of an incident's cohort: the reference, what happened, what to do.
    IncidentNotice,
}

/// Variables that held secrets before they moved into the fixed block; a template that names
/// one is refused (saving) or replaced by the built-in one (sending).
pub const SECRET_VARIABLES: [&str; 3] = ["reset_url", "code", "not_me_url"];

impl MailKind {
    pub const ALL: [MailKind; 8] = [
        MailKind::PasswordReset,
        MailKind::PasswordChanged,
        MailKind::ResetCode,
        MailKind::NewDevice,
        MailKind::TemplateChanged,
        MailKind::AuditCheckpoint,
        MailKind::SignUpAttempt,
        MailKind::IncidentNotice,
    ];

    /// The kinds an administrator may edit.
    pub const EDITABLE: [MailKind; 5] = [
        MailKind::PasswordReset,
        MailKind::PasswordChanged,
        MailKind::ResetCode,
        MailKind::NewDevice,
        MailKind::IncidentNotice,
    ];

    pub fn editable(self) -> bool {
        Self::EDITABLE.contains(&self)
    }

    /// The variable the caller passes the secret in, which the template never sees: it goes
    /// into the fixed block. `None` for kinds without a secret.
    pub fn secret_variable(self) -> Option<&'static str> {
        match self {
            MailKind::PasswordReset => Some("reset_url"),
            MailKind::ResetCode => Some("code"),
            MailKind::NewDevice => Some("not_me_url"),
            MailKind::PasswordChanged
            | MailKind::TemplateChanged
            | MailKind::AuditCheckpoint
            | MailKind::SignUpAttempt
            | MailKind::IncidentNotice => None,
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            MailKind::PasswordReset => "password_reset",
            MailKind::PasswordChanged => "password_changed",
            MailKind::ResetCode => "reset_code",
            MailKind::NewDevice => "new_device",
            MailKind::TemplateChanged => "template_changed",
            MailKind::AuditCheckpoint => "audit_checkpoint",
            MailKind::SignUpAttempt => "sign_up_attempt",
            MailKind::IncidentNotice => "incident_notice",
        }
    }

    pub fn parse(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.key() == key)
    }

    pub fn title(self) -> &'static str {
        match self {
            MailKind::PasswordReset => "Password reset link",
            MailKind::PasswordChanged => "Password changed",
            MailKind::ResetCode => "Reset-password code",
            MailKind::NewDevice => "Sign-in from a new device",
            MailKind::TemplateChanged => "E-mail template changed (to administrators)",
            MailKind::AuditCheckpoint => "Audit checkpoint",
            MailKind::SignUpAttempt => "Sign-up with an existing address",
            MailKind::IncidentNotice => "Incident notice",
        }
    }

    /// The variables a template of this kind may use, with their meaning.
    pub fn variables(self) -> &'static [(&'static str, &'static str)] {
        const COMMON: [(&str, &str); 4] = [
            ("product_name", "the product name from instance settings"),
            ("support_email", "the support e-mail (may be empty)"),
            ("user_email", "the recipient's e-mail address"),
            ("base_url", "the public URL of this instance"),
        ];
        match self {
            MailKind::PasswordReset => &[
                COMMON[0],
                COMMON[1],
                COMMON[2],
                COMMON[3],
                ("action_block", "the \"Choose a new password\" button with the single-use link (required, once, on its own)"),
                ("expires_in_minutes", "how long the link is valid"),
            ],
            MailKind::PasswordChanged => &[
                COMMON[0],
                COMMON[1],
                COMMON[2],
                COMMON[3],
                ("changed_at", "when the password was changed (UTC)"),
                ("ip", "the IP address the change came from"),
                ("forgot_url", "where to reset the password"),
            ],
            MailKind::ResetCode => &[
                COMMON[0],
                COMMON[1],
                COMMON[2],
                COMMON[3],
                ("action_block", "the 6-digit code (required, once, on its own)"),
                ("expires_in_minutes", "how long the code is valid"),
            ],
            MailKind::NewDevice => &[
                COMMON[0],
                COMMON[1],
                COMMON[2],
                COMMON[3],
                ("signed_in_at", "when the sign-in happened (UTC)"),
                ("device_type", "desktop, smartphone, tablet..."),
                ("browser", "browser and version"),
                ("os", "operating system"),
                ("ip", "the IP address of the sign-in"),
                ("location", "approximate location, or \"unknown\""),
                ("method", "how the user signed in"),
                ("action_block", "the single-use \"This wasn't me\" button (required, once, on its own)"),
                ("expires_in_days", "how long that link works"),
                ("devices_url", "the user's Devices page"),
            ],
            MailKind::TemplateChanged => &[
                COMMON[0],
                COMMON[1],
                COMMON[2],
                COMMON[3],
                ("template", "the template that changed"),
                ("changed_by", "the administrator who saved it"),
                ("changed_at", "when (UTC)"),
                ("review_url", "the template's page"),
            ],
            MailKind::SignUpAttempt => &[
                COMMON[0],
                COMMON[1],
                COMMON[2],
                COMMON[3],
                ("attempted_at", "when (UTC)"),
                ("ip", "the IP address the attempt came from"),
                ("sign_in_url", "the sign-in page"),
                ("forgot_url", "where to reset the password"),
            ],
            MailKind::IncidentNotice => &[
                COMMON[0],
                COMMON[1],
                COMMON[2],
                COMMON[3],
                ("reference", "the incident's reference, e.g. KW-2026-0007"),
                ("incident_title", "the incident's title"),
                ("what_happened", "the administrator's words on what happened (may be empty)"),
                ("what_to_do", "what the user must do, from the actions taken"),
                ("devices_url", "the user's Devices page"),
            ],
            MailKind::AuditCheckpoint => &[
                COMMON[0],
                COMMON[1],
                COMMON[2],
                COMMON[3],
                ("checkpoint", "the signed checkpoint file"),
                ("seq", "the last entry it covers"),
                ("time", "when it was taken (UTC)"),
                ("cause", "why it was taken"),
            ],
        }
    }

    /// Sample values for previews and save-time checks.
    pub fn sample(self) -> Value {
        let mut v = json!({
            "product_name": "Keywarden",
            "support_email": "security@example.org",
            "user_email": "ada@example.org",
            "base_url": "https://id.example.org",
        });
        let extra = match self {
            MailKind::PasswordReset => json!({"expires_in_minutes": 30}),
            MailKind::PasswordChanged => json!({
                "changed_at": "2026-11-22 09:30 UTC",
                "ip": "203.0.113.7",
                "forgot_url": "https://id.example.org/forgot-password",
            }),
            MailKind::ResetCode => json!({"expires_in_minutes": 10}),
            MailKind::NewDevice => json!({
                "signed_in_at": "2026-11-22 09:30 UTC",
                "device_type": "Desktop",
                "browser": "Firefox 132",
                "os": "Linux",
                "ip": "203.0.113.7",
                "location": "Lyon, France",
                "method": "Password",
                "expires_in_days": 7,
                "devices_url": "https://id.example.org/account/devices",
            }),
            MailKind::TemplateChanged => json!({
                "template": "Password reset link",
                "changed_by": "root@example.org",
                "changed_at": "2026-11-22 09:30 UTC",
                "review_url": "https://id.example.org/admin/email/templates/password_reset",
            }),
            MailKind::SignUpAttempt => json!({
                "attempted_at": "2026-11-22 09:30 UTC",
                "ip": "203.0.113.7",
                "sign_in_url": "https://id.example.org/sign-in",
                "forgot_url": "https://id.example.org/forgot-password",
            }),
            MailKind::IncidentNotice => json!({
                "reference": "KW-2026-0007",
                "incident_title": "Passwords exposed by a third-party breach",
                "what_happened": "A list of e-mail addresses and passwords from another service was published. Yours is on it.",
                "what_to_do": "Your password must be changed: at your next sign-in you will be asked to confirm your e-mail address and choose a new password.",
                "devices_url": "https://id.example.org/account/devices",
            }),
            MailKind::AuditCheckpoint => json!({
                "checkpoint": "keywarden-audit-checkpoint-v1\nseq: 120\n…",
                "seq": 120,
                "time": "2026-11-22 09:30:05 UTC",
                "cause": "daily checkpoint",
            }),
        };
        if let (Some(map), Value::Object(more)) = (v.as_object_mut(), extra) {
            map.extend(more);
        }
        v
    }

    /// A sample secret for previews.
    pub fn sample_secret(self) -> Option<&'static str> {
        match self {
            MailKind::PasswordReset => {
                Some("https://id.example.org/reset-password?token=sample-token")
            }
            MailKind::ResetCode => Some("493027"),
            MailKind::NewDevice => {
                Some("https://id.example.org/unauthorized-sign-in?token=sample-token")
            }
            MailKind::PasswordChanged
            | MailKind::TemplateChanged
            | MailKind::AuditCheckpoint
            | MailKind::SignUpAttempt
            | MailKind::IncidentNotice => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Template {
    pub subject: String,
    pub html: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub html: String,
    pub text: String,
}

/// Which part of a template failed, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{part}: {message}")]
pub struct RenderError {
    pub part: &'static str,
    pub message: String,
}

const HTML_LAYOUT_START: &str = r#"<!doctype html><html><body style="margin:0;background:#f4f6f9;font-family:system-ui,Segoe UI,Arial,sans-serif;color:#14213d"><table role="presentation" width="100%" cellpadding="0" cellspacing="0"><tr><td align="center" style="padding:32px 16px"><table role="presentation" width="560" cellpadding="0" cellspacing="0" style="background:#fff;border:1px solid #d9dee7;border-radius:10px"><tr><td style="padding:28px 32px">"#;
const HTML_LAYOUT_END: &str = r#"</td></tr></table></td></tr></table></body></html>"#;

pub fn default_template(kind: MailKind) -> Template {
    let (subject, body_html, text) = match kind {
        MailKind::PasswordReset => (
            "Reset your {{ product_name }} password",
            r#"<h1 style="font-size:20px;margin:0 0 16px">Reset your password</h1>
<p>Someone (hopefully you) asked to reset the password of the {{ product_name }} account <strong>{{ user_email }}</strong>.</p>
{{ action_block }}
<p>This link works once and expires in {{ expires_in_minutes }} minutes. Only the most recent link you requested works.</p>
<p style="color:#4a5568">If you did not ask for this, ignore this e-mail: your password stays as it is.{% if support_email %} Questions? Write to {{ support_email }}.{% endif %}</p>"#,
            "Reset your password\n\nSomeone (hopefully you) asked to reset the password of the {{ product_name }} account {{ user_email }}.\n\n{{ action_block }}\n\nThis link works once and expires in {{ expires_in_minutes }} minutes. Only the most recent link you requested works.\n\nIf you did not ask for this, ignore this e-mail: your password stays as it is.{% if support_email %}\nQuestions? Write to {{ support_email }}.{% endif %}\n",
        ),
        MailKind::PasswordChanged => (
            "Your {{ product_name }} password was changed",
            r#"<h1 style="font-size:20px;margin:0 0 16px">Your password was changed</h1>
<p>The password of the {{ product_name }} account <strong>{{ user_email }}</strong> was changed on {{ changed_at }} from IP address {{ ip }}. Every session of this account has been signed out.</p>
<p><strong>Wasn't you?</strong> Someone may have access to your e-mail. Secure your mailbox first, then <a href="{{ forgot_url }}">reset your password</a>{% if support_email %} and tell us at {{ support_email }}{% endif %}.</p>"#,
            "Your password was changed\n\nThe password of the {{ product_name }} account {{ user_email }} was changed on {{ changed_at }} from IP address {{ ip }}. Every session of this account has been signed out.\n\nWasn't you? Someone may have access to your e-mail. Secure your mailbox first, then reset your password: {{ forgot_url }}{% if support_email %}\nand tell us at {{ support_email }}{% endif %}.\n",
        ),
        MailKind::ResetCode => (
            "Your {{ product_name }} verification code",
            r#"<h1 style="font-size:20px;margin:0 0 16px">Confirm it is you</h1>
<p>Your {{ product_name }} password (account <strong>{{ user_email }}</strong>) must be changed before you can continue. To prove this mailbox is yours, enter this code:</p>
{{ action_block }}
<p>The code expires in {{ expires_in_minutes }} minutes and works once.</p>
<p style="color:#4a5568"><strong>Didn't try to sign in?</strong> Someone knows your old password. Don't share this code with anyone{% if support_email %} and tell us at {{ support_email }}{% endif %}.</p>"#,
            "Confirm it is you\n\nYour {{ product_name }} password (account {{ user_email }}) must be changed before you can continue. To prove this mailbox is yours, enter this code:\n\n{{ action_block }}\n\nThe code expires in {{ expires_in_minutes }} minutes and works once.\n\nDidn't try to sign in? Someone knows your old password. Don't share this code with anyone{% if support_email %} and tell us at {{ support_email }}{% endif %}.\n",
        ),
        MailKind::NewDevice => (
            "New sign-in to your {{ product_name }} account",
            r#"<h1 style="font-size:20px;margin:0 0 16px">Sign-in from a new device</h1>
<p>Your {{ product_name }} account <strong>{{ user_email }}</strong> was just used to sign in from a device it has not been used on before.</p>
<table role="presentation" cellpadding="0" cellspacing="0" style="margin:16px 0;border-collapse:collapse">
<tr><td style="padding:4px 16px 4px 0;color:#4a5568">When</td><td style="padding:4px 0">{{ signed_in_at }}</td></tr>
<tr><td style="padding:4px 16px 4px 0;color:#4a5568">Device</td><td style="padding:4px 0">{{ device_type }}</td></tr>
<tr><td style="padding:4px 16px 4px 0;color:#4a5568">Browser</td><td style="padding:4px 0">{{ browser }}</td></tr>
<tr><td style="padding:4px 16px 4px 0;color:#4a5568">Operating system</td><td style="padding:4px 0">{{ os }}</td></tr>
<tr><td style="padding:4px 16px 4px 0;color:#4a5568">IP address</td><td style="padding:4px 0">{{ ip }}</td></tr>
<tr><td style="padding:4px 16px 4px 0;color:#4a5568">Location</td><td style="padding:4px 0">{{ location }}</td></tr>
<tr><td style="padding:4px 16px 4px 0;color:#4a5568">Sign-in method</td><td style="padding:4px 0">{{ method }}</td></tr>
</table>
<p>If this was you, there is nothing to do.</p>
{{ action_block }}
<p style="color:#4a5568">The link works once, for {{ expires_in_days }} days, and signs out only that device. You can review every device signed in to your account at <a href="{{ devices_url }}">{{ devices_url }}</a>.{% if support_email %} Questions? Write to {{ support_email }}.{% endif %}</p>"#,
            "Sign-in from a new device\n\nYour {{ product_name }} account {{ user_email }} was just used to sign in from a device it has not been used on before.\n\nWhen: {{ signed_in_at }}\nDevice: {{ device_type }}\nBrowser: {{ browser }}\nOperating system: {{ os }}\nIP address: {{ ip }}\nLocation: {{ location }}\nSign-in method: {{ method }}\n\nIf this was you, there is nothing to do.\n\n{{ action_block }}\n\nThe link works once, for {{ expires_in_days }} days, and signs out only that device. Review every device signed in to your account: {{ devices_url }}{% if support_email %}\nQuestions? Write to {{ support_email }}.{% endif %}\n",
        ),
        MailKind::TemplateChanged => (
            "A {{ product_name }} e-mail template was changed",
            r#"<h1 style="font-size:20px;margin:0 0 16px">An e-mail template was changed</h1>
<p>{{ changed_by }} changed the template <strong>{{ template }}</strong> of {{ product_name }} on {{ changed_at }}.</p>
<p>Templates decide what every user receives. If you did not expect this change, review it now: <a href="{{ review_url }}">{{ review_url }}</a>. The audit trail shows what changed.</p>
<p style="color:#4a5568">You receive this as an administrator ({{ user_email }}).</p>"#,
            "An e-mail template was changed\n\n{{ changed_by }} changed the template \"{{ template }}\" of {{ product_name }} on {{ changed_at }}.\n\nTemplates decide what every user receives. If you did not expect this change, review it now: {{ review_url }}\nThe audit trail shows what changed.\n\nYou receive this as an administrator ({{ user_email }}).\n",
        ),
        MailKind::IncidentNotice => (
            "[{{ reference }}] Security notice about your {{ product_name }} account",
            r#"<h1 style="font-size:20px;margin:0 0 16px">Security notice {{ reference }}</h1>
<p>We are responding to a security incident that affects your {{ product_name }} account <strong>{{ user_email }}</strong>: {{ incident_title }}.</p>
{% if what_happened %}<p>{{ what_happened }}</p>{% endif %}
<p><strong>What you must do:</strong> {{ what_to_do }}</p>
<p>Review the devices signed in to your account: <a href="{{ devices_url }}">{{ devices_url }}</a>.</p>
<p style="color:#4a5568">Quote the reference {{ reference }} if you contact us{% if support_email %} at {{ support_email }}{% endif %}. We will never ask for your password.</p>"#,
            "Security notice {{ reference }}\n\nWe are responding to a security incident that affects your {{ product_name }} account {{ user_email }}: {{ incident_title }}.\n{% if what_happened %}\n{{ what_happened }}\n{% endif %}\nWhat you must do: {{ what_to_do }}\n\nReview the devices signed in to your account: {{ devices_url }}\n\nQuote the reference {{ reference }} if you contact us{% if support_email %} at {{ support_email }}{% endif %}. We will never ask for your password.\n",
        ),
        MailKind::SignUpAttempt => (
            "Someone tried to create a {{ product_name }} account with your address",
            r#"<h1 style="font-size:20px;margin:0 0 16px">Someone tried to sign up with your address</h1>
<p>On {{ attempted_at }}, someone tried to create a {{ product_name }} account with <strong>{{ user_email }}</strong> (IP address {{ ip }}). You already have an account with this address, so nothing was created or changed.</p>
<p>If this was you, sign in at <a href="{{ sign_in_url }}">{{ sign_in_url }}</a>, or choose a new password at <a href="{{ forgot_url }}">{{ forgot_url }}</a> if you forgot it.</p>
<p style="color:#4a5568">If it was not you, there is nothing to do: your account and password are unchanged.{% if support_email %} Questions? Write to {{ support_email }}.{% endif %}</p>"#,
            "Someone tried to sign up with your address\n\nOn {{ attempted_at }}, someone tried to create a {{ product_name }} account with {{ user_email }} (IP address {{ ip }}). You already have an account with this address, so nothing was created or changed.\n\nIf this was you, sign in at {{ sign_in_url }}, or choose a new password at {{ forgot_url }} if you forgot it.\n\nIf it was not you, there is nothing to do: your account and password are unchanged.{% if support_email %}\nQuestions? Write to {{ support_email }}.{% endif %}\n",
        ),
        MailKind::AuditCheckpoint => (
            "{{ product_name }} audit checkpoint: entry {{ seq }}",
            r#"<h1 style="font-size:20px;margin:0 0 16px">Audit checkpoint</h1>
<p>The audit trail of {{ product_name }} ({{ base_url }}) reached entry {{ seq }} on {{ time }} ({{ cause }}). Below is that state, signed with the server key.</p>
<p><strong>Keep this e-mail.</strong> Saved as a file, it lets anyone check later that no entry up to {{ seq }} was removed or changed: <code>keywarden audit verify --checkpoint FILE</code>.</p>
<pre style="font-size:12px;background:#f4f6f9;padding:12px;border-radius:6px;white-space:pre-wrap;word-break:break-all">{{ checkpoint }}</pre>"#,
            "Audit checkpoint\n\nThe audit trail of {{ product_name }} ({{ base_url }}) reached entry {{ seq }} on {{ time }} ({{ cause }}). Below is that state, signed with the server key.\n\nKeep this e-mail. Saved as a file, it lets anyone check later that no entry up to {{ seq }} was removed or changed: keywarden audit verify --checkpoint FILE\n\n{{ checkpoint }}",
        ),
    };
    Template {
        subject: subject.to_owned(),
        html: body_html.to_owned(),
        text: text.to_owned(),
    }
}

/// Renders the three parts. The HTML body is auto-escaped and wrapped in the mail layout. The
/// kind's secret (see [`MailKind::secret_variable`]) goes into the fixed block placed by
/// `{{ action_block }}`; the template itself never sees it, and what it renders is checked by
/// [`super::guard`] against `vars.base_url`.
pub fn render(
    template: &Template,
    kind: MailKind,
    vars: &Value,
    secret: Option<&str>,
) -> Result<Rendered, RenderError> {
    let base_url = vars
        .get("base_url")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    // A random marker stands for the block while the template renders: whatever the template
    // does to it, it never holds the secret.
    let marker = kind.secret_variable().map(|_| {
        use rand::Rng;
        format!("kwblock{:016x}", rand::rng().random::<u64>())
    });
    let mut context = vars.clone();
    if let (Some(map), Some(m)) = (context.as_object_mut(), &marker) {
        map.insert("action_block".into(), Value::String(m.clone()));
    }
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    let part = |env: &mut Environment<'_>,
                name: &'static str,
                part: &'static str,
                source: &str|
     -> Result<String, RenderError> {
        let fail = |message: String| RenderError { part, message };
        let err = |e: minijinja::Error| fail(describe(&e));
        env.add_template_owned(name, source.to_owned())
            .map_err(err)?;
        let t = env.get_template(name).map_err(err)?;
        let used = t.undeclared_variables(false);
        if let Some(secret) = SECRET_VARIABLES.iter().find(|v| used.contains(**v)) {
            return Err(fail(format!(
                "{{{{ {secret} }}}} is not available to templates: the link or code is added by {{{{ action_block }}}}, which must stand on its own"
            )));
        }
        t.render(&context).map_err(err)
    };
    let subject = part(&mut env, "subject.txt", "Subject", &template.subject)?;
    let fail = |part: &'static str, message: String| RenderError { part, message };
    if subject.trim().is_empty() {
        return Err(fail("Subject", "renders empty".into()));
    }
    if subject.contains(['\r', '\n']) {
        return Err(fail("Subject", "must be one line".into()));
    }
    if marker
        .as_ref()
        .is_some_and(|m| subject.contains(m.as_str()))
    {
        return Err(fail(
            "Subject",
            "{{ action_block }} cannot be in the subject (a subject is shown in lists and logs)"
                .into(),
        ));
    }
    super::guard::check_bare_urls(&subject, &base_url).map_err(|m| fail("Subject", m))?;
    let html = part(&mut env, "body.html", "HTML body", &template.html)?;
    let text = part(&mut env, "body.txt", "Text body", &template.text)?;
    super::guard::check_html(&html, marker.as_deref(), &base_url)
        .map_err(|m| fail("HTML body", m))?;
    super::guard::check_text(&text, marker.as_deref(), &base_url)
        .map_err(|m| fail("Text body", m))?;
    let (html, text) = match &marker {
        None => (html, text),
        Some(m) => {
            for (name, body) in [("HTML body", &html), ("Text body", &text)] {
                if body.matches(m.as_str()).count() != 1 {
                    return Err(fail(
                        name,
                        "must include {{ action_block }} exactly once: it carries the link or code"
                            .into(),
                    ));
                }
            }
            let secret = secret.unwrap_or_default();
            (
                html.replace(m.as_str(), &block_html(kind, secret)),
                text.replace(m.as_str(), &block_text(kind, secret)),
            )
        }
    };
    Ok(Rendered {
        subject: subject.trim().to_owned(),
        html: format!("{HTML_LAYOUT_START}{html}{HTML_LAYOUT_END}"),
        text,
    })
}

/// The fixed HTML block of `kind` carrying `secret`.
fn block_html(kind: MailKind, secret: &str) -> String {
    use super::blocks::{button, code};
    match kind {
        MailKind::PasswordReset => button(secret, "Choose a new password", "#2563eb"),
        MailKind::NewDevice => button(
            secret,
            "This wasn&#x27;t me — sign out that device",
            "#b91c1c",
        ),
        _ => code(secret),
    }
}

/// The fixed plain-text block of `kind` carrying `secret`.
fn block_text(kind: MailKind, secret: &str) -> String {
    match kind {
        MailKind::PasswordReset => format!("Choose a new password: {secret}"),
        MailKind::NewDevice => format!("This wasn't me — sign out that device:\n{secret}"),
        _ => format!("    {secret}"),
    }
}

/// Renders with the kind's sample data and sample secret (previews, save-time checks).
pub fn render_sample(template: &Template, kind: MailKind) -> Result<Rendered, RenderError> {
    render(template, kind, &kind.sample(), kind.sample_secret())
}

fn describe(e: &minijinja::Error) -> String {
    let mut message = e
        .detail()
        .map(str::to_owned)
        .unwrap_or_else(|| e.kind().to_string());
    if let Some(line) = e.line() {
        message = format!("line {line}: {message}");
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_template_renders_with_its_sample_data() {
        for kind in MailKind::ALL {
            let r = render_sample(&default_template(kind), kind).unwrap();
            assert!(!r.subject.is_empty());
            // Mails to a user name the account; the checkpoint mail is about the instance.
            if kind != MailKind::AuditCheckpoint {
                assert!(r.text.contains("ada@example.org"), "{kind:?}");
            }
        }
    }

    #[test]
    fn the_checkpoint_mail_is_fixed_and_carries_the_file_verbatim() {
        let kind = MailKind::AuditCheckpoint;
        assert!(!kind.editable());
        let r = render(&default_template(kind), kind, &kind.sample(), None).unwrap();
        assert!(r
            .text
            .ends_with("keywarden-audit-checkpoint-v1\nseq: 120\n…"));
    }

    #[test]
    fn html_is_escaped_but_text_is_not() {
        let t = Template {
            subject: "Hi".into(),
            html: "<p>{{ user_email }}</p>".into(),
            text: "{{ user_email }}".into(),
        };
        let r = render(
            &t,
            MailKind::PasswordChanged,
            &json!({"user_email": "<b>x</b>"}),
            None,
        )
        .unwrap();
        assert!(
            r.html.contains("&lt;b&gt;x&lt;&#x2f;b&gt;") || r.html.contains("&lt;b&gt;x&lt;/b&gt;")
        );
        assert_eq!(r.text, "<b>x</b>");
    }

    #[test]
    fn an_unknown_variable_or_bad_syntax_is_an_error_naming_the_part() {
        let base = default_template(MailKind::PasswordReset);
        let unknown = Template {
            html: "{{ no_such_thing }}".into(),
            ..base.clone()
        };
        assert_eq!(
            render_sample(&unknown, MailKind::PasswordReset)
                .unwrap_err()
                .part,
            "HTML body"
        );
        let syntax = Template {
            subject: "{% if %}".into(),
            ..base
        };
        assert_eq!(
            render_sample(&syntax, MailKind::PasswordReset)
                .unwrap_err()
                .part,
            "Subject"
        );
    }
}
