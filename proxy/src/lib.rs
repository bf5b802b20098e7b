//! # unlink-proxy
//!
//! The partner's backend piece for the unlink widget. It is the only place the Mono secret
//! key lives: it checks that the signed-in user may unlink the account, forwards the unlink
//! to Mono, maps Mono's answers onto one stable contract, and keeps an audit trail in which
//! every call to Mono has its intent written before it and its outcome after it.
//!
//! Run it as the `unlink-proxy` binary, or nest its routes in your own axum app:
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
//! let app: axum::Router = axum::Router::new().nest("/api/mono", proxy.api_router());
//! // Serve `app` with `into_make_service_with_connect_info::<SocketAddr>()`, and call
//! // `proxy.drain(..)` on shutdown so unlinks in flight commit their outcome.
//! # Ok(()) }
//! ```
//!
//! ## Module map, in reading order
//!
//! | module | the question it answers |
//! | --- | --- |
//! | [`config`] | What can a partner set, and what is refused? ([`Config`], its checks) |
//! | [`proxy`](Proxy) | What does a running proxy hold, and how does it start and stop? |
//! | [`routes`] | Which routes are there, in which order do layers meet a request? |
//! | `unlink` | What happens to one unlink, from the click to the record? (`route` → `attempt` → `single_flight` → `call`) |
//! | [`authorize`] | Who may unlink what? (only an explicit yes with a principal) |
//! | [`csrf`], `client`, [`ratelimit`] | Where may a request come from, and how often? |
//! | [`mono`] | How is Mono called, retried, and its answer read? (`client`, `retry`, `answer`, `probe`) |
//! | [`store`] | What is remembered, and how? ([`store::Record`], [`store::RateLimiter`], [`store::Upkeep`]; SQLite and PostgreSQL) |
//! | [`record`] | What words does the trail use? |
//! | [`error`] | What does the caller see when it fails? |
//! | `unlink/service` | How does a partner's backend unlink, with a token? |
//! | [`Unlinker`] | How does a Rust backend unlink, in process? |
//! | `status` | What does the record say about an account? (`GET {prefix}/accounts/{id}`) |
//! | `webhook` | What does Mono tell us afterwards? |
//! | [`upkeep`] | What runs on a schedule? |
//! | [`server`](serve) | How is it served so slow clients cannot hold it hostage? |
//! | [`telemetry`] | What does the operator see besides the trail? |
//! | [`fake_mono`] | What stands in for Mono in the demo and tests? (feature `fake-mono`) |
//!
//! Features: `sqlite` and `postgres` (both default) choose the records compiled in;
//! `fake-mono` adds the test server; `cli` is the binary's.

#![warn(missing_docs)]

pub mod account;
pub mod authorize;
mod client;
pub mod config;
pub mod csrf;
pub mod error;
#[cfg(feature = "fake-mono")]
pub mod fake_mono;
pub mod http_client;
pub mod json;
pub mod mono;
mod proxy;
pub mod ratelimit;
pub mod record;
pub mod routes;
pub mod secret;
mod server;
mod status;
pub mod store;
pub mod telemetry;
pub mod time;
mod unlink;
mod unlinker;
pub mod upkeep;
mod webhook;

#[cfg(feature = "postgres")]
pub use crate::store::PostgresStore;
#[cfg(feature = "sqlite")]
pub use crate::store::SqliteStore;
pub use crate::{
    authorize::{Authoriser, Denied, Principal, authoriser_fn},
    config::{BODY_LIMIT, Config, ConfigError, DEFAULT_DEADLINE, StartError},
    mono::{MonoApi, UpstreamConfig},
    proxy::Proxy,
    ratelimit::RateLimits,
    routes::STATIC_CSP,
    secret::{SecretKey, SharedSecret},
    server::{ServerLimits, serve, serve_metrics, serve_service},
    store::Store,
    unlink::MonoTrace,
    unlinker::{NotUnlinked, UnlinkRequest, Unlinked, Unlinker},
};
