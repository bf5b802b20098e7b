//! When a failed call to Mono is tried again: only for the failures that retrying can fix
//! (429, 502, 503, 504 and broken connections), never for an answer (a second call could
//! unlink what the first already did), with exponential backoff and jitter, honouring a
//! short `Retry-After`, and never past the caller's deadline.

use std::time::Duration;

use reqwest::StatusCode;
use tokio::time::Instant;

use super::{MonoVerdict, UpstreamConfig};

/// Whether another attempt may help: Mono's status, or `None` for a broken connection.
pub(super) fn retryable(status: Option<StatusCode>) -> bool {
    match status {
        None => true,
        Some(status) => matches!(status.as_u16(), 429 | 502 | 503 | 504),
    }
}

/// How long to wait before attempt `attempts + 1`, or `None` to stop: out of attempts, a
/// `Retry-After` longer than worth waiting for, or no time left before `deadline`.
pub(super) fn next_delay(
    config: &UpstreamConfig,
    attempts: u32,
    verdict: MonoVerdict,
    deadline: Instant,
) -> Option<Duration> {
    if attempts >= config.max_attempts {
        return None;
    }
    let retry_after = match verdict {
        MonoVerdict::Unavailable { retry_after } => retry_after.map(Duration::from_secs),
        MonoVerdict::Unlinked
        | MonoVerdict::Ambiguous
        | MonoVerdict::NotFound
        | MonoVerdict::Unexpected
        | MonoVerdict::KeyRejected
        | MonoVerdict::Rejected
        | MonoVerdict::TimedOut => None,
    };
    if retry_after.is_some_and(|wait| wait > config.retry_after_cap) {
        return None;
    }
    let delay = backoff(config.backoff, attempts).max(retry_after.unwrap_or_default());
    (Instant::now() + delay < deadline).then_some(delay)
}

/// `base × 2^(attempt-1)`, with "equal jitter" (between half and all of it) so many proxies
/// retrying at once spread out.
fn backoff(base: Duration, attempt: u32) -> Duration {
    let full = base.saturating_mul(1 << (attempt - 1).min(16));
    let half = full / 2;
    half + half.mul_f64(rand::random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter() {
        let base = Duration::from_millis(100);
        for attempt in 1..=4 {
            let full = base * (1 << (attempt - 1));
            for _ in 0..50 {
                let delay = backoff(base, attempt);
                assert!(delay >= full / 2 && delay <= full, "{attempt}: {delay:?}");
            }
        }
        // Huge attempt numbers do not overflow.
        assert!(backoff(base, 1000) > Duration::ZERO);
    }
}
