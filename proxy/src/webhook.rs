//! `POST {prefix}/webhooks/mono`: Mono telling us an account was unlinked (possibly by the
//! user in Mono's own portal, so the partner can update its records too). It is also Mono's
//! confirmation of the unlinks this proxy made, and it settles outcomes a crash left unknown.
//!
//! Anyone can reach this route, so it costs a caller nothing to be refused: the secret is
//! checked (in constant time) before anything else, and the body is read only after it.
//! Mono delivers from a few addresses, so a limit per address would throttle its own
//! deliveries when many accounts are unlinked at once (an offboarding); the limit is per
//! secret instead, after the check.

use axum::{
    body::Body,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::{
    BODY_LIMIT,
    account::AccountId,
    error::{ApiError, envelope},
    proxy::AppState,
    ratelimit::Bucket,
    record::{Entry, Kind, Outcome, Source},
    telemetry::{self, Refusal},
};

/// Event names for an unlink: the documented one, and the one a newer docs page uses.
const UNLINK_EVENTS: &[&str] = &["mono.events.account_unlinked", "mono.events.unlinked"];

pub(crate) async fn handle(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let result = receive(&state, &headers, body).await;
    let (code, response) = match result {
        Ok(response) => ("received", response),
        Err(error) => (error.code(), error.into_response()),
    };
    telemetry::answered("webhook", code, started.elapsed());
    response
}

async fn receive(state: &AppState, headers: &HeaderMap, body: Body) -> Result<Response, ApiError> {
    let Some(secret) = &state.settings.webhook_secret else {
        tracing::warn!("a webhook arrived but no MONO_WEBHOOK_SECRET is configured");
        return Err(ApiError::WebhookNotConfigured);
    };
    let deadline = Instant::now() + state.settings.deadline;
    let given = headers
        .get("mono-webhook-secret")
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if !secret.matches(given) {
        state.refusals.note(
            Refusal::WebhookSecret,
            "webhook with a wrong or missing secret",
        );
        return Err(ApiError::Unauthorized);
    }
    crate::unlink::limit(
        state,
        Bucket::WebhookSecret,
        state.settings.rate_limits.per_webhook_secret,
        deadline,
        "webhooks over the limit for their secret",
    )
    .await?;
    let body = axum::body::to_bytes(body, BODY_LIMIT).await.map_err(|_| {
        state.refusals.note(
            Refusal::InvalidWebhook,
            "webhook body over 64 KiB or cut short",
        );
        ApiError::PayloadTooLarge
    })?;
    let invalid = || {
        state
            .refusals
            .note(Refusal::InvalidWebhook, "webhook body is not a Mono event");
        ApiError::InvalidWebhook
    };
    // Strict, as for the authoriser: an event giving a key twice has no single meaning.
    let event: Value = crate::json::parse_strict(&body).map_err(|_| invalid())?;
    let name = event["event"].as_str().ok_or_else(invalid)?;
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
        .ok_or_else(invalid)?;

    let mut entry = Entry::new(Kind::Webhook, Some(Outcome::AccountUnlinked));
    entry.request_id = crate::routes::request_id(headers).map(str::to_owned);
    entry.account_id = Some(account_id.to_string());
    entry.source = Some(Source::Webhook);
    entry.detail = Some(name.to_owned());
    let first = state
        .store
        .record_webhook(&entry, deadline)
        .await
        .map_err(|error| {
            // Not 200, so Mono retries later, when the record may be back.
            tracing::error!(%error, "could not record a webhook");
            ApiError::AuditUnavailable
        })?;
    tracing::info!(account_id = %account_id, first_delivery = first, "account unlinked at Mono");
    Ok(acknowledge("Received."))
}

fn acknowledge(message: &str) -> Response {
    (StatusCode::OK, envelope(true, message, json!(null))).into_response()
}
