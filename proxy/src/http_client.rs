//! The proxy's one way to build an outgoing HTTP client, for Mono and for the authoriser:
//! pooled, with timeouts, TLS through rustls, and never following a redirect (a redirect
//! would carry the secret key, or the user's cookies, somewhere else).
//!
//! TLS trusts the system's CA certificates, as the rest of the machine does. Where there are
//! none (a scratch container, a minimal image: the static binary runs in both), it trusts
//! Mozilla's roots, built in, rather than fail every call to Mono.

use std::{sync::LazyLock, time::Duration};

/// Which certificate roots outgoing TLS trusts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsRoots {
    /// The system's CA certificates (or `SSL_CERT_FILE`/`SSL_CERT_DIR`), this many.
    System(usize),
    /// None were found: Mozilla's, built into the binary.
    BuiltIn,
}

impl std::fmt::Display for TlsRoots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::System(count) => write!(f, "the system's CA certificates ({count})"),
            Self::BuiltIn => f.write_str(
                "Mozilla's, built in (no system CA certificates found: set SSL_CERT_FILE to \
                 use your own)",
            ),
        }
    }
}

/// Looked for once per process.
static ROOTS: LazyLock<TlsRoots> = LazyLock::new(|| match rustls_native_certs::load_native_certs()
    .certs
    .len()
{
    0 => TlsRoots::BuiltIn,
    count => TlsRoots::System(count),
});

/// The roots outgoing TLS trusts in this process.
pub fn tls_roots() -> TlsRoots {
    *ROOTS
}

/// A client that gives up connecting after `connect_timeout` and on a whole call after
/// `timeout`.
pub(crate) fn build(
    connect_timeout: Duration,
    timeout: Duration,
) -> Result<reqwest::Client, reqwest::Error> {
    // reqwest is built without a default TLS provider (ring avoids a cmake build).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("unlink-proxy/", env!("CARGO_PKG_VERSION")));
    if tls_roots() == TlsRoots::BuiltIn {
        let mozilla = webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .filter_map(|der| reqwest::Certificate::from_der(der).ok());
        builder = builder.tls_certs_only(mozilla);
    }
    builder.build()
}
