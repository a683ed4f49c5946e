//! The data the server functions exchange with the pages (isomorphic).

/// Only a path on this site may be a post-sign-in destination (no open redirect).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.starts_with("/\\") => {
            n.to_owned()
        }
        _ => "/account".to_owned(),
    }
}
