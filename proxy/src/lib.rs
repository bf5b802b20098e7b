//! # unlink-proxy
//!
//! The partner's backend piece for the unlink widget. It is the only place the Mono secret
//! key lives: it checks that the signed-in user may unlink the account, forwards the unlink
//! to Mono, maps Mono's answers onto one stable contract, and keeps an audit trail in which
//! every call to Mono has its intent written before it and its outcome after it.
//!
//! Run it as the `unlink-proxy` binary, or mount its routes in your own axum app:
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use unlink_proxy::{Config, Proxy, authoriser_fn, Principal, Denied, SecretKey, SqliteStore,
//!     UpstreamConfig};
//!
//! let key = SecretKey::parse(&std::env::var("MONO_SEC_KEY")?)?;
//! let authoriser = authoriser_fn(|request| {
//!     let account = request.account_id.clone();
//!     async move { /* look the account up for this session */ Principal::new("user-1") }
//! });
//! let store = Arc::new(SqliteStore::open("audit.sqlite3")?);
//! let proxy = Proxy::start(Config::new(UpstreamConfig::new(key), authoriser, store)?).await?;
//! let app = axum::Router::new().merge(proxy.router());
//! // Serve `app` with `into_make_service_with_connect_info::<SocketAddr>()`, or use
//! // `unlink_proxy::serve`, which also lets unlinks in flight finish on shutdown.
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod account;
pub mod authorize;
mod client;
pub mod csrf;
pub mod error;
#[cfg(feature = "fake-mono")]
pub mod fake_mono;
mod http_client;
pub mod json;
pub mod mono;
pub mod ratelimit;
pub mod record;
pub mod secret;
mod server;
pub mod store;
pub mod telemetry;
pub mod time;
mod unlink;
mod webhook;

use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use axum::{
    Router,
    extract::{ConnectInfo, DefaultBodyLimit, State},
    http::{HeaderName, HeaderValue, Method, Request, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;
use tokio_util::task::TaskTracker;
use tower::ServiceBuilder;
use tower_http::{
    cors::{AllowHeaders, AllowOrigin, CorsLayer},
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    services::ServeDir,
    set_header::SetResponseHeaderLayer,
    trace::{DefaultOnResponse, TraceLayer},
};
use tracing::Level;

pub use crate::{
    authorize::{Authoriser, Denied, Principal, authoriser_fn},
    mono::{MonoApi, UpstreamConfig},
    ratelimit::RateLimits,
    secret::{SecretKey, SharedSecret},
    server::{ServerLimits, serve, serve_metrics},
    store::{SqliteStore, Store},
};
use crate::{
    csrf::Origins,
    error::{ApiError, envelope},
    mono::Mono,
    telemetry::RefusalLog,
};

/// The header carrying each request's id: set here if absent, echoed in the answer, logged,
/// and recorded in the audit trail.
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

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

/// Largest request body accepted (webhooks are a few hundred bytes; unlinks have none).
pub const BODY_LIMIT: usize = 64 * 1024;

/// The default time within which every unlink is answered: authoriser, records, Mono and
/// its retries together. Below the widget's default timeout (15 s), so the widget hears the
/// answer instead of giving up on it.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(12);

/// The CSP the demo page and widget bundle are served with: the strictest that works.
/// `'wasm-unsafe-eval'` is what lets the page compile the widget's WebAssembly.
pub const STATIC_CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
    base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Everything the proxy needs. Build it with [`Config::new`], then adjust the public fields.
pub struct Config {
    /// Where the routes live, e.g. `/api/mono` (the widget's `endpoint`).
    pub prefix: String,
    /// Origins (e.g. `https://app.partner.example`) allowed to call cross-origin, with
    /// credentials.
    pub allowed_origins: Vec<String>,
    /// The origins of your own pages that call the proxy same-origin (e.g.
    /// `https://app.partner.example`). When this and `allowed_origins` are both empty, a
    /// request's `Origin` is compared with its `Host` instead, which a client controls: fine
    /// for a local demo, not for production.
    pub public_origins: Vec<String>,
    /// Serves `GET /metrics` (Prometheus text) to loopback clients when set; see
    /// [`telemetry::install_prometheus`].
    pub metrics: Option<PrometheusHandle>,
    /// Decides who may unlink what; see [`authorize`].
    pub authoriser: Arc<dyn Authoriser>,
    /// Caller headers forwarded to the authoriser besides `Cookie` and `Authorization`.
    pub authorize_forward_headers: Vec<HeaderName>,
    /// Where the record, key bindings, claims and counters live; see [`store`].
    pub store: Arc<dyn Store>,
    /// Enables `POST {prefix}/webhooks/mono`.
    pub webhook_secret: Option<SharedSecret>,
    /// Unlink attempts per minute, per user and per client address.
    pub rate_limits: RateLimits,
    /// Every unlink is answered within this (see [`DEFAULT_DEADLINE`]).
    pub deadline: Duration,
    /// How long a claim on an account outlives a holder that died (see [`store::DEFAULT_LEASE`]).
    pub lease: Duration,
    /// Delete trail rows older than this (`None`: keep them).
    pub retain: Option<Duration>,
    /// Serve this folder (the widget's `dist/`) at `/`.
    pub static_dir: Option<PathBuf>,
    /// Behind a reverse proxy: take the client address from the last `X-Forwarded-For`
    /// entry. Leave off when clients connect directly (they could claim any address).
    pub trust_forwarded_for: bool,
    /// Refuse, before the authoriser, unlinks that carry no `Cookie`, no `Authorization` and
    /// none of `authorize_forward_headers`: nobody could be signed in. On by default; off
    /// only for an authoriser that knows users some other way (the demo's).
    pub require_credentials: bool,
    mono: Arc<Mono>,
}

/// Why a [`Config`] cannot be used.
#[derive(Debug)]
pub enum ConfigError {
    /// The Mono base URL or key cannot be right (see [`UpstreamConfig::check`]).
    Mono(String),
    /// The outgoing HTTP client could not be built (TLS set-up).
    HttpClient(reqwest::Error),
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Mono(why) => f.write_str(why),
            Self::HttpClient(error) => write!(f, "cannot build the HTTP client: {error}"),
        }
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// A config with defaults: prefix `/api/mono`, no cross-origin callers, no webhook, no
    /// static files, a 12 s deadline. Fails if the Mono URL cannot be right or the HTTP
    /// client cannot be built.
    pub fn new(
        upstream: UpstreamConfig,
        authoriser: Arc<dyn Authoriser>,
        store: Arc<dyn Store>,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            prefix: "/api/mono".into(),
            allowed_origins: Vec::new(),
            public_origins: Vec::new(),
            metrics: None,
            authoriser,
            authorize_forward_headers: Vec::new(),
            store,
            webhook_secret: None,
            rate_limits: RateLimits::default(),
            deadline: DEFAULT_DEADLINE,
            lease: store::DEFAULT_LEASE,
            retain: None,
            static_dir: None,
            trust_forwarded_for: false,
            require_credentials: true,
            mono: Arc::new(Mono::new(upstream)?),
        })
    }
}

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct AppState {
    mono: Arc<Mono>,
    authoriser: Arc<dyn Authoriser>,
    authorize_forward_headers: Arc<[HeaderName]>,
    store: Arc<dyn Store>,
    rate_limits: RateLimits,
    origins: Arc<Origins>,
    webhook_secret: Option<SharedSecret>,
    trust_forwarded_for: bool,
    require_credentials: bool,
    deadline: Duration,
    lease: Duration,
    retain: Option<Duration>,
    in_flight: unlink::InFlight,
    /// The last health check: `/healthz` writes at most once a second however often it is
    /// asked, unless the record has failed a request since.
    health: Arc<tokio::sync::Mutex<Option<HealthCheck>>>,
    /// Unlink work that outlives its request; shutdown waits for it.
    tasks: TaskTracker,
    refusals: Arc<RefusalLog>,
}

/// A running proxy: its state, its routes, and the work in flight.
#[derive(Clone)]
pub struct Proxy {
    state: AppState,
    prefix: String,
    static_dir: Option<PathBuf>,
    metrics: Option<PrometheusHandle>,
}

impl Proxy {
    /// Checks the record for intents a crash left without an outcome (each is logged and
    /// marked `outcome_unknown`), then gets ready to serve.
    pub async fn start(config: Config) -> Result<Self, store::StoreError> {
        let state = AppState {
            mono: config.mono,
            authoriser: config.authoriser,
            authorize_forward_headers: config.authorize_forward_headers.into(),
            store: config.store,
            rate_limits: config.rate_limits,
            origins: Arc::new(Origins::new(config.public_origins, config.allowed_origins)),
            webhook_secret: config.webhook_secret,
            trust_forwarded_for: config.trust_forwarded_for,
            require_credentials: config.require_credentials,
            deadline: config.deadline,
            lease: config.lease,
            retain: config.retain,
            in_flight: Default::default(),
            health: Arc::default(),
            tasks: TaskTracker::new(),
            refusals: Arc::default(),
        };
        let proxy = Self {
            state,
            prefix: config.prefix,
            static_dir: config.static_dir,
            metrics: config.metrics,
        };
        proxy.recover().await?;
        Ok(proxy)
    }

    /// Marks intents whose holder is gone as `outcome_unknown`, logging each. Run at start-up;
    /// with several replicas, [`Proxy::maintain`] runs it again as leases expire.
    pub async fn recover(&self) -> Result<usize, store::StoreError> {
        let marked = self.state.store.recover().await?;
        for intent in &marked {
            tracing::warn!(
                intent_id = intent.id,
                account_id = intent.account_id.as_deref().unwrap_or("-"),
                principal = intent.principal.as_deref().unwrap_or("-"),
                at = %intent.ts,
                "an unlink was sent to Mono but its outcome was never recorded; marked \
                 outcome_unknown (see `unlink-proxy audit --unresolved`)"
            );
        }
        Ok(marked.len())
    }

    /// Background upkeep until the returned task is aborted: every second, the summary of
    /// refusals not logged; every `every`, claims whose holder died (another replica's) and
    /// the open-question gauges (unresolved intents, unconfirmed unlinks); every hour, what
    /// the record no longer needs (see [`Store::purge`] and [`Config::retain`]).
    pub fn maintain(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let proxy = self.clone();
        tokio::spawn(async move {
            let mut second = tokio::time::interval(Duration::from_secs(1));
            let mut last = tokio::time::Instant::now();
            let mut last_purge: Option<tokio::time::Instant> = None;
            loop {
                second.tick().await;
                proxy.state.refusals.flush();
                if last.elapsed() < every {
                    continue;
                }
                last = tokio::time::Instant::now();
                if let Err(error) = proxy.recover().await {
                    tracing::warn!(%error, "could not check for expired claims");
                }
                proxy.count_open_questions().await;
                if last_purge.is_none_or(|at| at.elapsed() >= Duration::from_secs(3600)) {
                    last_purge = Some(tokio::time::Instant::now());
                    match proxy.state.store.purge(proxy.state.retain).await {
                        Ok(0) => {}
                        Ok(gone) => tracing::info!(gone, "deleted trail rows past --retain-days"),
                        Err(error) => tracing::warn!(%error, "could not purge the record"),
                    }
                }
            }
        })
    }

    /// Counts the record's open questions for the metrics, in the engine: nothing is loaded,
    /// however long the trail.
    pub async fn count_open_questions(&self) {
        use store::Only;
        let store = &self.state.store;
        let unconfirmed = Only::Unconfirmed {
            older_than: Duration::from_secs(600),
        };
        match (
            store.count(Only::Unresolved).await,
            store.count(unconfirmed).await,
        ) {
            (Ok(unresolved), Ok(unconfirmed)) => telemetry::open_questions(unresolved, unconfirmed),
            (Err(error), _) | (_, Err(error)) => {
                tracing::warn!(%error, "could not count unresolved and unconfirmed unlinks")
            }
        }
    }

    /// Waits until every unlink in flight has committed its outcome (or `limit` passes).
    /// Returns whether all finished.
    pub async fn drain(&self, limit: Duration) -> bool {
        self.state.tasks.close();
        tokio::time::timeout(limit, self.state.tasks.wait())
            .await
            .is_ok()
    }

    /// The proxy's routes: `POST {prefix}/accounts/{id}/unlink`, `POST {prefix}/webhooks/mono`,
    /// `GET /healthz`, `GET /metrics` (to loopback clients, if configured), and the static
    /// files if configured. Serve it with [`serve`], or with connect info
    /// (`into_make_service_with_connect_info::<SocketAddr>()`): limits and the record use the
    /// client's address.
    pub fn router(&self) -> Router {
        let state = &self.state;
        let mut api = Router::new()
            .route("/accounts/{*rest}", post(unlink::handle))
            .route("/webhooks/mono", post(webhook::handle))
            .fallback(|| async { ApiError::NotFound })
            .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
            .layer(SetResponseHeaderLayer::overriding(
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-store"),
            ));
        if !state.origins.allowed().is_empty() {
            api = api.layer(cors(state.origins.allowed()));
        }

        let prefix = self.prefix.trim_end_matches('/');
        let mut app = Router::new().route("/healthz", get(healthz));
        if let Some(handle) = &self.metrics {
            app = app.route(
                "/metrics",
                get(metrics_for_loopback).with_state(handle.clone()),
            );
        }
        let app = if prefix.is_empty() {
            app.merge(api)
        } else {
            app.nest(prefix, api)
        };
        let app = match &self.static_dir {
            Some(dir) => app.fallback_service(
                tower::ServiceBuilder::new()
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
            None => app.fallback(|| async { ApiError::NotFound }),
        };

        // In the order a request meets them: its id made trustworthy, then set, echoed and
        // put on every log line of the request; then the body limit.
        app.with_state(state.clone()).layer(
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
                        // Every answer at debug only: anyone can send requests, and a flood
                        // must not become a flood of log lines. Unlinks log their own line.
                        .on_response(DefaultOnResponse::new().level(Level::DEBUG)),
                )
                .layer(DefaultBodyLimit::max(BODY_LIMIT)),
        )
    }
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
fn metrics_router(handle: PrometheusHandle) -> Router {
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

/// Cross-origin callers: only the listed origins, only POST, with cookies.
fn cors(origins: &[String]) -> CorsLayer {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::POST])
        // Partners add their own headers (a CSRF token); the origin list is the gate.
        .allow_headers(AllowHeaders::mirror_request())
        .allow_credentials(true)
        .expose_headers([header::RETRY_AFTER, REQUEST_ID])
        .max_age(Duration::from_secs(600))
}

/// A health check's verdict, and what it was based on.
#[derive(Clone, Copy, Debug)]
struct HealthCheck {
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
            let healthy = match state.store.health().await {
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
