//! The fixed blocks that carry a mail's secret (reset link, code, "This wasn't me" link).
//! Templates place them with `{{ action_block }}` but never see the secret itself: the template
//! is rendered with a random marker in its place, the marker's position is checked, and only
//! then is the block put in. Admins cannot edit these blocks; `templates` picks one per kind.

/// HTML-escapes `s` for text and double-quoted attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

/// A call-to-action button carrying `url` (`label` is HTML).
pub fn button(url: &str, label: &str, colour: &str) -> String {
    format!(
        r#"<p style="margin:24px 0"><a href="{}" style="background:{colour};color:#fff;padding:12px 20px;border-radius:8px;text-decoration:none;font-weight:600">{label}</a></p>"#,
        escape_html(url)
    )
}

/// A code in large type.
pub fn code(code: &str) -> String {
    format!(
        r#"<p style="font-size:32px;font-weight:700;letter-spacing:6px;margin:24px 0">{}</p>"#,
        escape_html(code)
    )
}
