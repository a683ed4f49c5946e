//! The one user-agent parser (woothee): browser, OS and device type for device lists, alert
//! mails and the audit trail, in the words a person would use ("Chrome 131 on Windows"), not the
//! tokens of the header ("Windows 10 NT 10.0").

/// Browser, OS and device type from a user agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserAgent {
    /// "Firefox 132", "Safari 17", "curl".
    pub browser: String,
    /// "Windows 10/11", "macOS", "Android 14", "iOS 17.1": as precise as the header allows.
    pub os: String,
    pub device_type: String,
    /// "Windows", "macOS", "iPhone": the short name for a summary; `None` when unknown.
    pub platform: Option<String>,
}

impl UserAgent {
    /// "Firefox 132 on Linux", short enough for a table cell.
    pub fn summary(&self) -> String {
        match &self.platform {
            Some(platform) => format!("{} on {platform}", self.browser),
            None => self.browser.clone(),
        }
    }
}

const UNKNOWN_BROWSER: &str = "Unknown browser";

pub fn parse(user_agent: Option<&str>) -> UserAgent {
    let unknown = || UserAgent {
        browser: UNKNOWN_BROWSER.into(),
        os: "Unknown".into(),
        device_type: "Unknown".into(),
        platform: None,
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
    let browser = match known(r.name).map(|n| browser_name(&n)) {
        // Woothee puts a library's name ("curl") where the version goes.
        Some(name) if name == "HTTP Library" => known(r.version).unwrap_or(name),
        Some(name) if !major.is_empty() && major != "UNKNOWN" => format!("{name} {major}"),
        Some(name) => name,
        None => UNKNOWN_BROWSER.into(),
    };
    let (os, platform) = match known(r.os) {
        Some(os) => {
            let (os, platform) = os_words(&os, known(&r.os_version).as_deref());
            (os, Some(platform))
        }
        None => ("Unknown".into(), None),
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
        platform,
    }
}

/// Woothee's names that nobody says.
fn browser_name(name: &str) -> String {
    match name {
        "SamsungBrowser" => "Samsung Internet",
        "Webview" => "In-app browser",
        other => other,
    }
    .to_owned()
}

/// (the OS as precisely as the header tells it, the short platform name) from woothee's OS and
/// version. Browsers freeze some versions, so those are left out rather than shown wrong: every
/// Windows 10 and 11 says "NT 10.0", every Mac says "10.15.7".
fn os_words(os: &str, version: Option<&str>) -> (String, String) {
    let versioned = |name: &str| match version {
        Some(v) => format!("{name} {v}"),
        None => name.to_owned(),
    };
    match os {
        "Windows 10" => ("Windows 10/11".into(), "Windows".into()),
        "Windows UNKNOWN Ver" => ("Windows".into(), "Windows".into()),
        "Windows Phone OS" => (versioned("Windows Phone"), "Windows Phone".into()),
        w if w.starts_with("Windows ") => (w.to_owned(), "Windows".into()),
        "Mac OSX" => ("macOS".into(), "macOS".into()),
        "Mac OS Classic" => ("Mac OS".into(), "Mac OS".into()),
        "Android" => (versioned("Android"), "Android".into()),
        "iPhone" | "iPod" | "iOS" => (
            versioned("iOS"),
            if os == "iOS" { "iOS" } else { os }.into(),
        ),
        "iPad" => (versioned("iPadOS"), "iPad".into()),
        other => {
            // Linux, ChromeOS, BSD and the rest: the version, when known, is not one people
            // quote, and it may already be part of the name.
            (other.to_owned(), other.to_owned())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    fn summary(ua: &str) -> String {
        parse(Some(ua)).summary()
    }

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
        assert!(phone.os.starts_with("iOS 17"), "{}", phone.os);
        assert_eq!(parse(None).browser, "Unknown browser");
        assert!(parse(Some("curl/8.5.0")).browser.contains("curl"));
    }

    #[test]
    fn windows_reads_as_people_say_it_not_as_nt_versions() {
        let ua = parse(Some("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"));
        assert_eq!(ua.os, "Windows 10/11");
        assert_eq!(ua.summary(), "Chrome 131 on Windows");
        assert_eq!(
            summary(
                "Mozilla/5.0 (Windows NT 6.1; Win64; x64; rv:115.0) Gecko/20100101 Firefox/115.0"
            ),
            "Firefox 115 on Windows"
        );
        assert_eq!(
            parse(Some(
                "Mozilla/5.0 (Windows NT 6.1; Win64; x64; rv:115.0) Gecko/20100101 Firefox/115.0"
            ))
            .os,
            "Windows 7"
        );
        assert_eq!(
            summary("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0"),
            "Edge 131 on Windows"
        );
    }

    #[test]
    fn desktop_summaries_name_the_browser_and_the_platform() {
        assert_eq!(
            summary("Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"),
            "Firefox 132 on Linux"
        );
        assert_eq!(
            summary("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.6778.33 Safari/537.36"),
            "Chrome 131 on Linux"
        );
        let mac = parse(Some("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15"));
        assert_eq!(mac.os, "macOS", "the frozen 10.15.7 is not shown");
        assert_eq!(mac.summary(), "Safari 17 on macOS");
        assert_eq!(
            summary("Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"),
            "Chrome 131 on ChromeOS"
        );
    }

    #[test]
    fn mobile_summaries_name_the_phone_platform() {
        let android = parse(Some("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36"));
        assert_eq!(android.summary(), "Chrome 131 on Android");
        assert_eq!(android.os, "Android 14");
        assert_eq!(android.device_type, "Phone");
        assert_eq!(
            summary("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"),
            "Safari 17 on iPhone"
        );
        let ipad = parse(Some("Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"));
        assert_eq!(ipad.summary(), "Safari 17 on iPad");
        assert!(ipad.os.starts_with("iPadOS"), "{}", ipad.os);
        assert_eq!(
            summary("Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36"),
            "Samsung Internet 25 on Android"
        );
    }

    #[test]
    fn tools_and_missing_agents_have_no_platform_to_name() {
        assert_eq!(summary("curl/8.5.0"), "curl");
        assert_eq!(parse(None).summary(), "Unknown browser");
        assert_eq!(parse(Some("  ")).summary(), "Unknown browser");
    }
}
