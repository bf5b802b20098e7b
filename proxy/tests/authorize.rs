//! `--authorize-url`: the partner's own endpoint decides, with the caller's credentials.

mod support;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Json, Router,
    body::Body,
    http::{HeaderMap, StatusCode},
    response::IntoResponse,
    routing::post,
};
use serde_json::{Value, json};
use support::*;
use unlink_proxy::authorize::HttpAuthoriser;

/// What the partner's authoriser saw: headers and body of each call.
type Seen = Arc<Mutex<Vec<(HeaderMap, Value)>>>;

/// A stand-in for the partner's endpoint that answers `status` with `body` after `delay`.
async fn partner(status: u16, body: &'static str, delay: Duration) -> (url::Url, Seen) {
    let seen: Seen = Arc::default();
    let record = seen.clone();
    let app = Router::new().route(
        "/can-unlink",
        post(move |headers: HeaderMap, Json(request): Json<Value>| {
            let record = record.clone();
            async move {
                record.lock().unwrap().push((headers, request));
                tokio::time::sleep(delay).await;
                (StatusCode::from_u16(status).unwrap(), body).into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/can-unlink", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url.parse().unwrap(), seen)
}

async fn app_with_authoriser(h: &mut Harness, url: url::Url) -> Router {
    let authoriser = Arc::new(HttpAuthoriser::new(url, Duration::from_millis(500)).unwrap());
    h.app_with(move |config| config.authoriser = authoriser)
}

fn with_credentials(id: &str, key: &str) -> axum::http::Request<Body> {
    unlink(id, key)
        .header("cookie", "session=abc123")
        .header("authorization", "Bearer user-token")
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn a_2xx_allows_and_names_the_principal() {
    let (url, seen) = partner(200, r#"{"principal":"user-42"}"#, Duration::ZERO).await;
    let mut h = harness(&[]).await;
    let app = app_with_authoriser(&mut h, url).await;
    let answer = send(&app, with_credentials(OWNED, "k")).await;
    assert_eq!(answer.status, 200);
    assert_eq!(h.rows().await[0].principal.as_deref(), Some("user-42"));

    let seen = seen.lock().unwrap();
    let (headers, body) = &seen[0];
    assert_eq!(headers["cookie"], "session=abc123");
    assert_eq!(headers["authorization"], "Bearer user-token");
    assert_eq!(body, &json!({ "account_id": OWNED }));
}

#[tokio::test]
async fn a_2xx_without_a_principal_still_allows() {
    let (url, _) = partner(204, "", Duration::ZERO).await;
    let mut h = harness(&[]).await;
    let app = app_with_authoriser(&mut h, url).await;
    assert_eq!(send(&app, with_credentials(OWNED, "k")).await.status, 200);
    assert_eq!(h.rows().await[0].principal, None);
}

#[tokio::test]
async fn anything_else_denies_without_calling_mono() {
    for (status, delay) in [
        (403, Duration::ZERO),
        (401, Duration::ZERO),
        (500, Duration::ZERO),
        (302, Duration::ZERO),
        // Too slow: the proxy waits 500 ms.
        (200, Duration::from_millis(1500)),
    ] {
        let (url, _) = partner(status, r#"{"principal":"x"}"#, delay).await;
        let mut h = harness(&[]).await;
        let app = app_with_authoriser(&mut h, url).await;
        let answer = send(&app, with_credentials(OWNED, "k")).await;
        assert_eq!(answer.status, 403, "{status} after {delay:?}");
        assert_eq!(answer.code(), "forbidden");
        assert_eq!(h.fake.total_calls(), 0);
    }
}

#[tokio::test]
async fn an_unreachable_authoriser_denies() {
    let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/can-unlink", unused.local_addr().unwrap());
    drop(unused);
    let mut h = harness(&[]).await;
    let app = app_with_authoriser(&mut h, url.parse().unwrap()).await;
    assert_eq!(send(&app, with_credentials(OWNED, "k")).await.status, 403);
    assert_eq!(h.fake.total_calls(), 0);
}
