//! Who is on the other end of a request: the signed-in user as pages and services see them, and
//! where the request came from.

use serde::{Deserialize, Serialize};

use super::Role;

/// The signed-in user, as pages see them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Viewer {
    pub user_id: i64,
    pub email: String,
    pub role: Role,
    /// When this session last proved the password (step-up checks).
    pub authenticated_at: i64,
    /// A restricted session: the only thing it may do is the reset-password task.
    pub reset_required: bool,
    /// The user's password is compromised but this session was let through: it belongs to the
    /// administrator who set it as compromised (pages offer to change it now).
    #[serde(default)]
    pub password_compromised: bool,
    /// This session's public id, for limits kept per session (server side only: never sent to
    /// the page).
    #[serde(default, skip_serializing)]
    pub session_key: String,
}

impl Viewer {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin && !self.reset_required
    }
}

/// Where a request came from, for sessions and the audit trail.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// SHA-256 of the browser's device cookie.
    pub device: Option<String>,
    /// The open incident this action is taken for (id, reference): its audit entries are
    /// attached to the incident's timeline.
    pub incident: Option<(i64, String)>,
}

/// Who did something, as the audit trail records it.
#[derive(Debug, Clone)]
pub enum Actor {
    /// An anonymous visitor (e.g. a failed sign-in or a forgot-password request).
    Anonymous,
    User {
        id: i64,
        email: String,
    },
    Admin {
        id: i64,
        email: String,
    },
    /// The command line, with the operating-system user who ran it.
    Cli {
        os_user: String,
    },
    /// A management API call, made with the named API key.
    ApiKey {
        id: i64,
        name: String,
    },
    System,
}

impl Actor {
    /// The signed-in user acting on their own account.
    pub fn user(v: &Viewer) -> Self {
        Actor::User {
            id: v.user_id,
            email: v.email.clone(),
        }
    }

    /// A user known by id and e-mail (sign-in, reset links: no session yet).
    pub fn account(id: i64, email: &str) -> Self {
        Actor::User {
            id,
            email: email.to_owned(),
        }
    }

    /// An administrator acting in the console.
    pub fn admin(v: &Viewer) -> Self {
        Actor::Admin {
            id: v.user_id,
            email: v.email.clone(),
        }
    }

    /// The command line, named by the operating-system user.
    pub fn cli(os_user: &str) -> Self {
        Actor::Cli {
            os_user: os_user.to_owned(),
        }
    }

    /// The name written into watermarks ("compromised by …").
    pub fn label(&self) -> String {
        match self {
            Actor::Anonymous => "anonymous".into(),
            Actor::User { email, .. } | Actor::Admin { email, .. } => email.clone(),
            Actor::Cli { os_user } => format!("CLI ({os_user})"),
            Actor::ApiKey { name, .. } => format!("API key ({name})"),
            Actor::System => "system".into(),
        }
    }

    /// (kind, user id, label) as the audit row stores them.
    pub fn parts(&self) -> (&'static str, Option<i64>, Option<String>) {
        match self {
            Actor::Anonymous => ("anonymous", None, None),
            Actor::User { id, email } => ("user", Some(*id), Some(email.clone())),
            Actor::Admin { id, email } => ("admin", Some(*id), Some(email.clone())),
            Actor::Cli { os_user } => ("cli", None, Some(os_user.clone())),
            Actor::ApiKey { name, .. } => ("api_key", None, Some(name.clone())),
            Actor::System => ("system", None, None),
        }
    }
}

/// Pages that need a signed-in user (the request gate sends anyone else to sign in, and so does
/// the browser when a session ends while a page is open).
pub fn needs_sign_in(path: &str) -> bool {
    ["/account", "/admin", "/reset-task"].iter().any(|p| {
        path == *p
            || path
                .strip_prefix(p)
                .is_some_and(|rest| rest.starts_with('/'))
    })
}

/// The sign-in page, coming back to `next` (a path on this site, query included) afterwards.
pub fn sign_in_url(next: &str) -> String {
    let next: String = url_encode(next);
    format!("/sign-in?next={next}")
}

/// Percent-encodes everything but unreserved characters (RFC 3986), for a query value.
fn url_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_in_pages_and_the_way_back() {
        assert!(needs_sign_in("/account"));
        assert!(needs_sign_in("/account/devices"));
        assert!(needs_sign_in("/admin/users/7"));
        assert!(!needs_sign_in("/accounts"));
        assert!(!needs_sign_in("/sign-in"));
        assert_eq!(
            sign_in_url("/admin/users?q=a b&role=admin"),
            "/sign-in?next=/admin/users%3Fq%3Da%20b%26role%3Dadmin"
        );
    }
}
