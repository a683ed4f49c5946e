//! Devices: the user's own list of sessions (with "This device", sign-out of one, the others or
//! all, and recently ended sessions with their reason), device recognition at sign-in, and the
//! new-device alert with its single-use "This wasn't me" link.

#[cfg(feature = "ssr")]
pub mod alerts;
mod api;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod service;
mod types;

pub use api::*;
pub use types::*;
