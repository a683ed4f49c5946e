//! The `keywarden` binary: parse the command line, run it, report one readable line on failure.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    keywarden::cli::run().await
}
