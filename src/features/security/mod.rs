//! Compromise response: watermarks, instance security settings and incident actions.

mod api;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod watermarks;

pub use api::*;
