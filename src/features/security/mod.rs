//! Compromise response: watermarks, instance security settings and incident actions.

mod api;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod service;
mod types;

pub use api::*;
pub use types::*;
