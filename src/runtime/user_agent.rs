//! The one user-agent parser (woothee): browser, OS and device type for device lists, alert
//! mails and the audit trail.

/// Browser, OS and device type from a user agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserAgent {
    pub browser: String,
    pub os: String,
    pub device_type: String,
}

impl UserAgent {
    /// "Firefox 132 on Linux", short enough for a table cell.
    pub fn summary(&self) -> String {
        format!("{} on {}", self.browser, self.os)
    }
}

pub fn parse(user_agent: Option<&str>) -> UserAgent {
    let unknown = || UserAgent {
        browser: "Unknown browser".into(),
        os: "Unknown".into(),
        device_type: "Unknown".into(),
    };
    let Some(ua) = user_agent.filter(|u| !u.trim().is_empty()) else {
        return unknown();
    };
    let Some(r) = woothee::parser::Parser::new().parse(ua) else {
        // Tools that woothee does not know (curl, scripts): their product token.
        let product: String = ua
            .split(['/', ' '])
            .next()
            .unwrap_or(ua)
            .chars()
            .take(32)
            .collect();
        return UserAgent {
            browser: product,
            ..unknown()
        };
    };
    let known = |s: &str| (!s.is_empty() && s != "UNKNOWN").then(|| s.to_owned());
    let major = r.version.split('.').next().unwrap_or_default();
    let browser = match known(r.name) {
        Some(name) if !major.is_empty() && major != "UNKNOWN" => format!("{name} {major}"),
        Some(name) => name,
        None => "Unknown browser".into(),
    };
    let os = match (known(r.os), known(&r.os_version)) {
        (Some(os), Some(v)) if !os.contains(&v) => format!("{os} {v}"),
        (Some(os), _) => os,
        (None, _) => "Unknown".into(),
    };
    let device_type = match r.category {
        "pc" => "Desktop",
        "smartphone" => "Phone",
        "mobilephone" => "Mobile phone",
        "appliance" => "Appliance",
        "crawler" => "Crawler",
        _ => "Unknown",
    };
    UserAgent {
        browser,
        os,
        device_type: device_type.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn user_agents_are_parsed_into_browser_os_and_type() {
        let ua = parse(Some(
            "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
        ));
        assert_eq!(ua.browser, "Firefox 132");
        assert_eq!(ua.os, "Linux");
        assert_eq!(ua.device_type, "Desktop");
        let phone = parse(Some("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"));
        assert_eq!(phone.device_type, "Phone");
        assert!(phone.os.starts_with("iPhone"), "{}", phone.os);
        assert_eq!(parse(None).browser, "Unknown browser");
        assert!(parse(Some("curl/8.5.0")).browser.contains("curl"));
    }
}
