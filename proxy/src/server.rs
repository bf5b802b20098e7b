//! Serving the proxy over HTTP/1 so slow or hostile clients cannot hold it hostage: a time
//! limit on request headers (which also closes idle keep-alive connections), a size limit on
//! them (431), a cap on open connections (beyond it, new ones wait in the listen queue while
//! the ones in progress carry on), and a shutdown that stops waiting for stragglers after a
//! deadline, while every unlink already under way still commits its outcome.

use std::{convert::Infallible, future::Future, sync::Arc, time::Duration};

use axum::{Router, extract::ConnectInfo};
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
};
use tokio::{net::TcpListener, sync::Semaphore, task::JoinSet};

use crate::Proxy;

/// Limits on connections. The defaults suit a proxy facing the internet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerLimits {
    /// A request's headers must arrive within this; an idle keep-alive connection is closed
    /// after it too.
    pub header_timeout: Duration,
    /// Largest request head (request line and headers); larger ones get 431.
    pub max_header_bytes: usize,
    /// Open connections at most; more wait in the listen queue.
    pub max_connections: usize,
    /// After a shutdown signal, how long connections may take to finish their requests
    /// before the rest are closed.
    pub shutdown_timeout: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            max_header_bytes: 16 * 1024,
            max_connections: 1024,
            shutdown_timeout: Duration::from_secs(20),
        }
    }
}

/// Serves `proxy` on `listener` until `shutdown` resolves; then stops accepting, lets
/// requests in progress finish (up to `limits.shutdown_timeout`), closes what is left, and
/// waits for unlinks whose clients have gone to commit their outcome.
pub async fn serve(
    listener: TcpListener,
    proxy: &Proxy,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_router(listener, proxy.router(), limits, shutdown).await;
    if !proxy.drain(proxy.state.deadline * 2).await {
        tracing::error!("stopping with unlinks still in flight; start-up will mark them");
    }
    Ok(())
}

/// Serves only `GET /metrics`, to any client, on its own listener (`--metrics-listen`),
/// until `shutdown` resolves.
pub async fn serve_metrics(
    listener: TcpListener,
    handle: metrics_exporter_prometheus::PrometheusHandle,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    serve_router(
        listener,
        crate::metrics_router(handle),
        ServerLimits::default(),
        shutdown,
    )
    .await;
}

/// The same loop for any router (the metrics listener uses it too).
pub(crate) async fn serve_router(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192) + 8192)
        .max_header_size(limits.max_header_bytes)
        .keep_alive(true);
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);

    loop {
        // A free slot first: at the cap, new connections wait in the kernel's queue.
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors, usually: wait a moment rather than spin.
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        while connections.try_join_next().is_some() {}
        let router = router.clone();
        let service = service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            let mut router = router.clone();
            async move {
                let response = tower::Service::call(&mut router, request).await;
                Ok::<_, Infallible>(response.unwrap_or_else(|never| match never {}))
            }
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        connections.spawn(async move {
            let _ = connection.await;
            drop(permit);
        });
    }

    drop(listener);
    let open = graceful.count();
    tracing::info!(
        open,
        "no longer accepting; letting requests in progress finish"
    );
    if tokio::time::timeout(limits.shutdown_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            open = connections.len(),
            "closing connections still open after {:?}",
            limits.shutdown_timeout
        );
    }
    connections.abort_all();
    while connections.join_next().await.is_some() {}
}
