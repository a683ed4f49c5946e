//! Approximate location of an IP address from a MaxMind-format database (GeoLite2 / GeoIP2
//! City, or DB-IP's compatible files). Optional: without a database every location is unknown.

use std::net::IpAddr;
use std::path::Path;

use anyhow::Context;
use maxminddb::{geoip2, MaxMindDBError, Reader};

/// Where a sign-in came from, as far as the database knows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    pub city: Option<String>,
    pub country: Option<String>,
    /// ISO 3166-1 alpha-2, used to notice sign-ins from a new country.
    pub country_code: Option<String>,
}

impl Location {
    /// "Lyon, France", "France", or `None` when nothing is known.
    pub fn label(&self) -> Option<String> {
        match (&self.city, &self.country) {
            (Some(city), Some(country)) => Some(format!("{city}, {country}")),
            (None, Some(country)) => Some(country.clone()),
            (Some(city), None) => Some(city.clone()),
            (None, None) => None,
        }
    }
}

#[derive(Default)]
pub struct GeoIp {
    reader: Option<Reader<Vec<u8>>>,
}

impl GeoIp {
    /// No database: every location is unknown.
    pub fn disabled() -> Self {
        Self::default()
    }

    /// Loads the database file into memory; a configured file that cannot be read is an error.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let reader = Reader::open_readfile(path)
            .with_context(|| format!("cannot read the GeoIP database {}", path.display()))?;
        Ok(Self {
            reader: Some(reader),
        })
    }

    pub fn from_bytes(bytes: Vec<u8>) -> anyhow::Result<Self> {
        let reader = Reader::from_source(bytes).context("not a MaxMind database")?;
        Ok(Self {
            reader: Some(reader),
        })
    }

    pub fn is_enabled(&self) -> bool {
        self.reader.is_some()
    }

    /// English names of the city and country; `None` without a database or for an address it
    /// does not cover (private ranges, loopback).
    pub fn locate(&self, ip: IpAddr) -> Option<Location> {
        let reader = self.reader.as_ref()?;
        let record: geoip2::City = match reader.lookup(ip) {
            Ok(r) => r,
            Err(MaxMindDBError::AddressNotFoundError(_)) => return None,
            Err(e) => {
                tracing::warn!(error = %e, "GeoIP lookup failed");
                return None;
            }
        };
        let english = |names: Option<&std::collections::BTreeMap<&str, &str>>| {
            names.and_then(|n| n.get("en")).map(|s| (*s).to_owned())
        };
        let location = Location {
            city: record.city.as_ref().and_then(|c| english(c.names.as_ref())),
            country: record
                .country
                .as_ref()
                .and_then(|c| english(c.names.as_ref())),
            country_code: record
                .country
                .as_ref()
                .and_then(|c| c.iso_code.map(str::to_owned)),
        };
        (location != Location::default()).then_some(location)
    }
}

/// A tiny MaxMind-format City database built in memory, for tests and demonstrations (the
/// format: maxmind.github.io/MaxMind-DB). IPv4 networks only; maps, strings and integers.
#[doc(hidden)]
pub mod fixture {
    use std::net::Ipv4Addr;

    enum V<'a> {
        Str(&'a str),
        Uint(u8, u64),
        Map(Vec<(&'a str, V<'a>)>),
        Array(Vec<V<'a>>),
    }

    fn control(out: &mut Vec<u8>, kind: u8, size: usize) {
        let size = u8::try_from(size)
            .ok()
            .filter(|s| *s < 29)
            .expect("short values only");
        if kind <= 7 {
            out.push((kind << 5) | size);
        } else {
            out.push(size);
            out.push(kind - 7);
        }
    }

    fn encode(out: &mut Vec<u8>, v: &V) {
        match v {
            V::Str(s) => {
                control(out, 2, s.len());
                out.extend_from_slice(s.as_bytes());
            }
            V::Uint(kind, n) => {
                let bytes = n.to_be_bytes();
                let skip = bytes.iter().take_while(|b| **b == 0).count();
                control(out, *kind, 8 - skip);
                out.extend_from_slice(&bytes[skip..]);
            }
            V::Map(pairs) => {
                control(out, 7, pairs.len());
                for (k, v) in pairs {
                    encode(out, &V::Str(k));
                    encode(out, v);
                }
            }
            V::Array(items) => {
                control(out, 11, items.len());
                for item in items {
                    encode(out, item);
                }
            }
        }
    }

    /// One entry: an IPv4 network ("203.0.113.0/24"), its city, country and ISO code.
    pub struct Place<'a> {
        pub network: &'a str,
        pub city: &'a str,
        pub country: &'a str,
        pub iso_code: &'a str,
    }

    pub fn city_database(places: &[Place]) -> Vec<u8> {
        const EMPTY: u32 = u32::MAX;
        enum Rec {
            Node(u32),
            Data(u32),
            Empty,
        }
        let mut nodes: Vec<[Rec; 2]> = vec![[Rec::Empty, Rec::Empty]];
        let mut data = Vec::new();
        for p in places {
            let (ip, prefix) = p.network.split_once('/').expect("CIDR network");
            let ip = u32::from(ip.parse::<Ipv4Addr>().expect("IPv4 network"));
            let prefix: usize = prefix.parse().expect("prefix length");
            let offset = u32::try_from(data.len()).unwrap_or(EMPTY);
            let record = V::Map(vec![
                (
                    "city",
                    V::Map(vec![("names", V::Map(vec![("en", V::Str(p.city))]))]),
                ),
                (
                    "country",
                    V::Map(vec![
                        ("iso_code", V::Str(p.iso_code)),
                        ("names", V::Map(vec![("en", V::Str(p.country))])),
                    ]),
                ),
            ]);
            encode(&mut data, &record);
            let mut node = 0usize;
            for depth in 0..prefix {
                let bit = ((ip >> (31 - depth)) & 1) as usize;
                if depth + 1 == prefix {
                    nodes[node][bit] = Rec::Data(offset);
                } else {
                    node = match nodes[node][bit] {
                        Rec::Node(n) => n as usize,
                        _ => {
                            nodes.push([Rec::Empty, Rec::Empty]);
                            let n = nodes.len() - 1;
                            nodes[node][bit] = Rec::Node(u32::try_from(n).unwrap_or(EMPTY));
                            n
                        }
                    };
                }
            }
        }
        let node_count = u32::try_from(nodes.len()).unwrap_or(EMPTY);
        let mut out = Vec::new();
        for pair in &nodes {
            for rec in pair {
                let value = match rec {
                    Rec::Node(n) => *n,
                    Rec::Data(offset) => node_count + 16 + offset,
                    Rec::Empty => node_count,
                };
                out.extend_from_slice(&value.to_be_bytes()[1..]);
            }
        }
        out.extend_from_slice(&[0; 16]);
        out.extend_from_slice(&data);
        out.extend_from_slice(b"\xAB\xCD\xEFMaxMind.com");
        let metadata = V::Map(vec![
            ("binary_format_major_version", V::Uint(5, 2)),
            ("binary_format_minor_version", V::Uint(5, 0)),
            ("build_epoch", V::Uint(9, 1_700_000_000)),
            ("database_type", V::Str("Keywarden-Fixture-City")),
            ("description", V::Map(vec![("en", V::Str("test fixture"))])),
            ("ip_version", V::Uint(5, 4)),
            ("languages", V::Array(vec![V::Str("en")])),
            ("node_count", V::Uint(6, u64::from(node_count))),
            ("record_size", V::Uint(5, 24)),
        ]);
        encode(&mut out, &metadata);
        out
    }

    /// Lyon, France (203.0.113.0/24), Berlin, Germany (198.51.100.0/24) and Toronto, Canada
    /// (192.0.2.0/24).
    pub fn sample() -> Vec<u8> {
        city_database(&[
            Place {
                network: "203.0.113.0/24",
                city: "Lyon",
                country: "France",
                iso_code: "FR",
            },
            Place {
                network: "198.51.100.0/24",
                city: "Berlin",
                country: "Germany",
                iso_code: "DE",
            },
            Place {
                network: "192.0.2.0/24",
                city: "Toronto",
                country: "Canada",
                iso_code: "CA",
            },
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_covered_address_gets_city_and_country() {
        let geo = GeoIp::from_bytes(fixture::sample()).unwrap();
        let here = geo.locate("203.0.113.9".parse().unwrap()).unwrap();
        assert_eq!(here.label().as_deref(), Some("Lyon, France"));
        assert_eq!(here.country_code.as_deref(), Some("FR"));
        let there = geo.locate("198.51.100.200".parse().unwrap()).unwrap();
        assert_eq!(there.label().as_deref(), Some("Berlin, Germany"));
    }

    #[test]
    fn an_uncovered_address_or_no_database_is_unknown() {
        let geo = GeoIp::from_bytes(fixture::sample()).unwrap();
        assert_eq!(geo.locate("192.0.3.1".parse().unwrap()), None);
        assert_eq!(geo.locate("127.0.0.1".parse().unwrap()), None);
        assert_eq!(
            GeoIp::disabled().locate("203.0.113.9".parse().unwrap()),
            None
        );
        assert!(GeoIp::from_bytes(b"not a database".to_vec()).is_err());
    }
}
