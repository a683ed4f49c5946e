//! Delivery: SMTP through lettre, or .eml files in a folder when no SMTP server is configured.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use crate::config::{Config, SmtpTls};
use crate::storage::outbox::OutboxRow;

/// SMTP connections kept open to the relay: one per mail the worker has in flight.
pub const POOL_SIZE: u32 = 32;

#[async_trait]
pub trait MailTransport: Send + Sync + 'static {
    /// Delivers one mail; the error text is kept on the outbox row.
    async fn send(&self, mail: &OutboxRow) -> Result<(), String>;
    fn describe(&self) -> String;
}

fn build_message(from: &Mailbox, mail: &OutboxRow) -> Result<Message, String> {
    let to: Mailbox = mail
        .to_address
        .parse()
        .map_err(|e| format!("invalid recipient: {e}"))?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(mail.subject.clone())
        .multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .body(mail.text.clone()),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(mail.html.clone()),
                ),
        )
        .map_err(|e| format!("cannot build message: {e}"))
}

pub struct SmtpTransport {
    from: Mailbox,
    inner: AsyncSmtpTransport<Tokio1Executor>,
    label: String,
}

#[async_trait]
impl MailTransport for SmtpTransport {
    async fn send(&self, mail: &OutboxRow) -> Result<(), String> {
        let message = build_message(&self.from, mail)?;
        self.inner
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| format!("SMTP: {e}"))
    }

    fn describe(&self) -> String {
        self.label.clone()
    }
}

/// Writes each mail as `<dir>/<id>-<kind>.eml` and logs where, so a new installation without
/// SMTP still shows every mail.
pub struct DirTransport {
    from: Mailbox,
    dir: PathBuf,
}

#[async_trait]
impl MailTransport for DirTransport {
    async fn send(&self, mail: &OutboxRow) -> Result<(), String> {
        let message = build_message(&self.from, mail)?;
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(|e| format!("cannot create {}: {e}", self.dir.display()))?;
        let path = self.dir.join(format!("{:08}-{}.eml", mail.id, mail.kind));
        tokio::fs::write(&path, message.formatted())
            .await
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        // Never the subject or body: they may carry a link or a code.
        tracing::info!(id = mail.id, kind = %mail.kind, to = %mail.to_address, path = %path.display(), "mail written to file (no SMTP configured)");
        Ok(())
    }

    fn describe(&self) -> String {
        format!("files in {}", self.dir.display())
    }
}

/// The transport the configuration asks for.
pub fn from_config(config: &Config) -> anyhow::Result<Box<dyn MailTransport>> {
    let from: Mailbox = config
        .mail_from
        .parse()
        .context("mail_from is not a valid mailbox")?;
    let Some(smtp) = &config.smtp else {
        return Ok(Box::new(DirTransport {
            from,
            dir: config.mail_dir.clone(),
        }));
    };
    let builder = match smtp.tls {
        SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host),
        SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host)
            .context("SMTP STARTTLS setup")?,
        SmtpTls::Tls => {
            AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host).context("SMTP TLS setup")?
        }
    };
    let mut builder = builder
        .port(smtp.port)
        .timeout(Some(Duration::from_secs(15)))
        .pool_config(lettre::transport::smtp::PoolConfig::new().max_size(POOL_SIZE));
    if let (Some(user), Some(password)) = (&smtp.username, &smtp.password) {
        builder = builder.credentials(Credentials::new(
            user.clone(),
            password.expose_secret().to_owned(),
        ));
    }
    let label = format!("SMTP {}:{} ({:?})", smtp.host, smtp.port, smtp.tls);
    Ok(Box::new(SmtpTransport {
        from,
        inner: builder.build(),
        label,
    }))
}

/// A one-line description of the configured transport, for the admin page.
pub fn describe(config: &Config) -> String {
    match &config.smtp {
        None => format!(
            "No SMTP server configured: mails are written as .eml files to {}",
            config.mail_dir.display()
        ),
        Some(s) => format!(
            "SMTP {}:{} ({})",
            s.host,
            s.port,
            format!("{:?}", s.tls).to_lowercase()
        ),
    }
}
