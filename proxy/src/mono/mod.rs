//! Mono, the one upstream: how to reach it ([`UpstreamConfig`], checked before anything is
//! sent), the client that calls its unlink route ([`Mono`]), when a failed call is tried
//! again (`retry`), what an answer means (`answer`: the worst thing this proxy could do is tell
//! a user their account is unlinked when it is not), and the pre-flight check
//! `unlink-proxy check --probe-mono` runs (`probe`).

mod answer;
mod client;
mod probe;
mod retry;

use std::time::Duration;

use url::Url;

pub use self::{
    answer::{Answer, MonoVerdict, Upstream},
    client::Mono,
    probe::{PROBE_ACCOUNT_ID, Probe},
};
use crate::secret::SecretKey;

/// Which of Mono's unlink paths to call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum MonoApi {
    /// `POST /v2/accounts/{id}/unlink`
    #[default]
    V2,
    /// `POST /accounts/{id}/unlink`
    V1,
}

impl std::fmt::Display for MonoApi {
    /// The word the `--mono-api` flag takes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::V2 => "v2",
            Self::V1 => "v1",
        })
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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

    fn client(base: &str, api: MonoApi) -> Mono {
        let mut config = UpstreamConfig::new(SecretKey::parse("test_sk_x").unwrap());
        config.base_url = Url::parse(base).unwrap();
        config.api = api;
        Mono::new(config).unwrap()
    }

    #[test]
    fn unlink_urls_for_both_api_versions() {
        let id = crate::account::AccountId::parse("60770aa8c5878a2af69ed849").unwrap();
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
}
