//! `unlink-proxy`: run the reference proxy, or read its audit trail.
//!
//! ```text
//! MONO_SEC_KEY=live_sk_… unlink-proxy --authorize-url https://app.example/internal/can-unlink
//! unlink-proxy --fake-mono --static-dir dist          # the demo: no key, no network
//! unlink-proxy audit --account 60770aa8c5878a2af69ed849 --since 24h
//! ```

mod cli;
mod setup;

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;
use unlink_proxy::{
    Proxy, SqliteStore,
    store::{Only, Query, Store},
};

use crate::cli::{AuditArgs, Cli, Command, LogFormat, ServeArgs};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => return fail(&format!("cannot start the async runtime: {error}")),
    };
    match cli.command {
        Some(Command::Audit(args)) => runtime.block_on(print_audit(args)),
        None => {
            init_logging(cli.serve.log_format);
            runtime.block_on(serve(cli.serve))
        }
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("unlink-proxy: error: {message}");
    ExitCode::FAILURE
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,unlink_proxy=info,tower_http=info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
}

async fn print_audit(args: AuditArgs) -> ExitCode {
    let store = match SqliteStore::open_existing(&args.audit_db) {
        Ok(store) => store,
        Err(error) => return fail(&error.to_string()),
    };
    let query = Query {
        account_id: args.account.map(|id| id.to_string()),
        since: args.since,
        only: if args.unresolved {
            Only::Unresolved
        } else {
            Only::All
        },
    };
    match store.entries(&query).await {
        Ok(entries) => {
            for entry in entries {
                match serde_json::to_string(&entry) {
                    Ok(line) => println!("{line}"),
                    Err(error) => return fail(&format!("cannot print a row: {error}")),
                }
            }
            ExitCode::SUCCESS
        }
        Err(error) => fail(&error.to_string()),
    }
}

async fn serve(args: ServeArgs) -> ExitCode {
    let setup = match setup::configure(&args).await {
        Ok(setup) => setup,
        Err(message) => return fail(&message),
    };
    let demo = args.fake_mono;
    let proxy = match Proxy::start(setup.config).await {
        Ok(proxy) => proxy,
        Err(error) => return fail(&error.to_string()),
    };
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(listener) => listener,
        Err(error) => return fail(&format!("cannot listen on {}: {error}", args.listen)),
    };
    let shutdown = shutdown_signal();
    // The real address, when --listen asked for port 0.
    let addr = listener.local_addr().unwrap_or(args.listen);
    if demo {
        tracing::warn!("{}", setup.banner);
    } else {
        tracing::info!("{}", setup.banner);
    }
    tracing::info!("listening on http://{addr}");
    if args.static_dir.is_some() {
        // On stdout: the line the demo command and the browser tests wait for.
        println!("Demo: http://{addr}/");
    }
    let maintenance = proxy.maintain(std::time::Duration::from_secs(10));
    let served = unlink_proxy::serve(listener, &proxy, shutdown).await;
    maintenance.abort();
    match served {
        Ok(()) => {
            tracing::info!("stopped; requests in flight finished");
            ExitCode::SUCCESS
        }
        Err(error) => fail(&format!("server error: {error}")),
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
