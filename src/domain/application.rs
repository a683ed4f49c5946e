//! Applications behind forward-auth, as administrators describe them: a host pattern and the
//! roles that may enter. Parsed once here, for the form and the server alike.

use serde::{Deserialize, Serialize};

use super::Role;

/// Which hosts an application answers for: one exact host, or every host under a domain
/// (`*.example.com`: one or more labels before `example.com`, never `example.com` itself).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HostPattern {
    Exact(String),
    /// The domain after `*.`.
    Wildcard(String),
}

impl HostPattern {
    pub fn parse(value: &str) -> Result<Self, String> {
        let value = value.trim().to_ascii_lowercase();
        let (wildcard, host) = match value.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, value.as_str()),
        };
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        let labels: Vec<&str> = host.split('.').collect();
        if host.is_empty() || host.len() > 253 || !labels.iter().all(|l| label_ok(l)) {
            return Err(
                "Enter a host name such as app.example.com, or *.example.com for every subdomain."
                    .into(),
            );
        }
        if wildcard && labels.len() < 2 {
            return Err("A wildcard needs a domain of at least two labels (*.example.com).".into());
        }
        Ok(if wildcard {
            Self::Wildcard(host.to_owned())
        } else {
            Self::Exact(host.to_owned())
        })
    }

    /// Whether `host` (lower-case, without port) is one this pattern covers.
    pub fn matches(&self, host: &str) -> bool {
        match self {
            Self::Exact(h) => h == host,
            Self::Wildcard(domain) => host
                .strip_suffix(domain.as_str())
                .and_then(|head| head.strip_suffix('.'))
                .is_some_and(|head| !head.is_empty()),
        }
    }

    /// How specific the pattern is: an exact host beats every wildcard, a longer domain a shorter.
    pub fn specificity(&self) -> usize {
        match self {
            Self::Exact(_) => usize::MAX,
            Self::Wildcard(d) => d.len(),
        }
    }
}

impl std::fmt::Display for HostPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Exact(h) => f.write_str(h),
            Self::Wildcard(d) => write!(f, "*.{d}"),
        }
    }
}

/// The host of a `Host` or `X-Forwarded-Host` value: lower-case, without port; `None` when it is
/// not a plain host name (an IPv6 literal or garbage is not an application host).
pub fn host_of(value: &str) -> Option<String> {
    let value = value.trim();
    let host = match value.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => value,
    };
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    let ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    ok.then_some(host)
}

/// What the Applications form submits, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationInput {
    pub name: String,
    pub host: HostPattern,
    pub roles: Vec<Role>,
    pub enabled: bool,
}

impl ApplicationInput {
    /// Checks each field; the error names the field (`name`, `host`, `roles`) and the problem.
    pub fn parse(
        name: &str,
        host: &str,
        roles: &[String],
        enabled: bool,
    ) -> Result<Self, (&'static str, String)> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 80 || name.chars().any(char::is_control) {
            return Err((
                "name",
                "Enter a name of 1 to 80 characters on one line.".into(),
            ));
        }
        let host = HostPattern::parse(host).map_err(|e| ("host", e))?;
        let mut parsed = Vec::new();
        for r in roles {
            let role = Role::parse(r.trim()).ok_or(("roles", format!("Unknown role {r:?}.")))?;
            if !parsed.contains(&role) {
                parsed.push(role);
            }
        }
        if parsed.is_empty() {
            return Err(("roles", "Choose at least one role that may enter.".into()));
        }
        parsed.sort_by_key(|r| r.as_str());
        Ok(Self {
            name: name.to_owned(),
            host,
            roles: parsed,
            enabled,
        })
    }

    /// The roles as stored ("admin,member").
    pub fn roles_text(&self) -> String {
        self.roles
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_cover_subdomains_only() {
        let p = HostPattern::parse("*.Example.com").unwrap();
        assert!(p.matches("app.example.com"));
        assert!(p.matches("a.b.example.com"));
        assert!(!p.matches("example.com"));
        assert!(!p.matches("evilexample.com"));
        assert!(!p.matches("app.example.com.evil.org"));
        let e = HostPattern::parse("app.example.com").unwrap();
        assert!(e.matches("app.example.com") && !e.matches("x.app.example.com"));
        assert!(e.specificity() > p.specificity());
    }

    #[test]
    fn bad_hosts_are_refused() {
        for bad in [
            "",
            "*",
            "*.com",
            "http://app.example.com",
            "app example.com",
            "a..b",
            "-a.b",
            "app.example.com:8080",
        ] {
            assert!(HostPattern::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn host_of_strips_port_and_case() {
        assert_eq!(
            host_of("App.Example.com:8443").as_deref(),
            Some("app.example.com")
        );
        assert_eq!(
            host_of("app.example.com.").as_deref(),
            Some("app.example.com")
        );
        assert_eq!(host_of("[::1]:80"), None);
        assert_eq!(host_of("a/b"), None);
    }

    #[test]
    fn input_names_the_field() {
        let ok = ApplicationInput::parse(
            " Wiki ",
            "wiki.example.com",
            &["member".into(), "admin".into(), "admin".into()],
            true,
        )
        .unwrap();
        assert_eq!(ok.roles_text(), "admin,member");
        assert_eq!(
            ApplicationInput::parse("", "a.b", &["admin".into()], true)
                .unwrap_err()
                .0,
            "name"
        );
        assert_eq!(
            ApplicationInput::parse("x", "a b", &["admin".into()], true)
                .unwrap_err()
                .0,
            "host"
        );
        assert_eq!(
            ApplicationInput::parse("x", "a.b", &[], true)
                .unwrap_err()
                .0,
            "roles"
        );
        assert_eq!(
            ApplicationInput::parse("x", "a.b", &["root".into()], true)
                .unwrap_err()
                .0,
            "roles"
        );
    }
}
