//! Every rule of the unlink and webhook routes, through the router with `oneshot`. Mono is
//! the fake, on loopback; the tests count the calls that reach it and read the record.
#![cfg(feature = "fake-mono")]

mod support;

use std::{num::NonZeroU32, time::Duration};

use axum::{body::Body, http::Request};
use futures::future::join_all;
use serde_json::json;
use support::*;
use unlink_proxy::{
    MonoApi, Principal, RateLimits, SecretKey, SharedSecret, authoriser_fn,
    record::{Kind, Outcome, Source},
    store::Record,
};

fn limits(per_principal: u32, per_address: u32) -> RateLimits {
    RateLimits {
        per_principal: NonZeroU32::new(per_principal).unwrap(),
        per_address: NonZeroU32::new(per_address).unwrap(),
        ..RateLimits::default()
    }
}

#[tokio::test]
async fn an_unlink_writes_its_intent_then_its_outcome() {
    let mut h = harness(&[]).await;
    let app = h.app().await;
    let answer = send(&app, post_unlink(OWNED, "key-1")).await;

    assert_eq!(answer.status, 200);
    assert_eq!(answer.body["status"], "successful");
    assert_eq!(answer.body["data"]["account_id"], OWNED);
    assert_eq!(answer.body["data"]["already_unlinked"], false);
    assert!(answer.body["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(answer.headers["cache-control"], "no-store");
    assert_eq!(h.fake.calls(OWNED), 1);
    assert!(!h.fake.is_linked(OWNED));

    let rows = h.rows().await;
    assert_eq!(rows.len(), 2, "{rows:#?}");
    let (intent, outcome) = (&rows[0], &rows[1]);
    assert_eq!(intent.kind, Kind::Intent);
    assert_eq!(intent.outcome, None);
    assert_eq!(intent.account_id.as_deref(), Some(OWNED));
    assert_eq!(intent.principal.as_deref(), Some("demo-user"));
    assert_eq!(intent.idempotency_key.as_deref(), Some("key-1"));
    assert_eq!(intent.client_ip.as_deref(), Some("192.0.2.7"));
    let request_id = answer.headers["x-request-id"].to_str().unwrap();
    assert_eq!(intent.request_id.as_deref(), Some(request_id));

    assert_eq!(outcome.kind, Kind::Unlink);
    assert_eq!(outcome.intent_id, Some(intent.id));
    assert_eq!(outcome.outcome, Some(Outcome::Unlinked));
    assert_eq!(outcome.source, Some(Source::Upstream));
    assert_eq!(outcome.upstream_status, Some(200));
    assert_eq!(outcome.attempts, 1);
    assert!(outcome.latency_ms.is_some());
    assert_eq!(outcome.request_id.as_deref(), Some(request_id));
}

#[tokio::test]
async fn a_later_unlink_is_answered_from_the_record_as_already_unlinked() {
    let mut h = harness(&[]).await;
    let app = h.app().await;
    send(&app, post_unlink(OWNED, "k1")).await;
    let again = send(&app, post_unlink(OWNED, "k2")).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.body["data"]["already_unlinked"], true);
    assert_eq!(
        h.fake.calls(OWNED),
        1,
        "the record knows: Mono is not asked again"
    );
    let outcomes = h.rows_of(Kind::Unlink).await;
    assert_eq!(outcomes[1].outcome, Some(Outcome::AlreadyUnlinked));
    assert_eq!(outcomes[1].source, Some(Source::Record));
    assert_eq!(outcomes[1].upstream_status, None);
    assert_eq!(h.rows_of(Kind::Intent).await.len(), 1, "no new intent");
}

#[tokio::test]
async fn a_repeated_key_replays_without_calling_mono() {
    let mut h = harness(&[]).await;
    let app = h.app().await;
    let first = send(&app, post_unlink(OWNED, "same")).await;
    let replay = send(&app, post_unlink(OWNED, "same")).await;
    assert_eq!(first.data(), replay.data());
    assert_eq!(replay.body["data"]["already_unlinked"], false);
    assert_eq!(h.fake.calls(OWNED), 1);
    let outcomes = h.rows_of(Kind::Unlink).await;
    assert_eq!(outcomes[1].source, Some(Source::Replay));
    assert_eq!(outcomes[1].attempts, 0);
    assert_eq!(
        h.rows_of(Kind::Intent).await.len(),
        1,
        "a replay is no new intent"
    );
}

#[tokio::test]
async fn a_key_used_for_another_account_is_refused_and_never_blocks_its_owner() {
    let mut h = harness(&[]).await;
    let app = h.app().await;
    assert_eq!(send(&app, post_unlink(OWNED, "shared")).await.status, 200);
    let reused = send(&app, post_unlink(OWNED_2, "shared")).await;
    assert_eq!(reused.status, 422);
    assert_eq!(reused.code(), "idempotency_key_reused");
    assert_eq!(h.fake.calls(OWNED_2), 0);
    assert!(h.fake.is_linked(OWNED_2));
    // The owner's retry still replays its own outcome.
    let retry = send(&app, post_unlink(OWNED, "shared")).await;
    assert_eq!(retry.status, 200);
    assert_eq!(retry.body["data"]["already_unlinked"], false);
    assert_eq!(h.fake.calls(OWNED), 1);
}

/// Alice and Bob share the account `OWNED` (a joint account), told apart by their cookie.
fn joint_owners() -> std::sync::Arc<dyn unlink_proxy::Authoriser> {
    authoriser_fn(|request| {
        let user = request
            .cookie()
            .and_then(|c| c.strip_prefix("user="))
            .map(str::to_owned);
        async move {
            match user {
                Some(user) => Principal::new(user),
                None => Err(unlink_proxy::Denied("no session".into())),
            }
        }
    })
}

fn as_user(id: &str, key: &str, user: &str) -> Request<Body> {
    unlink(id, key)
        .header("cookie", format!("user={user}"))
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn a_key_used_by_another_user_is_refused_and_never_blocks_its_owner() {
    let mut h = harness(&[]).await;
    let app = h.app_with(|c| c.authoriser = joint_owners()).await;
    assert_eq!(send(&app, as_user(OWNED, "k", "alice")).await.status, 200);
    let bob = send(&app, as_user(OWNED, "k", "bob")).await;
    assert_eq!(bob.status, 422);
    assert_eq!(bob.code(), "idempotency_key_reused");
    assert_eq!(send(&app, as_user(OWNED, "k", "alice")).await.status, 200);
    assert_eq!(h.fake.calls(OWNED), 1);
}

#[tokio::test]
async fn requests_refused_before_authorisation_never_consume_a_key() {
    let mut h = harness(&[]).await;
    let app = h.app_with(|c| c.authoriser = joint_owners()).await;
    // Mallory knows Alice's key: cross-site, unauthenticated and not-owned attempts.
    let cross_site = unlink(OWNED_2, "alices-key")
        .header("origin", "https://evil.example")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, cross_site).await.status, 403);
    assert_eq!(
        send(&app, post_unlink(OWNED_2, "alices-key")).await.status,
        403
    );
    // Alice's own request with her key goes through.
    let alice = send(&app, as_user(OWNED, "alices-key", "alice")).await;
    assert_eq!(alice.status, 200);
}

#[tokio::test]
async fn a_failed_attempt_is_retried_with_the_same_key() {
    let mut h = harness(&[(OWNED, "500x1")]).await;
    let app = h.app().await;
    let failed = send(&app, post_unlink(OWNED, "retry")).await;
    assert_eq!(failed.status, 502);
    let retried = send(&app, post_unlink(OWNED, "retry")).await;
    assert_eq!(retried.status, 200, "transient failures are not replayed");
    assert_eq!(h.fake.calls(OWNED), 2);
    assert_eq!(h.rows_of(Kind::Intent).await.len(), 2);
}

#[tokio::test]
async fn invalid_ids_get_400_no_upstream_call_and_no_row() {
    let mut h = harness(&[]).await;
    let app = h.app().await;
    let paths = [
        "../x",
        "..",
        "a%2Fb",
        "%2E%2E%2Fadmin",
        &"a".repeat(65),
        "%C3%A9t%C3%A9",
        "é",
        "",
        "a%00b",
        "%FF",
        "a%20b",
        "a.b",
    ];
    for id in paths {
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
    assert!(h.rows().await.is_empty(), "anyone can send these: no rows");
}

#[tokio::test]
async fn the_idempotency_key_is_required_and_bounded() {
    let mut h = harness(&[]).await;
    let app = h.app().await;
    let no_key = Request::post(format!("/api/mono/accounts/{OWNED}/unlink"))
        .header("host", HOST)
        .body(Body::empty())
        .unwrap();
    let long = "k".repeat(256);
    for request in [
        no_key,
        post_unlink(OWNED, ""),
        post_unlink(OWNED, &long),
        post_unlink(OWNED, "has space"),
    ] {
        let answer = send(&app, request).await;
        assert_eq!(answer.status, 400);
        assert_eq!(answer.code(), "invalid_idempotency_key");
    }
    assert!(h.rows().await.is_empty());
    let max = "k".repeat(255);
    assert_eq!(send(&app, post_unlink(OWNED, &max)).await.status, 200);
    assert_eq!(h.fake.total_calls(), 1);
}

#[tokio::test]
async fn cross_site_requests_are_refused() {
    let mut h = harness(&[]).await;
    let app = h
        .app_with(|c| {
            c.public_origins = vec!["http://partner.test".into()];
            c.allowed_origins = vec!["https://app.partner.example".into()];
        })
        .await;
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
    assert!(h.rows().await.is_empty());

    let same_origin = signed_in(unlink(OWNED, "e"))
        .header("origin", "http://partner.test")
        .header("sec-fetch-site", "same-origin");
    assert_eq!(
        send(&app, same_origin.body(Body::empty()).unwrap())
            .await
            .status,
        200
    );
    let allowed = signed_in(unlink(OWNED_2, "f"))
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
    let app = h
        .app_with(|c| c.allowed_origins = vec!["https://app.partner.example".into()])
        .await;
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
async fn accounts_the_user_does_not_own_are_refused_on_record() {
    let mut h = harness(&[]).await;
    let app = h.app().await;
    let answer = send(&app, post_unlink(NOT_OWNED, "k")).await;
    assert_eq!(answer.status, 403);
    assert_eq!(answer.code(), "forbidden");
    assert_eq!(h.fake.calls(NOT_OWNED), 0);
    assert!(h.fake.is_linked(NOT_OWNED));
    let rows = h.rows().await;
    assert_eq!(
        rows.len(),
        1,
        "no intent: Mono was never going to be called"
    );
    assert_eq!(rows[0].outcome, Some(Outcome::Forbidden));
    assert_eq!(rows[0].source, Some(Source::Proxy));
    assert_eq!(rows[0].account_id.as_deref(), Some(NOT_OWNED));
}

#[tokio::test]
async fn users_and_addresses_are_rate_limited() {
    let mut h = harness(&[]).await;
    let app = h.app_with(|c| c.rate_limits = limits(2, 100)).await;
    for key in ["1", "2"] {
        send(&app, post_unlink(OWNED, key)).await;
    }
    let limited = send(&app, post_unlink(OWNED_2, "3")).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.code(), "rate_limited");
    let wait: u64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&wait), "{wait}");
    assert_eq!(h.fake.calls(OWNED_2), 0);
    let last = h.rows().await.pop().unwrap();
    assert_eq!(last.outcome, Some(Outcome::RateLimited));
    assert_eq!(last.principal.as_deref(), Some("demo-user"));

    let mut h = harness(&[]).await;
    let app = h.app_with(|c| c.rate_limits = limits(100, 1)).await;
    send(&app, post_unlink(OWNED, "1")).await;
    let limited = send(&app, post_unlink(OWNED_2, "2")).await;
    assert_eq!(limited.status, 429);
    assert_eq!(h.fake.total_calls(), 1);
    assert_eq!(
        h.rows().await.len(),
        2,
        "the address limit comes before authorisation: no row"
    );
}

#[tokio::test]
async fn forwarded_addresses_count_only_when_trusted() {
    let forwarded = |account: &str| {
        signed_in(unlink(account, account))
            .header("x-forwarded-for", "203.0.113.9, 198.51.100.4:4711")
            .body(Body::empty())
            .unwrap()
    };
    let mut h = harness(&[]).await;
    let app = h.app().await;
    send(&app, forwarded(OWNED)).await;
    let app = h.app_with(|c| c.trust_forwarded_for = true).await;
    send(&app, forwarded(OWNED_2)).await;
    let ips: Vec<_> = h
        .rows_of(Kind::Intent)
        .await
        .into_iter()
        .map(|r| r.client_ip.unwrap())
        .collect();
    assert_eq!(ips, ["192.0.2.7", "198.51.100.4"]);
}

#[tokio::test]
async fn concurrent_unlinks_of_one_account_share_one_call() {
    let mut h = harness(&[(OWNED, "latency:300")]).await;
    let app = h.app().await;
    let requests = (0..5).map(|i| send(&app, post_unlink(OWNED, &format!("k{i}"))));
    let answers = join_all(requests).await;
    for answer in &answers {
        assert_eq!(answer.status, 200);
        assert_eq!(answer.body["data"]["already_unlinked"], false);
    }
    assert_eq!(h.fake.calls(OWNED), 1);
    assert_eq!(h.rows_of(Kind::Intent).await.len(), 1);
    let sources: Vec<_> = h
        .rows_of(Kind::Unlink)
        .await
        .iter()
        .map(|r| r.source.unwrap())
        .collect();
    assert_eq!(
        sources.iter().filter(|s| **s == Source::Upstream).count(),
        1
    );
    assert_eq!(sources.iter().filter(|s| **s == Source::Shared).count(), 4);
}

#[tokio::test]
async fn concurrent_requests_with_one_key_share_one_call_and_one_answer() {
    // A zero-latency Mono: the leader's outcome lands while others are still arriving.
    let accounts: Vec<String> = (0..20).map(|round| format!("round{round:02}")).collect();
    let mut fake = unlink_proxy::fake_mono::FakeMono::new(SECRET);
    for account in &accounts {
        fake = fake.with_account(account);
    }
    let mut h = harness_with_fake(fake).await;
    let app = h
        .app_with(|c| {
            c.rate_limits = limits(10_000, 10_000);
            c.authoriser = authoriser_fn(|_| async { Principal::new("demo-user") });
        })
        .await;
    for (round, account) in accounts.iter().enumerate() {
        let key = format!("round-{round}");
        let answers = join_all((0..50).map(|_| send(&app, post_unlink(account, &key)))).await;
        let first = &answers[0];
        assert_eq!(first.status, 200, "{round}: {first:?}");
        assert_eq!(first.body["data"]["already_unlinked"], false);
        for answer in &answers {
            assert_eq!(answer.status, first.status, "round {round}");
            assert_eq!(answer.data(), first.data(), "round {round}");
        }
        assert_eq!(h.fake.calls(account), 1, "one Mono call in round {round}");
    }
}

#[tokio::test]
async fn fifty_confirmations_with_their_own_keys_make_one_call_and_all_hear_unlinked() {
    // Two tabs, a double tap, a retry from another device: different keys, one account, and
    // a Mono fast enough that the first outcome is recorded while others are still on their
    // way. Every one of them confirmed before the account was gone: all hear "unlinked".
    let mut h = harness(&[]).await;
    let app = h.app_with(|c| c.rate_limits = limits(10_000, 10_000)).await;
    let answers =
        join_all((0..50).map(|i| send(&app, post_unlink(OWNED, &format!("tab-{i}"))))).await;
    for answer in &answers {
        assert_eq!(answer.status, 200, "{answer:?}");
        assert_eq!(answer.body["data"]["already_unlinked"], false, "{answer:?}");
    }
    assert_eq!(h.fake.calls(OWNED), 1);
    assert_eq!(h.rows_of(Kind::Intent).await.len(), 1);
    // Later, the same user comes back: the record says it is already done.
    let later = send(&app, post_unlink(OWNED, "next-day")).await;
    assert_eq!(later.body["data"]["already_unlinked"], true);
    assert_eq!(h.fake.calls(OWNED), 1);
}

#[tokio::test]
async fn one_key_for_two_accounts_at_once_unlinks_one() {
    let mut h = harness(&[(OWNED, "latency:100"), (OWNED_2, "latency:100")]).await;
    let app = h.app().await;
    let answers = join_all([
        send(&app, post_unlink(OWNED, "one-key")),
        send(&app, post_unlink(OWNED_2, "one-key")),
    ])
    .await;
    let mut statuses: Vec<_> = answers.iter().map(|a| a.status).collect();
    statuses.sort();
    assert_eq!(statuses, [200, 422]);
    assert_eq!(h.fake.total_calls(), 1);
}

#[tokio::test]
async fn a_wrong_secret_key_is_502_and_says_nothing_about_keys() {
    let mut h = harness(&[]).await;
    h.upstream.secret_key = SecretKey::parse("test_sk_wrongwrongwrong").unwrap();
    let app = h.app().await;
    let answer = send(&app, post_unlink(OWNED, "k")).await;
    assert_eq!(answer.status, 502);
    assert_eq!(answer.code(), "upstream_rejected_key");
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
        let app = h.app().await;
        let answer = send(&app, post_unlink(OWNED, "k")).await;
        assert_eq!(answer.status, status, "{fault}");
        assert_eq!(answer.code(), code, "{fault}");
        assert_eq!(answer.body["status"], "failed");
        assert!(
            !answer.body.to_string().contains("Internal server error"),
            "Mono's text leaked"
        );
        assert_eq!(h.fake.calls(OWNED), calls, "{fault}");
        let outcome = &h.rows_of(Kind::Unlink).await[0];
        assert_eq!(outcome.attempts, calls, "{fault}");
        assert_eq!(outcome.outcome.unwrap().as_str(), code, "{fault}");
    }
}

#[tokio::test]
async fn retries_stop_at_a_long_retry_after_and_pass_it_on_capped() {
    let mut h = harness(&[(OWNED, "429:3600")]).await;
    let app = h.app().await;
    let answer = send(&app, post_unlink(OWNED, "k")).await;
    assert_eq!(answer.status, 502);
    assert_eq!(
        answer.headers["retry-after"], "60",
        "an hour becomes a minute"
    );
    assert_eq!(h.fake.calls(OWNED), 1);
}

#[tokio::test]
async fn the_v1_path_is_configurable() {
    let mut h = harness(&[]).await;
    h.upstream.api = MonoApi::V1;
    let app = h.app().await;
    let answer = send(&app, post_unlink(OWNED, "k")).await;
    assert_eq!(answer.status, 200);
    assert!(!h.fake.is_linked(OWNED));
}

#[tokio::test]
async fn a_locked_record_means_no_mono_call_and_an_honest_503_until_it_is_free() {
    let mut h = harness(&[]).await;
    let app = h.app_with(|c| c.deadline = Duration::from_secs(2)).await;
    // Another process takes the write lock and holds it longer than the budget.
    let holder = rusqlite::Connection::open(h.store.path()).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();

    let started = std::time::Instant::now();
    let answer = send(&app, post_unlink(OWNED, "k")).await;
    let took = started.elapsed();
    assert_eq!(answer.status, 503, "{answer:?}");
    assert_eq!(answer.code(), "audit_unavailable");
    assert_eq!(answer.headers["retry-after"], "5");
    assert!(
        took < Duration::from_secs(2),
        "answered within the budget: {took:?}"
    );
    assert_eq!(
        h.fake.total_calls(),
        0,
        "nothing can be recorded, so Mono is not called"
    );
    let health = send(&app, Request::get("/healthz").body(Body::empty()).unwrap()).await;
    assert_eq!(health.status, 503);

    // The lock goes: the same process serves again (health is re-checked once a second).
    holder.execute_batch("ROLLBACK").unwrap();
    let back = std::time::Instant::now();
    while send(&app, Request::get("/healthz").body(Body::empty()).unwrap())
        .await
        .status
        != 200
    {
        assert!(back.elapsed() < Duration::from_secs(3), "healthy again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let answer = send(&app, post_unlink(OWNED, "k")).await;
    assert_eq!(answer.status, 200);
    assert_eq!(h.fake.total_calls(), 1);
}

#[tokio::test]
async fn unknown_routes_and_methods_use_the_envelope() {
    let mut h = harness(&[]).await;
    let app = h.app().await;
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
    let app = h.app().await;
    let answer = send(&app, webhook(Some("s3cret"), unlinked_event("id", OWNED))).await;
    assert_eq!(answer.status, 503, "no secret configured");
    assert_eq!(answer.code(), "webhook_not_configured");

    let mut h = harness(&[]).await;
    let app = h
        .app_with(|c| c.webhook_secret = SharedSecret::new("s3cret"))
        .await;
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
    let app = h
        .app_with(|c| c.webhook_secret = SharedSecret::new("s3cret"))
        .await;
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
    assert!(rows.iter().all(|r| r.kind == Kind::Webhook
        && r.outcome == Some(Outcome::AccountUnlinked)
        && r.detail.as_deref() == Some("mono.events.account_unlinked")));
}

#[tokio::test]
async fn other_webhooks_are_acknowledged_and_bad_ones_refused() {
    let mut h = harness(&[]).await;
    let app = h
        .app_with(|c| c.webhook_secret = SharedSecret::new("s3cret"))
        .await;
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

// Only Mono's own answer counts ---------------------------------------------------------

/// One unlink of `OWNED` through `h`: the answer, and the outcome row.
async fn unlink_once(h: &mut Harness) -> (Answer, unlink_proxy::record::Entry) {
    let app = h.app().await;
    let answer = send(&app, post_unlink(OWNED, "k")).await;
    let outcome = h.rows_of(Kind::Unlink).await.remove(0);
    (answer, outcome)
}

#[tokio::test]
async fn a_404_that_is_not_monos_is_never_already_unlinked() {
    let mut cases = Vec::new();
    // A gateway's HTML page, and JSON of another shape, where Mono should be.
    for fault in ["html404", "route404"] {
        cases.push((fault, harness(&[(OWNED, fault)]).await));
    }
    // The proxy asks for v2, but the URL serves v1 only.
    let mut wrong_version =
        harness_with_fake(unlink_proxy::fake_mono::FakeMono::new(SECRET).only_api(MonoApi::V1))
            .await;
    wrong_version.upstream.api = MonoApi::V2;
    cases.push(("wrong API version", wrong_version));
    // Mono sits under a path on that host (a gateway), which the base URL lacks.
    let under_path =
        harness_with_fake(unlink_proxy::fake_mono::FakeMono::new(SECRET).under_path("/mono")).await;
    cases.push(("wrong base path", under_path));

    for (case, mut h) in cases {
        let (answer, outcome) = unlink_once(&mut h).await;
        assert_eq!(answer.status, 502, "{case}");
        assert_eq!(answer.code(), "upstream_unexpected", "{case}");
        assert_ne!(answer.body["data"]["already_unlinked"], true, "{case}");
        assert_eq!(outcome.outcome, Some(Outcome::UpstreamUnexpected), "{case}");
        assert_eq!(outcome.upstream_status, Some(404), "{case}");
        assert!(h.fake.is_linked(OWNED), "{case}: nothing was unlinked");
    }
}

#[tokio::test]
async fn monos_own_404_is_already_unlinked_and_only_its_json_2xx_is_success() {
    // The right version serves Mono's JSON 404 for an unknown account.
    let mut h =
        harness_with_fake(unlink_proxy::fake_mono::FakeMono::new(SECRET).only_api(MonoApi::V1))
            .await;
    h.upstream.api = MonoApi::V1;
    let app = h.app().await;
    let answer = send(&app, post_unlink("0000000000000000000000ab", "k")).await;
    assert_eq!(answer.status, 403, "not owned by the demo user");
    let answer = send(&app, post_unlink(OWNED, "k1")).await;
    assert_eq!(answer.body["data"]["already_unlinked"], false);
    // A record that does not know (a new one, or Mono's portal unlinked it): Mono's 404.
    h.store = std::sync::Arc::new(
        unlink_proxy::SqliteStore::open(h.dir.path().join("fresh.sqlite3")).unwrap(),
    );
    let app = h.app().await;
    let answer = send(&app, post_unlink(OWNED, "k2")).await;
    assert_eq!(answer.body["data"]["already_unlinked"], true);
    let outcome = h.rows_of(Kind::Unlink).await.pop().unwrap();
    assert_eq!(outcome.upstream_status, Some(404));

    // A 200 page that is not Mono's (a captive portal, a misrouted base URL): never
    // "unlinked". The outcome is unknown until the webhook or a later call settles it.
    let mut h = harness(&[(OWNED, "html200x1")]).await;
    let (answer, outcome) = unlink_once(&mut h).await;
    assert_eq!(answer.status, 502);
    assert_eq!(answer.code(), "upstream_unexpected");
    assert_eq!(outcome.outcome, Some(Outcome::OutcomeUnknown));
    assert_eq!(outcome.upstream_status, Some(200));
    assert!(outcome.detail.unwrap().contains("without Mono's JSON"));
    assert_eq!(h.fake.calls(OWNED), 1, "never retried: it may have worked");
    let unresolved = h
        .store
        .entries(
            &unlink_proxy::store::Query {
                only: unlink_proxy::store::Only::Unresolved,
                ..Default::default()
            },
            unlink_proxy::store::patient_deadline(),
        )
        .await
        .unwrap();
    assert_eq!(unresolved.len(), 1, "listed by audit --unresolved");
    // The next try reaches the real Mono (the fault is gone) and settles it.
    let app = h.app().await;
    let retry = send(&app, post_unlink(OWNED, "k2")).await;
    assert_eq!(retry.status, 200);
    let resolutions = h.rows_of(Kind::Resolution).await;
    assert_eq!(resolutions.len(), 1, "{resolutions:?}");
}

// Hostile traffic -----------------------------------------------------------------------

#[tokio::test]
async fn an_unlink_with_no_credentials_is_refused_before_the_authoriser_and_leaves_no_row() {
    let asked = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let counted = asked.clone();
    let mut h = harness(&[]).await;
    let app = h
        .app_with(move |c| {
            c.authoriser = authoriser_fn(move |_| {
                counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                async { Principal::new("demo-user") }
            });
            c.authorize_forward_headers = vec!["x-csrf-token".parse().unwrap()];
        })
        .await;
    let logs = Logs::default();
    let _guard = logs.capture();
    // No cookie, no Authorization, no forwarded header; a key the caller chose.
    let bare = unlink(OWNED, &"m".repeat(255)).body(Body::empty()).unwrap();
    let answer = send(&app, bare).await;
    assert_eq!((answer.status, answer.code()), (401, "unauthorized"));
    assert_eq!(asked.load(std::sync::atomic::Ordering::Relaxed), 0);
    assert!(h.rows().await.is_empty(), "no row for anyone's request");
    assert_eq!(h.fake.total_calls(), 0);
    assert!(
        logs.text().contains("reason=\"no_credentials\""),
        "{}",
        logs.text()
    );
    // Any one of them is enough to ask the authoriser.
    for (name, value) in [
        ("cookie", "session=x"),
        ("authorization", "Bearer t"),
        ("x-csrf-token", "c"),
    ] {
        let request = unlink(OWNED_2, name)
            .header(name, value)
            .body(Body::empty())
            .unwrap();
        assert_eq!(send(&app, request).await.status, 200, "{name}");
    }
    assert_eq!(asked.load(std::sync::atomic::Ordering::Relaxed), 3);
}

#[tokio::test]
async fn an_unlink_with_a_body_is_refused_unread_above_a_few_bytes() {
    let mut h = harness(&[]).await;
    let app = h.app().await;
    let with_body = |key: &str, body: Body| signed_in(unlink(OWNED, key)).body(body).unwrap();
    let big = send(&app, with_body("a", Body::from(vec![b'x'; 4096]))).await;
    assert_eq!((big.status, big.code()), (413, "payload_too_large"));
    // Chunked, no length given: read up to the limit, then refused.
    let stream = futures::stream::iter(
        (0..8).map(|_| Ok::<_, std::io::Error>(axum::body::Bytes::from_static(b"0123456789"))),
    );
    let chunked = send(&app, with_body("b", Body::from_stream(stream))).await;
    assert_eq!(chunked.status, 413);
    assert_eq!(h.fake.total_calls(), 0);
    assert!(h.rows().await.is_empty());
    // A careless client's `{}` is fine.
    let empty_json = send(&app, with_body("c", Body::from("{}"))).await;
    assert_eq!(empty_json.status, 200);
}

#[tokio::test]
async fn request_ids_are_kept_only_when_plain() {
    let mut h = harness(&[]).await;
    let app = h.app().await;
    let with_id = |id: &'static str, key: &str| {
        signed_in(unlink(NOT_OWNED, key))
            .header("x-request-id", id)
            .body(Body::empty())
            .unwrap()
    };
    let kept = send(&app, with_id("req-42.a_B", "a")).await;
    assert_eq!(kept.headers["x-request-id"], "req-42.a_B");
    for forged in ["x outcome=unlinked principal=admin", "a\\u{1b}[31mred", ""] {
        let answer = send(&app, with_id(forged, "b")).await;
        let id = answer.headers["x-request-id"].to_str().unwrap().to_owned();
        assert_ne!(id, forged);
        assert_eq!(id.len(), 36, "replaced by a UUID: {id}");
    }
    let long: &'static str = Box::leak("x".repeat(65).into_boxed_str());
    let answer = send(&app, with_id(long, "c")).await;
    assert_ne!(answer.headers["x-request-id"], long);
    let ids: Vec<_> = h
        .rows()
        .await
        .into_iter()
        .map(|r| r.request_id.unwrap())
        .collect();
    assert_eq!(ids[0], "req-42.a_B");
    assert!(ids[1..].iter().all(|id| id.len() == 36), "{ids:?}");
}

#[tokio::test]
async fn with_public_origins_the_host_header_proves_nothing() {
    let mut h = harness(&[]).await;
    let app = h
        .app_with(|c| c.public_origins = vec!["https://app.partner.example".into()])
        .await;
    // DNS rebinding: the attacker's page reaches the proxy under the attacker's name.
    let rebound = Request::post(format!("/api/mono/accounts/{OWNED}/unlink"))
        .header("host", "evil.example")
        .header("origin", "http://evil.example")
        .header("idempotency-key", "k")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, rebound).await.status, 403);
    // The scheme counts too.
    let downgraded = unlink(OWNED, "k")
        .header("origin", "http://app.partner.example")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, downgraded).await.status, 403);
    let twice = unlink(OWNED, "k")
        .header("origin", "https://app.partner.example")
        .header("origin", "https://evil.example")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, twice).await.status, 403);
    assert_eq!(h.fake.total_calls(), 0);
    let own_page = signed_in(unlink(OWNED, "k"))
        .header("origin", "https://app.partner.example")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, own_page).await.status, 200);
}

#[tokio::test]
async fn a_webhook_without_the_secret_is_refused_before_its_body_is_read() {
    let mut h = harness(&[]).await;
    let app = h
        .app_with(|c| c.webhook_secret = SharedSecret::new("s3cret"))
        .await;
    let huge = json!({ "event": "x", "padding": "x".repeat(100_000) });
    let answer = send(&app, webhook(Some("wrong"), huge.clone())).await;
    assert_eq!(answer.status, 401, "refused on the secret, not on the size");
    assert_eq!(send(&app, webhook(Some("s3cret"), huge)).await.status, 413);
}

#[tokio::test]
async fn webhooks_are_limited_per_secret_so_monos_own_deliveries_get_through() {
    // An offboarding unlinks thousands of accounts; Mono delivers each webhook from the same
    // few addresses. Far more than the per-address limit (60 a minute) must get through.
    let mut h = harness(&[]).await;
    let app = h
        .app_with(|c| c.webhook_secret = SharedSecret::new("s3cret"))
        .await;
    for i in 0..200 {
        let event = json!({"event": "mono.events.account_unlinked",
            "data": {"account": {"id": format!("acc{i:04}")}}});
        assert_eq!(
            send(&app, webhook(Some("s3cret"), event)).await.status,
            200,
            "{i}"
        );
    }
    assert_eq!(h.rows_of(Kind::Webhook).await.len(), 200);

    // Wrong secrets cost nothing and are never counted against Mono's allowance; deliveries
    // with the secret have a limit of their own.
    let mut h = harness(&[]).await;
    let app = h
        .app_with(|c| {
            c.webhook_secret = SharedSecret::new("s3cret");
            c.rate_limits.per_webhook_secret = std::num::NonZeroU32::new(3).unwrap();
        })
        .await;
    for _ in 0..50 {
        assert_eq!(
            send(&app, webhook(Some("wrong"), json!({}))).await.status,
            401
        );
    }
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let event = json!({"event": "mono.events.something_else"});
        statuses.push(send(&app, webhook(Some("s3cret"), event)).await.status);
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
}

#[tokio::test]
async fn metrics_are_for_this_machine_only() {
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .build_recorder()
        .handle();
    let mut h = harness(&[]).await;
    let proxy = h.proxy_with(|c| c.metrics = Some(handle)).await;
    let from = |ip: [u8; 4]| {
        proxy
            .app()
            .layer(axum::extract::connect_info::MockConnectInfo(
                std::net::SocketAddr::from((ip, 50000)),
            ))
    };
    let metrics = || Request::get("/metrics").body(Body::empty()).unwrap();
    assert_eq!(send(&from([127, 0, 0, 1]), metrics()).await.status, 200);
    assert_eq!(send(&from([192, 0, 2, 7]), metrics()).await.status, 404);
}

#[tokio::test]
async fn static_files_are_sent_precompressed_when_the_browser_accepts_it() {
    let mut h = harness(&[]).await;
    let files = tempfile::tempdir().unwrap();
    for (name, bytes) in [
        ("unlink.wasm", &b"\0asm raw"[..]),
        ("unlink.wasm.br", b"brotli bytes"),
        ("unlink.wasm.gz", b"gzip bytes"),
    ] {
        std::fs::write(files.path().join(name), bytes).unwrap();
    }
    let dir = files.path().to_owned();
    let app = h.app_with(|config| config.static_dir = Some(dir)).await;
    let get = |accept: &'static str| {
        let request = Request::get("/unlink.wasm").header("accept-encoding", accept);
        tower::ServiceExt::oneshot(app.clone(), request.body(Body::empty()).unwrap())
    };
    for (accept, encoding, body) in [
        ("gzip, deflate, br, zstd", Some("br"), &b"brotli bytes"[..]),
        ("gzip, deflate", Some("gzip"), b"gzip bytes"),
        ("identity", None, b"\0asm raw"),
    ] {
        let response = get(accept).await.unwrap();
        assert_eq!(response.status(), 200, "{accept}");
        let headers = response.headers().clone();
        assert_eq!(headers["content-type"], "application/wasm", "{accept}");
        assert_eq!(
            headers.get("content-encoding").map(|v| v.to_str().unwrap()),
            encoding,
            "{accept}"
        );
        assert_eq!(headers["vary"], "accept-encoding", "{accept}");
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        assert_eq!(&bytes[..], body, "{accept}");
    }
}
