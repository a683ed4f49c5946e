//! Checks a rendered template before it may be saved or sent, so an administrator (or a stolen
//! admin session) cannot make mails leak what they carry:
//!
//! - the secret block (`{{ action_block }}`) stands on its own: in the HTML body as content of
//!   plain layout elements (never inside a tag, an attribute, a link, a style or a comment), in
//!   the text body on a line of its own, never in the subject;
//! - every link, image, stylesheet or bare `http(s)://` address points to this instance's
//!   `base_url` (or is a `mailto:` or `#` link), so nothing is fetched from or sent to elsewhere;
//! - no active or embedding element (script, iframe, form, meta, base, ...).

/// Elements the secret block may sit in.
const LAYOUT: &[&str] = &[
    "html",
    "body",
    "table",
    "thead",
    "tbody",
    "tfoot",
    "tr",
    "td",
    "th",
    "div",
    "p",
    "center",
    "section",
    "article",
    "header",
    "footer",
    "main",
    "span",
    "strong",
    "em",
    "b",
    "i",
    "u",
    "small",
    "big",
    "font",
    "blockquote",
    "ul",
    "ol",
    "li",
    "dl",
    "dt",
    "dd",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
];

/// Elements a mail template may not use at all.
const FORBIDDEN: &[&str] = &[
    "script", "iframe", "frame", "frameset", "object", "embed", "applet", "form", "input",
    "button", "meta", "link", "base", "svg", "math", "template", "portal",
];

/// Elements whose content is raw text up to their end tag.
const RAW: &[&str] = &[
    "style",
    "title",
    "textarea",
    "xmp",
    "noscript",
    "noembed",
    "plaintext",
];

const VOID: &[&str] = &[
    "area", "br", "col", "hr", "img", "source", "track", "wbr", "param", "keygen",
];

/// Attributes holding URLs.
const URL_ATTRIBUTES: &[&str] = &[
    "href",
    "src",
    "action",
    "formaction",
    "background",
    "poster",
    "cite",
    "longdesc",
    "usemap",
    "data",
    "lowsrc",
    "dynsrc",
    "xlink:href",
    "profile",
    "manifest",
    "icon",
    "ping",
];

/// Whether `url` may appear in a mail: this instance, a `mailto:` or an in-page `#` link.
fn allowed_url(url: &str, base_url: &str) -> bool {
    let url = url.trim();
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("mailto:") || url.starts_with('#') {
        return true;
    }
    let base = base_url.trim_end_matches('/');
    lower.starts_with(&base.to_ascii_lowercase())
        && matches!(
            url[base.len()..].chars().next(),
            None | Some('/' | '?' | '#')
        )
}

fn refuse_url(url: &str, base_url: &str) -> String {
    format!(
        "links and images may only point to this instance ({base_url}); {} is not allowed",
        url.trim()
    )
}

/// Every bare `http://` or `https://` address in `s` must be allowed.
pub fn check_bare_urls(s: &str, base_url: &str) -> Result<(), String> {
    let lower = s.to_ascii_lowercase();
    for scheme in ["http://", "https://"] {
        for (at, _) in lower.match_indices(scheme) {
            let url: String = s[at..]
                .chars()
                .take_while(|c| !c.is_whitespace() && !matches!(c, '"' | '\'' | '<' | '>' | ')'))
                .collect();
            if !allowed_url(&url, base_url) {
                return Err(refuse_url(&url, base_url));
            }
        }
    }
    Ok(())
}

/// Decodes the character references an attribute value may use. Named references other than
/// the five basic ones are refused: `&colon;` and friends could hide a scheme.
fn decode_attribute(v: &str) -> Result<String, String> {
    let mut out = String::with_capacity(v.len());
    let mut rest = v;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let Some(end) = rest.find(';').filter(|e| *e <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let name = &rest[1..end];
        let c = match name {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            n if n.starts_with("#x") || n.starts_with("#X") => u32::from_str_radix(&n[2..], 16)
                .ok()
                .and_then(char::from_u32),
            n if n.starts_with('#') => n[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match c {
            Some(c) => out.push(c),
            None => {
                return Err(format!(
                    "write the characters of &{name}; in links as they are"
                ))
            }
        }
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// CSS may load images only from this instance, and may not import other stylesheets.
fn check_css(css: &str, base_url: &str) -> Result<(), String> {
    let lower = css.to_ascii_lowercase();
    for banned in ["@import", "image-set(", "expression("] {
        if lower.contains(banned) {
            return Err(format!(
                "{} is not allowed in styles",
                banned.trim_end_matches('(')
            ));
        }
    }
    for (at, _) in lower.match_indices("url(") {
        let arg = &css[at + 4..];
        let end = arg.find(')').unwrap_or(arg.len());
        let url = arg[..end].trim().trim_matches(['"', '\'']);
        if !allowed_url(url, base_url) {
            return Err(refuse_url(url, base_url));
        }
    }
    check_bare_urls(css, base_url)
}

/// (name, value) pairs of a start tag's attributes (`tag` without `<` and `>`).
fn attributes(tag: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let b = tag.as_bytes();
    let mut i = tag
        .find(|c: char| c.is_whitespace() || c == '/')
        .unwrap_or(tag.len());
    while i < b.len() {
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'/') {
            i += 1;
        }
        let start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && !matches!(b[i], b'=' | b'/') {
            i += 1;
        }
        if start == i {
            break;
        }
        let name = tag[start..i].to_ascii_lowercase();
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut value = String::new();
        if i < b.len() && b[i] == b'=' {
            i += 1;
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            if i < b.len() && (b[i] == b'"' || b[i] == b'\'') {
                let q = b[i];
                let s = i + 1;
                i = s;
                while i < b.len() && b[i] != q {
                    i += 1;
                }
                value = tag[s..i.min(b.len())].to_owned();
                i += 1;
            } else {
                let s = i;
                while i < b.len() && !b[i].is_ascii_whitespace() {
                    i += 1;
                }
                value = tag[s..i].to_owned();
            }
        }
        out.push((name, value));
    }
    out
}

fn check_tag_urls(tag: &str, base_url: &str) -> Result<(), String> {
    for (name, raw) in attributes(tag) {
        let value = decode_attribute(&raw)?;
        if name == "style" {
            check_css(&value, base_url)?;
        } else if name == "srcset" || name == "imagesrcset" {
            for candidate in value.split(',') {
                let url = candidate.split_whitespace().next().unwrap_or("");
                if !allowed_url(url, base_url) {
                    return Err(refuse_url(url, base_url));
                }
            }
        } else if name.starts_with("on") {
            return Err(format!(
                "event handler attributes such as {name} are not allowed"
            ));
        } else if URL_ATTRIBUTES.contains(&name.as_str()) && !allowed_url(&value, base_url) {
            return Err(refuse_url(&value, base_url));
        }
    }
    Ok(())
}

/// The end of the tag that starts at `from` (the index of its `>`), honouring quotes.
fn tag_end(s: &str, from: usize) -> Option<usize> {
    let mut quote = None;
    for (i, c) in s[from..].char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '>') => return Some(from + i),
            _ => {}
        }
    }
    None
}

const MISPLACED: &str = "{{ action_block }} must stand on its own in the text of the mail, not inside a tag, an attribute, a link, a style or a comment";

/// Checks a rendered HTML body (before the layout is added). `marker` stands for the secret
/// block when the kind has one.
pub fn check_html(html: &str, marker: Option<&str>, base_url: &str) -> Result<(), String> {
    check_bare_urls(html, base_url)?;
    let mut open: Vec<String> = Vec::new();
    let mut i = 0;
    while i < html.len() {
        let rest = &html[i..];
        let Some(lt) = rest.find('<') else {
            check_text_run(rest, marker, &open)?;
            break;
        };
        check_text_run(&rest[..lt], marker, &open)?;
        i += lt;
        let rest = &html[i..];
        if rest.starts_with("<!--") {
            let end = rest.find("-->").map_or(html.len(), |e| i + e + 3);
            if marker.is_some_and(|m| html[i..end].contains(m)) {
                return Err(MISPLACED.into());
            }
            i = end;
            continue;
        }
        let next = rest[1..].chars().next();
        if !next.is_some_and(|c| c.is_ascii_alphabetic() || c == '/' || c == '!' || c == '?') {
            // A lone "<" is text (autoescaping turns variables' ones into "&lt;").
            check_text_run("<", marker, &open)?;
            i += 1;
            continue;
        }
        let end = tag_end(html, i).unwrap_or(html.len());
        let tag = &html[i + 1..end.min(html.len())];
        if marker.is_some_and(|m| tag.contains(m)) {
            return Err(MISPLACED.into());
        }
        i = (end + 1).min(html.len());
        if let Some(closing) = tag.strip_prefix('/') {
            let name = closing.trim().to_ascii_lowercase();
            if let Some(at) = open.iter().rposition(|n| *n == name) {
                open.truncate(at);
            }
            continue;
        }
        if tag.starts_with('!') || tag.starts_with('?') {
            continue;
        }
        let name = tag
            .split(|c: char| c.is_whitespace() || c == '/')
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        if FORBIDDEN.contains(&name.as_str()) {
            return Err(format!("the <{name}> element is not allowed in e-mails"));
        }
        check_tag_urls(tag, base_url)?;
        if RAW.contains(&name.as_str()) {
            let close = format!("</{name}");
            let content_end = html[i..]
                .to_ascii_lowercase()
                .find(&close)
                .map_or(html.len(), |e| i + e);
            let content = &html[i..content_end];
            if marker.is_some_and(|m| content.contains(m)) {
                return Err(MISPLACED.into());
            }
            if name == "style" {
                check_css(content, base_url)?;
            }
            i = content_end;
            continue;
        }
        if !VOID.contains(&name.as_str()) && !tag.trim_end().ends_with('/') {
            open.push(name);
        }
    }
    Ok(())
}

fn check_text_run(text: &str, marker: Option<&str>, open: &[String]) -> Result<(), String> {
    match marker {
        Some(m) if text.contains(m) => {
            if open.iter().all(|n| LAYOUT.contains(&n.as_str())) {
                Ok(())
            } else {
                Err(MISPLACED.into())
            }
        }
        _ => Ok(()),
    }
}

/// Checks a rendered text body: the block's marker on a line of its own, and bare addresses.
pub fn check_text(text: &str, marker: Option<&str>, base_url: &str) -> Result<(), String> {
    if let Some(m) = marker {
        if text.lines().any(|l| l.contains(m) && l.trim() != m) {
            return Err(
                "{{ action_block }} must stand on a line of its own in the plain-text body".into(),
            );
        }
    }
    check_bare_urls(text, base_url)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "https://id.example.org";

    #[test]
    fn links_to_this_instance_and_mailto_pass_and_others_are_refused() {
        assert!(check_html(r#"<a href="https://id.example.org/x">x</a>"#, None, BASE).is_ok());
        assert!(check_html(
            r#"<a href="https:&#x2f;&#x2f;id.example.org">x</a>"#,
            None,
            BASE
        )
        .is_ok());
        assert!(check_html(r#"<a href="mailto:a@b.c">x</a>"#, None, BASE).is_ok());
        for bad in [
            r#"<img src="https://evil.example/?a">"#,
            r#"<img src="//evil.example/a">"#,
            r#"<img src=https://id.example.org.evil.example/a>"#,
            r#"<a href="https&colon;//evil.example">x</a>"#,
            r#"<p style="background:url('https://evil.example/a')">x</p>"#,
            r#"<style>@import 'x.css';</style>"#,
            r#"<img srcset="https://evil.example/a 1x">"#,
            r#"<p onclick="x()">x</p>"#,
            r#"<meta http-equiv="refresh" content="0;url=/x">"#,
            "see https://evil.example/a",
        ] {
            assert!(check_html(bad, None, BASE).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_block_must_stand_alone() {
        let m = Some("kwblockabc");
        assert!(check_html("<p>kwblockabc</p>", m, BASE).is_ok());
        assert!(check_html("<table><tr><td>kwblockabc</td></tr></table>", m, BASE).is_ok());
        for bad in [
            r#"<img alt="kwblockabc">"#,
            r#"<a href="https://id.example.org/">kwblockabc</a>"#,
            "<style>kwblockabc</style>",
            "<!-- kwblockabc -->",
            "<textarea>kwblockabc</textarea>",
        ] {
            assert!(check_html(bad, m, BASE).is_err(), "{bad}");
        }
        assert!(check_text("a\n  kwblockabc\nb", m, BASE).is_ok());
        assert!(check_text("see kwblockabc now", m, BASE).is_err());
    }
}
