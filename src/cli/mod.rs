//! The command line: serve (default), migrate, config, admin create.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use secrecy::SecretString;

use crate::config::Config;
use crate::domain::{time, Actor, RequestMeta, Role};
use crate::error::AppError;
use crate::features::auth::service;
use crate::runtime::audit::Verification;
use crate::runtime::clock::SystemClock;
use crate::runtime::AppState;
use crate::startup::{shutdown_signal, Application};
use crate::storage::{users, Store};

mod api_key;
mod incident;
use api_key::ApiKeyCommand;
use incident::IncidentCommand;

#[derive(Debug, Parser)]
#[command(
    name = "keywarden",
    version,
    about = "Keywarden: self-hosted identity built for the day credentials leak"
)]
struct Cli {
    /// A TOML configuration file (default: ./keywarden.toml when present). Environment variables
    /// KEYWARDEN_* override it.
    #[arg(long, global = true, env = "KEYWARDEN_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the web server (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Print the effective configuration, secrets redacted.
    Config,
    /// Manage administrators.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Work with the audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// The server key file (HMAC of short secrets, audit checkpoint signatures).
    #[command(subcommand)]
    SecretKey(SecretKeyCommand),
    /// Incident response, the same actions as the console (recorded with actor CLI).
    #[command(subcommand)]
    Incident(IncidentCommand),
    /// Applications behind forward-auth (the same as Admin console → Applications).
    #[command(subcommand)]
    App(AppCommand),
    /// Management API keys (the same as Admin console → API keys).
    #[command(subcommand)]
    ApiKey(ApiKeyCommand),
    /// Write a brotli and a gzip copy beside each of the site's files (wasm, script, stylesheet)
    /// that lacks an up to date one. `serve` does it at start; run it after a build to have it
    /// done once for several servers.
    CompressSite,
}

#[derive(Debug, Subcommand)]
enum AppCommand {
    /// Add an application: requests for HOST pass forward-auth for signed-in users of ROLES.
    Add {
        #[arg(long)]
        name: String,
        /// `app.example.com`, or `*.example.com` for every subdomain.
        #[arg(long)]
        host: String,
        /// Roles that may enter, comma-separated (admin, member).
        #[arg(long, default_value = "admin,member")]
        roles: String,
        /// Add it switched off.
        #[arg(long)]
        disabled: bool,
    },
    /// List the applications.
    List,
    /// Remove the application of HOST.
    Remove {
        #[arg(long)]
        host: String,
    },
}

#[derive(Debug, Subcommand)]
enum SecretKeyCommand {
    /// Write a new random key to FILE (mode 0600); never overwrites. Give every node the same
    /// file and set `secret_key_file` to it.
    Generate { file: PathBuf },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Walk the hash chain in one snapshot: prints the last entry and the head hash, or the
    /// first problem and exits non-zero.
    Verify {
        /// A checkpoint printed by `keywarden audit checkpoint` (or mailed, or written to
        /// `audit_checkpoint_dir`): its signature is checked, then that the trail still holds its
        /// entry with exactly its hash.
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<PathBuf>,
    },
    /// Print a signed checkpoint of the chain's head (last entry, its hash, the time, an ed25519
    /// signature by the server key) to standard output. Keep it outside the database.
    Checkpoint,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Create an administrator. The password is asked for on a terminal, or read as one line
    /// from standard input otherwise.
    Create {
        #[arg(long)]
        email: String,
    },
}

pub async fn run() -> ExitCode {
    let cli = Cli::parse();
    match execute(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn execute(cli: Cli) -> anyhow::Result<()> {
    // Needs no configuration: the key is written before there is one to point at it.
    if let Some(Command::SecretKey(SecretKeyCommand::Generate { file })) = &cli.command {
        crate::runtime::server_key::ServerKey::generate(file)?;
        println!("Wrote a new server key to {}.", file.display());
        return Ok(());
    }
    // Needs only the site's directory (`LEPTOS_SITE_ROOT`).
    if let Some(Command::CompressSite) = &cli.command {
        let root = PathBuf::from(crate::startup::leptos_options().site_root.as_ref());
        let done = crate::http::assets::precompress(&root)?;
        println!(
            "{}: {} compressed copies written, {} already up to date.",
            root.display(),
            done.written,
            done.current
        );
        return Ok(());
    }
    let config = Config::load(cli.config.as_deref())?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::Migrate => {
            Store::connect(secrecy::ExposeSecret::expose_secret(&config.database_url))
                .await?
                .migrate()
                .await?;
            println!("Database is up to date.");
            Ok(())
        }
        Command::Config => {
            print!("{}", config.redacted_toml());
            Ok(())
        }
        Command::Admin(AdminCommand::Create { email }) => create_admin(config, &email).await,
        Command::Incident(cmd) => incident::run(config, cmd).await,
        Command::App(cmd) => app(config, cmd).await,
        Command::ApiKey(cmd) => api_key::run(config, cmd).await,
        // Handled above, before the configuration is read.
        Command::SecretKey(_) | Command::CompressSite => Ok(()),
        Command::Audit(cmd) => audit(config, cmd).await,
    }
}

/// Largest checkpoint file read (a real one is under 1 KiB).
const MAX_CHECKPOINT_BYTES: u64 = 64 * 1024;

async fn audit(config: Config, cmd: AuditCommand) -> anyhow::Result<()> {
    use crate::runtime::checkpoint::{self, Verdict};
    match cmd {
        AuditCommand::Verify { checkpoint: None } => {
            let store =
                Store::connect(secrecy::ExposeSecret::expose_secret(&config.database_url)).await?;
            store.migrate().await?;
            let result = crate::runtime::audit::verify(&store).await;
            store.close().await;
            match result? {
                Verification::Intact {
                    head_seq,
                    head_hash,
                } => {
                    println!("OK: {head_seq} audit entries, chain intact. Last entry: {head_seq}, head hash: {head_hash}.");
                    Ok(())
                }
                Verification::Broken { seq, problem } => {
                    anyhow::bail!("audit chain broken at entry {seq}: {problem}")
                }
            }
        }
        AuditCommand::Verify {
            checkpoint: Some(file),
        } => {
            let text = read_checkpoint(&file)?;
            let state = AppState::build(config, Arc::new(SystemClock)).await?;
            let key = state.server_key.checkpoint_signing_key().verifying_key();
            let verdict = checkpoint::verify_against(&state.store, &key, &text).await;
            state.store.close().await;
            match verdict? {
                Verdict::Matches {
                    checkpoint,
                    head_seq,
                    head_hash,
                } => {
                    println!(
                        "OK: the trail still holds entry {} of the checkpoint of {} with the same hash, and the chain is intact up to entry {head_seq} (head hash {head_hash}).",
                        checkpoint.seq,
                        time::utc_seconds(checkpoint.at)
                    );
                    Ok(())
                }
                Verdict::Refused(problem) => anyhow::bail!("{problem}"),
            }
        }
        AuditCommand::Checkpoint => {
            let state = AppState::build(config, Arc::new(SystemClock)).await?;
            let result = checkpoint::current(&state).await;
            state.store.close().await;
            print!("{}", result?.to_text());
            Ok(())
        }
    }
}

fn read_checkpoint(file: &std::path::Path) -> anyhow::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(file)
        .and_then(|f| f.take(MAX_CHECKPOINT_BYTES + 1).read_to_string(&mut text))
        .with_context(|| format!("cannot read the checkpoint {}", file.display()))?;
    anyhow::ensure!(
        text.len() as u64 <= MAX_CHECKPOINT_BYTES,
        "{} is not a Keywarden audit checkpoint (too large)",
        file.display()
    );
    Ok(text)
}

async fn serve(config: Config) -> anyhow::Result<()> {
    crate::telemetry::init(config.log_format);
    let base_url = config.base_url.clone();
    let app = Application::build(config, Arc::new(SystemClock)).await?;
    let mut conn = app.state().store.pool().acquire().await?;
    let admins = users::counts(&mut conn)
        .await
        .context("count administrators")?
        .admins;
    drop(conn);
    compress_site(app.state()).await;
    tracing::info!(port = app.port(), "Keywarden is listening on {base_url}");
    if admins == 0 {
        tracing::warn!(
            "No administrator yet. Create one with: keywarden admin create --email you@example.com"
        );
    }
    app.run_until(shutdown_signal()).await
}

/// Compresses the site's files that lack an up to date brotli and gzip copy (after a build: a few
/// seconds, once), before the first visitor asks for them. A site that cannot be written is
/// served uncompressed, with a warning.
async fn compress_site(state: &AppState) {
    let root = PathBuf::from(state.leptos_options.site_root.as_ref());
    let started = std::time::Instant::now();
    let shown = root.display().to_string();
    match tokio::task::spawn_blocking(move || crate::http::assets::precompress(&root)).await {
        Ok(Ok(done)) if done.written > 0 => tracing::info!(
            site = shown,
            written = done.written,
            ms = started.elapsed().as_millis() as u64,
            "compressed the site's files (brotli, gzip)"
        ),
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!(
            site = shown,
            error = format!("{e:#}"),
            "cannot write compressed copies of the site's files: they are served uncompressed"
        ),
        Err(e) => tracing::warn!(error = %e, "compressing the site's files failed"),
    }
}

async fn create_admin(config: Config, email: &str) -> anyhow::Result<()> {
    let password = read_password(email)?;
    let state = AppState::build(config, Arc::new(SystemClock)).await?;
    let actor = Actor::cli(&os_user());
    let result = service::create_user(
        &state,
        email,
        password,
        Role::Admin,
        Some(actor),
        &RequestMeta::default(),
    )
    .await;
    state.store.close().await;
    match result {
        Ok(id) => {
            println!("Created administrator {} (id {id}).", email.trim());
            Ok(())
        }
        Err(AppError::Field { field, message }) => anyhow::bail!("{field}: {message}"),
        Err(e) => anyhow::bail!("{e}"),
    }
}

pub(crate) fn os_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into())
}

async fn app(config: Config, cmd: AppCommand) -> anyhow::Result<()> {
    use crate::domain::ApplicationInput;
    use crate::features::applications::service;
    let state = AppState::build(config, Arc::new(SystemClock)).await?;
    let op = Actor::cli(&os_user());
    let meta = RequestMeta::default();
    let result = match cmd {
        AppCommand::Add {
            name,
            host,
            roles,
            disabled,
        } => {
            let roles: Vec<String> = roles.split(',').map(str::to_owned).collect();
            match ApplicationInput::parse(&name, &host, &roles, !disabled) {
                Err((field, message)) => Err(AppError::field(field, message)),
                Ok(input) => service::create(&state, &op, &input, &meta).await.map(|id| {
                    format!(
                        "Application {id} added: {} ({}).",
                        input.host,
                        input.roles_text()
                    )
                }),
            }
        }
        AppCommand::List => service::list(&state).await.map(|apps| {
            apps.iter()
                .map(|a| {
                    format!(
                        "{}\t{}\t{}\t{}\t{} in 24 h",
                        a.host,
                        a.name,
                        a.roles.join(","),
                        if a.enabled { "enabled" } else { "disabled" },
                        crate::ui::format::plural(a.sessions_24h, "session", "sessions")
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        }),
        AppCommand::Remove { host } => {
            let wanted = crate::domain::HostPattern::parse(&host)
                .map_err(|e| AppError::field("host", e))
                .map(|h| h.to_string());
            match wanted {
                Err(e) => Err(e),
                Ok(wanted) => match service::list(&state).await {
                    Err(e) => Err(e),
                    Ok(apps) => match apps.iter().find(|a| a.host == wanted) {
                        None => Err(AppError::field(
                            "host",
                            format!("no application has host {wanted}"),
                        )),
                        Some(a) => service::delete(&state, &op, a.id, &meta)
                            .await
                            .map(|()| format!("Application {wanted} removed.")),
                    },
                },
            }
        }
    };
    state.store.close().await;
    match result {
        Ok(message) => {
            if !message.is_empty() {
                println!("{message}");
            }
            Ok(())
        }
        Err(AppError::Field { field, message }) => anyhow::bail!("{field}: {message}"),
        Err(e) => anyhow::bail!("{e}"),
    }
}

/// On a terminal: asks twice without echo. Otherwise: one line from stdin, with only the line
/// ending removed (the policy checks the password exactly as given).
fn read_password(email: &str) -> anyhow::Result<SecretString> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("Password for {}: ", email.trim()))
            .context("cannot read password")?;
        let second =
            rpassword::prompt_password("Repeat the password: ").context("cannot read password")?;
        anyhow::ensure!(first == second, "the passwords do not match");
        return Ok(first.into());
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    let line = line.strip_suffix('\n').unwrap_or(&line);
    let line = line.strip_suffix('\r').unwrap_or(line);
    anyhow::ensure!(!line.is_empty(), "no password given on standard input");
    Ok(SecretString::from(line.to_owned()))
}
