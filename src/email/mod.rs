//! (ssr) E-mail: templates, the durable outbox, transports and the delivery worker.

pub mod outbox;
pub mod templates;
pub mod transport;
pub mod worker;

pub use outbox::queue;
pub use templates::MailKind;
