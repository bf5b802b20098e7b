//! Cross-site request forgery defence for the unlink route.
//!
//! Why these two checks suffice: the widget always sends `Idempotency-Key`, a header no HTML
//! form can set, and the proxy requires it. So a cross-origin page can only produce a valid
//! request with `fetch`, and a cross-origin `fetch` with that header is preflighted: the
//! browser asks first, and the proxy's CORS answer allows only `--allowed-origin`s. Browsers
//! that skip neither check still send `Origin` (and `Sec-Fetch-Site`) on the POST, which
//! are verified here as a second line, so a misconfigured CORS layer or a browser bug alone
//! does not open the door. Requests without either header are not from a browser page, and
//! carry no victim's cookies to abuse.

use axum::http::{HeaderMap, header};

/// Where a request comes from, as far as CSRF is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OriginCheck {
    Allowed,
    /// `Origin` names a site that is neither this one nor allowed.
    ForeignOrigin,
    /// `Sec-Fetch-Site: cross-site` with no allowed `Origin`.
    CrossSite,
}

/// Checks `Origin` and `Sec-Fetch-Site` against the request's own `Host` and the allow-list
/// (full origins, e.g. `https://app.partner.example`).
pub fn check(headers: &HeaderMap, allowed_origins: &[String]) -> OriginCheck {
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let allowed = origin.is_some_and(|o| allowed_origins.iter().any(|a| a == o));
    if allowed {
        return OriginCheck::Allowed;
    }
    if let Some(origin) = origin
        && !is_same_origin(origin, headers)
    {
        return OriginCheck::ForeignOrigin;
    }
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if site == Some("cross-site") {
        return OriginCheck::CrossSite;
    }
    OriginCheck::Allowed
}

/// `Origin: http://host:port` against `Host: host:port`. The scheme is not compared: behind a
/// TLS-terminating load balancer the proxy cannot know its own.
fn is_same_origin(origin: &str, headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let authority = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    match authority {
        Some(authority) => {
            authority.eq_ignore_ascii_case(host)
                || with_default_port(origin, authority).eq_ignore_ascii_case(host)
                || authority.eq_ignore_ascii_case(&with_default_port(origin, host))
        }
        // "null" (sandboxed frames, file://) and anything unparsable are foreign.
        None => false,
    }
}

fn with_default_port(origin: &str, authority: &str) -> String {
    if authority.contains(':') && !authority.ends_with(']') {
        return authority.to_owned();
    }
    let port = if origin.starts_with("https://") {
        443
    } else {
        80
    };
    format!("{authority}:{port}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    const ALLOWED: &[&str] = &["https://app.partner.example"];

    fn verdict(pairs: &[(&'static str, &'static str)]) -> OriginCheck {
        let allowed: Vec<String> = ALLOWED.iter().map(|s| s.to_string()).collect();
        check(&headers(pairs), &allowed)
    }

    #[test]
    fn same_origin_is_allowed() {
        let v = verdict(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080"),
            ("sec-fetch-site", "same-origin"),
        ]);
        assert_eq!(v, OriginCheck::Allowed);
        let v = verdict(&[("host", "bank.example"), ("origin", "https://bank.example")]);
        assert_eq!(v, OriginCheck::Allowed);
        let v = verdict(&[
            ("host", "bank.example:443"),
            ("origin", "https://bank.example"),
        ]);
        assert_eq!(v, OriginCheck::Allowed);
    }

    #[test]
    fn allowed_origins_may_call_cross_site() {
        let v = verdict(&[
            ("host", "api.partner.example"),
            ("origin", "https://app.partner.example"),
            ("sec-fetch-site", "same-site"),
        ]);
        assert_eq!(v, OriginCheck::Allowed);
        let v = verdict(&[
            ("host", "api.partner.example"),
            ("origin", "https://app.partner.example"),
            ("sec-fetch-site", "cross-site"),
        ]);
        assert_eq!(v, OriginCheck::Allowed);
    }

    #[test]
    fn foreign_origins_are_refused() {
        for origin in [
            "https://evil.example",
            "null",
            "http://127.0.0.1:9999",
            "weird",
        ] {
            let v = verdict(&[("host", "127.0.0.1:8080"), ("origin", origin)]);
            assert_eq!(v, OriginCheck::ForeignOrigin, "{origin}");
        }
        // A sibling subdomain is same-site, but not the same origin and not allowed.
        let v = verdict(&[
            ("host", "api.partner.example"),
            ("origin", "https://evil.partner.example"),
            ("sec-fetch-site", "same-site"),
        ]);
        assert_eq!(v, OriginCheck::ForeignOrigin);
    }

    #[test]
    fn cross_site_fetch_metadata_is_refused() {
        let v = verdict(&[("host", "127.0.0.1:8080"), ("sec-fetch-site", "cross-site")]);
        assert_eq!(v, OriginCheck::CrossSite);
    }

    #[test]
    fn non_browser_clients_pass() {
        assert_eq!(verdict(&[("host", "127.0.0.1:8080")]), OriginCheck::Allowed);
        assert_eq!(verdict(&[]), OriginCheck::Allowed);
        assert_eq!(
            verdict(&[("sec-fetch-site", "none")]),
            OriginCheck::Allowed,
            "typed into the address bar"
        );
    }
}
