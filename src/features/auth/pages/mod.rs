mod account;
mod forgot_password;
mod reset_password;
mod reset_task;
mod sign_in;
mod sign_up;

pub use account::AccountPage;
pub use forgot_password::ForgotPasswordPage;
pub use reset_password::ResetPasswordPage;
pub use reset_task::ResetTaskPage;
pub use sign_in::SignInPage;
pub use sign_up::SignUpPage;
