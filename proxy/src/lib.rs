//! # unlink-proxy
//!
//! The partner's backend piece for the unlink widget. It is the only place the Mono secret
//! key lives: it checks that the signed-in user may unlink the account, forwards the unlink
//! to Mono, maps Mono's answers onto one stable contract, and keeps an audit trail.
//!
//! Run it as the `unlink-proxy` binary, or mount [`router`] in your own axum app:
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use unlink_proxy::{Config, audit::AuditLog, authorize::{authoriser_fn, Principal, Denied},
//!     mono::UpstreamConfig, secret::SecretKey};
//!
//! let key = SecretKey::parse(&std::env::var("MONO_SEC_KEY")?)?;
//! let authoriser = authoriser_fn(|request| {
//!     let account = request.account_id.clone();
//!     async move { /* look the account up for this session */ Ok(Principal(Some("user-1".into()))) }
//! });
//! let config = Config::new(UpstreamConfig::new(key), authoriser, AuditLog::open("audit.sqlite3")?)?;
//! let app = axum::Router::new().merge(unlink_proxy::router(config));
//! # Ok(()) }
//! ```

pub mod account;
pub mod audit;
pub mod authorize;
pub mod csrf;
pub mod error;
pub mod fake_mono;
pub mod mono;
pub mod ratelimit;
pub mod secret;
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
use tower_http::{
    cors::{AllowHeaders, AllowOrigin, CorsLayer},
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    services::ServeDir,
    set_header::SetResponseHeaderLayer,
    trace::{DefaultOnResponse, TraceLayer},
};
use tracing::Level;

use crate::{
    audit::AuditLog,
    authorize::Authoriser,
    error::{ApiError, envelope},
    mono::{Mono, UpstreamConfig},
    ratelimit::{Limiter, RateLimits},
    secret::SharedSecret,
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
    pub audit: AuditLog,
    /// Enables `POST {prefix}/webhooks/mono`.
    pub webhook_secret: Option<SharedSecret>,
    pub rate_limits: RateLimits,
    /// Serve this folder (the widget's `dist/`) at `/`.
    pub static_dir: Option<PathBuf>,
    /// Behind a reverse proxy: take the client address from the last `X-Forwarded-For`
    /// entry. Leave off when clients connect directly (they could claim any address).
    pub trust_forwarded_for: bool,
    mono: Arc<Mono>,
}

impl Config {
    /// A config with defaults: prefix `/api/mono`, no cross-origin callers, no webhook, no
    /// static files. Fails only if the HTTP client cannot be built.
    pub fn new(
        upstream: UpstreamConfig,
        authoriser: Arc<dyn Authoriser>,
        audit: AuditLog,
    ) -> Result<Self, reqwest::Error> {
        Ok(Self {
            prefix: "/api/mono".into(),
            allowed_origins: Vec::new(),
            authoriser,
            audit,
            webhook_secret: None,
            rate_limits: RateLimits::default(),
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
    audit: AuditLog,
    limiter: Arc<Limiter>,
    allowed_origins: Arc<[String]>,
    webhook_secret: Option<SharedSecret>,
    trust_forwarded_for: bool,
    in_flight: unlink::InFlight,
}

/// The proxy's routes: `POST {prefix}/accounts/{id}/unlink`, `POST {prefix}/webhooks/mono`,
/// `GET /healthz`, and the static files if configured.
pub fn router(config: Config) -> Router {
    let limiter = Arc::new(Limiter::new(config.rate_limits));
    forget_idle_rate_limits(&limiter);
    let state = AppState {
        mono: config.mono,
        authoriser: config.authoriser,
        audit: config.audit,
        limiter,
        allowed_origins: config.allowed_origins.clone().into(),
        webhook_secret: config.webhook_secret,
        trust_forwarded_for: config.trust_forwarded_for,
        in_flight: Default::default(),
    };

    let mut api = Router::new()
        .route("/accounts/{*rest}", post(unlink::handle))
        .route("/webhooks/mono", post(webhook::handle))
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ));
    if !config.allowed_origins.is_empty() {
        api = api.layer(cors(&config.allowed_origins));
    }

    let prefix = config.prefix.trim_end_matches('/');
    let app = Router::new().route("/healthz", get(healthz));
    let app = if prefix.is_empty() {
        app.merge(api)
    } else {
        app.nest(prefix, api)
    };
    let app = match config.static_dir {
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

    app.with_state(state)
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

/// Serves `app` on `listener` until `shutdown` resolves, then lets requests in flight finish
/// (their audit rows land) before returning.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
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
    match state.audit.ping().await {
        Ok(_) => envelope(true, "ok", json!(null)).into_response(),
        Err(error) => {
            tracing::error!(%error, "health check: audit database unusable");
            ApiError::AuditUnavailable.into_response()
        }
    }
}

fn forget_idle_rate_limits(limiter: &Arc<Limiter>) {
    // Only possible inside a runtime; a router built outside one just keeps all keys.
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        let limiter = Arc::downgrade(limiter);
        runtime.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                match limiter.upgrade() {
                    Some(limiter) => limiter.forget_idle(),
                    None => break,
                }
            }
        });
    }
}
