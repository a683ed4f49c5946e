//! Devices: the user's own list of sessions (with "This device", sign-out of one, the others or
//! all, and recently ended sessions with their reason), device recognition at sign-in, and the
//! new-device alert with its single-use "This wasn't me" link.

mod api;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod service;

pub use api::*;

/// Where "This wasn't me" links point unless an administrator chose another path.
pub const DEFAULT_ALERT_PATH: &str = "/unauthorized-sign-in";
