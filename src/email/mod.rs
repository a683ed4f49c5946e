//! (ssr) E-mail: templates, the durable outbox, transports and the delivery worker.

pub mod blocks;
pub mod guard;
pub mod outbox;
pub mod templates;
pub mod transport;
pub mod worker;

pub use outbox::{queue, queue_many};
pub use templates::MailKind;
