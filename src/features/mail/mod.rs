//! Admin e-mail settings: product name and support e-mail, outbox state, template editing.

mod api;
#[cfg(feature = "ssr")]
mod diff;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod service;
mod types;

pub use api::*;
pub use types::*;
