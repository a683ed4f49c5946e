//! The data the server functions exchange with the pages (isomorphic).

/// Where a sign-in goes when `next` is missing or refused.
const DEFAULT_NEXT: &str = "/account";

/// Only a path on this site may be a post-sign-in destination (no open redirect).
///
/// Browsers drop tabs and newlines from URLs and read `\` as `/`, so `/%09/evil.example` or
/// `/\evil.example` can turn into `//evil.example`, another host. `next` is therefore judged as
/// a browser might see it: percent-decoded (repeatedly, for double encoding), with control
/// characters removed and backslashes read as `/`; it must then start with exactly one `/`. A `next` with a
/// raw control character or backslash is refused outright.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if is_local_path(n) => n.to_owned(),
        _ => DEFAULT_NEXT.to_owned(),
    }
}

fn is_local_path(raw: &str) -> bool {
    if raw.len() > 2048 || raw.chars().any(|c| c.is_control() || c == '\\') {
        return false;
    }
    let mut seen = raw.to_owned();
    for _ in 0..4 {
        let decoded = percent_decode(&seen);
        if decoded == seen {
            break;
        }
        seen = decoded;
    }
    let cleaned: String = seen
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| if c == '\\' { '/' } else { c })
        .collect();
    let path_only = cleaned.split(['?', '#']).next().unwrap_or_default();
    path_only.starts_with('/') && !path_only.starts_with("//")
}

/// `%XX` sequences decoded as bytes (invalid UTF-8 replaced); anything else kept as is.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn v3_7_2_next_accepts_only_a_path_on_this_site() {
        for good in [
            "/account",
            "/admin/users?q=ada",
            "/account/devices#current",
            "/a%2Fb",
        ] {
            assert_eq!(safe_next(Some(good)), good, "{good}");
        }
        for bad in [
            "https://evil.example/",
            "//evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "/%09/evil.example",
            "/%0a/evil.example",
            "/%5Cevil.example",
            "/%2F/evil.example",
            "/%252F/evil.example",
            "%2F%2Fevil.example",
            "/\t/evil.example",
            "/\r\nSet-Cookie: x=1",
            "account",
            "",
        ] {
            assert_eq!(safe_next(Some(bad)), "/account", "{bad:?}");
        }
        assert_eq!(safe_next(None), "/account");
    }
}
