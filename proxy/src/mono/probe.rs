//! `unlink-proxy check --probe-mono`: before going live, one unlink of an account that
//! cannot exist, whose answer tells whether the base URL, the API version and the key are
//! right. Nothing changes at Mono.

use super::{
    Mono, MonoVerdict,
    answer::classify,
    client::{Sent, describe},
};
use crate::account::AccountId;

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

impl Mono {
    /// Checks URL, route and key before going live: one unlink of [`PROBE_ACCOUNT_ID`], an id
    /// that cannot exist, so Mono has nothing to delete. No retries.
    pub async fn probe(&self) -> Probe {
        let id = AccountId::parse(PROBE_ACCOUNT_ID).expect("a valid id");
        let url = self.unlink_url(&id);
        let timeout = self.config.connect_timeout + self.config.request_timeout;
        match self.send(&url, timeout).await {
            Sent::Answered { status, answer, .. } => match classify(status, None, &answer) {
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
                // Mono would not unlink, refuse, or fail on an account that cannot exist.
                MonoVerdict::Unlinked
                | MonoVerdict::Rejected
                | MonoVerdict::Unavailable { .. }
                | MonoVerdict::TimedOut => Probe::Unexpected {
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
}
