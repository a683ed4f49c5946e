//! (ssr) Runtime services shared by every feature, below them all: the clock, the password
//! hasher, the security snapshot and the containment rules, rate limits, tokens, the user-agent
//! parser, the audit chain, the unit of work, supervision, the application state and what a
//! server function may ask of its request. Nothing here imports a feature.

pub mod api_usage;
pub mod applications;
pub mod audit;
pub mod checkpoint;
pub mod clock;
pub mod hasher;
pub mod limiter;
pub mod propagation;
pub mod request;
pub mod security;
pub mod server_key;
pub mod session_cache;
pub mod state;
pub mod supervise;
pub mod throttle;
pub mod token;
pub mod uow;
pub mod user_agent;

pub use state::AppState;
pub use uow::AuditedTx;
