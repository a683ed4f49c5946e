//! Accounts: sign-up, sign-in, sign-out and the account page.

mod api;
#[cfg(feature = "ssr")]
mod hasher;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod reset;
mod reset_api;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod task;
mod task_api;

pub use api::*;
#[cfg(feature = "ssr")]
pub use hasher::PasswordHasher;
pub use reset_api::*;
pub use task_api::*;
