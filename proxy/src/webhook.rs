//! `POST {prefix}/webhooks/mono`: Mono telling us an account was unlinked (possibly by the
//! user in Mono's own portal, so the partner can update its records too).

use axum::{
    body::Bytes,
    extract::{State, rejection::BytesRejection},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use crate::{
    AppState,
    account::AccountId,
    error::{ApiError, envelope},
    record::{Entry, Kind, Outcome, Source},
};

/// Event names for an unlink: the documented one, and the one a newer docs page uses.
const UNLINK_EVENTS: &[&str] = &["mono.events.account_unlinked", "mono.events.unlinked"];

pub async fn handle(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let Some(secret) = &state.webhook_secret else {
        tracing::warn!("a webhook arrived but no MONO_WEBHOOK_SECRET is configured");
        return Err(ApiError::WebhookNotConfigured);
    };
    let given = headers
        .get("mono-webhook-secret")
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if !secret.matches(given) {
        tracing::warn!("webhook refused: wrong or missing mono-webhook-secret");
        return Err(ApiError::Unauthorized);
    }
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::InvalidWebhook
        }
    })?;
    let event: Value = serde_json::from_slice(&body).map_err(|_| ApiError::InvalidWebhook)?;
    let name = event["event"].as_str().ok_or(ApiError::InvalidWebhook)?;
    if !UNLINK_EVENTS.contains(&name) {
        tracing::debug!(event = name, "webhook acknowledged and ignored");
        return Ok(acknowledge("Ignored."));
    }
    // Docs disagree on `id` and `_id`; accept either.
    let account = &event["data"]["account"];
    let account_id = account["id"]
        .as_str()
        .or_else(|| account["_id"].as_str())
        .and_then(|id| AccountId::parse(id).ok())
        .ok_or(ApiError::InvalidWebhook)?;

    let mut entry = Entry::new(Kind::Webhook, Some(Outcome::AccountUnlinked));
    entry.request_id = crate::request_id(&headers).map(str::to_owned);
    entry.account_id = Some(account_id.to_string());
    entry.source = Some(Source::Webhook);
    entry.detail = Some(name.to_owned());
    let deadline = tokio::time::Instant::now() + state.deadline;
    let first = state
        .store
        .record_webhook(&entry, deadline)
        .await
        .map_err(|error| {
            // Not 200, so Mono retries later, when the database may be back.
            tracing::error!(%error, "could not record a webhook");
            ApiError::AuditUnavailable
        })?;
    tracing::info!(account_id = %account_id, first_delivery = first, "account unlinked at Mono");
    Ok(acknowledge("Received."))
}

fn acknowledge(message: &str) -> Response {
    (StatusCode::OK, envelope(true, message, json!(null))).into_response()
}
