//! `--authorize-url`: the partner's own endpoint decides, with the caller's credentials, and
//! only an explicit yes with a principal lets an unlink through.
#![cfg(feature = "fake-mono")]

mod support;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Json, Router,
    body::Body,
    http::{HeaderMap, HeaderName, StatusCode, header},
    response::IntoResponse,
    routing::post,
};
use serde_json::{Value, json};
use support::*;
use unlink_proxy::{authorize::HttpAuthoriser, record::Outcome};

/// What the partner's authoriser saw: headers and body of each call.
type Seen = Arc<Mutex<Vec<(HeaderMap, Value)>>>;

/// A stand-in for the partner's endpoint that answers `status` with `body` (of
/// `content_type`) after `delay`.
async fn partner(
    status: u16,
    content_type: &'static str,
    body: &'static str,
    delay: Duration,
) -> (url::Url, Seen) {
    let seen: Seen = Arc::default();
    let record = seen.clone();
    let app = Router::new().route(
        "/can-unlink",
        post(move |headers: HeaderMap, Json(request): Json<Value>| {
            let record = record.clone();
            async move {
                record.lock().unwrap().push((headers, request));
                tokio::time::sleep(delay).await;
                (
                    StatusCode::from_u16(status).unwrap(),
                    [(header::CONTENT_TYPE, content_type)],
                    body,
                )
                    .into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/can-unlink", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url.parse().unwrap(), seen)
}

async fn app_with_authoriser(h: &mut Harness, url: url::Url, forward: &[&str]) -> Router {
    let authoriser = Arc::new(HttpAuthoriser::new(url, Duration::from_millis(500)).unwrap());
    let forward: Vec<HeaderName> = forward.iter().map(|h| h.parse().unwrap()).collect();
    h.app_with(move |config| {
        config.authoriser = authoriser;
        config.authorize_forward_headers = forward;
    })
    .await
}

fn with_credentials(id: &str, key: &str) -> axum::http::Request<Body> {
    unlink(id, key)
        .header("cookie", "session=abc123")
        .header("authorization", "Bearer user-token")
        .header("x-csrf-token", "csrf-1")
        .header("x-unrelated", "nope")
        .body(Body::empty())
        .unwrap()
}

const YES: &str = r#"{"allowed": true, "principal": "user-42"}"#;
const JSON: &str = "application/json";

#[tokio::test]
async fn an_explicit_yes_allows_names_the_principal_and_sees_the_chosen_headers() {
    let (url, seen) = partner(200, JSON, YES, Duration::ZERO).await;
    let mut h = harness(&[]).await;
    let app = app_with_authoriser(&mut h, url, &["x-csrf-token"]).await;
    let answer = send(&app, with_credentials(OWNED, "k")).await;
    assert_eq!(answer.status, 200);
    assert_eq!(h.rows().await[0].principal.as_deref(), Some("user-42"));

    let seen = seen.lock().unwrap();
    let (headers, body) = &seen[0];
    assert_eq!(headers["cookie"], "session=abc123");
    assert_eq!(headers["authorization"], "Bearer user-token");
    assert_eq!(headers["x-csrf-token"], "csrf-1");
    assert!(headers.get("x-unrelated").is_none(), "only chosen headers");
    assert!(headers.get("mono-sec-key").is_none());
    assert_eq!(body, &json!({ "account_id": OWNED }));
}

#[tokio::test]
async fn anything_but_an_explicit_yes_denies_without_calling_mono() {
    let cases: &[(u16, &str, &str, Duration)] = &[
        (
            200,
            JSON,
            r#"{"allowed": false, "principal": "user-42"}"#,
            Duration::ZERO,
        ),
        (200, JSON, r#"{"principal": "user-42"}"#, Duration::ZERO),
        (200, JSON, r#"{"allowed": true}"#, Duration::ZERO),
        (
            200,
            JSON,
            r#"{"allowed": true, "principal": ""}"#,
            Duration::ZERO,
        ),
        (
            200,
            JSON,
            r#"{"allowed": true, "principal": 42}"#,
            Duration::ZERO,
        ),
        (
            200,
            JSON,
            r#"{"allowed": "true", "principal": "user-42"}"#,
            Duration::ZERO,
        ),
        // An SPA's catch-all route answering its login page.
        (
            200,
            "text/html",
            "<!doctype html><title>Please log in</title>",
            Duration::ZERO,
        ),
        (200, JSON, "", Duration::ZERO),
        // Ambiguous: a parser that keeps the last key would read "true".
        (
            200,
            JSON,
            r#"{"allowed": false, "allowed": true, "principal": "user-42"}"#,
            Duration::ZERO,
        ),
        (
            200,
            JSON,
            r#"{"allowed": true, "principal": "user-42", "principal": "admin"}"#,
            Duration::ZERO,
        ),
        (204, JSON, "", Duration::ZERO),
        (201, JSON, YES, Duration::ZERO),
        (403, JSON, YES, Duration::ZERO),
        (401, JSON, YES, Duration::ZERO),
        (500, JSON, YES, Duration::ZERO),
        (302, JSON, YES, Duration::ZERO),
        // Too slow: the proxy waits 500 ms.
        (200, JSON, YES, Duration::from_millis(1500)),
    ];
    for &(status, content_type, body, delay) in cases {
        let (url, _) = partner(status, content_type, body, delay).await;
        let mut h = harness(&[]).await;
        let app = app_with_authoriser(&mut h, url, &[]).await;
        let answer = send(&app, with_credentials(OWNED, "k")).await;
        assert_eq!(answer.status, 403, "{status} {body:?} after {delay:?}");
        assert_eq!(answer.code(), "forbidden");
        assert_eq!(h.fake.total_calls(), 0);
        let row = &h.rows().await[0];
        assert_eq!(row.outcome, Some(Outcome::Forbidden));
        assert_eq!(row.principal, None);
    }
}

#[tokio::test]
async fn an_unreachable_authoriser_denies() {
    // Port 1: nothing listens there (a port freed by another test could be reused at once).
    let url = "http://127.0.0.1:1/can-unlink".to_owned();
    let mut h = harness(&[]).await;
    let app = app_with_authoriser(&mut h, url.parse().unwrap(), &[]).await;
    assert_eq!(send(&app, with_credentials(OWNED, "k")).await.status, 403);
    assert_eq!(h.fake.total_calls(), 0);
}

#[tokio::test]
async fn the_per_user_limit_always_applies() {
    let (url, _) = partner(200, JSON, YES, Duration::ZERO).await;
    let mut h = harness(&[]).await;
    let app = app_with_authoriser(&mut h, url, &[]).await;
    // The default: 10 a minute for user-42, on any accounts.
    let mut statuses = Vec::new();
    for i in 0..12 {
        statuses.push(
            send(&app, with_credentials(OWNED, &format!("k{i}")))
                .await
                .status,
        );
    }
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 10);
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 2);
}
