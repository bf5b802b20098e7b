//! What an answer from the partner's proxy means for the end user.
//!
//! The rule that matters most: only a 2xx is success. A 404 can come from a wrong endpoint as
//! easily as from Mono, and telling someone their data is deleted when it is not is the worst
//! failure this product can have.

use crate::text::{Key, Texts};

/// The result of one confirmation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The account is unlinked. `already` is true when the proxy says it was unlinked before.
    Unlinked { already: bool },
    /// Nothing was unlinked; the dialog stays open and says why.
    Failed(Failure),
}

/// Why an unlink did not happen. Each kind has one message and one stable code for
/// `unlink:error` listeners.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// 401 or 403: the signed-in user may not unlink this account.
    NotAllowed,
    /// 404: the proxy (or something in front of it) does not know this account.
    NotFound,
    /// 429: slow down; `retry_after` is in seconds when the proxy said.
    RateLimited { retry_after: Option<u32> },
    /// Any other 4xx: the request is valid but this account cannot be unlinked here.
    Rejected,
    /// 5xx, or a status that makes no sense for this call.
    Server,
    /// The request never got an answer (offline, DNS, CORS, connection reset).
    Network,
    /// No answer within the configured timeout; the request was aborted.
    Timeout,
}

impl Failure {
    /// Every kind, in the order `unlink.d.ts` lists their codes.
    #[cfg(test)]
    pub(crate) const ALL: [Failure; 7] = [
        Self::NotAllowed,
        Self::NotFound,
        Self::RateLimited { retry_after: None },
        Self::Rejected,
        Self::Server,
        Self::Network,
        Self::Timeout,
    ];

    /// The `detail.code` of the `unlink:error` event.
    pub(crate) fn code(self) -> &'static str {
        match self {
            Self::NotAllowed => "not_allowed",
            Self::NotFound => "not_found",
            Self::RateLimited { .. } => "rate_limited",
            Self::Rejected => "rejected",
            Self::Server => "server_error",
            Self::Network => "network_error",
            Self::Timeout => "timeout",
        }
    }

    /// The sentence shown to the end user. Never the server's own text.
    pub(crate) fn message(self, texts: &Texts) -> String {
        match self {
            Self::NotAllowed => texts.get(Key::NotAllowed).to_owned(),
            Self::NotFound => texts.get(Key::NotFound).to_owned(),
            Self::RateLimited { retry_after } => rate_limited_message(texts, retry_after),
            Self::Rejected => texts.get(Key::Rejected).to_owned(),
            Self::Server | Self::Network | Self::Timeout => texts.get(Key::Unavailable).to_owned(),
        }
    }
}

/// Maps an HTTP answer to an outcome. `already_unlinked` is the body's
/// `data.already_unlinked`; a 2xx body that is not the proxy's JSON still counts as success.
pub(crate) fn classify(status: u16, already_unlinked: bool, retry_after: Option<u32>) -> Outcome {
    let failure = match status {
        200..=299 => {
            return Outcome::Unlinked {
                already: already_unlinked,
            };
        }
        401 | 403 => Failure::NotAllowed,
        404 => Failure::NotFound,
        429 => Failure::RateLimited { retry_after },
        400..=499 => Failure::Rejected,
        _ => Failure::Server,
    };
    Outcome::Failed(failure)
}

/// Reads a `Retry-After` header given in seconds. (HTTP dates are handled by the caller,
/// which has a clock.)
pub(crate) fn retry_after_seconds(value: &str) -> Option<u32> {
    let value = value.trim();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // A huge number of digits means "a very long time", not a parse error.
    Some(value.parse().unwrap_or(u32::MAX))
}

fn rate_limited_message(texts: &Texts, retry_after: Option<u32>) -> String {
    match retry_after {
        // "Try again in 1 seconds" would read badly; "a moment" is true for 0 or 1.
        None | Some(0..=1) => texts.get(Key::RateLimited).to_owned(),
        Some(seconds @ 2..=119) => texts.fill(
            Key::RateLimitedSeconds,
            &[("seconds", &seconds.to_string())],
        ),
        Some(seconds) => {
            let minutes = seconds.div_ceil(60).to_string();
            texts.fill(Key::RateLimitedMinutes, &[("minutes", &minutes)])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::Locale;

    fn failed(status: u16) -> Failure {
        match classify(status, false, None) {
            Outcome::Failed(failure) => failure,
            other => panic!("{status} gave {other:?}"),
        }
    }

    #[test]
    fn only_2xx_is_success() {
        assert_eq!(
            classify(200, false, None),
            Outcome::Unlinked { already: false }
        );
        assert_eq!(
            classify(204, false, None),
            Outcome::Unlinked { already: false }
        );
        assert_eq!(
            classify(200, true, None),
            Outcome::Unlinked { already: true }
        );
        for status in [
            0, 100, 301, 304, 400, 401, 403, 404, 409, 429, 500, 502, 503, 504, 599,
        ] {
            assert!(
                matches!(classify(status, true, None), Outcome::Failed(_)),
                "{status}"
            );
        }
    }

    #[test]
    fn statuses_map_to_failures() {
        assert_eq!(failed(401), Failure::NotAllowed);
        assert_eq!(failed(403), Failure::NotAllowed);
        assert_eq!(failed(404), Failure::NotFound);
        assert_eq!(failed(429), Failure::RateLimited { retry_after: None });
        assert_eq!(
            classify(429, false, Some(30)),
            Outcome::Failed(Failure::RateLimited {
                retry_after: Some(30)
            })
        );
        for status in [400, 402, 405, 409, 410, 413, 422, 451, 499] {
            assert_eq!(failed(status), Failure::Rejected, "{status}");
        }
        for status in [500, 502, 503, 504, 301, 0] {
            assert_eq!(failed(status), Failure::Server, "{status}");
        }
    }

    #[test]
    fn codes_are_stable() {
        let codes: Vec<_> = [
            Failure::NotAllowed,
            Failure::NotFound,
            Failure::RateLimited { retry_after: None },
            Failure::Rejected,
            Failure::Server,
            Failure::Network,
            Failure::Timeout,
        ]
        .map(Failure::code)
        .into();
        assert_eq!(
            codes,
            [
                "not_allowed",
                "not_found",
                "rate_limited",
                "rejected",
                "server_error",
                "network_error",
                "timeout"
            ]
        );
    }

    #[test]
    fn messages_are_words_not_server_text() {
        let en = Texts::default();
        assert_eq!(
            Failure::NotAllowed.message(&en),
            "You aren’t allowed to unlink this account."
        );
        assert!(
            Failure::NotFound
                .message(&en)
                .starts_with("This account wasn’t found")
        );
        assert!(
            Failure::Rejected
                .message(&en)
                .starts_with("This account can’t be unlinked here")
        );
        for failure in [Failure::Server, Failure::Network, Failure::Timeout] {
            assert_eq!(
                failure.message(&en),
                "We couldn’t unlink your account. Try again."
            );
        }
        let fr = Texts::new(Locale::Fr, vec![]);
        assert_eq!(
            Failure::Server.message(&fr),
            "Nous n’avons pas pu dissocier votre compte. Réessayez."
        );
    }

    #[test]
    fn rate_limit_message_uses_retry_after() {
        let en = Texts::default();
        let message = |retry_after| Failure::RateLimited { retry_after }.message(&en);
        assert_eq!(
            message(None),
            "Too many attempts. Wait a moment, then try again."
        );
        assert_eq!(message(Some(1)), message(None));
        assert_eq!(
            message(Some(30)),
            "Too many attempts. Try again in 30 seconds."
        );
        assert_eq!(
            message(Some(119)),
            "Too many attempts. Try again in 119 seconds."
        );
        assert_eq!(
            message(Some(120)),
            "Too many attempts. Try again in 2 minutes."
        );
        assert_eq!(
            message(Some(121)),
            "Too many attempts. Try again in 3 minutes."
        );
    }

    #[test]
    fn retry_after_reads_whole_seconds_only() {
        assert_eq!(retry_after_seconds("30"), Some(30));
        assert_eq!(retry_after_seconds(" 5 "), Some(5));
        assert_eq!(retry_after_seconds("99999999999999"), Some(u32::MAX));
        assert_eq!(retry_after_seconds("-1"), None);
        assert_eq!(retry_after_seconds("1.5"), None);
        assert_eq!(retry_after_seconds(""), None);
        assert_eq!(retry_after_seconds("Wed, 21 Oct 2026 07:28:00 GMT"), None);
    }
}
