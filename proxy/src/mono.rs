//! The client for Mono's unlink endpoint: one connection pool, strict timeouts, bounded
//! retries for the failures that retrying can fix, and a careful reading of the answer.
//!
//! The answer is read as Mono writes it, because the worst thing this proxy could do is
//! tell a user their account is unlinked when it is not. A 404 only means "already
//! unlinked" when it is Mono's own JSON error; a 404 page from a gateway, a wrong base URL or
//! a moved route is something else, and says so.

use std::{
    sync::atomic::{AtomicI64, Ordering},
    time::Duration,
};

use reqwest::{StatusCode, header};
use tokio::time::Instant;
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
    /// Scheme, host and port only: the path comes from `api`.
    pub base_url: Url,
    /// Which unlink path to call.
    pub api: MonoApi,
    /// Sent as `mono-sec-key`, and nowhere else.
    pub secret_key: SecretKey,
    /// Limit for opening a connection.
    pub connect_timeout: Duration,
    /// Limit for one attempt, from sending to the full answer. The caller's deadline also
    /// bounds every attempt and all of them together.
    pub request_timeout: Duration,
    /// Calls to Mono per unlink at most (retries included).
    pub max_attempts: u32,
    /// First retry waits about this long; each further retry doubles it (with jitter).
    pub backoff: Duration,
    /// Longest `Retry-After` worth waiting for; longer ones end the retries.
    pub retry_after_cap: Duration,
}

impl UpstreamConfig {
    /// Refuses a base URL that cannot be right: a path (the API version's path comes from
    /// `api`, so `/v2` there would double it), a query, credentials, or plain HTTP for
    /// anything but a sandbox key on this machine (a live key must only travel over TLS).
    pub fn check(&self) -> Result<(), String> {
        let url = &self.base_url;
        if !matches!(url.scheme(), "http" | "https") {
            return Err("--mono-base-url must be an http(s) URL".into());
        }
        if url.path() != "/" && !url.path().is_empty() {
            return Err(format!(
                "--mono-base-url must not have a path (it has {:?}): give scheme://host[:port] \
                 only, and choose /v2 or /v1 with --mono-api",
                url.path()
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err("--mono-base-url must not have a query or a fragment".into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(
                "--mono-base-url must not carry credentials (user:password@); Mono \
                        authenticates with the secret key alone"
                    .into(),
            );
        }
        if url.scheme() == "http" {
            let loopback = match url.host() {
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                Some(url::Host::Domain(name)) => name == "localhost",
                None => false,
            };
            if self.secret_key.is_live() || !loopback {
                return Err(format!(
                    "--mono-base-url {} is plain http: use https (plain http is allowed only \
                     for a test_sk_ key on loopback, such as a local fake Mono)",
                    url.origin().ascii_serialization()
                ));
            }
        }
        Ok(())
    }

    /// Mono's production API with the default limits.
    pub fn new(secret_key: SecretKey) -> Self {
        Self {
            base_url: Url::parse("https://api.withmono.com").expect("valid URL"),
            api: MonoApi::V2,
            secret_key,
            connect_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(10),
            max_attempts: 3,
            backoff: Duration::from_millis(250),
            retry_after_cap: Duration::from_secs(5),
        }
    }
}

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
}

/// The account `unlink-proxy check --probe-mono` asks Mono to unlink: 24 zeros, an id no
/// account has, so the probe changes nothing at Mono.
pub const PROBE_ACCOUNT_ID: &str = "000000000000000000000000";

/// What [`Mono::probe`] learned about the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probe {
    /// Mono's own JSON 404 for an account that cannot exist: URL, route and key look right.
    Ready,
    /// 401/403: the key is wrong, revoked, or for the other environment.
    KeyRejected {
        /// 401 or 403.
        status: u16,
    },
    /// A 404 that is not Mono's JSON error: wrong base URL or API version, or a gateway.
    WrongRoute {
        /// The status (404).
        status: u16,
    },
    /// A 2xx that is not Mono's JSON: something in between answers in Mono's place.
    NotMono {
        /// The status (2xx).
        status: u16,
    },
    /// An answer Mono would not give here.
    Unexpected {
        /// The status.
        status: u16,
    },
    /// No connection (DNS, refused, reset).
    Unreachable(String),
    /// The connection's TLS failed (certificate, protocol, or plain HTTP on an https URL).
    Tls(String),
    /// No answer within the timeouts.
    TimedOut,
}

impl Probe {
    /// Whether the configuration can go live.
    pub fn is_ready(&self) -> bool {
        *self == Self::Ready
    }

    /// What it means, for the operator.
    pub fn explain(&self) -> String {
        match self {
            Self::Ready => "Mono answered its own \"not found\" for an account that cannot \
                exist: the base URL, the API version and the key look right"
                .into(),
            Self::KeyRejected { status } => format!(
                "Mono answered {status}: the key is wrong, revoked, or for the other \
                 environment (test_sk_ keys work in the sandbox only)"
            ),
            Self::WrongRoute { status } => format!(
                "the URL answered {status} with something that is not Mono's JSON error: \
                 check --mono-base-url and --mono-api (a gateway in between answers like this too)"
            ),
            Self::NotMono { status } => format!(
                "the URL answered {status} with something that is not Mono's JSON (a captive \
                 portal, an egress proxy's page, a misrouted base URL): unlinks would end as \
                 upstream_unexpected. Check --mono-base-url and the network path to Mono"
            ),
            Self::Unexpected { status } => format!(
                "the URL answered {status}, which Mono does not answer for an account that \
                 cannot exist: check that --mono-base-url really is Mono"
            ),
            Self::Unreachable(why) => format!("could not reach the Mono URL: {why}"),
            Self::Tls(why) => format!("TLS failed: {why}"),
            Self::TimedOut => "the Mono URL did not answer in time".into(),
        }
    }
}

/// One unlink request, sent.
enum Sent {
    Answered {
        status: StatusCode,
        retry_after: Option<u64>,
        answer: Answer,
    },
    TimedOut,
    Failed(reqwest::Error),
}

/// Why a failed connection failed in TLS, if it did: the rustls error, or the certificate
/// or handshake problem, found among the error's causes.
fn tls_problem(error: &reqwest::Error) -> Option<String> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = cause {
        if let Some(tls) = current.downcast_ref::<rustls::Error>() {
            return Some(tls.to_string());
        }
        let text = current.to_string().to_ascii_lowercase();
        if ["certificate", "tls", "handshake", "corrupt message"]
            .iter()
            .any(|word| text.contains(word))
        {
            return Some(current.to_string());
        }
        cause = current.source();
    }
    None
}

/// Longest answer body read from Mono; its real answers are a few hundred bytes.
const MAX_BODY: usize = 64 * 1024;

/// A Mono API client. Cheap to share: clone the `Arc` it lives in.
#[derive(Debug)]
pub struct Mono {
    http: reqwest::Client,
    config: UpstreamConfig,
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
        let mut attempts = 0;
        loop {
            attempts += 1;
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Upstream {
                    verdict: MonoVerdict::TimedOut,
                    status: None,
                    attempts: attempts - 1,
                };
            }
            let started = Instant::now();
            let (verdict, status, retryable) = self
                .attempt(id, &url, self.config.request_timeout.min(remaining))
                .await;
            let failure = match verdict {
                MonoVerdict::TimedOut => "timeout",
                _ => "error",
            };
            crate::telemetry::mono_call(status, failure, attempts, started.elapsed());
            let upstream = Upstream {
                verdict,
                status,
                attempts,
            };
            if !retryable || attempts >= self.config.max_attempts {
                return upstream;
            }
            let retry_after = match verdict {
                MonoVerdict::Unavailable { retry_after } => retry_after.map(Duration::from_secs),
                _ => None,
            };
            if retry_after.is_some_and(|wait| wait > self.config.retry_after_cap) {
                return upstream;
            }
            let delay = backoff(self.config.backoff, attempts).max(retry_after.unwrap_or_default());
            if Instant::now() + delay >= deadline {
                return upstream;
            }
            tokio::time::sleep(delay).await;
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
                let (verdict, retryable) = classify(status, retry_after, &answer);
                self.log(id, url, status, verdict, &answer);
                (verdict, Some(status.as_u16()), retryable)
            }
            Sent::TimedOut => {
                tracing::warn!(account_id = %id, "Mono did not answer in time");
                (MonoVerdict::TimedOut, None, false)
            }
            Sent::Failed(error) => {
                // The URL carries no secret, but reqwest's Display may include it; say less.
                tracing::warn!(account_id = %id, connect = error.is_connect(),
                    "could not reach Mono: {}", describe(&error));
                (MonoVerdict::Unavailable { retry_after: None }, None, true)
            }
        }
    }

    /// Sends one unlink to `url` and reads the answer.
    async fn send(&self, url: &Url, timeout: Duration) -> Sent {
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

    /// Checks URL, route and key before going live: one unlink of [`PROBE_ACCOUNT_ID`], an id
    /// that cannot exist, so Mono has nothing to delete. No retries.
    pub async fn probe(&self) -> Probe {
        let id = AccountId::parse(PROBE_ACCOUNT_ID).expect("a valid id");
        let url = self.unlink_url(&id);
        let timeout = self.config.connect_timeout + self.config.request_timeout;
        match self.send(&url, timeout).await {
            Sent::Answered { status, answer, .. } => match classify(status, None, &answer).0 {
                MonoVerdict::NotFound => Probe::Ready,
                MonoVerdict::KeyRejected => Probe::KeyRejected {
                    status: status.as_u16(),
                },
                MonoVerdict::Unexpected => Probe::WrongRoute {
                    status: status.as_u16(),
                },
                MonoVerdict::Ambiguous => Probe::NotMono {
                    status: status.as_u16(),
                },
                _ => Probe::Unexpected {
                    status: status.as_u16(),
                },
            },
            Sent::TimedOut => Probe::TimedOut,
            Sent::Failed(error) => match tls_problem(&error) {
                Some(problem) => Probe::Tls(problem),
                None => Probe::Unreachable(describe(&error).to_owned()),
            },
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
    fn message(&self, key: &SecretKey) -> String {
        let message = self.message.as_deref().unwrap_or_default();
        let masked = crate::secret::mask_keys(message, key);
        masked.chars().take(200).collect()
    }
}

/// Mono's status and answer → verdict, and whether another attempt may help.
fn classify(status: StatusCode, retry_after: Option<u64>, answer: &Answer) -> (MonoVerdict, bool) {
    match status.as_u16() {
        // Never retried: a second call could unlink what the first already did.
        200..=299 if answer.json => (MonoVerdict::Unlinked, false),
        200..=299 => (MonoVerdict::Ambiguous, false),
        404 if answer.envelope => (MonoVerdict::NotFound, false),
        404 => (MonoVerdict::Unexpected, false),
        401 | 403 => (MonoVerdict::KeyRejected, false),
        429 | 502 | 503 | 504 => (MonoVerdict::Unavailable { retry_after }, true),
        400..=499 => (MonoVerdict::Rejected, false),
        _ => (MonoVerdict::Unavailable { retry_after: None }, false),
    }
}

/// `base × 2^(attempt-1)`, with "equal jitter" (between half and all of it) so many proxies
/// retrying at once spread out.
fn backoff(base: Duration, attempt: u32) -> Duration {
    let full = base.saturating_mul(1 << (attempt - 1).min(16));
    let half = full / 2;
    half + half.mul_f64(rand::random::<f64>())
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

    const MONO_404: &str = r#"{"status":"failed","message":"The requested resource doesn't exist","timestamp":"2026-11-23T20:19:40.123Z","data":null}"#;

    #[test]
    fn base_urls_that_cannot_be_right_are_refused() {
        let check = |base: &str, key: &str| {
            let mut config = UpstreamConfig::new(SecretKey::parse(key).unwrap());
            config.base_url = Url::parse(base).unwrap();
            config.check()
        };
        assert!(check("https://api.withmono.com", "live_sk_k").is_ok());
        assert!(check("https://api.withmono.com/", "live_sk_k").is_ok());
        assert!(check("http://127.0.0.1:9000", "test_sk_k").is_ok());
        assert!(check("http://localhost:9000", "test_sk_k").is_ok());
        for (base, key, says) in [
            (
                "https://api.withmono.com/v2",
                "live_sk_k",
                "must not have a path",
            ),
            (
                "https://api.withmono.com/v1/",
                "live_sk_k",
                "must not have a path",
            ),
            ("https://api.withmono.com/mono", "test_sk_k", "--mono-api"),
            ("https://api.withmono.com/?a=1", "live_sk_k", "query"),
            (
                "https://user:hunter2@api.withmono.com",
                "live_sk_k",
                "credentials",
            ),
            ("http://127.0.0.1:9000", "live_sk_k", "plain http"),
            ("http://api.withmono.com", "test_sk_k", "plain http"),
            ("ftp://api.withmono.com", "test_sk_k", "http(s)"),
        ] {
            let error = check(base, key).expect_err(base);
            assert!(error.contains(says), "{base}: {error}");
            assert!(!error.contains("hunter2"), "{error}");
        }
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
            client("http://127.0.0.1:9", MonoApi::V2)
                .unlink_url(&id)
                .as_str(),
            "http://127.0.0.1:9/v2/accounts/60770aa8c5878a2af69ed849/unlink"
        );
    }

    fn verdict(status: u16, json_type: bool, body: &str) -> (MonoVerdict, bool) {
        classify(
            StatusCode::from_u16(status).unwrap(),
            Some(2),
            &Answer::read(json_type, body.as_bytes()),
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
