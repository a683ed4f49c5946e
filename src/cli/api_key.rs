//! `keywarden api-key create|list|revoke`: management API keys for automation and first set-up
//! (the same as Admin console → API keys; recorded with actor CLI).

use std::sync::Arc;

use clap::Subcommand;

use crate::config::Config;
use crate::domain::{parse_lifetime, time, Actor, RequestMeta};
use crate::error::AppError;
use crate::features::api_keys::service::{self, NewKey};
use crate::runtime::clock::SystemClock;
use crate::runtime::AppState;

#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Create a key and print it once on standard output (the details go to standard error).
    Create {
        #[arg(long)]
        name: String,
        /// Comma-separated: users:read, users:write, sessions:read, sessions:write,
        /// incident:read, incident:write, audit:read, settings:read, settings:write, outbox:read.
        #[arg(long)]
        scopes: String,
        /// How long it lives: 30d, 12h, 90m (at most 366 days).
        #[arg(long, value_name = "DURATION")]
        expires_in: String,
    },
    /// List every key (never their secrets).
    List,
    /// Revoke the key of this name (or id) at once.
    Revoke { name: String },
}

pub async fn run(config: Config, cmd: ApiKeyCommand) -> anyhow::Result<()> {
    // Checked before anything is opened: a typo costs nothing.
    let lifetime = match &cmd {
        ApiKeyCommand::Create { expires_in, .. } => {
            Some(parse_lifetime(expires_in).map_err(|m| anyhow::anyhow!("expires-in: {m}"))?)
        }
        _ => None,
    };
    let state = AppState::build(config, Arc::new(SystemClock)).await?;
    let op = Actor::cli(&super::os_user());
    let meta = RequestMeta::default();
    let result = match cmd {
        ApiKeyCommand::Create { name, scopes, .. } => {
            let new = NewKey {
                name: &name,
                scopes: &scopes,
                lifetime_ms: lifetime.unwrap_or_default(),
            };
            service::create(&state, &op, &new, &meta).await.map(|k| {
                eprintln!(
                    "Created API key \"{}\" ({}), expires {}. It is shown once: store it now.",
                    k.key.name,
                    k.key.scopes.join(","),
                    time::utc_seconds(k.key.expires_at)
                );
                k.secret
            })
        }
        ApiKeyCommand::List => service::list(&state).await.map(|keys| {
            keys.iter()
                .map(|k| {
                    format!(
                        "{}\t{}\t{}\t{}\texpires {}\tlast used {}",
                        k.name,
                        k.hint,
                        k.status,
                        k.scopes.join(","),
                        time::utc_seconds(k.expires_at),
                        k.last_used_at
                            .map(time::utc_seconds)
                            .unwrap_or_else(|| "never".into())
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        }),
        ApiKeyCommand::Revoke { name } => service::revoke(&state, &op, &name, &meta)
            .await
            .map(|k| format!("API key \"{}\" revoked.", k.name)),
    };
    state.store.close().await;
    match result {
        Ok(out) => {
            if !out.is_empty() {
                println!("{out}");
            }
            Ok(())
        }
        Err(AppError::Field { field, message }) => anyhow::bail!("{field}: {message}"),
        Err(e) => anyhow::bail!("{e}"),
    }
}
