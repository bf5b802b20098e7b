//! `GET {prefix}/accounts/{id}`: what the record says about an account, so the widget does
//! not offer what is already done. Authorised like the unlink route (origin, credentials,
//! the authoriser's explicit yes), with a rate budget of its own (a page of many widgets asks
//! once for each), and never a call to Mono: the answer comes from the record and Mono's
//! confirmations, and is not itself recorded (nothing happened).
//!
//! `state` is `linked` (no unlink on record), `unlinked` (Mono said so: `unlinked_at`, and
//! `confirmed` once its webhook arrived) or `unknown` (an unlink in flight, or one whose
//! outcome a crash or an answer that was not Mono's left open).

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, Path, State, rejection::PathRejection},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::json;
use tokio::time::Instant;

use crate::{
    account::AccountId,
    authorize::AuthRequest,
    client, csrf,
    error::{ApiError, envelope},
    proxy::AppState,
    ratelimit::{Bucket, address_bucket},
    store::AccountState,
    telemetry::{self, Refusal},
};

/// The word the widget reads.
fn word(state: AccountState) -> &'static str {
    match state {
        AccountState::Linked => "linked",
        AccountState::Unlinked => "unlinked",
        AccountState::Unknown => "unknown",
    }
}

pub(crate) async fn handle(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    let started = Instant::now();
    let response = look_up(&state, peer, path, &headers).await;
    let response = match response {
        Ok(response) => response,
        Err(error) => error.into_response(),
    };
    let code = match response.status() {
        StatusCode::OK => "answered",
        _ => response
            .extensions()
            .get::<ApiError>()
            .map_or("error", ApiError::code),
    };
    telemetry::answered("status", code, started.elapsed());
    response
}

async fn look_up(
    state: &AppState,
    peer: SocketAddr,
    path: Result<Path<String>, PathRejection>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let deadline = Instant::now() + state.settings.deadline;
    let Ok(Path(rest)) = path else {
        return Err(ApiError::InvalidAccountId);
    };
    if rest.ends_with("/unlink") {
        return Err(ApiError::MethodNotAllowed);
    }
    let Ok(account_id) = AccountId::parse(&rest) else {
        state
            .refusals
            .note(Refusal::InvalidAccountId, "not an account id");
        return Err(ApiError::InvalidAccountId);
    };
    if csrf::check(headers, &state.settings.origins) != csrf::OriginCheck::Allowed {
        state
            .refusals
            .note(Refusal::CrossSite, "cross-site or unreadable Origin");
        return Err(ApiError::Forbidden);
    }
    let forwarded = &state.settings.authorize_forward_headers;
    if state.settings.require_credentials && !crate::unlink::has_credentials(headers, forwarded) {
        state.refusals.note(
            Refusal::NoCredentials,
            "no cookie, Authorization or forwarded header",
        );
        return Err(ApiError::Unauthorized);
    }
    let client_ip = client::address(peer, headers, state.settings.trust_forwarded_for);
    let limits = &state.settings.rate_limits;
    let bucket = Bucket::StatusAddress(address_bucket(client_ip));
    let what = "status lookups over the per-address limit";
    crate::unlink::limit(state, bucket, limits.per_address, deadline, what).await?;

    let auth = AuthRequest::new(account_id.clone(), headers, forwarded, Some(client_ip));
    let principal = tokio::time::timeout_at(deadline, state.authoriser.authorise(&auth))
        .await
        .map_err(|_| ApiError::Forbidden)?
        .map_err(|denied| {
            tracing::info!(account_id = %account_id, reason = %denied, "status not authorised");
            ApiError::Forbidden
        })?;
    let bucket = Bucket::Status(principal.to_string());
    let what = "status lookups over the per-user limit";
    crate::unlink::limit(state, bucket, limits.status_per_principal, deadline, what).await?;

    let record = state
        .store
        .account(account_id.as_str(), deadline)
        .await
        .map_err(|error| crate::unlink::core::unavailable(&error))?;
    let data = json!({
        "account_id": account_id.as_str(),
        "state": word(record.state()),
        "unlinked_at": record.unlinked_at,
        "confirmed": record.confirmed,
    });
    Ok((
        StatusCode::OK,
        envelope(true, "What the record says about this account.", data),
    )
        .into_response())
}
