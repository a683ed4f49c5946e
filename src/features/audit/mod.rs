//! The audit trail: every security event and admin action, chained by hash.

mod api;
#[cfg(feature = "ssr")]
pub mod export;
pub mod pages;
#[cfg(feature = "ssr")]
mod query;
#[cfg(feature = "ssr")]
mod service;

pub use api::*;

#[cfg(feature = "ssr")]
pub use service::{record, verify, Actor, Event, RequestMeta, Verification};
