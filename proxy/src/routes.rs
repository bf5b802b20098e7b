//! The proxy's routes, in two shapes.
//!
//! [`Proxy::api_router`] is for a partner's own axum app: only the API routes and the layers
//! they need, no `/healthz`, no fallback at the root, so `app.nest("/api/mono", …)` leaves the
//! app's own routes, state and fallback alone. [`Proxy::app`] is the binary's whole app: the
//! API under its prefix, `/healthz`, `/metrics` for this machine, and the widget's static
//! files.
//!
//! Both are served with the client's address as connect info
//! (`into_make_service_with_connect_info::<SocketAddr>()`, or [`crate::serve`]): limits and
//! the record use it.

use std::{net::SocketAddr, time::Duration};

use axum::{
    Router,
    extract::{ConnectInfo, DefaultBodyLimit, State},
    http::{HeaderName, HeaderValue, Method, Request, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;
use tower::ServiceBuilder;
use tower_http::{
    cors::{AllowHeaders, AllowOrigin, CorsLayer},
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    services::ServeDir,
    set_header::SetResponseHeaderLayer,
    trace::{DefaultOnResponse, TraceLayer},
};
use tracing::Level;

use crate::{
    Proxy,
    config::BODY_LIMIT,
    error::{ApiError, envelope},
    proxy::AppState,
    status, telemetry, unlink, webhook,
};

/// The header carrying each request's id: set here if absent, echoed in the answer, logged,
/// and recorded in the audit trail.
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The CSP the demo page and widget bundle are served with: the strictest that works.
/// `'wasm-unsafe-eval'` is what lets the page compile the widget's WebAssembly.
pub const STATIC_CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
    base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

impl Proxy {
    /// The API routes, to nest in your own axum app under the widget's `endpoint`:
    /// `POST /accounts/{id}/unlink`, `GET /accounts/{id}` (its status), `POST /webhooks/mono`
    /// and, with service tokens, `POST /service/accounts/{id}/unlink`, with their request ids,
    /// tracing, body limit and CORS. Unknown paths under the prefix answer the envelope's
    /// 404; nothing else of your app is touched.
    ///
    /// Whatever state your app has, the proxy brings its own:
    ///
    /// ```no_run
    /// # fn demo(proxy: unlink_proxy::Proxy) {
    /// #[derive(Clone)]
    /// struct YourState;
    /// let app: axum::Router = axum::Router::new()
    ///     .route("/healthz", axum::routing::get(|| async { "ok" }))
    ///     .nest("/api/mono", proxy.api_router())
    ///     .fallback(|| async { "your SPA" })
    ///     .with_state(YourState);
    /// # }
    /// ```
    pub fn api_router<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        let state = &self.state;
        let mut api = api_routes();
        if state.settings.service_tokens.is_some() && !state.settings.service_apart {
            api = api.merge(service_routes());
        }
        let mut api = api
            .fallback(|| async { ApiError::NotFound })
            .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
            .layer(SetResponseHeaderLayer::overriding(
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-store"),
            ));
        if !state.settings.origins.allowed().is_empty() {
            api = api.layer(cors(state.settings.origins.allowed()));
        }
        with_request_layers(api.with_state(state.clone()))
    }

    /// The binary's whole app: the API under the configured prefix, `GET /healthz`,
    /// `GET /metrics` (to loopback clients, if configured), and the static files if
    /// configured. Serve it with [`crate::serve`].
    pub fn app(&self) -> Router {
        let settings = &self.state.settings;
        let mut outer = Router::new().route("/healthz", get(healthz));
        if let Some(handle) = &settings.metrics {
            outer = outer.route(
                "/metrics",
                get(metrics_for_loopback).with_state(handle.clone()),
            );
        }
        if settings.prefix.is_empty() {
            // The API at the root: its routes join the app's, and the app's fallback is theirs.
            outer = outer.merge(api_routes().layer(SetResponseHeaderLayer::overriding(
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-store"),
            )));
        }
        let outer = match &settings.static_dir {
            Some(dir) => outer.fallback_service(
                ServiceBuilder::new()
                    .layer(SetResponseHeaderLayer::if_not_present(
                        header::CONTENT_SECURITY_POLICY,
                        HeaderValue::from_static(STATIC_CSP),
                    ))
                    .layer(SetResponseHeaderLayer::if_not_present(
                        header::X_CONTENT_TYPE_OPTIONS,
                        HeaderValue::from_static("nosniff"),
                    ))
                    // The widget's build writes .br and .gz beside each file it ships: sent
                    // to browsers that accept them, so end users download a third.
                    .service(ServeDir::new(dir).precompressed_br().precompressed_gzip()),
            ),
            None => outer.fallback(|| async { ApiError::NotFound }),
        };
        let outer = with_request_layers(outer.with_state(self.state.clone()));
        if settings.prefix.is_empty() {
            outer
        } else {
            // Nested after the outer layers: the API brings its own.
            outer.nest(&settings.prefix, self.api_router())
        }
    }
}

/// The API's routes, without state or layers.
fn api_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/accounts/{*rest}",
            post(unlink::handle).get(status::handle),
        )
        .route("/webhooks/mono", post(webhook::handle))
}

/// The service route for partners' backends.
fn service_routes() -> Router<AppState> {
    Router::new().route("/service/accounts/{*rest}", post(unlink::service::handle))
}

impl Proxy {
    /// Only the service route (`{prefix}/service/accounts/{id}/unlink`), with its layers, for
    /// a listener of its own (`--service-listen`: loopback or the private network, never the
    /// internet). Empty (everything 404) without service tokens.
    pub fn service_router(&self) -> Router {
        let settings = &self.state.settings;
        let service = match settings.service_tokens {
            Some(_) => service_routes(),
            None => Router::new(),
        };
        let service = service
            .fallback(|| async { ApiError::NotFound })
            .layer(SetResponseHeaderLayer::overriding(
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-store"),
            ))
            .with_state(self.state.clone());
        let service = with_request_layers(service);
        if settings.prefix.is_empty() {
            service
        } else {
            Router::new().nest(&settings.prefix, service)
        }
    }
}

/// In the order a request meets them: its id made trustworthy, then set, echoed and put on
/// every log line of the request; then the body limit.
fn with_request_layers<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router.layer(
        ServiceBuilder::new()
            .layer(axum::middleware::map_request(plain_request_ids))
            .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
            .layer(PropagateRequestIdLayer::new(REQUEST_ID))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(|request: &Request<_>| {
                        let id = request_id(request.headers()).unwrap_or("-");
                        // The path only: headers (cookies, keys) are never logged.
                        tracing::info_span!("request", method = %request.method(),
                            path = %request.uri().path(), request_id = %id)
                    })
                    // Every answer at debug only: anyone can send requests, and a flood must
                    // not become a flood of log lines. Unlinks log their own line.
                    .on_response(DefaultOnResponse::new().level(Level::DEBUG)),
            )
            .layer(DefaultBodyLimit::max(BODY_LIMIT)),
    )
}

/// This request's id, as `SetRequestIdLayer` put it in the headers.
pub(crate) fn request_id(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers.get(REQUEST_ID).and_then(|v| v.to_str().ok())
}

/// A client's `X-Request-Id` is kept (it ties the proxy's log to the caller's) only if it is
/// a plain token, `[A-Za-z0-9._-]{1,64}`; anything else is dropped, so the proxy makes one.
/// Client text never reaches a log line or a row as it was sent.
async fn plain_request_ids(mut request: Request<axum::body::Body>) -> Request<axum::body::Body> {
    let ids = request.headers().get_all(REQUEST_ID);
    let mut ids = ids.iter();
    let plain = match (ids.next(), ids.next()) {
        (Some(id), None) => {
            let id = id.as_bytes();
            (1..=64).contains(&id.len())
                && id
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || b".-_".contains(b))
        }
        _ => false,
    };
    if !plain {
        request.headers_mut().remove(REQUEST_ID);
    }
    request
}

/// `GET /metrics`: the Prometheus text, for clients on this machine only (a scraper on
/// another host uses `--metrics-listen`).
async fn metrics_for_loopback(
    State(handle): State<PrometheusHandle>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Response {
    if !peer.ip().is_loopback() {
        return ApiError::NotFound.into_response();
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle.render(),
    )
        .into_response()
}

/// A router serving only `GET /metrics`, to any client, for `--metrics-listen`.
pub(crate) fn metrics_router(handle: PrometheusHandle) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let handle = handle.clone();
            async move {
                (
                    [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    handle.render(),
                )
            }
        }),
    )
}

/// Cross-origin callers: only the listed origins, only POST (unlink) and GET (status), with
/// cookies.
fn cors(origins: &[String]) -> CorsLayer {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::POST, Method::GET])
        // Partners add their own headers (a CSRF token); the origin list is the gate.
        .allow_headers(AllowHeaders::mirror_request())
        .allow_credentials(true)
        .expose_headers([header::RETRY_AFTER, REQUEST_ID])
        .max_age(Duration::from_secs(600))
}

/// A health check's verdict, and what it was based on.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HealthCheck {
    at: tokio::time::Instant,
    /// [`telemetry::record_failures`] when it ran.
    failures: u64,
    healthy: bool,
}

/// `GET /healthz`: 200 when a row could be written now (a real write, at most once a
/// second unless the record failed a request since), 503 otherwise.
async fn healthz(State(state): State<AppState>) -> Response {
    let mut last = state.health.lock().await;
    let fresh = last.filter(|check| {
        check.at.elapsed() < Duration::from_secs(1)
            && check.failures == telemetry::record_failures()
    });
    let healthy = match fresh {
        Some(check) => check.healthy,
        None => {
            let failures = telemetry::record_failures();
            let deadline = tokio::time::Instant::now() + Duration::from_millis(1500);
            let healthy = match state.store.health(deadline).await {
                Ok(()) => true,
                Err(error) => {
                    tracing::error!(%error, "health check: records cannot be written");
                    false
                }
            };
            *last = Some(HealthCheck {
                at: tokio::time::Instant::now(),
                failures,
                healthy,
            });
            healthy
        }
    };
    drop(last);
    if healthy {
        envelope(true, "ok", json!(null)).into_response()
    } else {
        ApiError::AuditUnavailable.into_response()
    }
}
