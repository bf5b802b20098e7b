//! `unlink-proxy`: run the reference proxy, unlink from the command line, or read its audit
//! trail. One module per subcommand; the flags, grouped by topic, are in `cli`, and how they
//! become a proxy in `setup`.
//!
//! ```text
//! MONO_SEC_KEY=live_sk_… unlink-proxy --authorize-url https://app.example/internal/can-unlink
//! unlink-proxy --fake-mono --static-dir dist          # the demo: no key, no network
//! unlink-proxy audit --account 60770aa8c5878a2af69ed849 --since 24h
//! unlink-proxy check --probe-mono --authorize-url …   # before going live
//! ```

mod audit;
mod bulk;
mod check;
mod cli;
mod fake_mono;
mod migrate;
mod serve;
mod setup;

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command, LogFormat};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => return fail(&format!("cannot start the async runtime: {error}")),
    };
    match cli.command {
        Some(Command::Audit(args)) => runtime.block_on(audit::run(args)),
        Some(Command::Check(args)) => runtime.block_on(check::run(*args)),
        Some(Command::FakeMono(args)) => {
            init_logging(LogFormat::Human);
            runtime.block_on(fake_mono::run(args))
        }
        Some(Command::MigrateAudit(args)) => runtime.block_on(migrate::run(args)),
        Some(Command::Unlink(args)) => {
            // Warnings and errors only: a line per account is the report's job.
            init_logging_at(LogFormat::Human, "warn,unlink_proxy::mono::client=error");
            runtime.block_on(bulk::run(*args))
        }
        None => {
            init_logging(cli.serve.server.log_format);
            runtime.block_on(serve::run(cli.serve))
        }
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("unlink-proxy: error: {message}");
    ExitCode::FAILURE
}

fn init_logging(format: LogFormat) {
    init_logging_at(format, "info,unlink_proxy=info,tower_http=info");
}

/// Logging to stderr; `RUST_LOG` wins over `default`.
fn init_logging_at(format: LogFormat, default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // Colours only for a person at a terminal, never into a log file or collector.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
}

/// Resolves on SIGTERM or Ctrl-C. The handlers are installed when this is called, not when
/// it is first awaited, so a signal right after start-up is not lost.
fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        )
    };
    async move {
        #[cfg(unix)]
        match signals {
            (Ok(mut terminate), Ok(mut interrupt)) => {
                tokio::select! {
                    _ = terminate.recv() => {}
                    _ = interrupt.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down: finishing requests in flight");
    }
}
