//! The other doors to the same record: the service route a partner's backend calls with a
//! token, the `Unlinker` a Rust backend calls in process, and the status route the widget
//! asks before offering an unlink.

mod support;

#[path = "../examples/erasure.rs"]
#[allow(dead_code, unreachable_pub)]
mod erasure;

use std::{collections::HashSet, sync::Arc, time::Duration};

use axum::{body::Body, http::Request};
use serde_json::{Value, json};
use support::*;
use unlink_proxy::{
    NotUnlinked, Principal,
    account::AccountId,
    error::ApiError,
    record::{Kind, Outcome, Reason, Source, Via},
    secret::ServiceTokens,
};

const BILLING: &str = "billing-0123456789abcdef0123456789";
const SUPPORT: &str = "support-ffffffffffffffffffffffffff";

fn tokens() -> ServiceTokens {
    ServiceTokens::parse(&format!("billing:{BILLING}\nsupport:{SUPPORT}\n")).unwrap()
}

/// `POST /api/mono/service/accounts/{id}/unlink` as a backend sends it.
fn service(id: &str, key: &str, token: Option<&str>) -> axum::http::request::Builder {
    let mut request = Request::post(format!("/api/mono/service/accounts/{id}/unlink"))
        .header("idempotency-key", key)
        .header("content-type", "application/json");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    request
}

#[tokio::test]
async fn the_service_route_needs_a_token_refuses_browsers_and_records_who_and_why() {
    let logs = Logs::default();
    let _guard = logs.capture();
    let mut h = harness(&[]).await;
    let app = h.app_with(|c| c.service_tokens = Some(tokens())).await;

    // Refused before anything: no token, a wrong one, a browser's cookie or Origin.
    let refused = [
        service(OWNED, "k", None).body(Body::empty()).unwrap(),
        service(OWNED, "k", Some("billing-0123456789abcdef0123456788"))
            .body(Body::empty())
            .unwrap(),
        service(OWNED, "k", Some(BILLING))
            .header("cookie", "session=demo")
            .body(Body::empty())
            .unwrap(),
        service(OWNED, "k", Some(BILLING))
            .header("origin", "https://partner.test")
            .body(Body::empty())
            .unwrap(),
        service(OWNED, "k", None)
            .header("cookie", "session=demo")
            .header("origin", "https://partner.test")
            .body(Body::empty())
            .unwrap(),
    ];
    for request in refused {
        let answer = send(&app, request).await;
        assert_eq!((answer.status, answer.code()), (401, "unauthorized"));
    }
    assert_eq!(h.fake.total_calls(), 0);
    assert!(h.rows().await.is_empty(), "anyone can send those: no rows");

    // The token's name is the principal; the reason defaults to "other".
    let answer = send(
        &app,
        service(OWNED, "s1", Some(BILLING))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.body["data"]["already_unlinked"], false);
    // A backend acting for a user names the user and the reason.
    let body = json!({"principal": "user-42", "reason": "erasure_request"}).to_string();
    let answer = send(
        &app,
        service(OWNED_2, "s2", Some(SUPPORT))
            .body(Body::from(body))
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let intents = h.rows_of(Kind::Intent).await;
    let who: Vec<_> = intents
        .iter()
        .map(|r| {
            (
                r.principal.clone().unwrap(),
                r.reason,
                r.via,
                r.detail.clone().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        who,
        [
            (
                "billing".into(),
                Some(Reason::Other),
                Some(Via::Service),
                "service token billing".into()
            ),
            (
                "user-42".into(),
                Some(Reason::ErasureRequest),
                Some(Via::Service),
                "service token support".into()
            ),
        ]
    );
    // A body that is not {principal?, reason?}: refused, nothing called.
    let bad = json!({"reason": "because"}).to_string();
    let answer = send(
        &app,
        service(NOT_OWNED, "s3", Some(BILLING))
            .body(Body::from(bad))
            .unwrap(),
    )
    .await;
    assert_eq!((answer.status, answer.code()), (400, "invalid_request"));
    let answer = send(
        &app,
        service(NOT_OWNED, "", Some(BILLING))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(
        (answer.status, answer.code()),
        (400, "invalid_idempotency_key")
    );
    assert!(!h.fake.is_linked(OWNED) && !h.fake.is_linked(OWNED_2) && h.fake.is_linked(NOT_OWNED));

    let logged = logs.text();
    assert!(
        !logged.contains(BILLING) && !logged.contains(SUPPORT),
        "a token in the log"
    );
    assert!(
        !logged.contains("0123456789abcdef"),
        "part of a token in the log"
    );
}

#[tokio::test]
async fn without_tokens_there_is_no_service_route_and_each_token_has_its_limit() {
    let mut h = harness(&[]).await;
    let app = h.app().await;
    let answer = send(
        &app,
        service(OWNED, "k", Some(BILLING))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!((answer.status, answer.code()), (404, "not_found"));

    let app = h
        .app_with(|c| {
            c.service_tokens = Some(tokens());
            c.rate_limits.per_service_token = std::num::NonZeroU32::new(2).unwrap();
        })
        .await;
    let mut statuses = Vec::new();
    for i in 0..3 {
        let request = service(NOT_OWNED, &format!("b{i}"), Some(BILLING));
        statuses.push(
            send(&app, request.body(Body::empty()).unwrap())
                .await
                .status,
        );
    }
    assert_eq!(statuses, [200, 200, 429]);
    // The other token has its own allowance.
    let request = service(OWNED, "s", Some(SUPPORT));
    assert_eq!(
        send(&app, request.body(Body::empty()).unwrap())
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn the_unlinker_keeps_the_routes_promises_for_a_rust_backend() {
    let mut h = harness(&[(OWNED, "latency:300")]).await;
    let proxy = h.proxy_with(|_| {}).await;
    let unlinker = proxy.unlinker();
    let account = AccountId::parse(OWNED).unwrap();
    let ops = Principal::new("support:ada").unwrap();

    let done = unlinker
        .unlink(&account, &ops, Reason::AccountClosed, "close-4711")
        .await
        .unwrap();
    assert!(!done.already_unlinked);
    assert_eq!(done.mono.unwrap().status, Some(200));
    // The same key again: the answer replayed, Mono not asked.
    let again = unlinker
        .unlink(&account, &ops, Reason::AccountClosed, "close-4711")
        .await
        .unwrap();
    assert!(!again.already_unlinked && again.mono.is_none());
    assert_eq!(h.fake.calls(OWNED), 1);
    let rows = h.rows_of(Kind::Unlink).await;
    assert_eq!(rows[1].source, Some(Source::Replay));
    assert!(rows.iter().all(|r| r.via == Some(Via::Library)));
    assert!(rows.iter().all(|r| r.reason == Some(Reason::AccountClosed)));
    assert_eq!(
        rows[0].request_id.as_deref(),
        Some(done.request_id.as_str())
    );

    let bad = unlinker.unlink(&account, &ops, Reason::Other, "").await;
    assert!(matches!(
        bad,
        Err(NotUnlinked {
            error: ApiError::InvalidIdempotencyKey,
            ..
        })
    ));

    // The caller's future dropped once Mono has the call (a request handler whose client
    // hung up): the unlink goes on and lands in the record.
    let second = AccountId::parse(OWNED_2).unwrap();
    let call = tokio::spawn({
        let (unlinker, second, ops) = (unlinker.clone(), second.clone(), ops.clone());
        async move {
            unlinker
                .unlink(&second, &ops, Reason::Offboarding, "off-1")
                .await
        }
    });
    until(|| h.fake.calls(OWNED_2) == 1).await;
    call.abort();
    assert!(proxy.drain(Duration::from_secs(5)).await);
    let outcome = h
        .rows_of(Kind::Unlink)
        .await
        .into_iter()
        .find(|r| r.account_id.as_deref() == Some(OWNED_2))
        .expect("its outcome is on record");
    assert_eq!(outcome.outcome, Some(Outcome::Unlinked));
}

#[tokio::test]
async fn the_erasure_example_unlinks_each_account_once_however_often_it_runs() {
    let mut h = harness(&[(OWNED_2, "503x3")]).await;
    let proxy = h.proxy_with(|_| {}).await;
    let job = erasure::Erasure {
        ticket: "T-1001".into(),
        accounts: vec![
            AccountId::parse(OWNED).unwrap(),
            AccountId::parse(OWNED_2).unwrap(),
        ],
    };
    let first = erasure::erase(&proxy.unlinker(), &job).await;
    assert_eq!(first[0].1, Ok(false));
    assert_eq!(
        first[1].1,
        Err("upstream_unavailable".into()),
        "Mono was down for it"
    );
    let again = erasure::erase(&proxy.unlinker(), &job).await;
    assert_eq!(again[0].1, Ok(false), "replayed");
    assert_eq!(again[1].1, Ok(false), "unlinked on the retry");
    assert_eq!(h.fake.calls(OWNED), 1);
    let principals: HashSet<_> = h
        .rows_of(Kind::Intent)
        .await
        .into_iter()
        .map(|r| (r.principal.unwrap(), r.reason.unwrap(), r.via.unwrap()))
        .collect();
    assert_eq!(
        principals,
        HashSet::from([(
            "erasure:T-1001".to_owned(),
            Reason::ErasureRequest,
            Via::Library
        )])
    );
}

fn status(id: &str) -> axum::http::request::Builder {
    Request::get(format!("/api/mono/accounts/{id}")).header("host", HOST)
}

async fn state(app: &axum::Router, id: &str) -> Value {
    let answer = send(app, signed_in(status(id)).body(Body::empty()).unwrap()).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    answer.body["data"].clone()
}

#[tokio::test]
async fn the_status_route_answers_from_the_record_for_whoever_may_unlink() {
    let mut h = harness(&[(OWNED_2, "html200x1")]).await;
    let app = h
        .app_with(|c| c.webhook_secret = unlink_proxy::SharedSecret::new("s3cret"))
        .await;
    // Authorised like the unlink route.
    let bare = send(&app, status(OWNED).body(Body::empty()).unwrap()).await;
    assert_eq!((bare.status, bare.code()), (401, "unauthorized"));
    let cross = signed_in(status(OWNED)).header("origin", "https://evil.example");
    assert_eq!(
        send(&app, cross.body(Body::empty()).unwrap()).await.status,
        403
    );
    let theirs = send(
        &app,
        signed_in(status(NOT_OWNED)).body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(theirs.status, 403, "not the demo user's account");

    let linked = state(&app, OWNED).await;
    assert_eq!(linked["state"], "linked");
    assert_eq!(linked["unlinked_at"], Value::Null);
    send(&app, post_unlink(OWNED, "k1")).await;
    let unlinked = state(&app, OWNED).await;
    assert_eq!(unlinked["state"], "unlinked");
    assert!(unlinked["unlinked_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(unlinked["confirmed"], false);
    // Mono's webhook confirms it.
    let event =
        json!({"event": "mono.events.account_unlinked", "data": {"account": {"id": OWNED}}});
    let webhook = Request::post("/api/mono/webhooks/mono")
        .header("mono-webhook-secret", "s3cret")
        .header("content-type", "application/json")
        .body(Body::from(event.to_string()))
        .unwrap();
    assert_eq!(send(&app, webhook).await.status, 200);
    assert_eq!(state(&app, OWNED).await["confirmed"], true);
    // A 200 page in Mono's place leaves it unknown.
    send(&app, post_unlink(OWNED_2, "k2")).await;
    assert_eq!(state(&app, OWNED_2).await["state"], "unknown");
    // Asking never calls Mono.
    let calls = h.fake.total_calls();
    for _ in 0..5 {
        state(&app, OWNED).await;
    }
    assert_eq!(h.fake.total_calls(), calls);
}

#[tokio::test]
async fn status_lookups_have_their_own_budget() {
    let mut h = harness(&[]).await;
    let app = h
        .app_with(|c| {
            c.rate_limits.status_per_principal = std::num::NonZeroU32::new(3).unwrap();
            c.rate_limits.per_principal = std::num::NonZeroU32::new(1).unwrap();
        })
        .await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let request = signed_in(status(OWNED)).body(Body::empty()).unwrap();
        statuses.push(send(&app, request).await.status);
    }
    assert_eq!(statuses, [200, 200, 200, 429]);
    // Looking up did not spend the user's unlink allowance.
    assert_eq!(send(&app, post_unlink(OWNED, "k")).await.status, 200);
    let _ = Arc::new(());
}
