//! `POST {prefix}/accounts/{id}/unlink`: the route the widget calls.
//!
//! Checks run cheapest first, and nothing reaches Mono until all pass: id → origin →
//! `Idempotency-Key` → per-address limit → authoriser → per-user limit → stored outcome →
//! Mono. Every attempt, refused or not, leaves one audit row before the answer is sent.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex},
    time::Instant,
};

use axum::{
    extract::{ConnectInfo, Path, State, connect_info::MockConnectInfo, rejection::PathRejection},
    http::{Extensions, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use futures::{
    FutureExt,
    future::{BoxFuture, Shared},
};
use serde_json::json;

use crate::{
    AppState,
    account::AccountId,
    audit::Entry,
    authorize::AuthRequest,
    csrf,
    error::{ApiError, envelope},
    mono::{Upstream, Verdict},
};

/// Mono calls in flight, by account: concurrent unlinks of one account share one call.
pub type InFlight = Arc<Mutex<HashMap<AccountId, Shared<BoxFuture<'static, Upstream>>>>>;

/// A successful unlink, as the widget sees it.
struct Unlinked {
    account_id: AccountId,
    already: bool,
}

pub async fn handle(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    extensions: Extensions,
) -> Response {
    // The route is `/accounts/{*rest}` so that an empty or slash-laden id still reaches this
    // handler and gets a clear 400 rather than a vague 404.
    let raw_id = match &path {
        Ok(Path(rest)) => match rest.strip_suffix("/unlink") {
            Some(id) => Some(id),
            None => return ApiError::NotFound.into_response(),
        },
        Err(_) => None, // not UTF-8 after percent-decoding: an invalid id
    };

    let started = Instant::now();
    let client_ip = client_ip(&extensions, &headers, state.trust_forwarded_for);
    let mut entry = Entry {
        kind: "unlink".into(),
        request_id: crate::request_id(&headers).map(str::to_owned),
        client_ip: client_ip.map(|ip| ip.to_string()),
        ..Entry::default()
    };
    let result = attempt(&state, raw_id, &headers, client_ip, &mut entry).await;
    entry.outcome = match &result {
        Ok(Unlinked { already: false, .. }) => "unlinked",
        Ok(Unlinked { already: true, .. }) => "already_unlinked",
        Err(error) => error.code(),
    }
    .into();
    entry.latency_ms = Some(started.elapsed().as_millis().try_into().unwrap_or(i64::MAX));
    tracing::info!(
        account_id = entry.account_id.as_deref().unwrap_or("-"),
        principal = entry.principal.as_deref().unwrap_or("-"),
        outcome = %entry.outcome,
        source = entry.source.as_deref().unwrap_or("-"),
        upstream_status = entry.upstream_status,
        attempts = entry.attempts,
        "unlink attempt"
    );

    // The audit row lands before the answer; without it there is no answer.
    if let Err(error) = state.audit.record(entry).await {
        tracing::error!(%error, "could not write the audit trail; withholding the answer");
        return ApiError::AuditUnavailable.into_response();
    }
    match result {
        Ok(Unlinked {
            account_id,
            already,
        }) => {
            let message = if already {
                "Account was already unlinked."
            } else {
                "Account unlinked."
            };
            let data = json!({ "account_id": account_id.as_str(), "already_unlinked": already });
            (StatusCode::OK, envelope(true, message, data)).into_response()
        }
        Err(error) => error.into_response(),
    }
}

async fn attempt(
    state: &AppState,
    raw_id: Option<&str>,
    headers: &HeaderMap,
    client_ip: Option<IpAddr>,
    entry: &mut Entry,
) -> Result<Unlinked, ApiError> {
    let account_id = raw_id
        .and_then(|id| AccountId::parse(id).ok())
        .ok_or(ApiError::InvalidAccountId)?;
    entry.account_id = Some(account_id.to_string());

    match csrf::check(headers, &state.allowed_origins) {
        csrf::Verdict::Allowed => {}
        refused => {
            tracing::warn!(?refused, origin = ?headers.get("origin"), "cross-site unlink refused");
            return Err(ApiError::Forbidden);
        }
    }

    let key = idempotency_key(headers)?;
    entry.idempotency_key = Some(key.clone());

    if let Some(ip) = client_ip {
        state
            .limiter
            .check_ip(ip)
            .map_err(|retry_after| ApiError::RateLimited { retry_after })?;
    }

    let request = AuthRequest::new(account_id.clone(), headers, client_ip);
    let principal = state
        .authoriser
        .authorise(&request)
        .await
        .map_err(|denied| {
            tracing::warn!(account_id = %account_id, reason = %denied, "unlink not authorised");
            ApiError::Forbidden
        })?;
    entry.principal = principal.0.clone();
    if let Some(principal) = &principal.0 {
        state
            .limiter
            .check_principal(principal)
            .map_err(|retry_after| ApiError::RateLimited { retry_after })?;
    }

    let replay = state.audit.find_replay(&key).await.map_err(|error| {
        tracing::error!(%error, "could not read the audit trail");
        ApiError::AuditUnavailable
    })?;
    if let Some(replay) = replay {
        if replay.account_id != account_id.as_str() {
            return Err(ApiError::IdempotencyKeyReused);
        }
        if let Some(outcome) = replay.outcome {
            entry.source = Some("replay".into());
            return Ok(Unlinked {
                account_id,
                already: outcome == "already_unlinked",
            });
        }
    }

    let (call, leader) = upstream_call(state, &account_id);
    let upstream = call.await;
    entry.source = Some(if leader { "upstream" } else { "shared" }.into());
    entry.upstream_status = upstream.status;
    entry.attempts = if leader { upstream.attempts } else { 0 };
    match upstream.verdict {
        Verdict::Unlinked => Ok(Unlinked {
            account_id,
            already: false,
        }),
        // The authoriser vouched that this user linked this account, so Mono not knowing it
        // means it is already gone: the user's goal is met.
        Verdict::NotFound => Ok(Unlinked {
            account_id,
            already: true,
        }),
        Verdict::KeyRejected => Err(ApiError::UpstreamRejectedKey),
        Verdict::Rejected => Err(ApiError::UnlinkRejected),
        Verdict::Unavailable { retry_after } => Err(ApiError::UpstreamUnavailable {
            timeout: false,
            retry_after,
        }),
        Verdict::TimedOut => Err(ApiError::UpstreamUnavailable {
            timeout: true,
            retry_after: None,
        }),
    }
}

/// Joins the Mono call already under way for `id`, or starts one. The call runs in its own
/// task, so it completes (and the caller's audit row lands) even if the browser goes away.
fn upstream_call(state: &AppState, id: &AccountId) -> (Shared<BoxFuture<'static, Upstream>>, bool) {
    let mut in_flight = state.in_flight.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(call) = in_flight.get(id) {
        return (call.clone(), false);
    }
    let task = {
        let (mono, in_flight, id) = (state.mono.clone(), state.in_flight.clone(), id.clone());
        tokio::spawn(async move {
            let upstream = mono.unlink(&id).await;
            in_flight
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id);
            upstream
        })
    };
    let call = async move {
        task.await.unwrap_or(Upstream {
            verdict: Verdict::Unavailable { retry_after: None },
            status: None,
            attempts: 0,
        })
    }
    .boxed()
    .shared();
    in_flight.insert(id.clone(), call.clone());
    (call, true)
}

/// `Idempotency-Key`: required, 1 to 255 visible ASCII characters. Its presence is also what
/// makes a cross-site form post impossible (see `csrf`).
fn idempotency_key(headers: &HeaderMap) -> Result<String, ApiError> {
    let key = headers
        .get("idempotency-key")
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    let valid = (1..=255).contains(&key.len()) && key.iter().all(|b| (0x21..=0x7e).contains(b));
    if !valid {
        return Err(ApiError::InvalidIdempotencyKey);
    }
    Ok(String::from_utf8_lossy(key).into_owned())
}

/// The caller's address. Behind a trusted reverse proxy, the last `X-Forwarded-For` entry
/// (the one that proxy added; earlier ones are the client's word). Otherwise the TCP peer,
/// as `serve` records it, or axum's `MockConnectInfo` when a test or embedding app sets one.
fn client_ip(
    extensions: &Extensions,
    headers: &HeaderMap,
    trust_forwarded_for: bool,
) -> Option<IpAddr> {
    if trust_forwarded_for {
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .next_back()
            .and_then(|ip| ip.trim().parse().ok());
        if forwarded.is_some() {
            return forwarded;
        }
    }
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
        .or_else(|| {
            extensions
                .get::<MockConnectInfo<SocketAddr>>()
                .map(|MockConnectInfo(addr)| addr.ip())
        })
}
