//! The proxy's one way to build an outgoing HTTP client, for Mono and for the authoriser:
//! pooled, with timeouts, TLS through rustls, and never following a redirect (a redirect
//! would carry the secret key, or the user's cookies, somewhere else).

use std::time::Duration;

/// A client that gives up connecting after `connect_timeout` and on a whole call after
/// `timeout`.
pub(crate) fn build(
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
