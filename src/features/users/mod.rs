//! Admin users: the searchable list, the details page and per-user containment actions.

mod api;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod service;
mod types;

pub use api::*;
pub use types::*;
