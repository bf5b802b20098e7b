//! The proxy served over real loopback HTTP against the fake Mono: every injected fault,
//! clients that hang up, the deadline, and graceful shutdown.
#![cfg(feature = "fake-mono")]

mod support;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{Json, Router, routing::post as route_post};
use serde_json::{Value, json};
use support::*;
use unlink_proxy::{
    ServerLimits,
    authorize::HttpAuthoriser,
    record::{Entry, Kind, Outcome},
};

async fn post(url: &str, id: &str, key: &str) -> (u16, reqwest::header::HeaderMap, Value) {
    let response = reqwest::Client::new()
        .post(format!("{url}/api/mono/accounts/{id}/unlink"))
        .header("idempotency-key", key)
        .header("cookie", "session=demo")
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
        .header("cookie", "session=demo")
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
    until(|| h.fake.calls(OWNED) == 1).await;
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

// Slow and hostile clients ----------------------------------------------------------------

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// A connection that sends half a request and then nothing: a slowloris client.
async fn half_open(url: &str) -> tokio::net::TcpStream {
    let address = url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream
        .write_all(
            b"POST /api/mono/accounts/60770aa8c5878a2af69ed849/unlink HTTP/1.1\r\nHost: x\r\n",
        )
        .await
        .unwrap();
    stream
}

/// Waits until the server closes `stream` (a read returns nothing), at most `limit`.
async fn closed_within(stream: &mut tokio::net::TcpStream, limit: Duration) -> bool {
    let mut buffer = [0u8; 1024];
    let read = async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(limit, read).await.is_ok()
}

fn quick_limits() -> ServerLimits {
    ServerLimits {
        header_timeout: Duration::from_secs(1),
        ..ServerLimits::default()
    }
}

#[tokio::test]
async fn a_half_sent_request_is_dropped_after_the_header_timeout() {
    let mut h = harness(&[]).await;
    let running = serve_with(h.proxy_with(|_| {}).await, quick_limits()).await;
    let mut slow = half_open(&running.url).await;
    let started = Instant::now();
    assert!(
        closed_within(&mut slow, Duration::from_secs(5)).await,
        "still open"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_too() {
    let mut h = harness(&[]).await;
    let running = serve_with(h.proxy_with(|_| {}).await, quick_limits()).await;
    let address = running.url.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 12];
    stream.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    assert!(
        closed_within(&mut stream, Duration::from_secs(5)).await,
        "still open"
    );
}

#[tokio::test]
async fn oversized_headers_get_431() {
    let mut h = harness(&[]).await;
    let running = start(&mut h).await;
    let answer = reqwest::Client::new()
        .post(format!("{}/api/mono/accounts/{OWNED}/unlink", running.url))
        .header("idempotency-key", "k")
        .header("cookie", "session=demo")
        .header("x-request-id", "x".repeat(20 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 431);
    assert_eq!(h.fake.total_calls(), 0);
    assert!(h.rows().await.is_empty());
}

#[tokio::test]
async fn beyond_the_connection_cap_new_clients_wait_and_unlinks_in_flight_finish() {
    let mut h = harness(&[(OWNED, "latency:800")]).await;
    let limits = ServerLimits {
        max_connections: 2,
        // Every client here is 127.0.0.1: this is about the cap for all addresses.
        max_connections_per_address: None,
        header_timeout: Duration::from_secs(30),
        ..ServerLimits::default()
    };
    let running = serve_with(h.proxy_with(|_| {}).await, limits).await;
    // Slot 1: an unlink in flight. Slot 2: a client that never finishes its request.
    let url = running.url.clone();
    let in_flight = tokio::spawn(async move {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        client
            .post(format!("{url}/api/mono/accounts/{OWNED}/unlink"))
            .header("idempotency-key", "k")
            .header("cookie", "session=demo")
            .send()
            .await
            .unwrap()
            .status()
    });
    until(|| h.fake.calls(OWNED) == 1).await;
    // Accepted in the order they connect: this one before the third.
    let slow = half_open(&running.url).await;

    // A third client waits for a free slot...
    let url = running.url.clone();
    let mut third = tokio::spawn(async move {
        reqwest::get(format!("{url}/healthz"))
            .await
            .unwrap()
            .status()
    });
    let served = tokio::time::timeout(Duration::from_millis(300), &mut third).await;
    assert!(served.is_err(), "served beyond the cap");
    // ...while the unlink in flight is not starved.
    assert_eq!(in_flight.await.unwrap(), 200);
    // When the slow client goes, the waiting one is served.
    drop(slow);
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(5), third)
            .await
            .unwrap()
            .unwrap(),
        200
    );
}

#[tokio::test]
async fn shutdown_closes_stragglers_after_its_deadline_and_in_flight_unlinks_still_land() {
    let mut h = harness(&[("*", "latency:1000")]).await;
    let limits = ServerLimits {
        header_timeout: Duration::from_secs(60),
        shutdown_timeout: Duration::from_secs(2),
        ..ServerLimits::default()
    };
    let mut running = serve_with(h.proxy_with(|_| {}).await, limits).await;
    let _slow = half_open(&running.url).await;
    let unlinks: Vec<_> = [OWNED, OWNED_2, NOT_OWNED]
        .into_iter()
        .map(|id| {
            let url = running.url.clone();
            tokio::spawn(async move {
                reqwest::Client::new()
                    .post(format!("{url}/api/mono/accounts/{id}/unlink"))
                    .header("idempotency-key", format!("k-{id}"))
                    .header("cookie", "session=demo")
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            })
        })
        .collect();
    // Two reach Mono; the third is not the demo user's, and is refused at once.
    until(|| h.fake.total_calls() == 2).await;
    let started = Instant::now();
    running.stop.take().unwrap().send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), running.server)
        .await
        .expect("shutdown finished although a client never finished its request")
        .unwrap()
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let mut statuses = Vec::new();
    for unlink in unlinks {
        statuses.push(unlink.await.unwrap().unwrap());
    }
    statuses.sort();
    assert_eq!(statuses, [200, 200, 403], "NOT_OWNED is someone else's");
    let outcomes: Vec<_> = h
        .rows_of(Kind::Unlink)
        .await
        .into_iter()
        .map(|r| r.outcome.unwrap())
        .collect();
    assert_eq!(outcomes.len(), 3, "{outcomes:?}");
    assert_eq!(
        outcomes.iter().filter(|o| **o == Outcome::Unlinked).count(),
        2
    );
}

// One address must not starve the others -----------------------------------------------

/// How the attacking address misbehaves.
#[derive(Clone, Copy, Debug)]
enum Attack {
    /// Sends half a request head and never finishes it.
    HalfOpen,
    /// Pipelines requests and never reads the answers.
    NonReading,
}

/// A connection from `source`: the whole of 127.0.0.0/8 is this machine, so two loopback
/// addresses stand for two clients. A small receive buffer, so answers back up quickly.
async fn connect_from(source: std::net::Ipv4Addr, url: &str) -> std::io::Result<TcpStream> {
    let target: std::net::SocketAddr = url.trim_start_matches("http://").parse().unwrap();
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_recv_buffer_size(4096)?;
    socket.bind((source, 0).into())?;
    socket.connect(target).await
}

/// Keeps `connections` of `attack` open from 127.0.0.2, reconnecting whenever the server
/// drops one, until the tasks are aborted; counts the connections made in `made`.
fn attack(
    url: &str,
    attack: Attack,
    connections: usize,
    made: Arc<AtomicUsize>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let pipelined = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".repeat(2000);
    (0..connections)
        .map(|_| {
            let (url, pipelined, made) = (url.to_owned(), pipelined.clone(), made.clone());
            tokio::spawn(async move {
                loop {
                    let Ok(mut stream) = connect_from([127, 0, 0, 2].into(), &url).await else {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    };
                    made.fetch_add(1, Ordering::Relaxed);
                    let head: &[u8] = match attack {
                        Attack::HalfOpen => {
                            b"POST /api/mono/accounts/a/unlink HTTP/1.1\r\nHost: x\r\n"
                        }
                        Attack::NonReading => pipelined.as_bytes(),
                    };
                    let _ = stream.write_all(head).await;
                    // Never read an answer; peek (which consumes nothing) until the server
                    // gives up on us: end of stream, or its reset.
                    let mut one = [0u8; 1];
                    while let Ok(1) = stream.peek(&mut one).await {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            })
        })
        .collect()
}

/// `tries` fresh `GET /healthz` from 127.0.0.1, one every 200 ms: how many were answered
/// within a second.
async fn served_within_a_second(url: &str, tries: usize) -> usize {
    let mut served = 0;
    for _ in 0..tries {
        let started = Instant::now();
        let answered = tokio::time::timeout(Duration::from_secs(1), async {
            let mut stream = connect_from([127, 0, 0, 1].into(), url).await.ok()?;
            stream
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .await
                .ok()?;
            let mut answer = Vec::new();
            stream.read_to_end(&mut answer).await.ok()?;
            answer.starts_with(b"HTTP/1.1 200").then_some(())
        })
        .await;
        if matches!(answered, Ok(Some(()))) {
            served += 1;
        }
        tokio::time::sleep(Duration::from_millis(200).saturating_sub(started.elapsed())).await;
    }
    served
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_with_twice_the_connection_cap_cannot_keep_others_out() {
    for variant in [Attack::HalfOpen, Attack::NonReading] {
        let mut h = harness(&[]).await;
        let limits = ServerLimits {
            max_connections: 64,
            header_timeout: Duration::from_secs(2),
            write_timeout: Duration::from_secs(2),
            ..ServerLimits::default()
        };
        let running = serve_with(h.proxy_with(|_| {}).await, limits).await;
        let made = Arc::new(AtomicUsize::new(0));
        let attackers = attack(&running.url, variant, 128, made.clone());
        // Every attacking connection made before the first try.
        until(|| made.load(Ordering::Relaxed) >= 128).await;
        let tries = 40;
        let served = served_within_a_second(&running.url, tries).await;
        for attacker in attackers {
            attacker.abort();
        }
        assert!(
            served * 100 >= tries * 95,
            "{variant:?}: only {served} of {tries} answered within 1 s"
        );
    }
}

#[tokio::test]
async fn a_client_that_never_reads_a_large_answer_is_closed_after_the_write_timeout() {
    let mut h = harness(&[]).await;
    let files = tempfile::tempdir().unwrap();
    std::fs::write(files.path().join("index.html"), "<!doctype html>").unwrap();
    std::fs::write(files.path().join("big.js"), vec![b'x'; 32 << 20]).unwrap();
    let dir = files.path().to_owned();
    let limits = ServerLimits {
        write_timeout: Duration::from_secs(1),
        ..ServerLimits::default()
    };
    let running = serve_with(h.proxy_with(|c| c.static_dir = Some(dir)).await, limits).await;
    let mut stream = connect_from([127, 0, 0, 1].into(), &running.url)
        .await
        .unwrap();
    stream
        .write_all(b"GET /big.js HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    // Not reading: the server's writes stall, and after a second it gives up.
    let waited = Instant::now();
    let mut got = 0usize;
    let mut buffer = vec![0u8; 64 * 1024];
    // Wait well past the write timeout before reading anything.
    tokio::time::sleep(Duration::from_secs(3)).await;
    loop {
        match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => got += n,
            Err(_) => panic!("the connection is still open after {:?}", waited.elapsed()),
        }
    }
    assert!(got < 32 << 20, "the whole file arrived: {got} bytes");
}

#[tokio::test]
async fn a_connection_serves_at_most_its_request_cap_then_closes() {
    let mut h = harness(&[]).await;
    let limits = ServerLimits {
        max_requests_per_connection: 10,
        ..ServerLimits::default()
    };
    let running = serve_with(h.proxy_with(|_| {}).await, limits).await;
    let mut stream = connect_from([127, 0, 0, 1].into(), &running.url)
        .await
        .unwrap();
    let pipelined = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".repeat(50);
    stream.write_all(pipelined.as_bytes()).await.unwrap();
    let mut answers = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answers))
        .await
        .expect("closed after its cap")
        .unwrap();
    let text = String::from_utf8_lossy(&answers);
    assert_eq!(text.matches("HTTP/1.1 200").count(), 10, "{text}");
    assert_eq!(text.matches("connection: close").count(), 1, "{text}");
}
