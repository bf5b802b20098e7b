//! The proxy served over real loopback HTTP against the fake Mono, with every injected fault,
//! plus graceful shutdown.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;
use tokio::sync::oneshot;

/// A running proxy: its base URL, and a trigger that starts a graceful shutdown.
struct Running {
    url: String,
    stop: Option<oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start(h: &mut Harness) -> Running {
    let app = h.app();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(unlink_proxy::serve(listener, app, async {
        let _ = stopped.await;
    }));
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

/// One unlink of `OWNED` with `fault` injected: our status, our code, Mono calls, attempts.
async fn with_fault(fault: &str) -> (u16, String, u32, u32, reqwest::header::HeaderMap) {
    let mut h = harness(&[(OWNED, fault)]).await;
    let running = start(&mut h).await;
    let (status, headers, body) = post(&running.url, OWNED, "k").await;
    let code = body["data"]["code"].as_str().unwrap_or("").to_owned();
    let attempts = h.rows().await[0].attempts;
    (status, code, h.fake.calls(OWNED), attempts, headers)
}

#[tokio::test]
async fn a_healthy_mono_unlinks_over_http() {
    let mut h = harness(&[]).await;
    let running = start(&mut h).await;
    let (status, headers, body) = post(&running.url, OWNED, "k").await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["already_unlinked"], false);
    assert!(headers.contains_key("x-request-id"));
    let row = &h.rows().await[0];
    assert_eq!(
        row.client_ip.as_deref(),
        Some("127.0.0.1"),
        "the real peer address"
    );
}

#[tokio::test]
async fn fault_500_is_not_retried() {
    let (status, code, calls, attempts, _) = with_fault("500").await;
    assert_eq!(
        (status, code.as_str(), calls, attempts),
        (502, "upstream_unavailable", 1, 1)
    );
}

#[tokio::test]
async fn fault_503_once_is_retried_to_success() {
    let (status, _, calls, attempts, _) = with_fault("503x1").await;
    assert_eq!((status, calls, attempts), (200, 2, 2));
}

#[tokio::test]
async fn fault_503_always_gives_up_after_three_attempts() {
    let (status, code, calls, _, _) = with_fault("503").await;
    assert_eq!(
        (status, code.as_str(), calls),
        (502, "upstream_unavailable", 3)
    );
}

#[tokio::test]
async fn fault_429_waits_for_retry_after() {
    let started = Instant::now();
    let (status, _, calls, _, _) = with_fault("429:1x1").await;
    assert_eq!((status, calls), (200, 2));
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was honoured"
    );
}

#[tokio::test]
async fn fault_429_with_a_long_retry_after_is_passed_on() {
    let (status, code, calls, _, headers) = with_fault("429:120").await;
    assert_eq!(
        (status, code.as_str(), calls),
        (502, "upstream_unavailable", 1)
    );
    assert_eq!(headers["retry-after"], "120");
}

#[tokio::test]
async fn a_dropped_connection_is_retried() {
    let (status, _, calls, attempts, _) = with_fault("dropx1").await;
    assert_eq!((status, calls, attempts), (200, 2, 2));
}

#[tokio::test]
async fn connections_that_keep_dropping_give_502() {
    let (status, code, calls, _, _) = with_fault("drop").await;
    assert_eq!(
        (status, code.as_str(), calls),
        (502, "upstream_unavailable", 3)
    );
}

#[tokio::test]
async fn latency_within_the_timeout_is_fine() {
    let (status, _, calls, _, _) = with_fault("latency:300").await;
    assert_eq!((status, calls), (200, 1));
}

#[tokio::test]
async fn latency_beyond_the_timeout_is_504() {
    // The harness allows 2 s per attempt.
    let started = Instant::now();
    let (status, code, calls, _, _) = with_fault("latency:2500").await;
    assert_eq!(
        (status, code.as_str(), calls),
        (504, "upstream_unavailable", 1)
    );
    assert!(started.elapsed() < Duration::from_millis(2400));
}

#[tokio::test]
async fn mono_is_unreachable() {
    let mut h = harness(&[]).await;
    // A port nothing listens on.
    let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = unused.local_addr().unwrap().port();
    drop(unused);
    h.upstream.base_url = url::Url::parse(&format!("http://127.0.0.1:{port}")).unwrap();
    let running = start(&mut h).await;
    let (status, _, body) = post(&running.url, OWNED, "k").await;
    assert_eq!(status, 502);
    assert_eq!(body["data"]["code"], "upstream_unavailable");
    assert_eq!(h.rows().await[0].attempts, 3);
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
    assert_eq!(h.rows().await.len(), 8);
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
    let rows = h.rows().await;
    assert_eq!(rows.len(), 1, "and its audit row landed");
    assert_eq!(rows[0].outcome, "unlinked");
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
