//! Every rule of the unlink and webhook routes, through the router with `oneshot`. Mono is
//! the fake, on loopback; the tests count the calls that reach it.

mod support;

use std::num::NonZeroU32;

use axum::{body::Body, http::Request};
use futures::future::join_all;
use serde_json::json;
use support::*;
use unlink_proxy::{
    mono::MonoApi,
    ratelimit::RateLimits,
    secret::{SecretKey, SharedSecret},
};

#[tokio::test]
async fn unlinks_an_owned_account_and_audits_it() {
    let mut h = harness(&[]).await;
    let app = h.app();
    let answer = send(&app, unlink(OWNED, "key-1").body(Body::empty()).unwrap()).await;

    assert_eq!(answer.status, 200);
    assert_eq!(answer.body["status"], "successful");
    assert_eq!(answer.body["data"]["account_id"], OWNED);
    assert_eq!(answer.body["data"]["already_unlinked"], false);
    assert!(answer.body["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(answer.headers["cache-control"], "no-store");
    assert_eq!(h.fake.calls(OWNED), 1);
    assert!(!h.fake.is_linked(OWNED));

    let rows = h.rows().await;
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row.kind, "unlink");
    assert_eq!(row.outcome, "unlinked");
    assert_eq!(row.account_id.as_deref(), Some(OWNED));
    assert_eq!(row.principal.as_deref(), Some("demo-user"));
    assert_eq!(row.idempotency_key.as_deref(), Some("key-1"));
    assert_eq!(row.client_ip.as_deref(), Some("192.0.2.7"));
    assert_eq!(row.source.as_deref(), Some("upstream"));
    assert_eq!(row.upstream_status, Some(200));
    assert_eq!(row.attempts, 1);
    assert!(row.latency_ms.is_some());
    assert_eq!(
        row.request_id.as_deref(),
        answer.headers["x-request-id"].to_str().ok()
    );
}

#[tokio::test]
async fn a_second_unlink_reports_already_unlinked() {
    let mut h = harness(&[]).await;
    let app = h.app();
    send(&app, unlink(OWNED, "k1").body(Body::empty()).unwrap()).await;
    let again = send(&app, unlink(OWNED, "k2").body(Body::empty()).unwrap()).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body["data"]["already_unlinked"], true);
    assert_eq!(h.fake.calls(OWNED), 2, "Mono was asked, and said 404");
    assert_eq!(h.rows().await[1].outcome, "already_unlinked");
    assert_eq!(h.rows().await[1].upstream_status, Some(404));
}

#[tokio::test]
async fn a_repeated_key_replays_without_calling_mono() {
    let mut h = harness(&[]).await;
    let app = h.app();
    let first = send(&app, unlink(OWNED, "same").body(Body::empty()).unwrap()).await;
    let replay = send(&app, unlink(OWNED, "same").body(Body::empty()).unwrap()).await;
    assert_eq!(first.body["data"], replay.body["data"]);
    assert_eq!(replay.body["data"]["already_unlinked"], false);
    assert_eq!(h.fake.calls(OWNED), 1);
    let rows = h.rows().await;
    assert_eq!(rows[1].source.as_deref(), Some("replay"));
    assert_eq!(rows[1].attempts, 0);
}

#[tokio::test]
async fn a_key_reused_for_another_account_is_refused() {
    let mut h = harness(&[]).await;
    let app = h.app();
    send(&app, unlink(OWNED, "shared").body(Body::empty()).unwrap()).await;
    let answer = send(&app, unlink(OWNED_2, "shared").body(Body::empty()).unwrap()).await;
    assert_eq!(answer.status, 422);
    assert_eq!(answer.code(), "idempotency_key_reused");
    assert_eq!(h.fake.calls(OWNED_2), 0);
    assert!(h.fake.is_linked(OWNED_2));
}

#[tokio::test]
async fn a_failed_attempt_is_retried_with_the_same_key() {
    let mut h = harness(&[(OWNED, "500x1")]).await;
    let app = h.app();
    let failed = send(&app, unlink(OWNED, "retry").body(Body::empty()).unwrap()).await;
    assert_eq!(failed.status, 502);
    let retried = send(&app, unlink(OWNED, "retry").body(Body::empty()).unwrap()).await;
    assert_eq!(retried.status, 200, "transient failures are not replayed");
    assert_eq!(h.fake.calls(OWNED), 2);
}

#[tokio::test]
async fn invalid_ids_get_400_and_no_upstream_call() {
    let mut h = harness(&[]).await;
    let app = h.app();
    let long = "a".repeat(65);
    let paths = [
        "../x".to_owned(),
        "..".to_owned(),
        "a%2Fb".to_owned(),
        "%2E%2E%2Fadmin".to_owned(),
        long,
        "%C3%A9t%C3%A9".to_owned(),
        "é".to_owned(),
        String::new(),
        "a%00b".to_owned(),
        "%FF".to_owned(),
        "a%20b".to_owned(),
        "a.b".to_owned(),
    ];
    for id in &paths {
        let uri = format!("/api/mono/accounts/{id}/unlink");
        let Ok(request) = Request::post(&uri)
            .header("host", HOST)
            .header("idempotency-key", "k")
            .body(Body::empty())
        else {
            continue; // not even a valid URI
        };
        let answer = send(&app, request).await;
        assert_eq!(answer.status, 400, "{uri}");
        assert_eq!(answer.code(), "invalid_account_id", "{uri}");
        assert!(
            !answer.body.to_string().contains("admin"),
            "the input is not echoed"
        );
    }
    assert_eq!(h.fake.total_calls(), 0);
    let rows = h.rows().await;
    assert!(
        rows.iter()
            .all(|r| r.outcome == "invalid_account_id" && r.account_id.is_none())
    );
}

#[tokio::test]
async fn the_idempotency_key_is_required_and_bounded() {
    let mut h = harness(&[]).await;
    let app = h.app();
    let no_key = Request::post(format!("/api/mono/accounts/{OWNED}/unlink"))
        .header("host", HOST)
        .body(Body::empty())
        .unwrap();
    let long = "k".repeat(256);
    for request in [
        no_key,
        unlink(OWNED, "").body(Body::empty()).unwrap(),
        unlink(OWNED, &long).body(Body::empty()).unwrap(),
        unlink(OWNED, "has space").body(Body::empty()).unwrap(),
    ] {
        let answer = send(&app, request).await;
        assert_eq!(answer.status, 400);
        assert_eq!(answer.code(), "invalid_idempotency_key");
    }
    let max = "k".repeat(255);
    assert_eq!(
        send(&app, unlink(OWNED, &max).body(Body::empty()).unwrap())
            .await
            .status,
        200
    );
    assert_eq!(h.fake.total_calls(), 1);
}

#[tokio::test]
async fn cross_site_requests_are_refused() {
    let mut h = harness(&[]).await;
    let app = h.app_with(|c| c.allowed_origins = vec!["https://app.partner.example".into()]);
    let refused = [
        unlink(OWNED, "a").header("origin", "https://evil.example"),
        unlink(OWNED, "b").header("origin", "null"),
        unlink(OWNED, "c").header("sec-fetch-site", "cross-site"),
        unlink(OWNED, "d")
            .header("origin", "https://evil.partner.example")
            .header("sec-fetch-site", "same-site"),
    ];
    for request in refused {
        let answer = send(&app, request.body(Body::empty()).unwrap()).await;
        assert_eq!(answer.status, 403);
        assert_eq!(answer.code(), "forbidden");
    }
    assert_eq!(h.fake.total_calls(), 0);

    let same_origin = unlink(OWNED, "e")
        .header("origin", "http://partner.test")
        .header("sec-fetch-site", "same-origin");
    assert_eq!(
        send(&app, same_origin.body(Body::empty()).unwrap())
            .await
            .status,
        200
    );
    let allowed = unlink(OWNED_2, "f")
        .header("origin", "https://app.partner.example")
        .header("sec-fetch-site", "cross-site");
    let answer = send(&app, allowed.body(Body::empty()).unwrap()).await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.headers["access-control-allow-origin"],
        "https://app.partner.example"
    );
    assert_eq!(answer.headers["access-control-allow-credentials"], "true");
}

#[tokio::test]
async fn cors_preflight_answers_only_allowed_origins() {
    let mut h = harness(&[]).await;
    let app = h.app_with(|c| c.allowed_origins = vec!["https://app.partner.example".into()]);
    let preflight = |origin: &str| {
        Request::options(format!("/api/mono/accounts/{OWNED}/unlink"))
            .header("host", HOST)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "idempotency-key,x-csrf-token",
            )
            .body(Body::empty())
            .unwrap()
    };
    let ok = send(&app, preflight("https://app.partner.example")).await;
    assert_eq!(
        ok.headers["access-control-allow-origin"],
        "https://app.partner.example"
    );
    let allowed_headers = ok.headers["access-control-allow-headers"].to_str().unwrap();
    assert!(allowed_headers.contains("idempotency-key"));
    let evil = send(&app, preflight("https://evil.example")).await;
    assert!(evil.headers.get("access-control-allow-origin").is_none());
    assert_eq!(h.fake.total_calls(), 0);
}

#[tokio::test]
async fn accounts_the_user_does_not_own_are_refused() {
    let mut h = harness(&[]).await;
    let app = h.app();
    let answer = send(&app, unlink(NOT_OWNED, "k").body(Body::empty()).unwrap()).await;
    assert_eq!(answer.status, 403);
    assert_eq!(answer.code(), "forbidden");
    assert_eq!(h.fake.calls(NOT_OWNED), 0);
    assert!(h.fake.is_linked(NOT_OWNED));
    assert_eq!(h.rows().await[0].outcome, "forbidden");
}

#[tokio::test]
async fn users_and_addresses_are_rate_limited() {
    let mut h = harness(&[]).await;
    let app = h.app_with(|c| {
        c.rate_limits = RateLimits {
            per_principal: NonZeroU32::new(2).unwrap(),
            per_ip: NonZeroU32::new(100).unwrap(),
        }
    });
    for key in ["1", "2"] {
        send(&app, unlink(OWNED, key).body(Body::empty()).unwrap()).await;
    }
    let limited = send(&app, unlink(OWNED_2, "3").body(Body::empty()).unwrap()).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.code(), "rate_limited");
    let wait: u64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&wait), "{wait}");
    assert_eq!(h.fake.calls(OWNED_2), 0);

    let mut h = harness(&[]).await;
    let app = h.app_with(|c| {
        c.rate_limits = RateLimits {
            per_principal: NonZeroU32::new(100).unwrap(),
            per_ip: NonZeroU32::new(1).unwrap(),
        }
    });
    send(&app, unlink(OWNED, "1").body(Body::empty()).unwrap()).await;
    let limited = send(&app, unlink(OWNED_2, "2").body(Body::empty()).unwrap()).await;
    assert_eq!(limited.status, 429);
    assert_eq!(h.fake.total_calls(), 1);
}

#[tokio::test]
async fn forwarded_addresses_count_only_when_trusted() {
    let forwarded = |key: &str| {
        unlink(OWNED, key)
            .header("x-forwarded-for", "203.0.113.9, 198.51.100.4")
            .body(Body::empty())
            .unwrap()
    };
    let mut h = harness(&[]).await;
    let app = h.app();
    send(&app, forwarded("a")).await;
    let app = h.app_with(|c| c.trust_forwarded_for = true);
    send(&app, forwarded("b")).await;
    let ips: Vec<_> = h
        .rows()
        .await
        .into_iter()
        .map(|r| r.client_ip.unwrap())
        .collect();
    assert_eq!(ips, ["192.0.2.7", "198.51.100.4"]);
}

#[tokio::test]
async fn concurrent_unlinks_of_one_account_share_one_call() {
    let mut h = harness(&[(OWNED, "latency:300")]).await;
    let app = h.app();
    let requests = (0..5).map(|i| {
        let app = app.clone();
        async move {
            send(
                &app,
                unlink(OWNED, &format!("k{i}")).body(Body::empty()).unwrap(),
            )
            .await
        }
    });
    let answers = join_all(requests).await;
    for answer in &answers {
        assert_eq!(answer.status, 200);
        assert_eq!(answer.body["data"]["already_unlinked"], false);
    }
    assert_eq!(h.fake.calls(OWNED), 1);
    let rows = h.rows().await;
    let sources: Vec<_> = rows.iter().filter_map(|r| r.source.as_deref()).collect();
    assert_eq!(sources.iter().filter(|s| **s == "upstream").count(), 1);
    assert_eq!(sources.iter().filter(|s| **s == "shared").count(), 4);
}

#[tokio::test]
async fn a_wrong_secret_key_is_502_and_says_nothing_about_keys() {
    let mut h = harness(&[]).await;
    h.upstream.secret_key = SecretKey::parse("live_sk_wrongwrongwrong").unwrap();
    let app = h.app();
    let answer = send(&app, unlink(OWNED, "k").body(Body::empty()).unwrap()).await;
    assert_eq!(answer.status, 502);
    assert_eq!(answer.code(), "upstream_rejected_key");
    let text = answer.body.to_string().to_lowercase();
    assert!(!text.contains("key") || text.contains("\"code\""), "{text}");
    assert!(
        !answer.body["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("key")
    );
    assert!(h.fake.is_linked(OWNED));
    assert_eq!(h.fake.calls(OWNED), 1, "401 is never retried");
}

#[tokio::test]
async fn mono_refusals_map_to_one_contract() {
    // (fault, our status, our code, calls to Mono)
    let cases = [
        ("400", 422, "unlink_rejected", 1),
        ("409", 422, "unlink_rejected", 1),
        ("500", 502, "upstream_unavailable", 1),
        ("503", 502, "upstream_unavailable", 3),
        ("502", 502, "upstream_unavailable", 3),
        ("429:0", 502, "upstream_unavailable", 3),
    ];
    for (fault, status, code, calls) in cases {
        let mut h = harness(&[(OWNED, fault)]).await;
        let app = h.app();
        let answer = send(&app, unlink(OWNED, "k").body(Body::empty()).unwrap()).await;
        assert_eq!(answer.status, status, "{fault}");
        assert_eq!(answer.code(), code, "{fault}");
        assert_eq!(answer.body["status"], "failed");
        assert!(
            !answer.body.to_string().contains("Internal server error"),
            "Mono's text leaked"
        );
        assert_eq!(h.fake.calls(OWNED), calls, "{fault}");
        assert_eq!(h.rows().await[0].attempts, calls, "{fault}");
    }
}

#[tokio::test]
async fn retries_stop_at_a_long_retry_after_and_pass_it_on() {
    let mut h = harness(&[(OWNED, "429:60")]).await;
    let app = h.app();
    let answer = send(&app, unlink(OWNED, "k").body(Body::empty()).unwrap()).await;
    assert_eq!(answer.status, 502);
    assert_eq!(answer.headers["retry-after"], "60");
    assert_eq!(h.fake.calls(OWNED), 1);
}

#[tokio::test]
async fn the_v1_path_is_configurable() {
    let mut h = harness(&[]).await;
    h.upstream.api = MonoApi::V1;
    let app = h.app();
    let answer = send(&app, unlink(OWNED, "k").body(Body::empty()).unwrap()).await;
    assert_eq!(answer.status, 200);
    assert!(!h.fake.is_linked(OWNED));
}

#[tokio::test]
async fn an_unwritable_audit_trail_withholds_the_answer() {
    let mut h = harness(&[]).await;
    let app = h.app();
    let path = h.audit.path().to_owned();
    rusqlite_drop_table(&path);
    let answer = send(&app, unlink(OWNED, "k").body(Body::empty()).unwrap()).await;
    assert_eq!(answer.status, 500);
    assert_eq!(answer.code(), "audit_unavailable");
    let health = send(&app, Request::get("/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!(health.status, 200, "the database itself still answers");
}

fn rusqlite_drop_table(path: &std::path::Path) {
    let connection = rusqlite::Connection::open(path).unwrap();
    connection.execute_batch("DROP TABLE audit").unwrap();
}

#[tokio::test]
async fn unknown_routes_and_methods_use_the_envelope() {
    let mut h = harness(&[]).await;
    let app = h.app();
    let get = Request::get(format!("/api/mono/accounts/{OWNED}/unlink"))
        .body(Body::empty())
        .unwrap();
    let answer = send(&app, get).await;
    assert_eq!(answer.status, 405);
    assert_eq!(answer.code(), "method_not_allowed");
    let other = unlink(OWNED, "k").uri(format!("/api/mono/accounts/{OWNED}/delete"));
    let answer = send(&app, other.body(Body::empty()).unwrap()).await;
    assert_eq!(answer.status, 404);
    assert_eq!(answer.code(), "not_found");
    let answer = send(&app, Request::get("/nope").body(Body::empty()).unwrap()).await;
    assert_eq!(answer.status, 404);
    assert_eq!(h.fake.total_calls(), 0);
    let health = send(&app, Request::get("/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!(health.status, 200);
}

// Webhook --------------------------------------------------------------------------------

fn webhook(secret: Option<&str>, body: serde_json::Value) -> Request<Body> {
    let mut request =
        Request::post("/api/mono/webhooks/mono").header("content-type", "application/json");
    if let Some(secret) = secret {
        request = request.header("mono-webhook-secret", secret);
    }
    request.body(Body::from(body.to_string())).unwrap()
}

fn unlinked_event(id_field: &str, id: &str) -> serde_json::Value {
    json!({ "event": "mono.events.account_unlinked", "data": { "account": { id_field: id } } })
}

#[tokio::test]
async fn webhooks_need_the_secret() {
    let mut h = harness(&[]).await;
    let app = h.app();
    let answer = send(&app, webhook(Some("s3cret"), unlinked_event("id", OWNED))).await;
    assert_eq!(answer.status, 503, "no secret configured");
    assert_eq!(answer.code(), "webhook_not_configured");

    let mut h = harness(&[]).await;
    let app = h.app_with(|c| c.webhook_secret = SharedSecret::new("s3cret"));
    for secret in [None, Some("wrong"), Some("s3cre"), Some("s3cret ")] {
        let answer = send(&app, webhook(secret, unlinked_event("id", OWNED))).await;
        assert_eq!(answer.status, 401, "{secret:?}");
        assert_eq!(answer.code(), "unauthorized");
    }
    assert!(h.rows().await.is_empty());
}

#[tokio::test]
async fn unlink_webhooks_are_recorded_once() {
    let mut h = harness(&[]).await;
    let app = h.app_with(|c| c.webhook_secret = SharedSecret::new("s3cret"));
    for _ in 0..3 {
        let answer = send(&app, webhook(Some("s3cret"), unlinked_event("id", OWNED))).await;
        assert_eq!(answer.status, 200);
    }
    let answer = send(
        &app,
        webhook(Some("s3cret"), unlinked_event("_id", OWNED_2)),
    )
    .await;
    assert_eq!(answer.status, 200);
    let rows = h.rows().await;
    let accounts: Vec<_> = rows
        .iter()
        .map(|r| r.account_id.as_deref().unwrap())
        .collect();
    assert_eq!(accounts, [OWNED, OWNED_2]);
    assert!(
        rows.iter()
            .all(|r| r.kind == "webhook" && r.outcome == "account_unlinked")
    );
}

#[tokio::test]
async fn other_webhooks_are_acknowledged_and_bad_ones_refused() {
    let mut h = harness(&[]).await;
    let app = h.app_with(|c| c.webhook_secret = SharedSecret::new("s3cret"));
    let other =
        json!({ "event": "mono.events.account_updated", "data": { "account": { "id": OWNED } } });
    assert_eq!(send(&app, webhook(Some("s3cret"), other)).await.status, 200);
    for bad in [
        json!({ "data": {} }),
        json!({ "event": "mono.events.account_unlinked", "data": {} }),
        unlinked_event("id", "../../etc"),
        json!("not an object"),
    ] {
        let answer = send(&app, webhook(Some("s3cret"), bad)).await;
        assert_eq!(answer.status, 400);
        assert_eq!(answer.code(), "invalid_webhook");
    }
    let huge = json!({ "event": "x", "padding": "x".repeat(100_000) });
    let answer = send(&app, webhook(Some("s3cret"), huge)).await;
    assert_eq!(answer.status, 413);
    assert!(h.rows().await.is_empty());
}
