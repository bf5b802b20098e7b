//! Serving the proxy over HTTP/1 so slow or hostile clients cannot hold it hostage: a time
//! limit on request headers (which also closes idle keep-alive connections), a size limit on
//! them (431), a cap on open connections (beyond it, new ones wait in the listen queue while
//! the ones in progress carry on) and a smaller one per client address (IPv6: per /64), so
//! one laptop cannot take every slot; a deadline for progress on writes (hyper has none: a
//! client that pipelines requests and never reads would hold its slot for ever) and a cap on
//! requests per connection; and a shutdown that stops waiting for stragglers after a
//! deadline, while every unlink already under way still commits its outcome.

use std::{
    collections::HashMap,
    convert::Infallible,
    future::Future,
    io,
    net::IpAddr,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU32, Ordering},
    },
    task::{Context, Poll, ready},
    time::Duration,
};

use axum::{
    Router,
    extract::ConnectInfo,
    http::{HeaderValue, header},
};
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::Semaphore,
    task::JoinSet,
    time::Sleep,
};

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
    /// Open connections per client address (IPv6: per /64) at most, and never more than a
    /// quarter of `max_connections`; more are closed at once. `None` behind a reverse proxy,
    /// where every connection comes from the proxy (limit per client there).
    pub max_connections_per_address: Option<usize>,
    /// A connection whose answer cannot be written (the client does not read) for this long
    /// is closed.
    pub write_timeout: Duration,
    /// Requests answered on one connection at most; the last answer says
    /// `Connection: close`.
    pub max_requests_per_connection: u32,
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
            max_connections_per_address: Some(64),
            write_timeout: Duration::from_secs(10),
            max_requests_per_connection: 1000,
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
    serve_router(listener, proxy.app(), limits, shutdown).await;
    if !proxy.drain(proxy.deadline() * 2).await {
        tracing::error!("stopping with unlinks still in flight; start-up will mark them");
    }
    Ok(())
}

/// Serves only the service route ([`Proxy::service_router`]) on its own listener
/// (`--service-listen`), with the same limits, until `shutdown` resolves.
pub async fn serve_service(
    listener: TcpListener,
    proxy: &Proxy,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    serve_router(listener, proxy.service_router(), limits, shutdown).await;
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
        crate::routes::metrics_router(handle),
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
    let per_address = limits
        .max_connections_per_address
        .map(|cap| cap.min(limits.max_connections / 4).max(1));
    let addresses = Arc::new(Addresses::default());
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
        let Some(address_slot) = addresses.take(peer.ip(), per_address) else {
            // Closed at once: its slot is someone else's.
            metrics::counter!("unlink_refusals_total", "reason" => "address_connections")
                .increment(1);
            drop(stream);
            continue;
        };
        let router = router.clone();
        let served = Arc::new(AtomicU32::new(0));
        let max_requests = limits.max_requests_per_connection.max(1);
        let service = service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            let mut router = router.clone();
            let last = served.fetch_add(1, Ordering::Relaxed) + 1 >= max_requests;
            async move {
                let mut response = tower::Service::call(&mut router, request)
                    .await
                    .unwrap_or_else(|never| match never {});
                if last {
                    // hyper closes the connection after an answer that says so.
                    response
                        .headers_mut()
                        .insert(header::CONNECTION, HeaderValue::from_static("close"));
                }
                Ok::<_, Infallible>(response)
            }
        });
        let io = TokioIo::new(WriteDeadline::new(stream, limits.write_timeout));
        let connection = graceful.watch(http.serve_connection(io, service));
        connections.spawn(async move {
            let _ = connection.await;
            drop(address_slot);
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

/// Open connections per client address (IPv6: per /64, as the rate limits count).
#[derive(Debug, Default)]
struct Addresses(Mutex<HashMap<String, usize>>);

/// One connection's place in its address's count, given back when dropped.
struct AddressSlot {
    addresses: Arc<Addresses>,
    bucket: Option<String>,
}

impl Addresses {
    /// A slot for a connection from `ip`, unless the address already holds `cap` of them.
    fn take(self: &Arc<Self>, ip: IpAddr, cap: Option<usize>) -> Option<AddressSlot> {
        let Some(cap) = cap else {
            return Some(AddressSlot {
                addresses: self.clone(),
                bucket: None,
            });
        };
        let bucket = crate::ratelimit::address_bucket(ip);
        let mut open = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(bucket.clone()).or_default();
        if *count >= cap {
            return None;
        }
        *count += 1;
        Some(AddressSlot {
            addresses: self.clone(),
            bucket: Some(bucket),
        })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let Some(bucket) = self.bucket.take() else {
            return;
        };
        let mut open = self.addresses.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&bucket) {
            *count -= 1;
            if *count == 0 {
                open.remove(&bucket);
            }
        }
    }
}

/// A connection whose writes must make progress: a write (or flush) that stays blocked for
/// `limit`, because the client does not read its answers, fails, and hyper closes the
/// connection.
struct WriteDeadline {
    stream: TcpStream,
    limit: Duration,
    /// Armed while a write is blocked.
    stalled: Option<Pin<Box<Sleep>>>,
}

impl WriteDeadline {
    fn new(stream: TcpStream, limit: Duration) -> Self {
        Self {
            stream,
            limit,
            stalled: None,
        }
    }

    /// `Ready(Err)` once a blocked write has waited `limit`; otherwise passes `poll` on,
    /// arming the timer while it is pending and disarming it on progress.
    fn watch<T>(
        &mut self,
        cx: &mut Context<'_>,
        poll: impl FnOnce(Pin<&mut TcpStream>, &mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match poll(Pin::new(&mut self.stream), cx) {
            Poll::Ready(done) => {
                self.stalled = None;
                Poll::Ready(done)
            }
            Poll::Pending => {
                let limit = self.limit;
                let timer = self
                    .stalled
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
                ready!(timer.as_mut().poll(cx));
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the client did not read its answer in time",
                )))
            }
        }
    }
}

impl AsyncRead for WriteDeadline {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for WriteDeadline {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.watch(cx, |stream, cx| stream.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.watch(cx, |stream, cx| stream.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.watch(cx, AsyncWrite::poll_flush)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.watch(cx, AsyncWrite::poll_shutdown)
    }
}
