//! The client for Mono's unlink route: one connection pool, strict timeouts, the secret key
//! in `mono-sec-key` and nowhere else, bounded retries (see `retry`), the answer read and
//! logged for the operator (Mono's own text masked and cut short, never shown to users).

use std::{
    sync::atomic::{AtomicI64, Ordering},
    time::Duration,
};

use reqwest::{StatusCode, header};
use tokio::time::Instant;
use url::Url;

use super::{
    MonoApi, UpstreamConfig,
    answer::{Answer, MonoVerdict, Upstream, classify},
    retry,
};
use crate::account::AccountId;

/// One unlink request, sent.
pub(super) enum Sent {
    Answered {
        status: StatusCode,
        retry_after: Option<u64>,
        answer: Answer,
    },
    TimedOut,
    Failed(reqwest::Error),
}

/// Longest answer body read from Mono; its real answers are a few hundred bytes.
const MAX_BODY: usize = 64 * 1024;

/// A Mono API client. Cheap to share: clone the `Arc` it lives in.
#[derive(Debug)]
pub struct Mono {
    http: reqwest::Client,
    pub(super) config: UpstreamConfig,
    /// When an unexpected answer was last logged at error level (ms since the epoch), so a
    /// misconfiguration says so once a minute instead of once per user.
    last_unexpected_alarm: AtomicI64,
}

impl Mono {
    /// A client for `config`, once [`UpstreamConfig::check`] accepts it.
    pub fn new(config: UpstreamConfig) -> Result<Self, crate::ConfigError> {
        config.check().map_err(crate::ConfigError::Mono)?;
        let http = crate::http_client::build(config.connect_timeout, config.request_timeout)
            .map_err(crate::ConfigError::HttpClient)?;
        Ok(Self {
            http,
            config,
            last_unexpected_alarm: AtomicI64::new(i64::MIN),
        })
    }

    /// How it reaches Mono.
    pub fn config(&self) -> &UpstreamConfig {
        &self.config
    }

    /// `{base}/v2/accounts/{id}/unlink` (or the v1 path).
    pub fn unlink_url(&self, id: &AccountId) -> Url {
        let mut url = self.config.base_url.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.clear();
            if self.config.api == MonoApi::V2 {
                segments.push("v2");
            }
            segments.extend(["accounts", id.as_str(), "unlink"]);
        }
        url
    }

    /// Asks Mono to unlink `id`, retrying 429/502/503/504 and broken connections with
    /// exponential backoff and jitter, until `max_attempts` or `deadline`.
    pub async fn unlink(&self, id: &AccountId, deadline: Instant) -> Upstream {
        let url = self.unlink_url(id);
        let (mut attempts, mut rate_limited) = (0, 0);
        loop {
            attempts += 1;
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Upstream {
                    verdict: MonoVerdict::TimedOut,
                    status: None,
                    attempts: attempts - 1,
                    rate_limited,
                };
            }
            let started = Instant::now();
            let (verdict, status, retryable) = self
                .attempt(id, &url, self.config.request_timeout.min(remaining))
                .await;
            let failure = if verdict == MonoVerdict::TimedOut {
                "timeout"
            } else {
                "error"
            };
            crate::telemetry::mono_call(status, failure, attempts, started.elapsed());
            if status == Some(429) {
                rate_limited += 1;
            }
            let upstream = Upstream {
                verdict,
                status,
                attempts,
                rate_limited,
            };
            if !retryable {
                return upstream;
            }
            match retry::next_delay(&self.config, attempts, verdict, deadline) {
                Some(delay) => tokio::time::sleep(delay).await,
                None => return upstream,
            }
        }
    }

    /// One call: the verdict, Mono's status, and whether another attempt may help.
    async fn attempt(
        &self,
        id: &AccountId,
        url: &Url,
        timeout: Duration,
    ) -> (MonoVerdict, Option<u16>, bool) {
        match self.send(url, timeout).await {
            Sent::Answered {
                status,
                retry_after,
                answer,
            } => {
                let verdict = classify(status, retry_after, &answer);
                self.log(id, url, status, verdict, &answer);
                (
                    verdict,
                    Some(status.as_u16()),
                    retry::retryable(Some(status)),
                )
            }
            Sent::TimedOut => {
                tracing::warn!(account_id = %id, "Mono did not answer in time");
                (MonoVerdict::TimedOut, None, false)
            }
            Sent::Failed(error) => {
                // The URL carries no secret, but reqwest's Display may include it; say less.
                tracing::warn!(account_id = %id, connect = error.is_connect(),
                    "could not reach Mono: {}", describe(&error));
                (
                    MonoVerdict::Unavailable { retry_after: None },
                    None,
                    retry::retryable(None),
                )
            }
        }
    }

    /// Sends one unlink to `url` and reads the answer.
    pub(super) async fn send(&self, url: &Url, timeout: Duration) -> Sent {
        let sent = self
            .http
            .post(url.clone())
            .header("mono-sec-key", self.config.secret_key.expose())
            .header(header::ACCEPT, "application/json")
            .timeout(timeout)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(error) if error.is_timeout() => return Sent::TimedOut,
            Err(error) => return Sent::Failed(error),
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let json_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().contains("json"));
        let body = match read_body(response).await {
            Ok(body) => body,
            Err(error) if error.is_timeout() => return Sent::TimedOut,
            Err(_) => Vec::new(),
        };
        Sent::Answered {
            status,
            retry_after,
            answer: Answer::read(json_type, &body),
        }
    }

    fn log(
        &self,
        id: &AccountId,
        url: &Url,
        status: StatusCode,
        verdict: MonoVerdict,
        answer: &Answer,
    ) {
        let status = status.as_u16();
        let message = answer.message(&self.config.secret_key);
        match verdict {
            MonoVerdict::Unlinked | MonoVerdict::NotFound => {}
            MonoVerdict::Unexpected | MonoVerdict::Ambiguous => {
                let now = crate::time::now_ms();
                let last = self.last_unexpected_alarm.load(Ordering::Relaxed);
                let path = url.path().replace(id.as_str(), "{id}");
                if now.saturating_sub(last) >= 60_000
                    && self
                        .last_unexpected_alarm
                        .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                        .is_ok()
                {
                    let meaning = if verdict == MonoVerdict::Ambiguous {
                        "so whether the account is unlinked is unknown (recorded as \
                         outcome_unknown)"
                    } else {
                        "so the account was NOT unlinked"
                    };
                    tracing::error!(status, path = %path,
                        "Mono's URL answered {status} with something that is not Mono's JSON, \
                         {meaning}: check --mono-base-url and --mono-api, and what sits \
                         between this proxy and Mono (logged at most once a minute)");
                } else {
                    tracing::debug!(status, path = %path, "an answer that is not Mono's from the Mono URL");
                }
            }
            MonoVerdict::KeyRejected => {
                tracing::error!(account_id = %id, status, mono_message = %message,
                "Mono rejected the secret key: check MONO_SEC_KEY (test vs live, revoked, or lacking permission)")
            }
            MonoVerdict::Rejected | MonoVerdict::Unavailable { .. } | MonoVerdict::TimedOut => {
                tracing::warn!(account_id = %id, status, mono_message = %message, "Mono refused the unlink")
            }
        }
    }
}

async fn read_body(mut response: reqwest::Response) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = MAX_BODY.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if room <= chunk.len() {
            break;
        }
    }
    Ok(body)
}

pub(super) fn describe(error: &reqwest::Error) -> &'static str {
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
