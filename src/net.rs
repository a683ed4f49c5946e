//! The client's IP address. Behind a reverse proxy the TCP peer is the proxy; `X-Forwarded-For`
//! is believed only when that peer is listed as trusted, and then only up to the first address
//! that is not itself a trusted proxy (anything left of it may be forged by the client).

use std::net::IpAddr;

use ipnet::IpNet;

/// Parses "10.0.0.0/8" or a single address ("192.0.2.1" is taken as /32, "::1" as /128).
pub fn parse_net(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    if let Ok(net) = s.parse::<IpNet>() {
        return Ok(net.trunc());
    }
    s.parse::<IpAddr>()
        .map(IpNet::from)
        .map_err(|_| format!("{s:?} is not an IP address or CIDR network"))
}

/// The client address of a request that came from `peer` with these `X-Forwarded-For` values.
pub fn client_ip<'a>(
    peer: IpAddr,
    forwarded_for: impl IntoIterator<Item = &'a str>,
    trusted: &[IpNet],
) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<&str> = forwarded_for
        .into_iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    // Right to left: each trusted hop vouches for the address before it.
    for hop in hops.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !is_trusted(&ip) {
                    break;
                }
            }
            // Garbage in the header: stop at the last address we could trust.
            Err(_) => break,
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_cannot_forge_its_address() {
        let trusted = [parse_net("10.0.0.0/8").unwrap()];
        assert_eq!(
            client_ip(ip("203.0.113.9"), ["198.51.100.1"], &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_ip(ip("127.0.0.1"), ["198.51.100.1"], &[]),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn a_trusted_proxy_chain_yields_the_first_untrusted_hop() {
        let trusted = [
            parse_net("10.0.0.0/8").unwrap(),
            parse_net("127.0.0.1").unwrap(),
        ];
        // The client put a fake address first; the proxies appended what they saw.
        assert_eq!(
            client_ip(
                ip("127.0.0.1"),
                ["6.6.6.6, 198.51.100.7", "10.1.2.3"],
                &trusted
            ),
            ip("198.51.100.7")
        );
        assert_eq!(client_ip(ip("10.0.0.1"), [], &trusted), ip("10.0.0.1"));
        assert_eq!(
            client_ip(ip("10.0.0.1"), ["not-an-ip"], &trusted),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn networks_parse_with_or_without_a_prefix() {
        assert!(parse_net("192.0.2.1").unwrap().contains(&ip("192.0.2.1")));
        assert!(parse_net("2001:db8::/32")
            .unwrap()
            .contains(&ip("2001:db8::1")));
        assert!(parse_net("10.0.0.0/33").is_err());
        assert!(parse_net("proxy").is_err());
    }
}

/// Whether a browser request comes from a page of this site, whose one origin is `base_url`.
/// `Sec-Fetch-Site` decides when present ("none" is a typed URL or a bookmark); otherwise
/// `Origin`, then `Referer`, must name exactly that origin. The `Host` header is the client's to
/// choose, so it is never trusted for this. No header at all is not same-origin.
pub fn is_same_origin(headers: &http::HeaderMap, base_url: &url::Url) -> bool {
    let text = |name: &http::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return site == "same-origin" || site == "none";
    }
    let base = base_url.origin().ascii_serialization();
    if let Some(origin) = text(&http::header::ORIGIN) {
        return origin != "null" && origin.trim_end_matches('/') == base;
    }
    if let Some(referer) = text(&http::header::REFERER) {
        return url::Url::parse(referer).is_ok_and(|u| u.origin().ascii_serialization() == base);
    }
    false
}
