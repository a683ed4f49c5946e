//! Sessions: the tower-sessions store backed by our own `sessions` table, and the data a signed-in
//! session carries.

mod store;

pub use store::{
    hash_session_id, new_session_key, DbSessionStore, ResetTask, SessionAuth, AUTH_KEY,
};
