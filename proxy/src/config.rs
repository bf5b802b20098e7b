//! What a partner sets, and what the running proxy keeps of it.
//!
//! [`Config`] is the public builder: defaults from [`Config::new`], fields adjusted by the
//! caller. [`Proxy::start`](crate::Proxy::start) checks it once (a lease that does not exceed
//! the deadline is refused) and turns it into [`Settings`], which every handler reads through
//! one `Arc` instead of a copy of each field.

use std::{fmt, path::PathBuf, sync::Arc, time::Duration};

use axum::http::HeaderName;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::{
    authorize::Authoriser,
    csrf::Origins,
    mono::{Mono, UpstreamConfig},
    ratelimit::RateLimits,
    secret::{ServiceTokens, SharedSecret},
    store::{self, Store, StoreError},
};

/// Largest request body accepted (webhooks are a few hundred bytes; unlinks have none).
pub const BODY_LIMIT: usize = 64 * 1024;

/// The default time within which every unlink is answered: authoriser, records, Mono and
/// its retries together. Below the widget's default timeout (15 s), so the widget hears the
/// answer instead of giving up on it.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(12);

/// Everything the proxy needs. Build it with [`Config::new`], then adjust the public fields.
pub struct Config {
    /// Where the routes live in [`Proxy::app`](crate::Proxy::app), e.g. `/api/mono` (the
    /// widget's `endpoint`). An app that nests [`Proxy::api_router`](crate::Proxy::api_router)
    /// chooses its own.
    pub prefix: String,
    /// Origins (e.g. `https://app.partner.example`) allowed to call cross-origin, with
    /// credentials.
    pub allowed_origins: Vec<String>,
    /// The origins of your own pages that call the proxy same-origin (e.g.
    /// `https://app.partner.example`). When this and `allowed_origins` are both empty, a
    /// request's `Origin` is compared with its `Host` instead, which a client controls: fine
    /// for a local demo, not for production.
    pub public_origins: Vec<String>,
    /// Serves `GET /metrics` (Prometheus text) to loopback clients in
    /// [`Proxy::app`](crate::Proxy::app) when set; see [`crate::telemetry::install_prometheus`].
    pub metrics: Option<PrometheusHandle>,
    /// Decides who may unlink what; see [`crate::authorize`].
    pub authoriser: Arc<dyn Authoriser>,
    /// Caller headers forwarded to the authoriser besides `Cookie` and `Authorization`.
    pub authorize_forward_headers: Vec<HeaderName>,
    /// Where the record, key bindings, claims and counters live; see [`crate::store`].
    pub store: Arc<dyn Store>,
    /// Enables `POST {prefix}/webhooks/mono`.
    pub webhook_secret: Option<SharedSecret>,
    /// Unlink attempts per minute, per user and per client address; webhook deliveries.
    pub rate_limits: RateLimits,
    /// Every unlink is answered within this (see [`DEFAULT_DEADLINE`]).
    pub deadline: Duration,
    /// How long a claim on an account outlives a holder that died (see
    /// [`store::DEFAULT_LEASE`]). Must exceed `deadline`.
    pub lease: Duration,
    /// Delete trail rows older than this (`None`: keep them).
    pub retain: Option<Duration>,
    /// Serve this folder (the widget's `dist/`) at `/` in [`Proxy::app`](crate::Proxy::app).
    pub static_dir: Option<PathBuf>,
    /// Behind a reverse proxy: take the client address from the last `X-Forwarded-For`
    /// entry. Leave off when clients connect directly (they could claim any address).
    pub trust_forwarded_for: bool,
    /// Refuse, before the authoriser, unlinks that carry no `Cookie`, no `Authorization` and
    /// none of `authorize_forward_headers`: nobody could be signed in. On by default; off
    /// only for an authoriser that knows users some other way (the demo's).
    pub require_credentials: bool,
    /// Enables `POST {prefix}/service/accounts/{id}/unlink` for partners' backends, each
    /// token a yes (see [`crate::secret::ServiceTokens`]).
    pub service_tokens: Option<ServiceTokens>,
    /// Serve the service route only from [`Proxy::service_router`](crate::Proxy::service_router)
    /// (its own listener, away from the internet), not with the rest of the API.
    pub service_apart: bool,
    pub(crate) mono: Arc<Mono>,
}

/// Why a [`Config`] cannot be used.
#[derive(Debug)]
pub enum ConfigError {
    /// The Mono base URL or key cannot be right (see [`UpstreamConfig::check`]).
    Mono(String),
    /// The outgoing HTTP client could not be built (TLS set-up).
    HttpClient(reqwest::Error),
    /// The lease could run out while an unlink is still within its deadline, letting another
    /// replica call Mono again.
    LeaseWithinDeadline {
        /// [`Config::lease`].
        lease: Duration,
        /// [`Config::deadline`].
        deadline: Duration,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Mono(why) => f.write_str(why),
            Self::HttpClient(error) => write!(f, "cannot build the HTTP client: {error}"),
            Self::LeaseWithinDeadline { lease, deadline } => write!(
                f,
                "the claim lease ({lease:?}) must be longer than the deadline ({deadline:?}): \
                 a claim that can expire while its unlink is still within its deadline lets \
                 another replica call Mono again"
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Why [`Proxy::start`](crate::Proxy::start) could not start.
#[derive(Debug)]
pub enum StartError {
    /// The configuration cannot be right.
    Config(ConfigError),
    /// The record could not be read at start-up (recovering a crashed run's intents).
    Record(StoreError),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(error) => error.fmt(f),
            Self::Record(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for StartError {}

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
            service_tokens: None,
            service_apart: false,
            mono: Arc::new(Mono::new(upstream)?),
        })
    }

    /// Refuses what cannot work, then keeps what the handlers read.
    pub(crate) fn settle(self) -> Result<(Settings, Parts), ConfigError> {
        if self.lease <= self.deadline {
            return Err(ConfigError::LeaseWithinDeadline {
                lease: self.lease,
                deadline: self.deadline,
            });
        }
        let settings = Settings {
            prefix: self.prefix.trim_end_matches('/').to_owned(),
            origins: Origins::new(self.public_origins, self.allowed_origins),
            authorize_forward_headers: self.authorize_forward_headers,
            webhook_secret: self.webhook_secret,
            rate_limits: self.rate_limits,
            deadline: self.deadline,
            lease: self.lease,
            retain: self.retain,
            static_dir: self.static_dir,
            trust_forwarded_for: self.trust_forwarded_for,
            require_credentials: self.require_credentials,
            metrics: self.metrics,
            service_tokens: self.service_tokens.map(Arc::new),
            service_apart: self.service_apart,
        };
        let parts = Parts {
            mono: self.mono,
            authoriser: self.authoriser,
            store: self.store,
        };
        Ok((settings, parts))
    }
}

/// The running proxy's settings: [`Config`]'s values, checked, read by every handler.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) prefix: String,
    pub(crate) origins: Origins,
    pub(crate) authorize_forward_headers: Vec<HeaderName>,
    pub(crate) webhook_secret: Option<SharedSecret>,
    pub(crate) rate_limits: RateLimits,
    pub(crate) deadline: Duration,
    pub(crate) lease: Duration,
    pub(crate) retain: Option<Duration>,
    pub(crate) static_dir: Option<PathBuf>,
    pub(crate) trust_forwarded_for: bool,
    pub(crate) require_credentials: bool,
    pub(crate) metrics: Option<PrometheusHandle>,
    pub(crate) service_tokens: Option<Arc<ServiceTokens>>,
    pub(crate) service_apart: bool,
}

/// The working parts a [`Config`] carries besides its settings.
pub(crate) struct Parts {
    pub(crate) mono: Arc<Mono>,
    pub(crate) authoriser: Arc<dyn Authoriser>,
    pub(crate) store: Arc<dyn Store>,
}
