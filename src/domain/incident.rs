//! Incidents: their severity and state, the reference users are told, and the criteria that pick
//! an affected cohort. Parsed here so the console, the command line and the server agree.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 4] = [
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Severity::Low => "Low",
            Severity::Medium => "Medium",
            Severity::High => "High",
            Severity::Critical => "Critical",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s.trim())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IncidentState {
    Open,
    Contained,
    Closed,
}

impl IncidentState {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentState::Open => "open",
            IncidentState::Contained => "contained",
            IncidentState::Closed => "closed",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            IncidentState::Open => "Open",
            IncidentState::Contained => "Contained",
            IncidentState::Closed => "Closed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(IncidentState::Open),
            "contained" => Some(IncidentState::Contained),
            "closed" => Some(IncidentState::Closed),
            _ => None,
        }
    }
}

/// The reference users are told: `KW-<year>-<id, four digits at least>`.
pub fn incident_reference(year: i32, id: i64) -> String {
    format!("KW-{year}-{id:04}")
}

/// The incident id a reference (or a bare number) names.
pub fn parse_incident_reference(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(id) = s.parse::<i64>() {
        return (id > 0).then_some(id);
    }
    let upper = s.to_ascii_uppercase();
    let mut parts = upper.strip_prefix("KW-")?.splitn(2, '-');
    let year = parts.next()?;
    let id = parts.next()?;
    if year.len() != 4 || !year.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    id.parse::<i64>().ok().filter(|id| *id > 0)
}

/// What a cohort's job does to every member, containment first, then the notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CohortActions {
    /// Set the current password as compromised (live sessions restricted to the reset task).
    pub compromise: bool,
    /// End every session (with `compromise`: compromise and sign out; alone: force
    /// re-authentication without a reset).
    pub sign_out: bool,
    /// Queue the incident notice.
    pub notify: bool,
}

impl CohortActions {
    pub fn any(&self) -> bool {
        self.compromise || self.sign_out || self.notify
    }

    /// Words for pages and the command line.
    pub fn describe(&self) -> String {
        let mut out = Vec::new();
        match (self.compromise, self.sign_out) {
            (true, true) => out.push("set passwords compromised and sign out"),
            (true, false) => out.push("set passwords compromised"),
            (false, true) => out.push("force re-authentication (sign out)"),
            (false, false) => {}
        }
        if self.notify {
            out.push("send the incident notice");
        }
        out.join(", then ")
    }
}

/// The temporary tightening an incident applies while it is not closed. Every node applies the
/// strictest over the incidents not closed; closing one reverts its switches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tightening {
    /// A shorter session idle timeout, in minutes (live sessions included).
    pub idle_minutes: Option<i64>,
    /// A shorter absolute session lifetime, in hours (live sessions included).
    pub lifetime_hours: Option<i64>,
    /// New-device alerts on, whatever the setting.
    pub force_alerts: bool,
    /// Self-service sign-up refused.
    pub pause_sign_up: bool,
    /// Forgot-password: one link per account per hour and 3 requests per address per hour.
    pub strict_forgot: bool,
}

impl Tightening {
    pub fn any(&self) -> bool {
        self.idle_minutes.is_some()
            || self.lifetime_hours.is_some()
            || self.force_alerts
            || self.pause_sign_up
            || self.strict_forgot
    }

    /// Refuses values outside what the Security page accepts, naming the field.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if let Some(m) = self.idle_minutes {
            if !(5..=7 * 24 * 60).contains(&m) {
                return Err((
                    "tight_idle_minutes",
                    "Choose an idle timeout between 5 minutes and 7 days.".into(),
                ));
            }
        }
        if let Some(h) = self.lifetime_hours {
            if !(1..=24 * 90).contains(&h) {
                return Err((
                    "tight_lifetime_hours",
                    "Choose a lifetime between 1 hour and 90 days.".into(),
                ));
            }
        }
        Ok(())
    }

    /// Each switch in words, for pages, the command line and the audit summary.
    pub fn describe(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(m) = self.idle_minutes {
            out.push(format!("session idle timeout at most {m} min"));
        }
        if let Some(h) = self.lifetime_hours {
            out.push(format!("session lifetime at most {h} h"));
        }
        if self.force_alerts {
            out.push("new-device alerts forced on".to_owned());
        }
        if self.pause_sign_up {
            out.push("self-service sign-up paused".to_owned());
        }
        if self.strict_forgot {
            out.push("forgot-password throttled harder".to_owned());
        }
        out
    }
}

/// Which users a cohort takes: every criterion given must hold (AND). Times are Unix ms,
/// windows are `[from, to)`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CohortCriteria {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_before: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_after: Option<i64>,
    /// Signed in (a session started) within this window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_in: Option<Window>,
    /// Signed in from a device first seen within this window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_device: Option<Window>,
    /// Signed in from an address in this range (CIDR) within `signed_in` (or ever, without it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_range: Option<String>,
    /// Signed in from this country (ISO 3166-1 alpha-2, from the GeoIP database) within
    /// `signed_in` (or ever, without it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Password set or reset within this window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_set: Option<Window>,
    /// Only these addresses (a pasted list or a CSV's first column).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emails: Vec<String>,
    /// Only these users (the management API's lists of ids; with `emails`, either list names a
    /// member).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user_ids: Vec<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub from: i64,
    pub to: i64,
}

/// At most this many addresses in one list.
pub const MAX_COHORT_EMAILS: usize = 100_000;

impl CohortCriteria {
    /// Refuses criteria that cannot mean what the administrator wants, naming the field.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if let Some(role) = &self.role {
            if crate::domain::Role::parse(role).is_none() {
                return Err(("role", format!("Unknown role \"{role}\".")));
            }
        }
        if let (Some(before), Some(after)) = (self.created_before, self.created_after) {
            if after >= before {
                return Err((
                    "created_after",
                    "\"Created after\" must be earlier than \"created before\".".into(),
                ));
            }
        }
        for (field, window) in [
            ("signed_in", self.signed_in),
            ("new_device", self.new_device),
            ("password_set", self.password_set),
        ] {
            if let Some(w) = window {
                if w.from >= w.to {
                    return Err((field, "The window must end after it starts.".into()));
                }
            }
        }
        if let Some(range) = &self.ip_range {
            if parse_cidr(range).is_none() {
                return Err((
                    "ip_range",
                    format!("\"{range}\" is not an address range such as 203.0.113.0/24."),
                ));
            }
        }
        if let Some(code) = &self.country {
            if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err((
                    "country",
                    format!("\"{code}\" is not a two-letter country code such as FR."),
                ));
            }
        }
        if self.emails.len() > MAX_COHORT_EMAILS {
            return Err((
                "emails",
                format!("At most {MAX_COHORT_EMAILS} addresses in one list."),
            ));
        }
        if self.user_ids.len() > MAX_COHORT_EMAILS {
            return Err((
                "ids",
                format!("At most {MAX_COHORT_EMAILS} ids in one list."),
            ));
        }
        if *self == CohortCriteria::default() {
            return Err((
                "criteria",
                "Choose at least one criterion (the whole instance has its own action on the Security page)."
                    .into(),
            ));
        }
        Ok(())
    }
}

/// An address range `addr/prefix` (or one address): the network's address and prefix length.
pub fn parse_cidr(s: &str) -> Option<(std::net::IpAddr, u8)> {
    let s = s.trim();
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let addr: std::net::IpAddr = addr.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max)?,
        None => max,
    };
    Some((addr, prefix))
}

/// Whether `ip` lies in the range `addr/prefix`.
pub fn cidr_contains((net, prefix): (std::net::IpAddr, u8), ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

/// The addresses in pasted text or a CSV: the first column of each line, blank lines and a
/// header line ("email") skipped, duplicates kept once, in order.
pub fn emails_from_text(text: &str) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let first = line
            .split([',', ';', '\t'])
            .next()
            .unwrap_or("")
            .trim()
            .trim_matches('"')
            .trim();
        if first.is_empty() || first.eq_ignore_ascii_case("email") {
            continue;
        }
        for word in first.split_whitespace() {
            let lowered = word.to_lowercase();
            if seen.insert(lowered) {
                out.push(word.to_owned());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_round_trip_and_bare_numbers_are_accepted() {
        assert_eq!(incident_reference(2026, 7), "KW-2026-0007");
        assert_eq!(incident_reference(2026, 12345), "KW-2026-12345");
        assert_eq!(parse_incident_reference("KW-2026-0007"), Some(7));
        assert_eq!(parse_incident_reference("kw-2026-12345"), Some(12345));
        assert_eq!(parse_incident_reference("12"), Some(12));
        assert_eq!(parse_incident_reference("KW-26-1"), None);
        assert_eq!(parse_incident_reference("KW-2026-0"), None);
        assert_eq!(parse_incident_reference("nope"), None);
    }

    #[test]
    fn criteria_are_checked_field_by_field() {
        assert_eq!(CohortCriteria::default().check().unwrap_err().0, "criteria");
        let bad_role = CohortCriteria {
            role: Some("root".into()),
            ..Default::default()
        };
        assert_eq!(bad_role.check().unwrap_err().0, "role");
        let bad_window = CohortCriteria {
            signed_in: Some(Window { from: 5, to: 5 }),
            ..Default::default()
        };
        assert_eq!(bad_window.check().unwrap_err().0, "signed_in");
        let bad_range = CohortCriteria {
            ip_range: Some("10.0.0.0/33".into()),
            ..Default::default()
        };
        assert_eq!(bad_range.check().unwrap_err().0, "ip_range");
        let fine = CohortCriteria {
            ip_range: Some("203.0.113.0/24".into()),
            ..Default::default()
        };
        assert!(fine.check().is_ok());
    }

    #[test]
    fn address_ranges_match_their_members_only() {
        let net = parse_cidr("203.0.113.0/24").unwrap();
        assert!(cidr_contains(net, "203.0.113.77".parse().unwrap()));
        assert!(!cidr_contains(net, "203.0.114.1".parse().unwrap()));
        assert!(!cidr_contains(net, "::1".parse().unwrap()));
        let all = parse_cidr("0.0.0.0/0").unwrap();
        assert!(cidr_contains(all, "8.8.8.8".parse().unwrap()));
        let one = parse_cidr("2001:db8::1").unwrap();
        assert!(cidr_contains(one, "2001:db8::1".parse().unwrap()));
        assert!(!cidr_contains(one, "2001:db8::2".parse().unwrap()));
        assert!(parse_cidr("10.0.0.0/33").is_none());
    }

    #[test]
    fn a_pasted_list_or_csv_gives_each_address_once() {
        let text = "email,name\nada@example.org,Ada\n\n\"bob@example.org\";x\nADA@example.org\ncy@example.org dee@example.org\n";
        assert_eq!(
            emails_from_text(text),
            vec![
                "ada@example.org",
                "bob@example.org",
                "cy@example.org",
                "dee@example.org"
            ]
        );
    }
}
