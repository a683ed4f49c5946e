//! Accounts: sign-up, sign-in, sign-out, forgot password, the reset-password task and the
//! account page.

mod api;
pub mod pages;
#[cfg(feature = "ssr")]
mod password;
#[cfg(feature = "ssr")]
pub mod reset;
mod reset_api;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
mod session_start;
#[cfg(feature = "ssr")]
pub mod sign_in;
#[cfg(feature = "ssr")]
pub mod task;
mod task_api;
#[cfg(feature = "ssr")]
mod task_code;
mod types;

pub use api::*;
pub use reset_api::*;
pub use task_api::*;
pub use types::*;
