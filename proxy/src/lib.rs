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

pub mod account;
pub mod authorize;
mod client;
pub mod csrf;
pub mod error;
pub mod fake_mono;
mod http_client;
pub mod mono;
pub mod ratelimit;
pub mod record;
pub mod secret;
pub mod store;
pub mod time;
mod unlink;
mod webhook;

use std::{future::Future, net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use axum::{
    Router,
    extract::{DefaultBodyLimit, State},
    http::{HeaderName, HeaderValue, Method, Request, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::json;
use tokio_util::task::TaskTracker;
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
    store::{SqliteStore, Store},
};
use crate::{
    error::{ApiError, envelope},
    mono::Mono,
};

/// The header carrying each request's id: set here if absent, echoed in the answer, logged,
/// and recorded in the audit trail.
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// This request's id, as `SetRequestIdLayer` put it in the headers.
pub(crate) fn request_id(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers.get(REQUEST_ID).and_then(|v| v.to_str().ok())
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
    /// credentials. Same-origin calls are always allowed.
    pub allowed_origins: Vec<String>,
    pub authoriser: Arc<dyn Authoriser>,
    /// Caller headers forwarded to the authoriser besides `Cookie` and `Authorization`.
    pub authorize_forward_headers: Vec<HeaderName>,
    pub store: Arc<dyn Store>,
    /// Enables `POST {prefix}/webhooks/mono`.
    pub webhook_secret: Option<SharedSecret>,
    pub rate_limits: RateLimits,
    /// Every unlink is answered within this (see [`DEFAULT_DEADLINE`]).
    pub deadline: Duration,
    /// How long a claim on an account outlives a holder that died (see [`store::DEFAULT_LEASE`]).
    pub lease: Duration,
    /// Serve this folder (the widget's `dist/`) at `/`.
    pub static_dir: Option<PathBuf>,
    /// Behind a reverse proxy: take the client address from the last `X-Forwarded-For`
    /// entry. Leave off when clients connect directly (they could claim any address).
    pub trust_forwarded_for: bool,
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
            authoriser,
            authorize_forward_headers: Vec::new(),
            store,
            webhook_secret: None,
            rate_limits: RateLimits::default(),
            deadline: DEFAULT_DEADLINE,
            lease: store::DEFAULT_LEASE,
            static_dir: None,
            trust_forwarded_for: false,
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
    allowed_origins: Arc<[String]>,
    webhook_secret: Option<SharedSecret>,
    trust_forwarded_for: bool,
    deadline: Duration,
    lease: Duration,
    in_flight: unlink::InFlight,
    /// Unlink work that outlives its request; shutdown waits for it.
    tasks: TaskTracker,
}

/// A running proxy: its state, its routes, and the work in flight.
#[derive(Clone)]
pub struct Proxy {
    state: AppState,
    prefix: String,
    static_dir: Option<PathBuf>,
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
            allowed_origins: config.allowed_origins.into(),
            webhook_secret: config.webhook_secret,
            trust_forwarded_for: config.trust_forwarded_for,
            deadline: config.deadline,
            lease: config.lease,
            in_flight: Default::default(),
            tasks: TaskTracker::new(),
        };
        let proxy = Self {
            state,
            prefix: config.prefix,
            static_dir: config.static_dir,
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

    /// Background upkeep: every `every`, marks claims whose holder died (another replica's).
    /// Runs until the returned task is aborted.
    pub fn maintain(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let proxy = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(error) = proxy.recover().await {
                    tracing::warn!(%error, "could not check for expired claims");
                }
            }
        })
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
    /// `GET /healthz`, and the static files if configured. Serve it with connect info
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
        if !state.allowed_origins.is_empty() {
            api = api.layer(cors(&state.allowed_origins));
        }

        let prefix = self.prefix.trim_end_matches('/');
        let app = Router::new().route("/healthz", get(healthz));
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
                    .service(ServeDir::new(dir)),
            ),
            None => app.fallback(|| async { ApiError::NotFound }),
        };

        app.with_state(state.clone())
            .layer(DefaultBodyLimit::max(BODY_LIMIT))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(|request: &Request<_>| {
                        let id = request_id(request.headers()).unwrap_or("-");
                        // The path only: headers (cookies, keys) are never logged.
                        tracing::info_span!("request", method = %request.method(),
                            path = %request.uri().path(), request_id = %id)
                    })
                    .on_response(DefaultOnResponse::new().level(Level::INFO)),
            )
            .layer(PropagateRequestIdLayer::new(REQUEST_ID))
            .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
    }
}

/// Serves `proxy` on `listener` until `shutdown` resolves, then lets requests in flight
/// finish and waits (up to `drain`) for unlinks whose clients left to commit their outcome.
pub async fn serve(
    listener: tokio::net::TcpListener,
    proxy: &Proxy,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        proxy
            .router()
            .into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    if !proxy.drain(proxy.state.deadline * 2).await {
        tracing::error!("stopping with unlinks still in flight; start-up will mark them");
    }
    Ok(())
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

async fn healthz(State(state): State<AppState>) -> Response {
    match state.store.health().await {
        Ok(()) => envelope(true, "ok", json!(null)).into_response(),
        Err(error) => {
            tracing::error!(%error, "health check: records cannot be written");
            ApiError::AuditUnavailable.into_response()
        }
    }
}
