//! The partner's side of `--authorize-url`, as an axum route: "may the signed-in user unlink
//! this account?" The README quotes `can_unlink` from this file (a test keeps them equal),
//! so the copy partners paste is code that compiles.
//!
//! `cargo run -p unlink-proxy --example authoriser` serves it on 127.0.0.1:3001 with one
//! session (`session=s1`, user-42) that owns one account.

use std::{collections::HashMap, sync::Arc};

use axum::{Json, Router, extract::State, http::HeaderMap, routing::post};
use serde::Deserialize;
use serde_json::{Value, json};

/// Stand-ins for your own session store and accounts table.
struct App {
    sessions: HashMap<&'static str, &'static str>,
    accounts: HashMap<&'static str, Vec<&'static str>>,
}

impl App {
    async fn user(&self, headers: &HeaderMap) -> Option<String> {
        let cookies = headers.get("cookie")?.to_str().ok()?;
        let session = cookies
            .split("; ")
            .find_map(|c| c.strip_prefix("session="))?;
        self.sessions.get(session).map(|user| user.to_string())
    }

    async fn owns(&self, user: &str, account_id: &str) -> bool {
        self.accounts
            .get(user)
            .is_some_and(|ids| ids.contains(&account_id))
    }
}

#[derive(Deserialize)]
struct CanUnlink {
    account_id: String,
}

// POST /internal/can-unlink, reachable by the proxy only: may this session unlink this account?
async fn can_unlink(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Json(request): Json<CanUnlink>,
) -> Json<Value> {
    let user = app.user(&headers).await;
    match user {
        Some(user) if app.owns(&user, &request.account_id).await => {
            Json(json!({ "allowed": true, "principal": user }))
        }
        _ => Json(json!({ "allowed": false })),
    }
}

#[tokio::main]
async fn main() {
    let app = Arc::new(App {
        sessions: HashMap::from([("s1", "user-42")]),
        accounts: HashMap::from([("user-42", vec!["60770aa8c5878a2af69ed849"])]),
    });
    let routes = Router::new()
        .route("/internal/can-unlink", post(can_unlink))
        .with_state(app);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3001")
        .await
        .unwrap();
    axum::serve(listener, routes).await.unwrap();
}
