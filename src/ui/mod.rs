//! Shared components: layout, form fields, notices.

mod admin;
mod form;
pub mod format;
mod layout;

pub use admin::AdminOnly;
pub use form::{Field, FormError, Notice};
pub use layout::{provide_viewer, use_viewer, CurrentViewer, ErrorPage, NotFound, SiteHeader};
