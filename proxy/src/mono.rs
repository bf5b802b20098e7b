//! The client for Mono's unlink endpoint: one pooled connection pool, strict timeouts, and
//! bounded retries for the failures that retrying can fix.

use std::time::{Duration, Instant};

use reqwest::{StatusCode, header};
use url::Url;

use crate::{account::AccountId, secret::SecretKey};

/// Which of Mono's unlink paths to call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum MonoApi {
    /// `POST /v2/accounts/{id}/unlink`
    #[default]
    V2,
    /// `POST /accounts/{id}/unlink`
    V1,
}

/// How to reach Mono and how hard to try.
#[derive(Clone, Debug)]
pub struct UpstreamConfig {
    pub base_url: Url,
    pub api: MonoApi,
    pub secret_key: SecretKey,
    pub connect_timeout: Duration,
    /// Limit for one attempt, from sending to the full answer.
    pub request_timeout: Duration,
    /// Limit for all attempts together, so the widget (15 s by default) hears back in time.
    pub deadline: Duration,
    pub max_attempts: u32,
    /// First retry waits about this long; each further retry doubles it (with jitter).
    pub backoff: Duration,
    /// Longest `Retry-After` worth waiting for; longer ones end the retries.
    pub retry_after_cap: Duration,
}

impl UpstreamConfig {
    /// Mono's production API with the default limits.
    pub fn new(secret_key: SecretKey) -> Self {
        Self {
            base_url: Url::parse("https://api.withmono.com").expect("valid URL"),
            api: MonoApi::V2,
            secret_key,
            connect_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(10),
            deadline: Duration::from_secs(12),
            max_attempts: 3,
            backoff: Duration::from_millis(250),
            retry_after_cap: Duration::from_secs(5),
        }
    }
}

/// What Mono's answer means for the unlink.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx: the account and all its data are gone.
    Unlinked,
    /// 404: Mono does not know the account (already unlinked, or never linked).
    NotFound,
    /// 401/403: the partner's secret key is wrong or lacks permission.
    KeyRejected,
    /// Another 4xx: Mono refuses this unlink.
    Rejected,
    /// 5xx, 429 or a broken connection, after any retries.
    Unavailable { retry_after: Option<u64> },
    /// No answer in time.
    TimedOut,
}

/// The result of [`Mono::unlink`], with what the audit trail records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Upstream {
    pub verdict: Verdict,
    /// Mono's last HTTP status, if it answered.
    pub status: Option<u16>,
    pub attempts: u32,
}

/// A Mono API client. Cheap to share: clone the `Arc` it lives in.
#[derive(Debug)]
pub struct Mono {
    http: reqwest::Client,
    config: UpstreamConfig,
}

impl Mono {
    pub fn new(config: UpstreamConfig) -> Result<Self, reqwest::Error> {
        let http = http_client(config.connect_timeout, config.request_timeout)?;
        Ok(Self { http, config })
    }

    /// `{base}/v2/accounts/{id}/unlink` (or the v1 path). Segments are percent-encoded by
    /// `Url`, though a valid [`AccountId`] never needs it.
    pub fn unlink_url(&self, id: &AccountId) -> Url {
        let mut url = self.config.base_url.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty();
            if self.config.api == MonoApi::V2 {
                segments.push("v2");
            }
            segments.extend(["accounts", id.as_str(), "unlink"]);
        }
        url
    }

    /// Asks Mono to unlink `id`, retrying 429/502/503/504 and broken connections with
    /// exponential backoff and jitter until `max_attempts` or the deadline.
    pub async fn unlink(&self, id: &AccountId) -> Upstream {
        let url = self.unlink_url(id);
        let started = Instant::now();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let remaining = self.config.deadline.saturating_sub(started.elapsed());
            let sent = self
                .http
                .post(url.clone())
                .header("mono-sec-key", self.config.secret_key.expose())
                .header(header::ACCEPT, "application/json")
                .timeout(self.config.request_timeout.min(remaining))
                .send()
                .await;
            let (verdict, status, retryable) = match sent {
                Ok(response) => {
                    let status = response.status();
                    let retry_after = response
                        .headers()
                        .get(header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok());
                    let (verdict, retryable) = classify(status, retry_after);
                    if !status.is_success() {
                        log_refusal(id, status, response).await;
                    }
                    (verdict, Some(status.as_u16()), retryable)
                }
                Err(error) if error.is_timeout() => {
                    tracing::warn!(account_id = %id, attempts, "Mono did not answer in time");
                    (Verdict::TimedOut, None, false)
                }
                Err(error) => {
                    // The URL carries no secret, but reqwest's Display may include it; say less.
                    tracing::warn!(account_id = %id, attempts, connect = error.is_connect(),
                        "could not reach Mono: {}", describe(&error));
                    (Verdict::Unavailable { retry_after: None }, None, true)
                }
            };
            let upstream = Upstream {
                verdict,
                status,
                attempts,
            };
            if !retryable || attempts >= self.config.max_attempts {
                return upstream;
            }
            let retry_after = match verdict {
                Verdict::Unavailable { retry_after } => retry_after.map(Duration::from_secs),
                _ => None,
            };
            if retry_after.is_some_and(|wait| wait > self.config.retry_after_cap) {
                return upstream;
            }
            let delay = backoff(self.config.backoff, attempts).max(retry_after.unwrap_or_default());
            if started.elapsed() + delay >= self.config.deadline {
                return upstream;
            }
            tokio::time::sleep(delay).await;
        }
    }
}

/// The proxy's outgoing HTTP client: pooled, with timeouts, and never following a redirect
/// (it would carry the secret key, or the user's cookies, somewhere else).
pub(crate) fn http_client(
    connect_timeout: Duration,
    timeout: Duration,
) -> Result<reqwest::Client, reqwest::Error> {
    // reqwest is built without a default TLS provider (ring avoids a cmake build).
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("unlink-proxy/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Mono's status → verdict, and whether another attempt may help.
fn classify(status: StatusCode, retry_after: Option<u64>) -> (Verdict, bool) {
    match status.as_u16() {
        200..=299 => (Verdict::Unlinked, false),
        404 => (Verdict::NotFound, false),
        401 | 403 => (Verdict::KeyRejected, false),
        429 | 502 | 503 | 504 => (Verdict::Unavailable { retry_after }, true),
        400..=499 => (Verdict::Rejected, false),
        _ => (Verdict::Unavailable { retry_after: None }, false),
    }
}

/// `base × 2^(attempt-1)`, with "equal jitter" (between half and all of it) so many proxies
/// retrying at once spread out.
fn backoff(base: Duration, attempt: u32) -> Duration {
    let full = base.saturating_mul(1 << (attempt - 1).min(16));
    let half = full / 2;
    half + half.mul_f64(rand::random::<f64>())
}

/// Logs Mono's own message for a refusal. It is for the operator, never the browser.
async fn log_refusal(id: &AccountId, status: StatusCode, response: reqwest::Response) {
    let body = response.text().await.unwrap_or_default();
    let message = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("message")?.as_str().map(str::to_owned))
        .unwrap_or_default();
    let message: String = message.chars().take(200).collect();
    match status.as_u16() {
        401 | 403 => {
            tracing::error!(account_id = %id, status = status.as_u16(), mono_message = %message,
            "Mono rejected the secret key: check MONO_SEC_KEY (test vs live, revoked, or lacking permission)")
        }
        _ => tracing::warn!(account_id = %id, status = status.as_u16(), mono_message = %message,
            "Mono refused the unlink"),
    }
}

fn describe(error: &reqwest::Error) -> &'static str {
    if error.is_connect() {
        "connection failed"
    } else if error.is_request() {
        "connection closed before an answer"
    } else if error.is_body() || error.is_decode() {
        "answer cut short"
    } else {
        "request failed"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(base: &str, api: MonoApi) -> Mono {
        let mut config = UpstreamConfig::new(SecretKey::parse("test_sk_x").unwrap());
        config.base_url = Url::parse(base).unwrap();
        config.api = api;
        Mono::new(config).unwrap()
    }

    #[test]
    fn unlink_urls_for_both_api_versions() {
        let id = AccountId::parse("60770aa8c5878a2af69ed849").unwrap();
        assert_eq!(
            client("https://api.withmono.com", MonoApi::V2)
                .unlink_url(&id)
                .as_str(),
            "https://api.withmono.com/v2/accounts/60770aa8c5878a2af69ed849/unlink"
        );
        assert_eq!(
            client("https://api.withmono.com/", MonoApi::V1)
                .unlink_url(&id)
                .as_str(),
            "https://api.withmono.com/accounts/60770aa8c5878a2af69ed849/unlink"
        );
        assert_eq!(
            client("http://127.0.0.1:9/mono/", MonoApi::V2)
                .unlink_url(&id)
                .as_str(),
            "http://127.0.0.1:9/mono/v2/accounts/60770aa8c5878a2af69ed849/unlink"
        );
    }

    #[test]
    fn only_transient_failures_are_retried() {
        let retried = |code: u16| classify(StatusCode::from_u16(code).unwrap(), None).1;
        for code in [429, 502, 503, 504] {
            assert!(retried(code), "{code}");
        }
        for code in [200, 400, 401, 403, 404, 409, 500, 501] {
            assert!(!retried(code), "{code}");
        }
        let verdict = |code: u16| classify(StatusCode::from_u16(code).unwrap(), Some(2)).0;
        assert_eq!(verdict(200), Verdict::Unlinked);
        assert_eq!(verdict(204), Verdict::Unlinked);
        assert_eq!(verdict(404), Verdict::NotFound);
        assert_eq!(verdict(401), Verdict::KeyRejected);
        assert_eq!(verdict(403), Verdict::KeyRejected);
        assert_eq!(verdict(400), Verdict::Rejected);
        assert_eq!(verdict(409), Verdict::Rejected);
        assert_eq!(
            verdict(429),
            Verdict::Unavailable {
                retry_after: Some(2)
            }
        );
        assert_eq!(verdict(500), Verdict::Unavailable { retry_after: None });
    }

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
