//! Management API keys (*Admin console → API keys*, `keywarden api-key …`): created with a name,
//! scopes and an expiry, shown once, stored as a hash, revoked in one click. The API itself is at
//! the HTTP edge (`http::api`); it authenticates callers through [`service::authenticate`].

pub mod api;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod service;
pub mod types;
#[cfg(feature = "ssr")]
pub mod usage;

pub use api::*;
pub use types::{ApiKeyView, CreatedApiKey};
