//! `unlink-proxy`: run the reference proxy, or read its audit trail.
//!
//! ```text
//! MONO_SEC_KEY=live_sk_… unlink-proxy --authorize-url https://app.example/internal/can-unlink
//! unlink-proxy --fake-mono --static-dir dist          # the demo: no key, no network
//! unlink-proxy audit --account 60770aa8c5878a2af69ed849 --since 24h
//! unlink-proxy check --probe-mono --authorize-url …   # before going live
//! ```

mod cli;
mod migrate;
mod setup;

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;
use unlink_proxy::{
    Proxy, SqliteStore,
    store::{Only, Query, Store},
};

use crate::cli::{AuditArgs, CheckArgs, Cli, Command, FakeMonoArgs, LogFormat, ServeArgs};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => return fail(&format!("cannot start the async runtime: {error}")),
    };
    match cli.command {
        Some(Command::Audit(args)) => runtime.block_on(print_audit(args)),
        Some(Command::Check(args)) => runtime.block_on(check(*args)),
        Some(Command::FakeMono(args)) => {
            init_logging(LogFormat::Human);
            runtime.block_on(fake_mono(args))
        }
        Some(Command::MigrateAudit(args)) => runtime.block_on(migrate::run(args)),
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

async fn print_audit(args: AuditArgs) -> ExitCode {
    let record = &args.record;
    let store: std::sync::Arc<dyn Store> = match &record.database_url {
        Some(_) => match record.open(std::time::Duration::from_secs(10)).await {
            Ok(store) => store,
            Err(message) => return fail(&message),
        },
        None => match SqliteStore::open_existing(&record.audit_db) {
            Ok(store) => std::sync::Arc::new(store),
            Err(error) => return fail(&error.to_string()),
        },
    };
    let query = Query {
        account_id: args.account.map(|id| id.to_string()),
        since: args.since,
        only: if args.unresolved {
            Only::Unresolved
        } else if args.unconfirmed {
            Only::Unconfirmed {
                older_than: args.older_than,
            }
        } else {
            Only::All
        },
        ..Query::default()
    };
    // A page at a time, each row printed as it comes: a trail of millions of rows takes no
    // more memory than a short one.
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let printed = unlink_proxy::store::for_each_entry(&*store, &query, |entry| {
        serde_json::to_writer(&mut stdout, &entry)
            .map_err(std::io::Error::from)
            .and_then(|()| std::io::Write::write_all(&mut stdout, b"\n"))
            .map_err(|error| {
                unlink_proxy::store::StoreError::Broken(format!("cannot print a row: {error}"))
            })
    })
    .await;
    match printed.and_then(|_| {
        std::io::Write::flush(&mut stdout).map_err(|error| {
            unlink_proxy::store::StoreError::Broken(format!("cannot print: {error}"))
        })
    }) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&error.to_string()),
    }
}

async fn serve(args: ServeArgs) -> ExitCode {
    let plan = match setup::plan(&args).await {
        Ok(plan) => plan,
        Err(message) => return fail(&message),
    };
    let (mono, authorisation) = (plan.mono.clone(), plan.authorisation.clone());
    for warning in &plan.warnings {
        tracing::warn!("{warning}");
    }
    let metrics = match unlink_proxy::telemetry::install_prometheus() {
        Ok(handle) => handle,
        Err(message) => return fail(&message),
    };
    let config = setup::store(&args)
        .await
        .and_then(|store| setup::config(plan, &args, store))
        .map(|mut config| {
            if args.metrics_listen.is_none() {
                config.metrics = Some(metrics.clone());
            }
            config
        });
    let proxy = match config {
        Ok(config) => match Proxy::start(config).await {
            Ok(proxy) => proxy,
            Err(error) => return fail(&error.to_string()),
        },
        Err(message) => return fail(&message),
    };
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(listener) => listener,
        Err(error) => return fail(&format!("cannot listen on {}: {error}", args.listen)),
    };
    let shutdown = shutdown_signal();
    // The real address, when --listen asked for port 0.
    let addr = listener.local_addr().unwrap_or(args.listen);
    if args.fake_mono {
        tracing::warn!("{mono} {authorisation}.");
    } else {
        tracing::info!("{mono}; authorisation: {authorisation}");
    }
    tracing::info!("listening on http://{addr}");
    if args.static_dir.is_some() {
        // On stdout: the line the demo command and the browser tests wait for.
        println!("Demo: http://{addr}/");
    }
    let stop = tokio_util::sync::CancellationToken::new();
    if let Some(address) = args.metrics_listen {
        match tokio::net::TcpListener::bind(address).await {
            Ok(listener) => {
                let bound = listener.local_addr().unwrap_or(address);
                tracing::info!("metrics on http://{bound}/metrics");
                let stopped = stop.clone();
                tokio::spawn(unlink_proxy::serve_metrics(listener, metrics, async move {
                    stopped.cancelled().await
                }));
            }
            Err(error) => return fail(&format!("cannot listen on {address}: {error}")),
        }
    }
    let limits = unlink_proxy::ServerLimits {
        header_timeout: args.header_timeout,
        max_connections: args.max_connections as usize,
        max_connections_per_address: (!args.trust_forwarded_for)
            .then_some(args.max_connections_per_address as usize),
        write_timeout: args.write_timeout,
        max_requests_per_connection: args.max_requests_per_connection,
        shutdown_timeout: args.shutdown_timeout,
        ..Default::default()
    };
    let maintenance = proxy.maintain(args.maintenance_interval);
    let served = unlink_proxy::serve(listener, &proxy, limits, shutdown).await;
    maintenance.abort();
    stop.cancel();
    match served {
        Ok(()) => {
            tracing::info!("stopped; requests in flight finished");
            ExitCode::SUCCESS
        }
        Err(error) => fail(&format!("server error: {error}")),
    }
}

/// Prints what `serve` would do with these flags, and with `--probe-mono` what Mono says.
async fn check(args: CheckArgs) -> ExitCode {
    let serve = &args.serve;
    let plan = match setup::plan(serve).await {
        Ok(plan) => plan,
        Err(message) => return fail(&message),
    };
    let record = match &serve.record.database_url {
        Some(url) => match unlink_proxy::store::PostgresStore::describe_url(url) {
            Ok(place) => format!("PostgreSQL at {place} (not contacted by check)"),
            Err(error) => return fail(&error.to_string()),
        },
        None if serve.record.audit_db.is_file() => {
            format!("SQLite {} (exists)", serve.record.audit_db.display())
        }
        None => format!(
            "SQLite {} (will be created, owner-only)",
            serve.record.audit_db.display()
        ),
    };
    let origins = if serve.allowed_origins.is_empty() {
        "same-origin only".to_owned()
    } else {
        serve.allowed_origins.join(", ")
    };
    println!(
        "unlink-proxy {}: the configuration is usable",
        env!("CARGO_PKG_VERSION")
    );
    for warning in &plan.warnings {
        println!("  warning: {warning}");
    }
    for (what, value) in [
        (
            "listen",
            format!(
                "http://{}, routes under {}",
                serve.listen,
                if serve.prefix.is_empty() {
                    "/"
                } else {
                    &serve.prefix
                }
            ),
        ),
        ("Mono", plan.mono.clone()),
        ("authorisation", plan.authorisation.clone()),
        ("record", record),
        (
            "deadline",
            humantime::format_duration(serve.deadline).to_string(),
        ),
        (
            "limits",
            format!(
                "{} a minute per user, {} per address",
                serve.rate_limit_per_minute, serve.ip_rate_limit_per_minute
            ),
        ),
        ("callers", origins),
        (
            "webhook",
            if plan.webhook_secret.is_some() {
                "enabled".into()
            } else {
                "disabled (no MONO_WEBHOOK_SECRET)".into()
            },
        ),
        (
            "static files",
            serve
                .static_dir
                .as_ref()
                .map_or("none".into(), |d| d.display().to_string()),
        ),
    ] {
        println!("  {what:<14} {value}");
    }
    if !args.probe_mono {
        return ExitCode::SUCCESS;
    }
    let mono = match unlink_proxy::mono::Mono::new(plan.upstream) {
        Ok(mono) => mono,
        Err(error) => return fail(&error.to_string()),
    };
    let id = unlink_proxy::account::AccountId::parse(unlink_proxy::mono::PROBE_ACCOUNT_ID)
        .expect("a valid id");
    println!(
        "probe: POST {} for an account that cannot exist; nothing changes at Mono",
        mono.unlink_url(&id)
    );
    let probe = mono.probe().await;
    if probe.is_ready() {
        println!("probe: ok: {}", probe.explain());
        ExitCode::SUCCESS
    } else {
        println!("probe: FAILED: {}", probe.explain());
        ExitCode::FAILURE
    }
}

/// `unlink-proxy fake-mono`: the fake Mono, and the demo user's authoriser, on their own.
async fn fake_mono(args: FakeMonoArgs) -> ExitCode {
    use std::collections::HashSet;
    use unlink_proxy::fake_mono::FakeMono;
    let mut owned: HashSet<String> = setup::DEMO_OWNED.iter().map(|s| s.to_string()).collect();
    owned.extend(args.accounts.iter().map(|id| id.to_string()));
    let mut fake = FakeMono::accepting_any_test_key();
    for id in owned
        .iter()
        .map(String::as_str)
        .chain([setup::DEMO_NOT_OWNED])
    {
        fake = fake.with_account(id);
    }
    for (id, fault) in &args.faults {
        fake = fake.with_fault(id, *fault);
    }
    let fake = fake
        .with_demo_authoriser(setup::DEMO_USER, (!args.demo_owns_all).then_some(owned))
        .with_authoriser_latency(args.demo_authoriser_latency);
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(listener) => listener,
        Err(error) => return fail(&format!("cannot listen on {}: {error}", args.listen)),
    };
    let addr = listener.local_addr().unwrap_or(args.listen);
    // On stdout: the lines scripts and tests wait for.
    println!("Fake Mono: http://{addr} (any test_sk_ key; nothing reaches api.withmono.com)");
    println!("Demo authoriser: http://{addr}/demo/can-unlink");
    tracing::warn!("FAKE MONO on http://{addr}: for the demo and tests only");
    tokio::select! {
        () = std::sync::Arc::new(fake).serve(listener) => {}
        () = shutdown_signal() => {}
    }
    ExitCode::SUCCESS
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
