//! The one application error. It crosses the wire from server functions to pages, so pages match
//! variants instead of strings. Internal causes are logged on the server and never sent.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

pub type Result<T, E = AppError> = std::result::Result<T, E>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    /// Input that failed validation, shown next to the named form field.
    #[error("{message}")]
    Field { field: String, message: String },
    /// The same answer for an unknown e-mail and a wrong password.
    #[error("Incorrect email or password.")]
    InvalidCredentials,
    #[error("Please sign in to continue.")]
    Unauthenticated,
    #[error("You do not have permission to do this.")]
    Forbidden,
    #[error("Too many attempts. Please wait a moment and try again.")]
    RateLimited,
    /// Too many attempts (sign-in failures for this account, or requests from this address):
    /// refused without checking anything, until the wait is over.
    #[error("Too many attempts. Try again in {}.", wait_phrase(*.retry_after_secs))]
    Throttled { retry_after_secs: u64 },
    /// Too many password checks queued on the server right now.
    #[error("Too many sign-ins right now; try again in {}.", wait_phrase(*.retry_after_secs))]
    Busy { retry_after_secs: u64 },
    /// A restricted session asked for anything but the reset-password task.
    #[error("Password reset required. Finish resetting your password to continue.")]
    PasswordResetRequired,
    /// The password is compromised and the reset-password task is switched off.
    #[error("Your password was set as compromised and can no longer be used. Use \"Forgot your password?\" to choose a new one.")]
    PasswordCompromised,
    /// Self-service sign-up is paused while an incident is handled (its temporary tightening).
    #[error("New accounts cannot be created right now while a security incident is handled. Please try again later.")]
    SignUpPaused,
    #[error("Something went wrong on our side. Please try again.")]
    Internal,
    /// Transport or encoding failures raised by the server-function framework itself.
    #[error("The request could not be completed: {0}")]
    Request(String),
}

impl AppError {
    pub fn field(field: &str, message: impl ToString) -> Self {
        Self::Field {
            field: field.to_owned(),
            message: message.to_string(),
        }
    }

    /// The message for one form field, if this error is about it.
    pub fn for_field(&self, name: &str) -> Option<String> {
        match self {
            Self::Field { field, message } if field == name => Some(message.clone()),
            _ => None,
        }
    }

    /// A message for the form as a whole (everything that is not a field error).
    pub fn form_message(&self) -> Option<String> {
        match self {
            Self::Field { .. } => None,
            other => Some(other.to_string()),
        }
    }

    /// How long the client should wait before trying again (the `Retry-After` header).
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::Throttled { retry_after_secs } | Self::Busy { retry_after_secs } => {
                Some((*retry_after_secs).max(1))
            }
            _ => None,
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            Self::Field { .. } => 422,
            Self::InvalidCredentials | Self::Unauthenticated => 401,
            Self::Forbidden | Self::PasswordResetRequired | Self::PasswordCompromised => 403,
            Self::RateLimited | Self::Throttled { .. } => 429,
            Self::Busy { .. } | Self::SignUpPaused => 503,
            Self::Internal => 500,
            Self::Request(_) => 400,
        }
    }
}

/// "1 second", "40 seconds", "3 minutes" (rounded up), for messages that say how long to wait.
pub fn wait_phrase(secs: u64) -> String {
    match secs {
        0 | 1 => "1 second".to_owned(),
        2..=90 => format!("{secs} seconds"),
        _ => format!("{} minutes", secs.div_ceil(60)),
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        Self::Request(value.to_string())
    }

    /// In the browser, an answer that says this session has ended (or may only do the reset
    /// task) also takes the user where they can go on, whichever page or action asked.
    #[cfg(feature = "hydrate")]
    fn de(data: leptos::server_fn::Bytes) -> Self {
        use leptos::server_fn::error::IntoAppError;
        use leptos::server_fn::Decodes;
        let error = <JsonEncoding as Decodes<Self>>::decode(data)
            .unwrap_or_else(|e| ServerFnErrorErr::Deserialization(e.to_string()).into_app_error());
        leave_if_locked_out(&error);
        error
    }
}

#[cfg(feature = "hydrate")]
pub use browser::leave_if_locked_out;

#[cfg(feature = "hydrate")]
mod browser {
    use super::AppError;
    use crate::domain::sign_in_url;

    /// An ended session goes to sign-in (and back here afterwards), a restricted one to the reset
    /// task; a full page load, so everything on the page is read again as the new visitor.
    pub fn leave_if_locked_out(error: &AppError) {
        let location = leptos::prelude::window().location();
        let path = location.pathname().unwrap_or_default();
        let target = match error {
            AppError::Unauthenticated if path != "/sign-in" => {
                sign_in_url(&format!("{path}{}", location.search().unwrap_or_default()))
            }
            AppError::PasswordResetRequired if path != "/reset-task" => "/reset-task".to_owned(),
            _ => return,
        };
        let _ = location.replace(&target);
    }
}

#[cfg(feature = "ssr")]
mod server {
    use super::AppError;

    impl AppError {
        /// Logs the cause with its context chain and returns the generic error the client sees.
        pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
            let cause = cause.into();
            tracing::error!(error = format!("{cause:#}"), "internal error");
            Self::Internal
        }
    }

    impl From<anyhow::Error> for AppError {
        fn from(e: anyhow::Error) -> Self {
            Self::internal(e)
        }
    }

    impl From<sqlx::Error> for AppError {
        fn from(e: sqlx::Error) -> Self {
            Self::internal(e)
        }
    }

    impl From<tower_sessions::session::Error> for AppError {
        fn from(e: tower_sessions::session::Error) -> Self {
            Self::internal(anyhow::Error::new(e).context("session store"))
        }
    }
}
