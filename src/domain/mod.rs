//! Isomorphic domain types: parsed once at the edge, trusted everywhere after.
//! They compile for wasm too, so a form shows the same message the server enforces.

mod email;
mod password;
mod role;

pub use email::{Email, EmailError};
pub use password::{NewPassword, PasswordError, PasswordPolicy, MAX_LENGTH, MIN_LENGTH_FLOOR};
pub use role::Role;
