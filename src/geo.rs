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
