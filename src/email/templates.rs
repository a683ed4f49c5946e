//! Mail templates: defaults shipped in the binary, admin overrides in the database, rendered with
//! minijinja (HTML auto-escaped; unknown variables are errors). A template is rendered against
//! sample data when saved, so a broken template is refused then and never fails at send time.

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
    /// A signed audit checkpoint for the administrators: a fixed system mail, not in
    /// [`MailKind::ALL`] (the editable ones), so no saved template can change or drop it.
    AuditCheckpoint,
}

impl MailKind {
    pub const ALL: [MailKind; 4] = [
        MailKind::PasswordReset,
        MailKind::PasswordChanged,
        MailKind::ResetCode,
        MailKind::NewDevice,
    ];

    pub fn key(self) -> &'static str {
        match self {
            MailKind::PasswordReset => "password_reset",
            MailKind::PasswordChanged => "password_changed",
            MailKind::ResetCode => "reset_code",
            MailKind::NewDevice => "new_device",
            MailKind::AuditCheckpoint => "audit_checkpoint",
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
            MailKind::AuditCheckpoint => "Audit checkpoint",
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
                ("reset_url", "the single-use reset link"),
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
                ("code", "the 6-digit code"),
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
                ("not_me_url", "the single-use \"This wasn't me\" link"),
                ("expires_in_days", "how long that link works"),
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
            MailKind::PasswordReset => json!({
                "reset_url": "https://id.example.org/reset-password?token=sample-token",
                "expires_in_minutes": 30,
            }),
            MailKind::PasswordChanged => json!({
                "changed_at": "2026-11-22 09:30 UTC",
                "ip": "203.0.113.7",
                "forgot_url": "https://id.example.org/forgot-password",
            }),
            MailKind::ResetCode => json!({"code": "493027", "expires_in_minutes": 10}),
            MailKind::NewDevice => json!({
                "signed_in_at": "2026-11-22 09:30 UTC",
                "device_type": "Desktop",
                "browser": "Firefox 132",
                "os": "Linux",
                "ip": "203.0.113.7",
                "location": "Lyon, France",
                "method": "Password",
                "not_me_url": "https://id.example.org/unauthorized-sign-in?token=sample-token",
                "expires_in_days": 7,
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
<p style="margin:24px 0"><a href="{{ reset_url }}" style="background:#2563eb;color:#fff;padding:12px 20px;border-radius:8px;text-decoration:none;font-weight:600">Choose a new password</a></p>
<p>This link works once and expires in {{ expires_in_minutes }} minutes. Only the most recent link you requested works.</p>
<p style="color:#4a5568">If you did not ask for this, ignore this e-mail: your password stays as it is.{% if support_email %} Questions? Write to {{ support_email }}.{% endif %}</p>"#,
            "Reset your password\n\nSomeone (hopefully you) asked to reset the password of the {{ product_name }} account {{ user_email }}.\n\nChoose a new password: {{ reset_url }}\n\nThis link works once and expires in {{ expires_in_minutes }} minutes. Only the most recent link you requested works.\n\nIf you did not ask for this, ignore this e-mail: your password stays as it is.{% if support_email %}\nQuestions? Write to {{ support_email }}.{% endif %}\n",
        ),
        MailKind::PasswordChanged => (
            "Your {{ product_name }} password was changed",
            r#"<h1 style="font-size:20px;margin:0 0 16px">Your password was changed</h1>
<p>The password of the {{ product_name }} account <strong>{{ user_email }}</strong> was changed on {{ changed_at }} from IP address {{ ip }}. Every session of this account has been signed out.</p>
<p><strong>Wasn't you?</strong> Someone may have access to your e-mail. Secure your mailbox first, then <a href="{{ forgot_url }}">reset your password</a>{% if support_email %} and tell us at {{ support_email }}{% endif %}.</p>"#,
            "Your password was changed\n\nThe password of the {{ product_name }} account {{ user_email }} was changed on {{ changed_at }} from IP address {{ ip }}. Every session of this account has been signed out.\n\nWasn't you? Someone may have access to your e-mail. Secure your mailbox first, then reset your password: {{ forgot_url }}{% if support_email %}\nand tell us at {{ support_email }}{% endif %}.\n",
        ),
        MailKind::ResetCode => (
            "{{ code }} is your {{ product_name }} verification code",
            r#"<h1 style="font-size:20px;margin:0 0 16px">Confirm it is you</h1>
<p>Your {{ product_name }} password (account <strong>{{ user_email }}</strong>) must be changed before you can continue. To prove this mailbox is yours, enter this code:</p>
<p style="font-size:32px;font-weight:700;letter-spacing:6px;margin:24px 0">{{ code }}</p>
<p>The code expires in {{ expires_in_minutes }} minutes and works once.</p>
<p style="color:#4a5568"><strong>Didn't try to sign in?</strong> Someone knows your old password. Don't share this code with anyone{% if support_email %} and tell us at {{ support_email }}{% endif %}.</p>"#,
            "Confirm it is you\n\nYour {{ product_name }} password (account {{ user_email }}) must be changed before you can continue. To prove this mailbox is yours, enter this code:\n\n    {{ code }}\n\nThe code expires in {{ expires_in_minutes }} minutes and works once.\n\nDidn't try to sign in? Someone knows your old password. Don't share this code with anyone{% if support_email %} and tell us at {{ support_email }}{% endif %}.\n",
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
<p style="margin:24px 0"><a href="{{ not_me_url }}" style="background:#b91c1c;color:#fff;padding:12px 20px;border-radius:8px;text-decoration:none;font-weight:600">This wasn't me — sign out that device</a></p>
<p style="color:#4a5568">The link works once, for {{ expires_in_days }} days, and signs out only that device. You can review every device signed in to your account at <a href="{{ devices_url }}">{{ devices_url }}</a>.{% if support_email %} Questions? Write to {{ support_email }}.{% endif %}</p>"#,
            "Sign-in from a new device\n\nYour {{ product_name }} account {{ user_email }} was just used to sign in from a device it has not been used on before.\n\nWhen: {{ signed_in_at }}\nDevice: {{ device_type }}\nBrowser: {{ browser }}\nOperating system: {{ os }}\nIP address: {{ ip }}\nLocation: {{ location }}\nSign-in method: {{ method }}\n\nIf this was you, there is nothing to do.\n\nThis wasn't me — sign out that device:\n{{ not_me_url }}\n\nThe link works once, for {{ expires_in_days }} days, and signs out only that device. Review every device signed in to your account: {{ devices_url }}{% if support_email %}\nQuestions? Write to {{ support_email }}.{% endif %}\n",
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

/// Renders the three parts. The HTML body is auto-escaped and wrapped in the mail layout.
pub fn render(template: &Template, vars: &Value) -> Result<Rendered, RenderError> {
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
        let err = |e: minijinja::Error| RenderError {
            part,
            message: describe(&e),
        };
        env.add_template_owned(name, source.to_owned())
            .map_err(err)?;
        env.get_template(name)
            .and_then(|t| t.render(vars))
            .map_err(err)
    };
    let subject = part(&mut env, "subject.txt", "Subject", &template.subject)?;
    if subject.trim().is_empty() {
        return Err(RenderError {
            part: "Subject",
            message: "renders empty".into(),
        });
    }
    if subject.contains(['\r', '\n']) {
        return Err(RenderError {
            part: "Subject",
            message: "must be one line".into(),
        });
    }
    let html = part(&mut env, "body.html", "HTML body", &template.html)?;
    let text = part(&mut env, "body.txt", "Text body", &template.text)?;
    Ok(Rendered {
        subject: subject.trim().to_owned(),
        html: format!("{HTML_LAYOUT_START}{html}{HTML_LAYOUT_END}"),
        text,
    })
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
            let r = render(&default_template(kind), &kind.sample()).unwrap();
            assert!(!r.subject.is_empty());
            assert!(r.text.contains("ada@example.org"));
        }
    }

    #[test]
    fn the_checkpoint_mail_is_fixed_and_carries_the_file_verbatim() {
        let kind = MailKind::AuditCheckpoint;
        assert!(!MailKind::ALL.contains(&kind), "not editable");
        assert_eq!(MailKind::parse(kind.key()), None);
        let r = render(&default_template(kind), &kind.sample()).unwrap();
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
        let r = render(&t, &json!({"user_email": "<b>x</b>"})).unwrap();
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
            render(&unknown, &MailKind::PasswordReset.sample())
                .unwrap_err()
                .part,
            "HTML body"
        );
        let syntax = Template {
            subject: "{% if %}".into(),
            ..base
        };
        assert_eq!(
            render(&syntax, &MailKind::PasswordReset.sample())
                .unwrap_err()
                .part,
            "Subject"
        );
    }
}
