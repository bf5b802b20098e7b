//! The handler: the checks that cost nothing, done before anything is spent on a request
//! anyone can send; then the rest in a task that outlives a client who hangs up, answered
//! within the deadline.

use std::{net::SocketAddr, time::Duration};

use axum::{
    body::Body,
    extract::{ConnectInfo, Path, State, rejection::PathRejection},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;
use tokio::time::Instant;

use super::{Done, Request, attempt::attempt};
use crate::{
    account::AccountId,
    authorize::AuthRequest,
    client, csrf,
    error::{ApiError, envelope},
    proxy::AppState,
    record::{Reason, Via},
    telemetry::{self, Refusal},
};

/// Largest body an unlink request may carry: it has none, but a careless client may send
/// `{}`; anything bigger is refused unread.
pub(crate) const UNLINK_BODY_LIMIT: usize = 16;

pub(crate) async fn handle(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let arrived_ms = crate::time::now_ms();
    let deadline = started + state.settings.deadline;
    // The route is `/accounts/{*rest}` so that an empty or slash-laden id still reaches this
    // handler and gets a clear 400 rather than a vague 404.
    let raw_id = match &path {
        Ok(Path(rest)) => match rest.strip_suffix("/unlink") {
            Some(id) => Some(id),
            None => return answer(started, "unlink", ApiError::NotFound.into_response()),
        },
        Err(_) => None, // not UTF-8 after percent-decoding: an invalid id
    };
    let Some(account_id) = raw_id.and_then(|id| AccountId::parse(id).ok()) else {
        state
            .refusals
            .note(Refusal::InvalidAccountId, "not an account id");
        return answer(
            started,
            "unlink",
            ApiError::InvalidAccountId.into_response(),
        );
    };
    if csrf::check(&headers, &state.settings.origins) != csrf::OriginCheck::Allowed {
        state
            .refusals
            .note(Refusal::CrossSite, "cross-site or unreadable Origin");
        return answer(started, "unlink", ApiError::Forbidden.into_response());
    }
    let Some(key) = idempotency_key(&headers) else {
        state.refusals.note(
            Refusal::InvalidIdempotencyKey,
            "missing or malformed Idempotency-Key",
        );
        return answer(
            started,
            "unlink",
            ApiError::InvalidIdempotencyKey.into_response(),
        );
    };

    if state.settings.require_credentials
        && !has_credentials(&headers, &state.settings.authorize_forward_headers)
    {
        // Nobody signed in: the authoriser could only say no, and the row would carry a key
        // the caller chose. Refused here, for nothing.
        state.refusals.note(
            Refusal::NoCredentials,
            "no cookie, Authorization or forwarded header",
        );
        return answer(started, "unlink", ApiError::Unauthorized.into_response());
    }
    if !small_body(&headers, body).await {
        state
            .refusals
            .note(Refusal::BodyTooLarge, "an unlink request with a body");
        return answer(started, "unlink", ApiError::PayloadTooLarge.into_response());
    }

    let client_ip = client::address(peer, &headers, state.settings.trust_forwarded_for);
    let auth = AuthRequest::new(
        account_id.clone(),
        &headers,
        &state.settings.authorize_forward_headers,
        Some(client_ip),
    );
    let request = Request {
        account_id,
        key,
        client_ip: Some(client_ip),
        request_id: crate::routes::request_id(&headers).map(str::to_owned),
        reason: Reason::UserRequest,
        via: Via::Widget,
        detail: None,
        started,
        arrived_ms,
        deadline,
    };
    let work = attempt(state.clone(), request, auth);
    let response = run_and_answer(&state, raw_id.unwrap_or_default(), deadline, work).await;
    answer(started, "unlink", response)
}

/// Runs `work` in a task of its own (it goes on if the client hangs up; the shutdown waits
/// for it) and answers with what it did, within `deadline` (and a moment to write the
/// answer).
pub(super) async fn run_and_answer(
    state: &AppState,
    account: &str,
    deadline: Instant,
    work: impl Future<Output = Done> + Send + 'static,
) -> Response {
    let task = state.tasks.spawn(async move {
        telemetry::in_flight(1.0);
        let done = work.await;
        telemetry::in_flight(-1.0);
        done
    });
    let reply = match tokio::time::timeout_at(deadline + Duration::from_millis(250), task).await {
        Ok(Ok(done)) => done.reply,
        Ok(Err(error)) => {
            tracing::error!(%error, "the unlink task failed");
            Err(ApiError::AuditUnavailable)
        }
        Err(_) => {
            tracing::error!("the unlink task overran its deadline; answering without it");
            Err(ApiError::AuditUnavailable)
        }
    };
    match reply {
        Ok(already) => {
            let message = if already {
                "Account was already unlinked."
            } else {
                "Account unlinked."
            };
            let data = json!({ "account_id": account, "already_unlinked": already });
            (StatusCode::OK, envelope(true, message, data)).into_response()
        }
        Err(error) => error.into_response(),
    }
}

/// Counts an answer of an unlink route by its stable code, with the time it took.
pub(super) fn answer(started: Instant, route: &'static str, response: Response) -> Response {
    let code = match response.status() {
        StatusCode::OK => "unlinked",
        _ => response
            .extensions()
            .get::<ApiError>()
            .map_or("error", ApiError::code),
    };
    telemetry::answered(route, code, started.elapsed());
    response
}

/// Whether the caller sent anything the authoriser could recognise a user by.
pub(crate) fn has_credentials(headers: &HeaderMap, forwarded: &[axum::http::HeaderName]) -> bool {
    [header::COOKIE, header::AUTHORIZATION]
        .iter()
        .chain(forwarded)
        .any(|name| headers.contains_key(name))
}

/// Whether the request's body is at most [`UNLINK_BODY_LIMIT`] bytes, read within a few
/// seconds (a declared length above it is refused unread).
async fn small_body(headers: &HeaderMap, body: Body) -> bool {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > UNLINK_BODY_LIMIT as u64) {
        return false;
    }
    let read = axum::body::to_bytes(body, UNLINK_BODY_LIMIT);
    matches!(
        tokio::time::timeout(Duration::from_secs(5), read).await,
        Ok(Ok(_))
    )
}

/// `Idempotency-Key`: required, 1 to 255 visible ASCII characters. Its presence is also what
/// makes a cross-site form post impossible (see `csrf`).
pub(super) fn idempotency_key(headers: &HeaderMap) -> Option<String> {
    let key = headers.get("idempotency-key")?.as_bytes();
    super::valid_key(key).then(|| String::from_utf8_lossy(key).into_owned())
}
