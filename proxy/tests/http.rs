//! The proxy served over real loopback HTTP against the fake Mono: every injected fault,
//! clients that hang up, the deadline, and graceful shutdown.

mod support;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{Json, Router, routing::post as route_post};
use serde_json::{Value, json};
use support::*;
use tokio::sync::oneshot;
use unlink_proxy::{
    Config, Proxy,
    authorize::HttpAuthoriser,
    record::{Entry, Kind, Outcome},
};

/// A running proxy: its base URL, and a trigger that starts a graceful shutdown.
struct Running {
    url: String,
    stop: Option<oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start(h: &mut Harness) -> Running {
    start_with(h, |_| {}).await
}

async fn start_with(h: &mut Harness, tweak: impl FnOnce(&mut Config)) -> Running {
    let proxy = h.proxy_with(tweak).await;
    serve(proxy).await
}

async fn serve(proxy: Proxy) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        unlink_proxy::serve(listener, &proxy, async {
            let _ = stopped.await;
        })
        .await
    });
    Running {
        url,
        stop: Some(stop),
        server,
    }
}

async fn post(url: &str, id: &str, key: &str) -> (u16, reqwest::header::HeaderMap, Value) {
    let response = reqwest::Client::new()
        .post(format!("{url}/api/mono/accounts/{id}/unlink"))
        .header("idempotency-key", key)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.unwrap();
    assert!(!String::from_utf8_lossy(&bytes).contains(SECRET));
    (status, headers, serde_json::from_slice(&bytes).unwrap())
}

/// One unlink of `OWNED` with `fault` injected.
struct Faulted {
    status: u16,
    code: String,
    calls: u32,
    attempts: u32,
    headers: reqwest::header::HeaderMap,
}

async fn with_fault(fault: &str) -> Faulted {
    let mut h = harness(&[(OWNED, fault)]).await;
    let running = start(&mut h).await;
    let (status, headers, body) = post(&running.url, OWNED, "k").await;
    Faulted {
        status,
        code: body["data"]["code"].as_str().unwrap_or("").to_owned(),
        calls: h.fake.calls(OWNED),
        attempts: h.rows_of(Kind::Unlink).await[0].attempts,
        headers,
    }
}

/// Waits until the record holds `count` rows, for work that goes on after an answer.
async fn rows_eventually(h: &Harness, count: usize) -> Vec<Entry> {
    let started = Instant::now();
    loop {
        let rows = h.rows().await;
        if rows.len() >= count || started.elapsed() > Duration::from_secs(10) {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_healthy_mono_unlinks_over_http() {
    let mut h = harness(&[]).await;
    let running = start(&mut h).await;
    let (status, headers, body) = post(&running.url, OWNED, "k").await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["already_unlinked"], false);
    assert!(headers.contains_key("x-request-id"));
    let intent = &h.rows_of(Kind::Intent).await[0];
    assert_eq!(
        intent.client_ip.as_deref(),
        Some("127.0.0.1"),
        "the real peer address"
    );
}

#[tokio::test]
async fn fault_500_is_not_retried() {
    let f = with_fault("500").await;
    assert_eq!(
        (f.status, f.code.as_str(), f.calls, f.attempts),
        (502, "upstream_unavailable", 1, 1)
    );
}

#[tokio::test]
async fn fault_503_once_is_retried_to_success() {
    let f = with_fault("503x1").await;
    assert_eq!((f.status, f.calls, f.attempts), (200, 2, 2));
}

#[tokio::test]
async fn fault_503_always_gives_up_after_three_attempts() {
    let f = with_fault("503").await;
    assert_eq!(
        (f.status, f.code.as_str(), f.calls),
        (502, "upstream_unavailable", 3)
    );
}

#[tokio::test]
async fn fault_429_waits_for_retry_after() {
    let started = Instant::now();
    let f = with_fault("429:1x1").await;
    assert_eq!((f.status, f.calls), (200, 2));
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was honoured"
    );
}

#[tokio::test]
async fn fault_429_with_a_long_retry_after_is_passed_on() {
    let f = with_fault("429:45").await;
    assert_eq!(
        (f.status, f.code.as_str(), f.calls),
        (502, "upstream_unavailable", 1)
    );
    assert_eq!(f.headers["retry-after"], "45");
}

#[tokio::test]
async fn a_dropped_connection_is_retried() {
    let f = with_fault("dropx1").await;
    assert_eq!((f.status, f.calls, f.attempts), (200, 2, 2));
}

#[tokio::test]
async fn connections_that_keep_dropping_give_502() {
    let f = with_fault("drop").await;
    assert_eq!(
        (f.status, f.code.as_str(), f.calls),
        (502, "upstream_unavailable", 3)
    );
}

#[tokio::test]
async fn latency_within_the_timeout_is_fine() {
    let f = with_fault("latency:300").await;
    assert_eq!((f.status, f.calls), (200, 1));
}

#[tokio::test]
async fn latency_beyond_the_timeout_is_504() {
    // The harness allows 2 s per attempt.
    let started = Instant::now();
    let f = with_fault("latency:2500").await;
    assert_eq!(
        (f.status, f.code.as_str(), f.calls),
        (504, "upstream_unavailable", 1)
    );
    assert!(started.elapsed() < Duration::from_millis(2400));
}

#[tokio::test]
async fn mono_is_unreachable() {
    let mut h = harness(&[]).await;
    // Port 1: nothing listens there (a port freed by another test could be reused at once).
    h.upstream.base_url = url::Url::parse("http://127.0.0.1:1").unwrap();
    let running = start(&mut h).await;
    let (status, _, body) = post(&running.url, OWNED, "k").await;
    assert_eq!(status, 502);
    assert_eq!(body["data"]["code"], "upstream_unavailable");
    assert_eq!(h.rows_of(Kind::Unlink).await[0].attempts, 3);
}

#[tokio::test]
async fn parallel_requests_over_http_share_one_mono_call() {
    let mut h = harness(&[(OWNED, "latency:400")]).await;
    let running = start(&mut h).await;
    let requests: Vec<_> = (0..8)
        .map(|i| {
            let url = running.url.clone();
            tokio::spawn(async move { post(&url, OWNED, &format!("key-{i}")).await.0 })
        })
        .collect();
    for request in requests {
        assert_eq!(request.await.unwrap(), 200);
    }
    assert_eq!(h.fake.calls(OWNED), 1);
    assert_eq!(h.rows_of(Kind::Unlink).await.len(), 8);
    assert_eq!(h.rows_of(Kind::Intent).await.len(), 1);
}

#[tokio::test]
async fn a_client_that_hangs_up_mid_call_still_leaves_intent_and_outcome() {
    let mut h = harness(&[(OWNED, "latency:1000")]).await;
    let running = start(&mut h).await;
    // The browser gives up 100 ms into Mono's one-second call (a closed tab, a timeout).
    let gave_up = reqwest::Client::new()
        .post(format!("{}/api/mono/accounts/{OWNED}/unlink", running.url))
        .header("idempotency-key", "k")
        .timeout(Duration::from_millis(100))
        .send()
        .await;
    assert!(gave_up.unwrap_err().is_timeout());

    let rows = rows_eventually(&h, 2).await;
    let kinds: Vec<_> = rows.iter().map(|r| (r.kind, r.outcome)).collect();
    assert_eq!(
        kinds,
        [
            (Kind::Intent, None),
            (Kind::Unlink, Some(Outcome::Unlinked))
        ],
        "exactly one intent and one outcome"
    );
    assert_eq!(rows[1].intent_id, Some(rows[0].id));
    assert_eq!(h.fake.calls(OWNED), 1);
    assert!(!h.fake.is_linked(OWNED));
}

/// The partner's authoriser, answering yes after `delay`.
async fn slow_authoriser(delay: Duration) -> url::Url {
    let app = Router::new().route(
        "/can-unlink",
        route_post(move || async move {
            tokio::time::sleep(delay).await;
            Json(json!({ "allowed": true, "principal": "user-42" }))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/can-unlink", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url.parse().unwrap()
}

#[tokio::test]
async fn the_slowest_path_is_answered_within_the_deadline() {
    // The authoriser takes most of its two seconds, then Mono fails once and hangs.
    let mut h = harness(&[(OWNED, "503x1"), (OWNED, "latency:30000")]).await;
    h.upstream.request_timeout = Duration::from_secs(10);
    let authoriser = Arc::new(
        HttpAuthoriser::new(
            slow_authoriser(Duration::from_millis(1800)).await,
            Duration::from_secs(2),
        )
        .unwrap(),
    );
    let deadline = Duration::from_secs(4);
    let running = start_with(&mut h, |c| {
        c.authoriser = authoriser;
        c.deadline = deadline;
    })
    .await;
    let started = Instant::now();
    let (status, _, body) = post(&running.url, OWNED, "k").await;
    let took = started.elapsed();
    assert_eq!(status, 504, "{body}");
    assert_eq!(body["data"]["code"], "upstream_unavailable");
    assert!(
        took <= deadline,
        "answered in {took:?}, budget {deadline:?}"
    );
    assert_eq!(h.fake.calls(OWNED), 2);
    let outcome = &rows_eventually(&h, 2).await[1];
    assert_eq!(outcome.outcome, Some(Outcome::UpstreamUnavailable));
    assert_eq!(outcome.attempts, 2);
}

#[tokio::test]
async fn graceful_shutdown_lets_an_unlink_in_flight_finish() {
    let mut h = harness(&[(OWNED, "latency:800")]).await;
    let mut running = start(&mut h).await;
    let url = running.url.clone();
    let in_flight = tokio::spawn(async move { post(&url, OWNED, "k").await.0 });
    tokio::time::sleep(Duration::from_millis(200)).await;
    running.stop.take().unwrap().send(()).unwrap();

    assert_eq!(
        in_flight.await.unwrap(),
        200,
        "the request in flight got its answer"
    );
    running.server.await.unwrap().unwrap();
    let outcomes = h.rows_of(Kind::Unlink).await;
    assert_eq!(outcomes.len(), 1, "and its outcome landed");
    assert_eq!(outcomes[0].outcome, Some(Outcome::Unlinked));
    // Nothing new is accepted.
    let refused = reqwest::Client::new()
        .post(format!(
            "{}/api/mono/accounts/{OWNED_2}/unlink",
            running.url
        ))
        .send()
        .await;
    assert!(refused.is_err());
}
