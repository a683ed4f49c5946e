//! (ssr) Sessions: the tower-sessions store over our own `sessions` table, the data a signed-in
//! session carries, the one validity rule, starting and resolving sessions, step-up, and the
//! sweeper. Every other feature reaches sessions through here.

mod data;
pub mod service;
pub mod step_up;
mod store;
pub mod sweeper;
pub mod validity;

pub use data::{hash_session_id, ResetTask, SessionAuth, AUTH_KEY};
pub use store::DbSessionStore;
