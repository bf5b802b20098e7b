//! Cross-site request forgery defence for the unlink route.
//!
//! Why these checks suffice: the widget always sends `Idempotency-Key`, a header no HTML
//! form can set, and the proxy requires it. So a cross-origin page can only produce a valid
//! request with `fetch`, and a cross-origin `fetch` with that header is preflighted: the
//! browser asks first, and the proxy's CORS answer allows only `--allowed-origin`s. Browsers
//! that skip neither check still send `Origin` (and `Sec-Fetch-Site`) on the POST, which
//! are verified here as a second line, so a misconfigured CORS layer or a browser bug alone
//! does not open the door. Requests without either header are not from a browser page, and
//! carry no victim's cookies to abuse.
//!
//! Origins are compared whole: scheme, host and port. With the partner's public origins
//! configured, nothing the client sends (its `Host`) can make a foreign `Origin` look like
//! the proxy's own, which defeats DNS rebinding. Without them (a local demo), `Origin` is
//! compared with `Host`.

use axum::http::{HeaderMap, header};
use url::Url;

/// Where a request comes from, as far as CSRF is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OriginCheck {
    /// Same-origin, an allowed origin, or not a browser page.
    Allowed,
    /// `Origin` names a site that is neither this one nor allowed.
    ForeignOrigin,
    /// `Sec-Fetch-Site: cross-site` with no allowed `Origin`.
    CrossSite,
    /// `Origin` is not readable (not UTF-8), or there is more than one: no browser sends
    /// that.
    Malformed,
}

/// The origins the proxy accepts calls from.
#[derive(Clone, Debug, Default)]
pub struct Origins {
    public: Vec<String>,
    allowed: Vec<String>,
}

impl Origins {
    /// `public`: the partner's own pages (same-origin callers); `allowed`: cross-origin
    /// callers. Both as `scheme://host[:port]`; they are normalised here.
    pub fn new(public: Vec<String>, allowed: Vec<String>) -> Self {
        let normalise = |list: Vec<String>| list.iter().filter_map(|o| normalise(o)).collect();
        Self {
            public: normalise(public),
            allowed: normalise(allowed),
        }
    }

    /// The cross-origin callers, for CORS.
    pub fn allowed(&self) -> &[String] {
        &self.allowed
    }

    fn configured(&self) -> bool {
        !self.public.is_empty() || !self.allowed.is_empty()
    }

    fn contains(&self, origin: &str) -> bool {
        self.public.iter().chain(&self.allowed).any(|o| o == origin)
    }
}

/// `scheme://host[:port]` with the default port left out and the host lower-cased, or `None`
/// for anything that is not an http(s) origin (`null`, a path, garbage).
fn normalise(origin: &str) -> Option<String> {
    let url = Url::parse(origin).ok()?;
    let bare = url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty();
    (matches!(url.scheme(), "http" | "https") && url.host().is_some() && bare)
        .then(|| url.origin().ascii_serialization())
}

/// Checks `Origin` and `Sec-Fetch-Site` against the configured origins (or, with none, the
/// request's own `Host`).
pub fn check(headers: &HeaderMap, origins: &Origins) -> OriginCheck {
    let mut values = headers.get_all(header::ORIGIN).iter();
    let origin = match (values.next(), values.next()) {
        (None, _) => None,
        (Some(value), None) => match value.to_str() {
            Ok(origin) => Some(origin),
            Err(_) => return OriginCheck::Malformed,
        },
        (Some(_), Some(_)) => return OriginCheck::Malformed,
    };
    if let Some(origin) = origin {
        let Some(origin) = normalise(origin) else {
            // "null" (sandboxed frames, file://) and anything unparsable are foreign.
            return OriginCheck::ForeignOrigin;
        };
        let known = if origins.configured() {
            origins.contains(&origin)
        } else {
            same_as_host(&origin, headers)
        };
        return if known {
            OriginCheck::Allowed
        } else {
            OriginCheck::ForeignOrigin
        };
    }
    match headers.get("sec-fetch-site").map(|v| v.as_bytes()) {
        Some(b"cross-site") => OriginCheck::CrossSite,
        _ => OriginCheck::Allowed,
    }
}

/// Demo mode: `Origin: http://host:port` against `Host: host:port`. The proxy serves plain
/// HTTP itself, but may sit behind a TLS terminator, so either scheme is taken, each with
/// its own default port.
fn same_as_host(origin: &str, headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Ok(origin) = Url::parse(origin) else {
        return false;
    };
    let Ok(host) = Url::parse(&format!("{}://{host}", origin.scheme())) else {
        return false;
    };
    host.path() == "/" && origin.origin() == host.origin()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn demo(pairs: &[(&'static str, &'static str)]) -> OriginCheck {
        check(&headers(pairs), &Origins::default())
    }

    fn production(pairs: &[(&'static str, &'static str)]) -> OriginCheck {
        let origins = Origins::new(
            vec!["https://app.partner.example".into()],
            vec!["https://partner-admin.example:8443".into()],
        );
        check(&headers(pairs), &origins)
    }

    use OriginCheck::*;

    #[test]
    fn production_compares_scheme_host_and_port_and_ignores_host() {
        for (origin, host, expected) in [
            (
                "https://app.partner.example",
                "api.partner.example",
                Allowed,
            ),
            (
                "https://APP.partner.example:443",
                "api.partner.example",
                Allowed,
            ),
            ("https://partner-admin.example:8443", "x", Allowed),
            // The scheme counts.
            (
                "http://app.partner.example",
                "app.partner.example",
                ForeignOrigin,
            ),
            // So does the port.
            (
                "https://app.partner.example:8443",
                "app.partner.example:8443",
                ForeignOrigin,
            ),
            ("https://partner-admin.example", "x", ForeignOrigin),
            // DNS rebinding: the attacker's page, reached under the attacker's name, sends
            // Origin = Host = attacker. The Host no longer matters.
            ("http://evil.example", "evil.example", ForeignOrigin),
            (
                "https://evil.partner.example",
                "api.partner.example",
                ForeignOrigin,
            ),
            ("null", "api.partner.example", ForeignOrigin),
        ] {
            let mut map = headers(&[("origin", origin)]);
            map.insert("host", HeaderValue::from_str(host).unwrap());
            let origins = Origins::new(
                vec!["https://app.partner.example".into()],
                vec!["https://partner-admin.example:8443".into()],
            );
            assert_eq!(check(&map, &origins), expected, "{origin} with Host {host}");
        }
    }

    #[test]
    fn demo_compares_with_host() {
        for (origin, host, expected) in [
            ("http://127.0.0.1:8080", "127.0.0.1:8080", Allowed),
            ("https://bank.example", "bank.example", Allowed),
            ("https://bank.example", "bank.example:443", Allowed),
            ("http://bank.example", "bank.example:80", Allowed),
            ("http://bank.example", "bank.example:443", ForeignOrigin),
            ("https://evil.example", "127.0.0.1:8080", ForeignOrigin),
            ("http://127.0.0.1:9999", "127.0.0.1:8080", ForeignOrigin),
            ("null", "127.0.0.1:8080", ForeignOrigin),
            ("weird", "127.0.0.1:8080", ForeignOrigin),
        ] {
            let mut map = headers(&[("origin", origin)]);
            map.insert("host", HeaderValue::from_str(host).unwrap());
            assert_eq!(
                check(&map, &Origins::default()),
                expected,
                "{origin} / {host}"
            );
        }
    }

    #[test]
    fn unreadable_or_repeated_origins_are_refused() {
        let mut map = HeaderMap::new();
        map.insert(
            "origin",
            HeaderValue::from_bytes(b"https://app.partner.ex\xffmple").unwrap(),
        );
        assert_eq!(check(&map, &Origins::default()), Malformed);
        let twice = headers(&[
            ("origin", "https://app.partner.example"),
            ("origin", "https://evil.example"),
        ]);
        assert_eq!(
            check(
                &twice,
                &Origins::new(vec!["https://app.partner.example".into()], vec![])
            ),
            Malformed
        );
    }

    #[test]
    fn cross_site_fetch_metadata_is_refused() {
        assert_eq!(
            demo(&[("host", "127.0.0.1:8080"), ("sec-fetch-site", "cross-site")]),
            CrossSite
        );
        assert_eq!(production(&[("sec-fetch-site", "cross-site")]), CrossSite);
        assert_eq!(
            production(&[
                ("origin", "https://app.partner.example"),
                ("sec-fetch-site", "same-site")
            ]),
            Allowed
        );
    }

    #[test]
    fn non_browser_clients_pass() {
        assert_eq!(demo(&[("host", "127.0.0.1:8080")]), Allowed);
        assert_eq!(demo(&[]), Allowed);
        assert_eq!(production(&[]), Allowed);
        assert_eq!(
            demo(&[("sec-fetch-site", "none")]),
            Allowed,
            "typed into the address bar"
        );
    }
}
