//! A partner's own axum app with the proxy's routes nested in it: its own state, its own
//! `/healthz` (which asks the record too), its own API, and a single-page app's fallback.
//! `Proxy::api_router` brings only the unlink and webhook routes and their layers, so none of
//! that is touched.
//!
//! ```sh
//! MONO_SEC_KEY=test_sk_… cargo run -p unlink-proxy --example embed
//! curl -X POST -H 'Cookie: session=alice-session' -H 'Idempotency-Key: k1' \
//!   http://127.0.0.1:3000/api/mono/accounts/60770aa8c5878a2af69ed849/unlink
//! ```
//!
//! `proxy/tests/embed.rs` runs this file's `app` over loopback against a fake Mono.

use std::{collections::HashMap, net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{Html, IntoResponse},
    routing::get,
};
use serde_json::json;
use unlink_proxy::{
    Config, Denied, Principal, Proxy, SecretKey, SqliteStore, StartError, UpstreamConfig,
    authoriser_fn,
};

/// The partner's own state: who is signed in, and which accounts each user linked. A real
/// app would ask its database.
#[derive(Clone)]
pub struct Partner {
    /// Session cookie value → user id.
    pub sessions: Arc<HashMap<String, String>>,
    /// User id → the Mono account ids they linked.
    pub linked: Arc<HashMap<String, Vec<String>>>,
    /// The unlink proxy, nested under `/api/mono`.
    pub proxy: Proxy,
}

impl Partner {
    /// The user a request's `session` cookie belongs to.
    fn user(&self, cookie: Option<&str>) -> Option<String> {
        let session = cookie?
            .split(';')
            .find_map(|pair| pair.trim().strip_prefix("session="))?;
        self.sessions.get(session).cloned()
    }
}

/// Starts the proxy with an authoriser that asks the partner's own sessions: only the signed-in
/// owner of an account may unlink it.
pub async fn start_proxy(
    upstream: UpstreamConfig,
    record: Arc<SqliteStore>,
    sessions: Arc<HashMap<String, String>>,
    linked: Arc<HashMap<String, Vec<String>>>,
) -> Result<Proxy, StartError> {
    let authoriser = authoriser_fn(move |request| {
        let (sessions, linked) = (sessions.clone(), linked.clone());
        let account = request.account_id.to_string();
        let session = request
            .cookie()
            .and_then(|c| c.split(';').find_map(|p| p.trim().strip_prefix("session=")))
            .map(str::to_owned);
        async move {
            let user = session
                .and_then(|s| sessions.get(&s).cloned())
                .ok_or_else(|| Denied("no session".into()))?;
            let owns = linked.get(&user).is_some_and(|ids| ids.contains(&account));
            if owns {
                Principal::new(user)
            } else {
                Err(Denied(format!("{user} did not link {account}")))
            }
        }
    });
    let mut config = Config::new(upstream, authoriser, record).map_err(StartError::Config)?;
    // Your pages' origin: the proxy refuses other sites' requests.
    config.public_origins = vec!["http://127.0.0.1:3000".into()];
    Proxy::start(config).await
}

/// The partner's whole app.
pub fn app(partner: Partner) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/api/me", get(me))
        .nest("/api/mono", partner.proxy.api_router())
        .fallback(spa)
        .with_state(partner)
}

/// The partner's own health check, which includes the unlink record's.
async fn healthz(State(partner): State<Partner>) -> impl IntoResponse {
    match partner.proxy.healthy().await {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({ "app": "ok", "unlink_record": "ok" })),
        ),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "app": "ok", "unlink_record": "unavailable" })),
        ),
    }
}

/// Part of the partner's own API.
async fn me(State(partner): State<Partner>, headers: HeaderMap) -> impl IntoResponse {
    let cookie = headers.get(header::COOKIE).and_then(|v| v.to_str().ok());
    match partner.user(cookie) {
        Some(user) => {
            let accounts = partner.linked.get(&user).cloned().unwrap_or_default();
            Json(json!({ "user": user, "accounts": accounts })).into_response()
        }
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}

/// The single-page app: every other path is its page.
async fn spa() -> Html<&'static str> {
    Html("<!doctype html><title>Partner app</title><div id=\"root\"></div>")
}

#[allow(dead_code)] // the test uses the functions above, not `main`
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let key = SecretKey::parse(&std::env::var("MONO_SEC_KEY")?)?;
    let mut upstream = UpstreamConfig::new(key);
    if let Ok(base) = std::env::var("MONO_BASE_URL") {
        upstream.base_url = base.parse()?;
    }
    let sessions = Arc::new(HashMap::from([(
        "alice-session".to_owned(),
        "alice".to_owned(),
    )]));
    let linked = Arc::new(HashMap::from([(
        "alice".to_owned(),
        vec!["60770aa8c5878a2af69ed849".to_owned()],
    )]));
    let record = Arc::new(SqliteStore::open("embed-audit.sqlite3")?);
    let proxy = start_proxy(upstream, record, sessions.clone(), linked.clone()).await?;
    let partner = Partner {
        sessions,
        linked,
        proxy: proxy.clone(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    // The client's address is what limits and the record use: serve with connect info.
    axum::serve(
        listener,
        app(partner).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    // Unlinks whose clients left still commit their outcome before the process ends.
    proxy.drain(Duration::from_secs(30)).await;
    Ok(())
}
