//! Logging: human-readable by default, JSON lines with `KEYWARDEN_LOG_FORMAT=json`.
//! The level comes from `RUST_LOG` (default `info`). The session library's WARN for a cookie
//! whose session is gone is silenced: an ended session is expected, and our store logs it at
//! DEBUG with the reason.

use tracing_subscriber::{fmt, EnvFilter};

use crate::config::LogFormat;

pub const DEFAULT_FILTER: &str = "info,sqlx=warn,tower_sessions=warn,tower_sessions_core=error";

pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // A second init (tests start several apps) is harmless and ignored.
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
}

/// The span of one HTTP request (`TraceLayer`), with the values of the query string redacted:
/// reset and alert links carry their token there (`?token=REDACTED`).
pub fn request_span<B>(request: &http::Request<B>) -> tracing::Span {
    tracing::debug_span!(
        "request",
        method = %request.method(),
        uri = %redacted_uri(request.uri()),
        version = ?request.version(),
    )
}

/// The path and query of `uri` with every query value replaced by `REDACTED`.
pub fn redacted_uri(uri: &http::Uri) -> String {
    let path = uri.path();
    match uri.query() {
        None => path.to_owned(),
        Some(query) => {
            let redacted: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((name, _)) => format!("{name}=REDACTED"),
                    None => pair.to_owned(),
                })
                .collect();
            format!("{path}?{}", redacted.join("&"))
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn query_values_are_redacted() {
        let uri: http::Uri = "/reset-password?token=abc123&x=1&flag".parse().unwrap();
        assert_eq!(
            super::redacted_uri(&uri),
            "/reset-password?token=REDACTED&x=REDACTED&flag"
        );
        let plain: http::Uri = "/account".parse().unwrap();
        assert_eq!(super::redacted_uri(&plain), "/account");
    }
}
