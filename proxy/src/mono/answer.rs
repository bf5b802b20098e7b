//! What Mono's answer means. Read as Mono writes it: only a 2xx with Mono's JSON is success,
//! a 404 is "already unlinked" only when it is Mono's own JSON error, and anything else
//! (a gateway's page, a captive portal's 200, a moved route) is said to be what it is.

use reqwest::StatusCode;

use crate::secret::SecretKey;

/// What Mono's answer means for the unlink.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MonoVerdict {
    /// 2xx with a JSON object, as Mono answers: the account and all its data are gone.
    Unlinked,
    /// 2xx with anything else (an HTML page, an empty body): something answered "OK", but
    /// it may not be Mono (a captive portal, an egress proxy's page, a misrouted base URL).
    /// Whether the account is unlinked is unknown: the webhook or a later call settles it.
    Ambiguous,
    /// Mono's own JSON 404: it does not know the account (already unlinked, or never linked).
    NotFound,
    /// A 404 that is not Mono's JSON error: the URL is wrong, or something in between
    /// answered. The account was not unlinked.
    Unexpected,
    /// 401/403: the partner's secret key is wrong or lacks permission.
    KeyRejected,
    /// Another 4xx: Mono refuses this unlink.
    Rejected,
    /// 5xx, 429 or a broken connection, after any retries.
    Unavailable {
        /// Mono's `Retry-After` in seconds, if it sent one.
        retry_after: Option<u64>,
    },
    /// No answer in time.
    TimedOut,
}

/// The result of [`Mono::unlink`], with what the audit trail records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Upstream {
    /// What the last answer meant.
    pub verdict: MonoVerdict,
    /// Mono's last HTTP status, if it answered.
    pub status: Option<u16>,
    /// Calls made.
    pub attempts: u32,
    /// How many of them Mono answered 429 (too many requests), retried or not: a caller
    /// pacing many unlinks slows down on it.
    pub rate_limited: u32,
}

/// What a Mono answer's body says, as far as the verdict is concerned.
#[derive(Debug, Default)]
pub struct Answer {
    /// The body is a JSON object, as every answer of Mono's is.
    json: bool,
    /// The body is Mono's error envelope: an object with string `status` and `message`.
    envelope: bool,
    message: Option<String>,
}

impl Answer {
    /// Reads a body. `json_type`: the content type says JSON (not required for success, but
    /// part of what makes a 404 Mono's).
    pub fn read(json_type: bool, body: &[u8]) -> Self {
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
            return Self::default();
        };
        let text = |key: &str| value.get(key).and_then(|v| v.as_str()).map(str::to_owned);
        let message = text("message");
        Self {
            json: value.is_object(),
            envelope: json_type
                && value.is_object()
                && text("status").is_some()
                && message.is_some(),
            message,
        }
    }

    /// Mono's own message, for the operator: at most 200 characters, with anything shaped
    /// like a Mono key (and the configured key itself) masked.
    pub(super) fn message(&self, key: &SecretKey) -> String {
        let message = self.message.as_deref().unwrap_or_default();
        let masked = crate::secret::mask_keys(message, key);
        masked.chars().take(200).collect()
    }
}

/// Mono's status and answer → what it means for the unlink. (Whether to try again is
/// `retry`'s question.)
pub(super) fn classify(
    status: StatusCode,
    retry_after: Option<u64>,
    answer: &Answer,
) -> MonoVerdict {
    match status.as_u16() {
        200..=299 if answer.json => MonoVerdict::Unlinked,
        200..=299 => MonoVerdict::Ambiguous,
        404 if answer.envelope => MonoVerdict::NotFound,
        404 => MonoVerdict::Unexpected,
        401 | 403 => MonoVerdict::KeyRejected,
        429 | 502 | 503 | 504 => MonoVerdict::Unavailable { retry_after },
        400..=499 => MonoVerdict::Rejected,
        _ => MonoVerdict::Unavailable { retry_after: None },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MONO_404: &str = r#"{"status":"failed","message":"The requested resource doesn't exist","timestamp":"2026-11-23T20:19:40.123Z","data":null}"#;

    fn verdict(status: u16, json_type: bool, body: &str) -> (MonoVerdict, bool) {
        let status = StatusCode::from_u16(status).unwrap();
        let answer = Answer::read(json_type, body.as_bytes());
        (
            classify(status, Some(2), &answer),
            super::super::retry::retryable(Some(status)),
        )
    }

    #[test]
    fn only_transient_failures_are_retried() {
        for code in [429, 502, 503, 504] {
            assert!(verdict(code, true, "{}").1, "{code}");
        }
        for code in [200, 400, 401, 403, 404, 409, 500, 501] {
            assert!(!verdict(code, true, MONO_404).1, "{code}");
        }
        assert_eq!(verdict(401, true, "").0, MonoVerdict::KeyRejected);
        assert_eq!(verdict(403, false, "<html>").0, MonoVerdict::KeyRejected);
        assert_eq!(verdict(400, true, "").0, MonoVerdict::Rejected);
        assert_eq!(verdict(409, true, "").0, MonoVerdict::Rejected);
        assert_eq!(
            verdict(429, true, "").0,
            MonoVerdict::Unavailable {
                retry_after: Some(2)
            }
        );
        assert_eq!(
            verdict(500, true, "").0,
            MonoVerdict::Unavailable { retry_after: None }
        );
    }

    #[test]
    fn a_404_is_already_unlinked_only_when_it_is_monos_json_error() {
        assert_eq!(verdict(404, true, MONO_404).0, MonoVerdict::NotFound);
        for (json_type, body) in [
            (
                false,
                "<html><body><h1>404 Not Found</h1>nginx</body></html>",
            ),
            (true, r#"{"error":"route not found"}"#),
            (true, r#"{"status":404,"message":"Not Found"}"#),
            (true, r#"["status","message"]"#),
            (true, ""),
            // Mono's shape, but not announced as JSON: a proxy rewrote it, or it is not Mono.
            (false, MONO_404),
        ] {
            assert_eq!(
                verdict(404, json_type, body).0,
                MonoVerdict::Unexpected,
                "{body}"
            );
        }
    }

    #[test]
    fn only_a_2xx_with_monos_json_is_success() {
        assert_eq!(
            verdict(200, true, r#"{"status":"successful"}"#).0,
            MonoVerdict::Unlinked
        );
        for (status, body) in [
            (204, ""),
            (200, "<html>Welcome! Please accept the terms.</html>"),
            (200, "OK"),
            (200, r#""unlinked""#),
            (200, "[]"),
        ] {
            let (verdict, retried) = verdict(status, false, body);
            assert_eq!(verdict, MonoVerdict::Ambiguous, "{status} {body}");
            assert!(!retried, "never called twice: {body}");
        }
    }

    #[test]
    fn monos_message_is_bounded_and_key_shapes_are_masked() {
        let key = SecretKey::parse("live_sk_thisisthekey123").unwrap();
        let body = format!(
            r#"{{"status":"failed","message":"bad key live_sk_thisisthekey123 and test_pk_abcdef, {}"}}"#,
            "x".repeat(500)
        );
        let message = Answer::read(true, body.as_bytes()).message(&key);
        assert!(!message.contains("thisisthekey123"), "{message}");
        assert!(!message.contains("abcdef"), "{message}");
        assert!(
            message.starts_with("bad key live_sk_… and test_pk_…"),
            "{message}"
        );
        assert_eq!(message.chars().count(), 200);
    }
}
