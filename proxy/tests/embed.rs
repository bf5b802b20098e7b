//! The proxy nested in a partner's own axum app (`examples/embed.rs`, compiled here as it
//! is), served over loopback: an unlink, a refusal, and the app's own routes, state and
//! fallback untouched.

mod support;

#[path = "../examples/embed.rs"]
#[allow(dead_code, unreachable_pub)]
mod embed;

use std::{collections::HashMap, net::SocketAddr, sync::Arc};

use serde_json::Value;
use support::*;

#[tokio::test]
async fn the_proxy_nested_in_a_partners_app_unlinks_refuses_and_leaves_the_app_alone() {
    let h = harness(&[]).await;
    let sessions = Arc::new(HashMap::from([
        ("alice-session".to_owned(), "alice".to_owned()),
        ("bob-session".to_owned(), "bob".to_owned()),
    ]));
    let linked = Arc::new(HashMap::from([
        ("alice".to_owned(), vec![OWNED.to_owned()]),
        ("bob".to_owned(), vec![OWNED_2.to_owned()]),
    ]));
    let proxy = embed::start_proxy(
        h.upstream.clone(),
        h.store.clone(),
        sessions.clone(),
        linked.clone(),
    )
    .await
    .unwrap();
    let app = embed::app(embed::Partner {
        sessions,
        linked,
        proxy,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    let client = reqwest::Client::new();
    let unlink = |account: &str, session: &str| {
        client
            .post(format!("{url}/api/mono/accounts/{account}/unlink"))
            .header("cookie", format!("session={session}"))
            .header("idempotency-key", format!("{account}-{session}"))
            .send()
    };

    // Alice unlinks her account.
    let answer = unlink(OWNED, "alice-session").await.unwrap();
    assert_eq!(answer.status(), 200);
    assert!(answer.headers().contains_key("x-request-id"));
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["data"]["already_unlinked"], false);
    assert!(!h.fake.is_linked(OWNED));
    // She may not unlink Bob's: refused, on record, Mono not called.
    let answer = unlink(OWNED_2, "alice-session").await.unwrap();
    assert_eq!(answer.status(), 403);
    assert!(h.fake.is_linked(OWNED_2));
    let forbidden = h.rows().await.into_iter().find(|row| {
        row.account_id.as_deref() == Some(OWNED_2)
            && row.outcome == Some(unlink_proxy::record::Outcome::Forbidden)
    });
    assert_eq!(forbidden.unwrap().principal, None);

    // The app's own routes answer as the app wrote them.
    let health: Value = reqwest::get(format!("{url}/healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["app"], "ok", "the app's own /healthz: {health}");
    assert_eq!(health["unlink_record"], "ok");
    let me: Value = client
        .get(format!("{url}/api/me"))
        .header("cookie", "session=bob-session")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["user"], "bob");
    // Its fallback is its own page, not the proxy's 404.
    let page = reqwest::get(format!("{url}/settings/linked-accounts"))
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Partner app"));
    // Under the prefix, an unknown path is the proxy's own 404, in its envelope.
    let unknown = reqwest::get(format!("{url}/api/mono/nothing-here"))
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let body: Value = unknown.json().await.unwrap();
    assert_eq!(body["data"]["code"], "not_found");
}
