//! The admin console.

mod api;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod service;

pub use api::*;
