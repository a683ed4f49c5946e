//! (ssr) The HTTP edge: request guards, health endpoints and the helpers server functions use.

pub mod api;
pub mod assets;
pub mod client;
pub mod csrf;
pub mod forward_auth;
pub mod gate;
pub mod headers;
pub mod health;
pub mod throttle;
