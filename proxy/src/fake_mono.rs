//! A stand-in for `api.withmono.com`, so the demo and the tests run with no key and no network.
//!
//! It speaks Mono's unlink contract over real HTTP: `POST /v2/accounts/{id}/unlink` (and the
//! v1 path) with `mono-sec-key`. Seeded accounts unlink once (200), then answer Mono's JSON
//! 404, as do unknown ids; a wrong key gets 401. Faults can be injected per account, or for
//! every account with `*`: latency, 500, 503, 429 with `Retry-After`, a dropped connection,
//! or the 404s that are *not* Mono's (a gateway's HTML page, JSON of another shape). It can
//! also serve one API version only, or under a path, to stand for a misconfigured URL.

use std::{
    collections::{HashMap, HashSet},
    fmt,
    net::SocketAddr,
    str::FromStr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Extension, Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{error::envelope, mono::MonoApi};

/// The secret key the fake Mono accepts in demo mode.
pub const DEMO_SECRET_KEY: &str = "test_sk_fakemono0000000000demo";

/// One injected failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// Answer normally, but only after this long.
    Latency(Duration),
    /// Answer with this status (500, 503, …).
    Status(u16),
    /// 429 with `Retry-After: seconds`.
    RateLimited {
        /// Seconds, in `Retry-After`.
        retry_after: u64,
    },
    /// Close the connection without answering.
    Drop,
    /// 404 with an HTML page, as a gateway or a corporate egress proxy answers.
    Html404,
    /// 404 with JSON that is not Mono's error (a moved or wrong route on some API).
    Route404,
    /// 200 with an HTML page and nothing unlinked (a captive portal, a misrouted page).
    Html200,
}

/// A fault and how many calls it affects (`None`: every call).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    /// What goes wrong.
    pub kind: FaultKind,
    /// For how many calls; `None`: all of them.
    pub times: Option<u32>,
    /// On this share of calls only, at random (percent); `None`: every call.
    pub percent: Option<u8>,
}

/// Reads `503`, `500x2` (first two calls only), `429:3` (Retry-After 3 s), `drop`,
/// `latency:1500` (milliseconds), `drop x1`, `503%1` (one call in a hundred, at random).
impl FromStr for Fault {
    type Err = String;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let spec = spec.trim();
        let (spec, percent) = match spec.rsplit_once('%') {
            Some((kind, share)) => match share.parse::<u8>() {
                Ok(share) if (1..=100).contains(&share) => (kind, Some(share)),
                _ => return Err(format!("bad share in {spec:?}: use 1 to 100, as in 503%1")),
            },
            None => (spec, None),
        };
        let (kind, times) = match spec.rsplit_once('x') {
            Some((kind, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => (
                kind.trim(),
                Some(n.parse().map_err(|_| format!("bad count in {spec:?}"))?),
            ),
            _ => (spec, None),
        };
        let kind = match kind.split_once(':') {
            Some(("latency", ms)) => FaultKind::Latency(Duration::from_millis(
                ms.parse().map_err(|_| format!("bad latency in {spec:?}"))?,
            )),
            Some(("429", secs)) => FaultKind::RateLimited {
                retry_after: secs
                    .parse()
                    .map_err(|_| format!("bad Retry-After in {spec:?}"))?,
            },
            None if kind == "drop" => FaultKind::Drop,
            None if kind == "html404" => FaultKind::Html404,
            None if kind == "route404" => FaultKind::Route404,
            None if kind == "html200" => FaultKind::Html200,
            None if kind == "429" => FaultKind::RateLimited { retry_after: 1 },
            None => match kind.parse::<u16>() {
                Ok(status) if (400..=599).contains(&status) => FaultKind::Status(status),
                _ => return Err(unknown_fault(spec)),
            },
            Some(_) => return Err(unknown_fault(spec)),
        };
        Ok(Self {
            kind,
            times,
            percent,
        })
    }
}

fn unknown_fault(spec: &str) -> String {
    format!(
        "unknown fault {spec:?}: use a status (500, 503), 429[:seconds], drop, html404, \
         route404, html200 or latency:ms, optionally followed by xN to fail only the first N \
         calls, or %P to fail P calls in a hundred at random"
    )
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            FaultKind::Latency(d) => write!(f, "latency:{}", d.as_millis())?,
            FaultKind::Status(s) => write!(f, "{s}")?,
            FaultKind::RateLimited { retry_after } => write!(f, "429:{retry_after}")?,
            FaultKind::Drop => f.write_str("drop")?,
            FaultKind::Html404 => f.write_str("html404")?,
            FaultKind::Route404 => f.write_str("route404")?,
            FaultKind::Html200 => f.write_str("html200")?,
        }
        if let Some(n) = self.times {
            write!(f, "x{n}")?;
        }
        match self.percent {
            Some(share) => write!(f, "%{share}"),
            None => Ok(()),
        }
    }
}

/// The fake's accounts, faults and call counters. Share it with [`Arc`] to inspect calls.
#[derive(Debug)]
pub struct FakeMono {
    keys: Keys,
    /// The API versions it serves (both, unless told otherwise).
    apis: Vec<MonoApi>,
    /// Where its routes live: "" for the root, as at api.withmono.com.
    base_path: String,
    /// Serve `POST /demo/can-unlink`, a partner authoriser for the demo user, too.
    demo_user: Option<DemoUser>,
    state: Mutex<FakeState>,
}

/// The demo user the standalone fake vouches for at `/demo/can-unlink`.
#[derive(Debug)]
struct DemoUser {
    principal: String,
    /// The accounts the user owns; `None`: every account (for load tests).
    owned: Option<HashSet<String>>,
    /// Each answer waits a random time up to this: a loaded session store, whose slow
    /// answers let some of many concurrent confirmations reach the record late.
    latency: Duration,
}

/// Which `mono-sec-key` values the fake accepts.
#[derive(Debug)]
enum Keys {
    Exactly(String),
    /// Any sandbox secret key, so several proxies (and partners' tests) can share one fake.
    AnyTestKey,
}

#[derive(Debug, Default)]
struct FakeState {
    linked: HashSet<String>,
    /// Per account (or `*`), in the order given: each applies until its count runs out.
    faults: HashMap<String, Vec<Fault>>,
    calls: HashMap<String, u32>,
    /// Mono's own 404 answers, by account: an account called after it was unlinked.
    not_found: HashMap<String, u32>,
    /// Successful unlinks, rate-limit refusals and injected failures, in all.
    unlinked: u64,
    rate_limited: u64,
    failed: u64,
    /// Calls allowed per second, if limited, and the limit's state.
    limit: Option<Limit>,
}

/// A token bucket: `per_second` calls a second, with a burst of a fifth of a second's worth,
/// as an API gateway in front of Mono might allow.
#[derive(Debug)]
struct Limit {
    per_second: u32,
    tokens: f64,
    at: std::time::Instant,
}

impl Limit {
    fn new(per_second: u32) -> Self {
        Self {
            per_second,
            tokens: Self::burst(per_second),
            at: std::time::Instant::now(),
        }
    }

    fn burst(per_second: u32) -> f64 {
        (f64::from(per_second) / 5.0).max(1.0)
    }

    /// Takes a token if there is one.
    fn take(&mut self) -> bool {
        let now = std::time::Instant::now();
        let refill = now.duration_since(self.at).as_secs_f64() * f64::from(self.per_second);
        self.tokens = (self.tokens + refill).min(Self::burst(self.per_second));
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

impl FakeMono {
    /// A fake that accepts exactly `secret_key`.
    pub fn new(secret_key: &str) -> Self {
        Self {
            keys: Keys::Exactly(secret_key.to_owned()),
            apis: vec![MonoApi::V2, MonoApi::V1],
            base_path: String::new(),
            demo_user: None,
            state: Mutex::default(),
        }
    }

    /// Also answers `POST /demo/can-unlink` as a partner's authoriser would (the README's
    /// contract): yes, as `principal`, for the accounts in `owned`, or for every account with
    /// `None`. For the reference set-up, where replicas need an authoriser to ask.
    pub fn with_demo_authoriser(mut self, principal: &str, owned: Option<HashSet<String>>) -> Self {
        self.demo_user = Some(DemoUser {
            principal: principal.to_owned(),
            owned,
            latency: Duration::ZERO,
        });
        self
    }

    /// Makes the demo authoriser answer after a random wait of up to `latency`.
    pub fn with_authoriser_latency(mut self, latency: Duration) -> Self {
        if let Some(user) = &mut self.demo_user {
            user.latency = latency;
        }
        self
    }

    /// A fake that accepts any `test_sk_…` key and answers others 401.
    pub fn accepting_any_test_key() -> Self {
        Self {
            keys: Keys::AnyTestKey,
            ..Self::new("")
        }
    }

    /// Serves only `api`'s path; the other answers like a server that has no such route.
    pub fn only_api(mut self, api: MonoApi) -> Self {
        self.apis = vec![api];
        self
    }

    /// Serves its routes under `path` (e.g. `/mono`), as Mono behind a path-rewriting
    /// gateway would: a proxy whose base URL lacks it reaches nothing.
    pub fn under_path(mut self, path: &str) -> Self {
        self.base_path = path.trim_end_matches('/').to_owned();
        self
    }

    fn accepts(&self, key: Option<&[u8]>) -> bool {
        match (&self.keys, key) {
            (Keys::Exactly(expected), Some(key)) => key == expected.as_bytes(),
            (Keys::AnyTestKey, Some(key)) => {
                key.starts_with(b"test_sk_")
                    && key.len() > 8
                    && key.iter().all(u8::is_ascii_graphic)
            }
            (_, None) => false,
        }
    }

    /// Adds a linked account.
    pub fn with_account(self, id: &str) -> Self {
        self.lock().linked.insert(id.to_owned());
        self
    }

    /// Injects `fault` for `id`, or for every account when `id` is `*`. Several faults for
    /// one id apply in order: `503x1` then `latency:30000` fails once, then hangs.
    pub fn with_fault(self, id: &str, fault: Fault) -> Self {
        self.lock()
            .faults
            .entry(id.to_owned())
            .or_default()
            .push(fault);
        self
    }

    /// How many unlink calls reached the fake for `id` (with any key).
    pub fn calls(&self, id: &str) -> u32 {
        self.lock().calls.get(id).copied().unwrap_or(0)
    }

    /// How many unlink calls reached the fake in all.
    pub fn total_calls(&self) -> u32 {
        self.lock().calls.values().sum()
    }

    /// Whether `id` is still linked at the fake.
    pub fn is_linked(&self, id: &str) -> bool {
        self.lock().linked.contains(id)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FakeState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Counts the call and takes the fault to apply to it, if any.
    fn next_fault(&self, id: &str) -> Option<FaultKind> {
        let mut state = self.lock();
        *state.calls.entry(id.to_owned()).or_default() += 1;
        let key = if state.faults.contains_key(id) {
            id
        } else {
            "*"
        };
        let fault = state.faults.get_mut(key)?.iter_mut().find(|fault| {
            fault.times != Some(0)
                && fault
                    .percent
                    .is_none_or(|share| rand::random::<f64>() * 100.0 < f64::from(share))
        })?;
        if let Some(n) = &mut fault.times {
            *n -= 1;
        }
        let kind = fault.kind;
        if !matches!(kind, FaultKind::Latency(_)) {
            state.failed += 1;
        }
        Some(kind)
    }

    /// Limits calls to `per_second` (429 with `Retry-After` beyond it), as Mono's own rate
    /// limit would.
    pub fn with_rate_limit(self, per_second: u32) -> Self {
        self.lock().limit = Some(Limit::new(per_second.max(1)));
        self
    }

    /// Whether a call may go on under the rate limit.
    fn within_limit(&self) -> bool {
        let mut state = self.lock();
        let allowed = state.limit.as_mut().is_none_or(Limit::take);
        if !allowed {
            state.rate_limited += 1;
        }
        allowed
    }

    /// The fake's routes, for tests that call it in-process. Anything else is a bare 404, as
    /// a web server that has no such route gives.
    pub fn router(self: Arc<Self>) -> Router {
        let mut routes = Router::new();
        for api in &self.apis {
            let path = match api {
                MonoApi::V2 => "/v2/accounts/{id}/unlink",
                MonoApi::V1 => "/accounts/{id}/unlink",
            };
            routes = routes.route(path, post(unlink));
        }
        let mut routes = if self.base_path.is_empty() {
            routes
        } else {
            Router::new().nest(&self.base_path, routes)
        };
        if self.demo_user.is_some() {
            routes = routes.route("/demo/can-unlink", post(can_unlink));
        }
        routes
            .route("/fake/calls", axum::routing::get(calls))
            .route("/fake/stats", axum::routing::get(stats))
            .fallback(|| async { (StatusCode::NOT_FOUND, "404 page not found") })
            .with_state(self)
    }

    /// Serves the fake on `listener` until the task is dropped. Runs its own accept loop so a
    /// `drop` fault can close a connection without answering, as a failing network does.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) {
        let router = self.router();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let hang_up = CancellationToken::new();
            let app = router.clone().layer(Extension(HangUp(hang_up.clone())));
            tokio::spawn(async move {
                let service = hyper_util::service::TowerToHyperService::new(app);
                let connection = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service);
                tokio::select! {
                    _ = connection => {}
                    // Dropping the connection future closes the socket mid-request.
                    () = hang_up.cancelled() => {}
                }
            });
        }
    }

    /// Binds 127.0.0.1 on a free port and serves there in the background.
    pub async fn spawn(self: Arc<Self>) -> std::io::Result<SocketAddr> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(self.serve(listener));
        Ok(addr)
    }
}

/// Closes the current connection without an answer.
#[derive(Clone)]
struct HangUp(CancellationToken);

async fn unlink(
    State(fake): State<Arc<FakeMono>>,
    hang_up: Option<Extension<HangUp>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !fake.within_limit() {
        *fake.lock().calls.entry(id.clone()).or_default() += 1;
        let mut response = failed(StatusCode::TOO_MANY_REQUESTS, "Too many requests");
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, 1u32.into());
        return response;
    }
    let fault = fake.next_fault(&id);
    match fault {
        Some(FaultKind::Latency(delay)) => tokio::time::sleep(delay).await,
        Some(FaultKind::Status(status)) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return failed(status, "Internal server error");
        }
        Some(FaultKind::RateLimited { retry_after }) => {
            let mut response = failed(StatusCode::TOO_MANY_REQUESTS, "Too many requests");
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, retry_after.into());
            return response;
        }
        Some(FaultKind::Html404) => {
            let page = "<html><head><title>404 Not Found</title></head><body><center>\
                        <h1>404 Not Found</h1></center><hr><center>nginx</center></body></html>";
            return (
                StatusCode::NOT_FOUND,
                [(header::CONTENT_TYPE, "text/html")],
                page,
            )
                .into_response();
        }
        Some(FaultKind::Html200) => {
            let page = "<html><body>Welcome! Please accept the terms to continue.</body></html>";
            return (StatusCode::OK, [(header::CONTENT_TYPE, "text/html")], page).into_response();
        }
        Some(FaultKind::Route404) => {
            let body = serde_json::json!({ "error": "Not Found", "path": format!("/accounts/{id}/unlink") });
            return (StatusCode::NOT_FOUND, axum::Json(body)).into_response();
        }
        Some(FaultKind::Drop) => {
            if let Some(Extension(HangUp(token))) = hang_up {
                token.cancel();
                std::future::pending::<()>().await;
            }
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
        None => {}
    }
    if !fake.accepts(headers.get("mono-sec-key").map(|v| v.as_bytes())) {
        return failed(StatusCode::UNAUTHORIZED, "No valid API key provided");
    }
    let mut state = fake.lock();
    if state.linked.remove(&id) {
        state.unlinked += 1;
        let body = envelope(true, "Account unlinked successfully", Value::Null);
        (StatusCode::OK, body).into_response()
    } else {
        *state.not_found.entry(id).or_default() += 1;
        failed(
            StatusCode::NOT_FOUND,
            "The requested resource doesn't exist",
        )
    }
}

/// `POST /demo/can-unlink` `{"account_id": …}`: the demo user's authoriser.
async fn can_unlink(State(fake): State<Arc<FakeMono>>, body: axum::body::Bytes) -> Response {
    let account = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["account_id"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let Some(user) = &fake.demo_user else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if !user.latency.is_zero() {
        tokio::time::sleep(user.latency.mul_f64(rand::random::<f64>())).await;
    }
    let owns = user
        .owned
        .as_ref()
        .is_none_or(|owned| owned.contains(&account));
    let answer = if owns {
        serde_json::json!({ "allowed": true, "principal": user.principal })
    } else {
        serde_json::json!({ "allowed": false })
    };
    axum::Json(answer).into_response()
}

/// `GET /fake/calls`: unlink calls received, by account, for tests in other processes.
async fn calls(State(fake): State<Arc<FakeMono>>) -> Response {
    let calls = fake.lock().calls.clone();
    axum::Json(calls).into_response()
}

/// `GET /fake/stats`: what the fake answered in all, for tests and benchmarks in other
/// processes: accounts still linked, successful unlinks, Mono's 404s by account (an account
/// called after it was gone), rate-limit refusals and injected failures.
async fn stats(State(fake): State<Arc<FakeMono>>) -> Response {
    let state = fake.lock();
    axum::Json(serde_json::json!({
        "linked": state.linked.len(),
        "calls": state.calls.values().map(|n| u64::from(*n)).sum::<u64>(),
        "unlinked": state.unlinked,
        "not_found": state.not_found,
        "rate_limited": state.rate_limited,
        "failed": state.failed,
    }))
    .into_response()
}

/// Mono's v2 failure envelope, the same shape the proxy answers in.
fn failed(status: StatusCode, message: &str) -> Response {
    (status, envelope(false, message, Value::Null)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_specs() {
        let parse = |s: &str| s.parse::<Fault>();
        let kind = |s: &str| parse(s).unwrap().kind;
        assert_eq!(kind("503"), FaultKind::Status(503));
        assert_eq!(kind("500"), FaultKind::Status(500));
        assert_eq!(kind("429"), FaultKind::RateLimited { retry_after: 1 });
        assert_eq!(kind("429:7"), FaultKind::RateLimited { retry_after: 7 });
        assert_eq!(kind("drop"), FaultKind::Drop);
        assert_eq!(
            kind("latency:1500"),
            FaultKind::Latency(Duration::from_millis(1500))
        );
        assert_eq!(parse("503x2").unwrap().times, Some(2));
        assert_eq!(parse("drop x1").unwrap().times, Some(1));
        assert_eq!(parse("503").unwrap().times, None);
        assert_eq!(kind("html404"), FaultKind::Html404);
        assert_eq!(kind("route404"), FaultKind::Route404);
        assert_eq!(parse("503%1").unwrap().percent, Some(1));
        assert_eq!(parse("503%1").unwrap().to_string(), "503%1");
        for bad in [
            "",
            "200",
            "teapot",
            "latency:soon",
            "429:x",
            "drop:1",
            "503%0",
            "503%x",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        for spec in [
            "503",
            "500x2",
            "429:3",
            "drop",
            "latency:20x1",
            "html404x1",
            "route404",
        ] {
            assert_eq!(parse(spec).unwrap().to_string(), spec);
        }
    }

    #[test]
    fn faults_apply_per_account_then_wear_off() {
        let fake = FakeMono::new("test_sk_k")
            .with_account("a")
            .with_fault("a", "503x2".parse().unwrap())
            .with_fault("*", "latency:5".parse().unwrap());
        assert_eq!(fake.next_fault("a"), Some(FaultKind::Status(503)));
        assert_eq!(fake.next_fault("a"), Some(FaultKind::Status(503)));
        assert_eq!(fake.next_fault("a"), None);
        assert_eq!(
            fake.next_fault("b"),
            Some(FaultKind::Latency(Duration::from_millis(5)))
        );
        assert_eq!(fake.calls("a"), 3);
        assert_eq!(fake.total_calls(), 4);
    }

    #[test]
    fn faults_for_one_account_apply_in_order() {
        let fake = FakeMono::new("test_sk_k")
            .with_fault("a", "503x1".parse().unwrap())
            .with_fault("a", "latency:9".parse().unwrap());
        assert_eq!(fake.next_fault("a"), Some(FaultKind::Status(503)));
        for _ in 0..3 {
            assert_eq!(
                fake.next_fault("a"),
                Some(FaultKind::Latency(Duration::from_millis(9)))
            );
        }
    }
}
