//! Shared components: layout, form fields, notices.

mod admin;
pub mod chart;
mod dialog;
mod form;
pub mod format;
mod step_up;
mod viewer;

pub use admin::AdminOnly;
pub use dialog::ConfirmDialog;
pub use form::{Field, FormError, Notice};
pub use step_up::{field_error, StepUp};
pub use viewer::{provide_viewer, use_viewer, whoami, CurrentViewer, ErrorPage, NotFound};
