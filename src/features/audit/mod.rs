//! The audit trail: every security event and admin action, chained by hash.

mod api;
#[cfg(feature = "ssr")]
pub mod checkpoint;
#[cfg(feature = "ssr")]
pub mod export;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod query;
mod types;

pub use api::*;
pub use types::*;
