//! Applications behind a reverse proxy that ask Keywarden whether a request may pass
//! (forward-auth): the admin page and its rules. The forward-auth endpoints live at the HTTP edge
//! (`http::forward_auth`); the in-memory directory they match hosts against is
//! `runtime::applications`.

pub mod api;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod service;
pub mod types;

pub use api::*;
pub use types::ApplicationView;
