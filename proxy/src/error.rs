//! The proxy's one error type and its one conversion to an HTTP answer.
//!
//! Every answer uses Mono's v2 envelope, `{status, message, timestamp, data}`, with a stable
//! `data.code` on failure. Messages are fixed sentences: details (Mono's own text, which check
//! failed) go to the log, never to the browser.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use crate::record::Outcome;

/// Longest `Retry-After` passed to a browser, in seconds. Mono may ask for an hour; a user
/// looking at the dialog is better told to try again in a minute.
pub const RETRY_AFTER_CAP: u64 = 60;

/// `Retry-After` for `audit_unavailable`: the record is usually back within seconds.
const AUDIT_RETRY_AFTER: u64 = 5;

/// Why a request was not served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiError {
    /// The account id in the URL is not `[A-Za-z0-9_-]{1,64}`.
    InvalidAccountId,
    /// `Idempotency-Key` is missing, empty, longer than 255 characters or not visible ASCII.
    InvalidIdempotencyKey,
    /// The key was already used, within 24 h, for another account or by another user.
    IdempotencyKeyReused,
    /// Cross-site request, or the authoriser said no.
    Forbidden,
    /// Too many unlinks from this user or address; `retry_after` is in seconds.
    RateLimited {
        /// Seconds to wait.
        retry_after: u64,
    },
    /// Mono refused this unlink (its 400, 409 or another 4xx).
    UnlinkRejected,
    /// Mono could not be reached or kept failing; `timeout` picks 504 over 502.
    UpstreamUnavailable {
        /// True when Mono did not answer in time (504), false when it failed (502).
        timeout: bool,
        /// Mono's own `Retry-After`, if it sent one.
        retry_after: Option<u64>,
    },
    /// Mono said the partner's secret key is wrong (its 401/403). The user is only told it
    /// failed; the operator finds the reason in the log.
    UpstreamRejectedKey,
    /// Mono's URL answered something that is not Mono's answer (a gateway's 404 page, a
    /// wrong path): nothing was unlinked.
    UpstreamUnexpected,
    /// The record could not be written in time: Mono was not called (or its answer is
    /// still being written down), so try again shortly.
    AuditUnavailable,
    /// The webhook secret header is missing or wrong.
    Unauthorized,
    /// A webhook whose body is not a Mono event.
    InvalidWebhook,
    /// No webhook secret is configured, so webhooks cannot be verified.
    WebhookNotConfigured,
    /// No such route.
    NotFound,
    /// A route that exists, called with the wrong method.
    MethodNotAllowed,
    /// A body over 64 KiB (over a few bytes for an unlink from the widget).
    PayloadTooLarge,
    /// A service request whose body is not `{"principal"?, "reason"?}` with a known reason.
    InvalidRequest,
}

impl ApiError {
    /// The stable `data.code`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidAccountId => "invalid_account_id",
            Self::InvalidIdempotencyKey => "invalid_idempotency_key",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::Forbidden => "forbidden",
            Self::RateLimited { .. } => "rate_limited",
            Self::UnlinkRejected => "unlink_rejected",
            Self::UpstreamUnavailable { .. } => "upstream_unavailable",
            Self::UpstreamRejectedKey => "upstream_rejected_key",
            Self::UpstreamUnexpected => "upstream_unexpected",
            Self::AuditUnavailable => "audit_unavailable",
            Self::Unauthorized => "unauthorized",
            Self::InvalidWebhook => "invalid_webhook",
            Self::WebhookNotConfigured => "webhook_not_configured",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::PayloadTooLarge => "payload_too_large",
            Self::InvalidRequest => "invalid_request",
        }
    }

    /// The HTTP status of the answer.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidAccountId
            | Self::InvalidIdempotencyKey
            | Self::InvalidWebhook
            | Self::InvalidRequest => StatusCode::BAD_REQUEST,
            Self::IdempotencyKeyReused | Self::UnlinkRejected => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::UpstreamUnavailable { timeout: true, .. } => StatusCode::GATEWAY_TIMEOUT,
            Self::UpstreamUnavailable { .. }
            | Self::UpstreamRejectedKey
            | Self::UpstreamUnexpected => StatusCode::BAD_GATEWAY,
            Self::AuditUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::WebhookNotConfigured => StatusCode::SERVICE_UNAVAILABLE,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }

    /// A fixed sentence, safe to show anywhere.
    pub fn message(&self) -> &'static str {
        match self {
            Self::InvalidAccountId => {
                "The account id must be 1 to 64 characters from A-Z, a-z, 0-9, '_' and '-'."
            }
            Self::InvalidIdempotencyKey => {
                "An Idempotency-Key header of 1 to 255 visible ASCII characters is required."
            }
            Self::IdempotencyKeyReused => {
                "This Idempotency-Key was already used for a different account."
            }
            Self::Forbidden => "You are not allowed to unlink this account.",
            Self::RateLimited { .. } => "Too many unlink attempts. Try again later.",
            Self::UnlinkRejected => "This account cannot be unlinked.",
            Self::UpstreamUnavailable { .. } => {
                "The account could not be unlinked right now. Try again."
            }
            Self::UpstreamRejectedKey | Self::UpstreamUnexpected => {
                "The account could not be unlinked. Try again later."
            }
            Self::AuditUnavailable => "The account could not be unlinked right now. Try again.",
            Self::Unauthorized => "Unauthorized request.",
            Self::InvalidWebhook => "The webhook body is not a Mono event.",
            Self::WebhookNotConfigured => "Webhooks are not configured.",
            Self::NotFound => "Not found.",
            Self::MethodNotAllowed => "Method not allowed.",
            Self::PayloadTooLarge => "The request body is too large.",
            Self::InvalidRequest => {
                "The body must be a JSON object with an optional \"principal\" (a user id) and \
                 \"reason\" (user_request, account_closed, erasure_request, offboarding or other)."
            }
        }
    }

    /// Seconds the browser is told to wait, capped at [`RETRY_AFTER_CAP`].
    pub fn retry_after(&self) -> Option<u64> {
        let seconds = match self {
            Self::RateLimited { retry_after } => Some(*retry_after),
            Self::UpstreamUnavailable { retry_after, .. } => *retry_after,
            Self::AuditUnavailable => Some(AUDIT_RETRY_AFTER),
            Self::InvalidAccountId
            | Self::InvalidIdempotencyKey
            | Self::IdempotencyKeyReused
            | Self::Forbidden
            | Self::UnlinkRejected
            | Self::UpstreamRejectedKey
            | Self::UpstreamUnexpected
            | Self::Unauthorized
            | Self::InvalidWebhook
            | Self::WebhookNotConfigured
            | Self::NotFound
            | Self::MethodNotAllowed
            | Self::PayloadTooLarge
            | Self::InvalidRequest => None,
        };
        seconds.map(|s| s.min(RETRY_AFTER_CAP))
    }

    /// The outcome an answer with this error is recorded as, for the errors of the unlink
    /// route.
    pub fn outcome(&self) -> Option<Outcome> {
        Some(match self {
            Self::Forbidden => Outcome::Forbidden,
            Self::RateLimited { .. } => Outcome::RateLimited,
            Self::IdempotencyKeyReused => Outcome::IdempotencyKeyReused,
            Self::UnlinkRejected => Outcome::UnlinkRejected,
            Self::UpstreamUnavailable { .. } => Outcome::UpstreamUnavailable,
            Self::UpstreamRejectedKey => Outcome::UpstreamRejectedKey,
            Self::UpstreamUnexpected => Outcome::UpstreamUnexpected,
            Self::AuditUnavailable => Outcome::AuditUnavailable,
            // Refused before anyone was authorised, or not the unlink route's: no row.
            Self::InvalidAccountId
            | Self::InvalidIdempotencyKey
            | Self::Unauthorized
            | Self::InvalidWebhook
            | Self::WebhookNotConfigured
            | Self::NotFound
            | Self::MethodNotAllowed
            | Self::PayloadTooLarge
            | Self::InvalidRequest => return None,
        })
    }

    /// The answer for a recorded outcome that is not a success (for a request that shares
    /// or replays another's). `None` for the successes and the trail-only outcomes.
    pub fn for_outcome(outcome: Outcome) -> Option<Self> {
        Some(match outcome {
            Outcome::Forbidden => Self::Forbidden,
            Outcome::IdempotencyKeyReused => Self::IdempotencyKeyReused,
            Outcome::UnlinkRejected => Self::UnlinkRejected,
            Outcome::UpstreamUnavailable => Self::UpstreamUnavailable {
                timeout: false,
                retry_after: None,
            },
            Outcome::UpstreamRejectedKey => Self::UpstreamRejectedKey,
            Outcome::UpstreamUnexpected => Self::UpstreamUnexpected,
            Outcome::AuditUnavailable | Outcome::OutcomeUnknown => Self::AuditUnavailable,
            Outcome::RateLimited => Self::RateLimited {
                retry_after: crate::ratelimit::PERIOD.as_secs(),
            },
            // Successes, and the words only the trail uses.
            Outcome::Unlinked
            | Outcome::AlreadyUnlinked
            | Outcome::AccountUnlinked
            | Outcome::InvalidAccountId
            | Outcome::InvalidIdempotencyKey => return None,
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = envelope(false, self.message(), json!({ "code": self.code() }));
        let mut response = (self.status(), body).into_response();
        // For the metrics, which count answers by code.
        response.extensions_mut().insert(self.clone());
        if let Some(seconds) = self.retry_after() {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// Mono's v2 envelope: `{status: "successful"|"failed", message, timestamp, data}`.
pub fn envelope(ok: bool, message: &str, data: Value) -> Json<Value> {
    Json(json!({
        "status": if ok { "successful" } else { "failed" },
        "message": message,
        "timestamp": crate::time::now_rfc3339(),
        "data": data,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_contract() {
        assert_eq!(ApiError::InvalidAccountId.status(), 400);
        assert_eq!(ApiError::Forbidden.status(), 403);
        assert_eq!(ApiError::RateLimited { retry_after: 3 }.status(), 429);
        let unavailable = |timeout| ApiError::UpstreamUnavailable {
            timeout,
            retry_after: None,
        };
        assert_eq!(unavailable(false).status(), 502);
        assert_eq!(unavailable(true).status(), 504);
        assert_eq!(ApiError::UpstreamRejectedKey.status(), 502);
        assert_eq!(
            ApiError::UpstreamRejectedKey.code(),
            "upstream_rejected_key"
        );
    }

    #[test]
    fn the_rejected_key_message_says_nothing_about_keys() {
        let message = ApiError::UpstreamRejectedKey.message().to_lowercase();
        assert!(!message.contains("key") && !message.contains("mono"));
    }

    /// One of each variant. The match has no `_`: a new variant does not compile until it
    /// is added here, and so to the contract test below.
    fn one_of_each() -> Vec<ApiError> {
        let all = vec![
            ApiError::InvalidAccountId,
            ApiError::InvalidIdempotencyKey,
            ApiError::IdempotencyKeyReused,
            ApiError::Forbidden,
            ApiError::RateLimited { retry_after: 1 },
            ApiError::UnlinkRejected,
            ApiError::UpstreamUnavailable {
                timeout: false,
                retry_after: None,
            },
            ApiError::UpstreamRejectedKey,
            ApiError::UpstreamUnexpected,
            ApiError::AuditUnavailable,
            ApiError::Unauthorized,
            ApiError::InvalidWebhook,
            ApiError::WebhookNotConfigured,
            ApiError::NotFound,
            ApiError::MethodNotAllowed,
            ApiError::PayloadTooLarge,
            ApiError::InvalidRequest,
        ];
        for error in &all {
            match error {
                ApiError::InvalidAccountId
                | ApiError::InvalidIdempotencyKey
                | ApiError::IdempotencyKeyReused
                | ApiError::Forbidden
                | ApiError::RateLimited { .. }
                | ApiError::UnlinkRejected
                | ApiError::UpstreamUnavailable { .. }
                | ApiError::UpstreamRejectedKey
                | ApiError::UpstreamUnexpected
                | ApiError::AuditUnavailable
                | ApiError::Unauthorized
                | ApiError::InvalidWebhook
                | ApiError::WebhookNotConfigured
                | ApiError::NotFound
                | ApiError::MethodNotAllowed
                | ApiError::PayloadTooLarge
                | ApiError::InvalidRequest => {}
            }
        }
        all
    }

    #[test]
    fn the_openapi_contract_lists_every_code_and_reason() {
        let spec = include_str!("../openapi.yaml");
        for error in one_of_each() {
            assert!(
                spec.contains(&format!("- {}", error.code())),
                "{}",
                error.code()
            );
            let status = format!("\"{}\":", error.status().as_u16());
            assert!(
                spec.contains(&status) || error == ApiError::MethodNotAllowed,
                "{status}"
            );
        }
        let reasons = spec
            .split("    Reason:\n")
            .nth(1)
            .and_then(|rest| rest.split("    AccountStatus:").next())
            .expect("a Reason schema");
        for reason in crate::record::Reason::ALL {
            assert!(reasons.contains(&format!("- {reason}\n")), "{reason}");
        }
        assert_eq!(
            reasons.matches("        - ").count(),
            crate::record::Reason::ALL.len(),
            "no reason in the contract that the proxy does not know"
        );
    }

    #[test]
    fn retry_after_becomes_a_capped_header() {
        let response = ApiError::RateLimited { retry_after: 42 }.into_response();
        assert_eq!(response.headers()[header::RETRY_AFTER], "42");
        let mono_wants_an_hour = ApiError::UpstreamUnavailable {
            timeout: false,
            retry_after: Some(3600),
        };
        assert_eq!(
            mono_wants_an_hour.into_response().headers()[header::RETRY_AFTER],
            "60"
        );
        let response = ApiError::AuditUnavailable.into_response();
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()[header::RETRY_AFTER], "5");
        let response = ApiError::Forbidden.into_response();
        assert!(response.headers().get(header::RETRY_AFTER).is_none());
    }

    #[test]
    fn recorded_outcomes_and_answers_agree() {
        for outcome in Outcome::ALL {
            if let Some(error) = ApiError::for_outcome(*outcome)
                && *outcome != Outcome::OutcomeUnknown
            {
                assert_eq!(error.outcome(), Some(*outcome), "{outcome}");
                assert_eq!(error.code(), outcome.as_str(), "{outcome}");
            }
        }
    }
}
