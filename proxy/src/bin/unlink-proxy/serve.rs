//! `unlink-proxy` (no subcommand): plan, open the record, start the proxy, serve until
//! SIGTERM or Ctrl-C, then let unlinks in flight commit their outcome.

use std::process::ExitCode;

use unlink_proxy::Proxy;

use crate::{cli::ServeArgs, fail, setup, shutdown_signal};

pub(crate) async fn run(args: ServeArgs) -> ExitCode {
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
            if args.server.metrics_listen.is_none() {
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
    let listener = match tokio::net::TcpListener::bind(args.server.listen).await {
        Ok(listener) => listener,
        Err(error) => return fail(&format!("cannot listen on {}: {error}", args.server.listen)),
    };
    let shutdown = shutdown_signal();
    // The real address, when --listen asked for port 0.
    let addr = listener.local_addr().unwrap_or(args.server.listen);
    if args.demo.fake_mono {
        tracing::warn!("{mono} {authorisation}.");
    } else {
        tracing::info!("{mono}; authorisation: {authorisation}");
    }
    tracing::info!("listening on http://{addr}");
    if args.server.static_dir.is_some() {
        // On stdout: the line the demo command and the browser tests wait for.
        println!("Demo: http://{addr}/");
    }
    let stop = tokio_util::sync::CancellationToken::new();
    if let Some(address) = args.server.metrics_listen {
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
        header_timeout: args.limits.header_timeout,
        max_connections: args.limits.max_connections as usize,
        max_connections_per_address: (!args.server.trust_forwarded_for)
            .then_some(args.limits.max_connections_per_address as usize),
        write_timeout: args.limits.write_timeout,
        max_requests_per_connection: args.limits.max_requests_per_connection,
        shutdown_timeout: args.server.shutdown_timeout,
        ..Default::default()
    };
    if let Some(address) = args.service.service_listen {
        match tokio::net::TcpListener::bind(address).await {
            Ok(listener) => {
                let bound = listener.local_addr().unwrap_or(address);
                // On stdout too: the line scripts and tests wait for.
                println!("Service: http://{bound}{}", args.server.prefix);
                tracing::info!(
                    "service route on http://{bound}{}/service/accounts/{{id}}/unlink",
                    args.server.prefix
                );
                let (proxy, stopped) = (proxy.clone(), stop.clone());
                tokio::spawn(async move {
                    unlink_proxy::serve_service(listener, &proxy, limits, async move {
                        stopped.cancelled().await
                    })
                    .await
                });
            }
            Err(error) => return fail(&format!("cannot listen on {address}: {error}")),
        }
    }
    let maintenance = proxy.maintain(args.replicas.maintenance_interval);
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
