//! The one harness for the proxy's tests: a fake Mono on loopback, a temporary audit
//! database, the demo authoriser, a request builder shaped like the widget's, a proxy served
//! in this process ([`serve_with`]); processes of the binary (the demo, a live proxy, the
//! standalone fake Mono, replicas) are in [`binary`], a PostgreSQL in [`postgres`]. Tests
//! wait for conditions ([`until`]), never for a fixed time.
#![allow(dead_code, unreachable_pub)]

pub mod binary;
pub mod postgres;

use std::{
    collections::HashSet,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Router, body::Body, extract::connect_info::MockConnectInfo, http::Request};
use http_body_util::BodyExt;
use serde_json::Value;
use tokio::sync::oneshot;
use unlink_proxy::{
    Config, Principal, Proxy, SecretKey, ServerLimits, SqliteStore, UpstreamConfig,
    authorize::DemoAuthoriser,
    fake_mono::{FakeMono, Fault},
    record::{Entry, Kind},
    store::{Query, Record, Store, patient_deadline},
};
use url::Url;

/// Owned by the test user.
pub const OWNED: &str = "60770aa8c5878a2af69ed849";
pub const OWNED_2: &str = "65c4c03aa66a95b572cb5a86";
/// Linked at the fake Mono but owned by somebody else.
pub const NOT_OWNED: &str = "64779d900000000000b3de23aeb8";
/// A key that looks real, so a leak would be visible.
pub const SECRET: &str = "test_sk_0123456789abcdefghij";
pub const HOST: &str = "partner.test";

pub struct Harness {
    pub fake: Arc<FakeMono>,
    pub store: Arc<SqliteStore>,
    /// Points at the fake, with fast retries; adjust before calling `app`.
    pub upstream: UpstreamConfig,
    pub dir: tempfile::TempDir,
}

/// A fake Mono with the three accounts (plus any faults), and a config pointing at it with
/// fast retries.
pub async fn harness(faults: &[(&str, &str)]) -> Harness {
    let mut fake = FakeMono::new(SECRET);
    for (id, spec) in faults {
        fake = fake.with_fault(id, spec.parse::<Fault>().unwrap());
    }
    harness_with_fake(fake).await
}

/// The same with a fake of the test's own making (another API version, another path); the
/// three accounts are added to it.
pub async fn harness_with_fake(fake: FakeMono) -> Harness {
    let fake = Arc::new(
        fake.with_account(OWNED)
            .with_account(OWNED_2)
            .with_account(NOT_OWNED),
    );
    let addr = fake.clone().spawn().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("audit.sqlite3")).unwrap());
    let mut upstream = UpstreamConfig::new(SecretKey::parse(SECRET).unwrap());
    upstream.base_url = Url::parse(&format!("http://{addr}")).unwrap();
    upstream.backoff = Duration::from_millis(10);
    upstream.request_timeout = Duration::from_secs(2);
    Harness {
        fake,
        store,
        upstream,
        dir,
    }
}

/// The demo user, who owns `OWNED` and `OWNED_2`.
pub fn demo_authoriser() -> Arc<DemoAuthoriser> {
    Arc::new(DemoAuthoriser {
        principal: Principal::new("demo-user").unwrap(),
        owned: HashSet::from([OWNED.to_owned(), OWNED_2.to_owned()]),
    })
}

impl Harness {
    /// The proxy as a client at 192.0.2.7 reaches it.
    pub async fn app(&mut self) -> Router {
        self.app_with(|_| {}).await
    }

    pub async fn app_with(&mut self, tweak: impl FnOnce(&mut Config)) -> Router {
        let proxy = self.proxy_with(tweak).await;
        proxy
            .app()
            .layer(MockConnectInfo(SocketAddr::from(([192, 0, 2, 7], 50000))))
    }

    pub async fn proxy_with(&mut self, tweak: impl FnOnce(&mut Config)) -> Proxy {
        let store: Arc<dyn Store> = self.store.clone();
        let mut config = Config::new(self.upstream.clone(), demo_authoriser(), store).unwrap();
        config.deadline = Duration::from_secs(5);
        tweak(&mut config);
        Proxy::start(config).await.unwrap()
    }

    /// Every row, oldest first.
    pub async fn rows(&self) -> Vec<Entry> {
        self.store
            .entries(&Query::default(), patient_deadline())
            .await
            .unwrap()
    }

    /// The rows of one kind.
    pub async fn rows_of(&self, kind: Kind) -> Vec<Entry> {
        self.rows()
            .await
            .into_iter()
            .filter(|r| r.kind == kind)
            .collect()
    }
}

/// A proxy served in this process over loopback: its base URL, and a trigger that starts a
/// graceful shutdown.
pub struct Served {
    pub url: String,
    pub stop: Option<oneshot::Sender<()>>,
    pub server: tokio::task::JoinHandle<std::io::Result<()>>,
}

pub async fn start(h: &mut Harness) -> Served {
    start_with(h, |_| {}).await
}

pub async fn start_with(h: &mut Harness, tweak: impl FnOnce(&mut Config)) -> Served {
    let proxy = h.proxy_with(tweak).await;
    serve(proxy).await
}

pub async fn serve(proxy: Proxy) -> Served {
    serve_with(proxy, ServerLimits::default()).await
}

pub async fn serve_with(proxy: Proxy, limits: ServerLimits) -> Served {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        unlink_proxy::serve(listener, &proxy, limits, async {
            let _ = stopped.await;
        })
        .await
    });
    Served {
        url,
        stop: Some(stop),
        server,
    }
}

/// `POST /api/mono/accounts/{id}/unlink` as the widget sends it.
pub fn unlink(id: &str, key: &str) -> axum::http::request::Builder {
    Request::post(format!("/api/mono/accounts/{id}/unlink"))
        .header("host", HOST)
        .header("accept", "application/json")
        .header("idempotency-key", key)
}

/// The same, from a signed-in browser (requests with no credentials at all are refused
/// before the authoriser), ready to send.
pub fn post_unlink(id: &str, key: &str) -> Request<Body> {
    signed_in(unlink(id, key)).body(Body::empty()).unwrap()
}

/// Adds the demo user's session cookie.
pub fn signed_in(request: axum::http::request::Builder) -> axum::http::request::Builder {
    request.header("cookie", "session=demo")
}

/// An answer, with a check no test can forget: the secret key is nowhere in it.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: axum::http::HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn code(&self) -> &str {
        self.body["data"]["code"].as_str().unwrap_or("")
    }

    /// `data`, for comparing answers with each other.
    pub fn data(&self) -> &Value {
        &self.body["data"]
    }
}

pub async fn send(app: &Router, request: Request<Body>) -> Answer {
    use tower::ServiceExt;
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    assert_no_secret(&headers, &bytes);
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
    }
}

pub fn assert_no_secret(headers: &axum::http::HeaderMap, body: &[u8]) {
    let text = String::from_utf8_lossy(body);
    assert!(!text.contains(SECRET), "secret in body: {text}");
    assert!(
        !text.contains("0123456789abcdefghij"),
        "secret in body: {text}"
    );
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        assert!(
            !value.contains("0123456789abcdefghij"),
            "secret in header {name}"
        );
    }
}

/// Collects every log line written while it is the default subscriber of this thread.
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    pub fn capture(&self) -> tracing::subscriber::DefaultGuard {
        let writer = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_default(subscriber)
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Waits until `condition` holds, checking every 10 ms; fails the test after 10 s. Tests
/// wait for what they need to see, never for a fixed time.
pub async fn until(condition: impl Fn() -> bool) {
    let started = std::time::Instant::now();
    while !condition() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the condition did not hold within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Writes an unlink of `account` to `store` the way the proxy does: its intent (claimed),
/// then its "unlinked" outcome from Mono. Returns the intent's id.
pub async fn record_unlinked(store: &dyn Store, account: &str) -> i64 {
    let soon = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut intent = Entry::new(Kind::Intent, None);
    intent.account_id = Some(account.into());
    let unlink_proxy::store::Begun::Claimed { intent_id } = store
        .begin(&intent, Duration::from_secs(30), soon)
        .await
        .unwrap()
    else {
        panic!("no claim on {account}")
    };
    let mut outcome = Entry::new(Kind::Unlink, Some(unlink_proxy::record::Outcome::Unlinked));
    outcome.account_id = Some(account.into());
    outcome.source = Some(unlink_proxy::record::Source::Upstream);
    outcome.intent_id = Some(intent_id);
    store.finish(&outcome, soon).await.unwrap();
    intent_id
}
