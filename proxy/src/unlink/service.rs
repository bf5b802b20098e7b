//! `POST {prefix}/service/accounts/{id}/unlink`: the same unlink for a partner's backend
//! (Node, PHP, Python, Go), running the proxy as a sidecar: an account closed, an erasure
//! request, an offboarding. A bearer token from `--service-token-file` is the yes; no
//! cookies, no authoriser, no origin rules, and a browser is never served here (a cookie
//! or an `Origin` means a page, not a backend). Without a token file the route does not
//! exist; with `--service-listen` it lives on its own address, away from the internet.
//!
//! The body is optional: `{"principal": "user-42", "reason": "erasure_request"}`. The
//! token's name is the principal unless the body names one, and is recorded either way.

use std::{net::SocketAddr, time::Duration};

use axum::{
    body::Body,
    extract::{ConnectInfo, Path, State, rejection::PathRejection},
    http::{HeaderMap, header},
    response::{IntoResponse, Response},
};
use tokio::time::Instant;

use super::{
    Request,
    route::{answer, idempotency_key, run_and_answer},
};
use crate::{
    account::AccountId,
    authorize::Principal,
    client,
    error::ApiError,
    proxy::AppState,
    ratelimit::Bucket,
    record::{Reason, Via},
    telemetry::Refusal,
};

/// Largest body read: a principal and a reason.
const SERVICE_BODY_LIMIT: usize = 4 * 1024;

/// What a backend may say about its unlink.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ServiceBody {
    pub(crate) principal: Option<Principal>,
    pub(crate) reason: Option<Reason>,
}

/// Reads the optional body: nothing, or a JSON object with only `principal` and `reason`
/// (strings), one meaning each.
pub(crate) fn read_body(body: &[u8]) -> Result<ServiceBody, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(ServiceBody::default());
    }
    let serde_json::Value::Object(fields) =
        crate::json::parse_strict(body).map_err(|_| ApiError::InvalidRequest)?
    else {
        return Err(ApiError::InvalidRequest);
    };
    let mut read = ServiceBody::default();
    for (name, value) in fields {
        let serde_json::Value::String(text) = value else {
            return Err(ApiError::InvalidRequest);
        };
        match name.as_str() {
            "principal" => {
                read.principal = Some(Principal::new(text).map_err(|_| ApiError::InvalidRequest)?)
            }
            "reason" => read.reason = Some(text.parse().map_err(|_| ApiError::InvalidRequest)?),
            _ => return Err(ApiError::InvalidRequest),
        }
    }
    Ok(read)
}

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
    let refuse = |refusal, why, error: ApiError| {
        state.refusals.note(refusal, why);
        answer(started, "service", error.into_response())
    };
    let Some(tokens) = state.settings.service_tokens.clone() else {
        return answer(started, "service", ApiError::NotFound.into_response());
    };
    let raw_id = match &path {
        Ok(Path(rest)) => match rest.strip_suffix("/unlink") {
            Some(id) => Some(id),
            None => return answer(started, "service", ApiError::NotFound.into_response()),
        },
        Err(_) => None,
    };
    let Some(account_id) = raw_id.and_then(|id| AccountId::parse(id).ok()) else {
        let invalid = ApiError::InvalidAccountId;
        return refuse(Refusal::InvalidAccountId, "not an account id", invalid);
    };
    if headers.contains_key(header::COOKIE) || headers.contains_key(header::ORIGIN) {
        let why = "a browser's request (a cookie or an Origin) on the service route";
        return refuse(Refusal::BrowserOnService, why, ApiError::Unauthorized);
    }
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.as_bytes().strip_prefix(b"Bearer "))
        .unwrap_or_default();
    let Some(name) = tokens.name_for(presented).map(str::to_owned) else {
        let why = "a missing or unknown service token";
        return refuse(Refusal::ServiceToken, why, ApiError::Unauthorized);
    };
    let Some(key) = idempotency_key(&headers) else {
        let why = "missing or malformed Idempotency-Key";
        let invalid = ApiError::InvalidIdempotencyKey;
        return refuse(Refusal::InvalidIdempotencyKey, why, invalid);
    };
    let read = tokio::time::timeout(
        Duration::from_secs(5),
        axum::body::to_bytes(body, SERVICE_BODY_LIMIT),
    );
    let asked = match read.await {
        Ok(Ok(bytes)) => match read_body(&bytes) {
            Ok(asked) => asked,
            Err(error) => return answer(started, "service", error.into_response()),
        },
        Ok(Err(_)) | Err(_) => {
            return answer(
                started,
                "service",
                ApiError::PayloadTooLarge.into_response(),
            );
        }
    };
    let per_token = state.settings.rate_limits.per_service_token;
    let bucket = Bucket::ServiceToken(name.clone());
    let what = "service token over its limit";
    if let Err(error) = super::limit(&state, bucket, per_token, deadline, what).await {
        return answer(started, "service", error.into_response());
    }
    let principal = match asked.principal {
        Some(principal) => principal,
        None => match Principal::new(name.clone()) {
            Ok(principal) => principal,
            Err(_) => return answer(started, "service", ApiError::InvalidRequest.into_response()),
        },
    };
    let client_ip = client::address(peer, &headers, state.settings.trust_forwarded_for);
    let request = Request {
        account_id,
        key,
        client_ip: Some(client_ip),
        request_id: crate::routes::request_id(&headers).map(str::to_owned),
        reason: asked.reason.unwrap_or(Reason::Other),
        via: Via::Service,
        detail: Some(format!("service token {name}")),
        started,
        arrived_ms,
        deadline,
    };
    let work = {
        let state = state.clone();
        async move { super::core::unlink(&state, &request, &principal).await }
    };
    let response = run_and_answer(&state, raw_id.unwrap_or_default(), deadline, work).await;
    answer(started, "service", response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_body_is_nothing_or_a_principal_and_a_known_reason() {
        assert_eq!(read_body(b"").unwrap(), ServiceBody::default());
        assert_eq!(read_body(b"  \n").unwrap(), ServiceBody::default());
        let read = read_body(br#"{"principal": "user-42", "reason": "erasure_request"}"#).unwrap();
        assert_eq!(read.principal, Some(Principal::new("user-42").unwrap()));
        assert_eq!(read.reason, Some(Reason::ErasureRequest));
        for bad in [
            r#"{"reason": "because"}"#,
            r#"{"principal": ""}"#,
            r#"{"principal": 42}"#,
            r#"{"principal": "a", "principal": "b"}"#,
            r#"{"account_id": "x"}"#,
            r#"["user-42"]"#,
            "principal=user-42",
        ] {
            assert_eq!(
                read_body(bad.as_bytes()),
                Err(ApiError::InvalidRequest),
                "{bad}"
            );
        }
    }
}
