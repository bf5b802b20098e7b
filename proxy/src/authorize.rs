//! Who may unlink which account. The proxy asks before every unlink, and only an explicit
//! "yes, and this is who is asking" lets the unlink go on: a login page, an empty answer or a
//! `200` that says `false` all mean no.

use std::{collections::HashSet, fmt, net::IpAddr, sync::Arc, time::Duration};

use axum::http::{HeaderMap, HeaderName, header};
use futures::future::BoxFuture;
use url::Url;

use crate::account::AccountId;

/// Longest principal accepted; it is stored in the trail and used as a rate-limit key.
pub const MAX_PRINCIPAL_LEN: usize = 256;

/// What an authoriser gets to decide with.
#[derive(Clone, Debug)]
pub struct AuthRequest {
    /// The account the caller wants to unlink.
    pub account_id: AccountId,
    /// The caller's headers that are forwarded: `Cookie`, `Authorization`, and those named
    /// with `--authorize-forward-header` (a CSRF token, say). Nothing else.
    pub headers: HeaderMap,
    /// The caller's address (see `--trust-forwarded-for`).
    pub client_ip: Option<IpAddr>,
}

impl AuthRequest {
    /// Picks the forwarded headers out of the caller's.
    pub fn new(
        account_id: AccountId,
        caller: &HeaderMap,
        forward: &[HeaderName],
        client_ip: Option<IpAddr>,
    ) -> Self {
        let mut headers = HeaderMap::new();
        for name in [header::COOKIE, header::AUTHORIZATION]
            .iter()
            .chain(forward)
        {
            for value in caller.get_all(name) {
                headers.append(name.clone(), value.clone());
            }
        }
        Self {
            account_id,
            headers,
            client_ip,
        }
    }

    /// The caller's `Cookie` header, as sent by the browser.
    pub fn cookie(&self) -> Option<&str> {
        self.headers.get(header::COOKIE)?.to_str().ok()
    }

    /// The caller's `Authorization` header.
    pub fn authorization(&self) -> Option<&str> {
        self.headers.get(header::AUTHORIZATION)?.to_str().ok()
    }
}

/// Headers that must never be forwarded to the authoriser: the Mono key's header, and those
/// that describe the connection rather than the caller.
pub fn forwardable(name: &HeaderName) -> Result<(), String> {
    const NEVER: &[&str] = &[
        "mono-sec-key",
        "host",
        "connection",
        "content-length",
        "transfer-encoding",
        "te",
        "upgrade",
        "keep-alive",
        "proxy-authorization",
        "proxy-connection",
        "trailer",
    ];
    if NEVER.contains(&name.as_str()) {
        return Err(format!(
            "the {name} header cannot be forwarded to the authoriser"
        ));
    }
    Ok(())
}

/// "Yes": who is asking. Recorded in the audit trail and used for the per-user limit, so it
/// is never empty.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Principal(String);

impl Principal {
    /// A user id: 1 to 256 characters, no control characters, not only spaces.
    pub fn new(id: impl Into<String>) -> Result<Self, Denied> {
        let id = id.into();
        if id.trim().is_empty() {
            return Err(Denied("the principal is empty".into()));
        }
        if id.len() > MAX_PRINCIPAL_LEN || id.chars().any(char::is_control) {
            return Err(Denied(
                "the principal is longer than 256 bytes or has control characters".into(),
            ));
        }
        Ok(Self(id))
    }

    /// The user id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// "No", with the reason for the log. The caller only ever sees `403 forbidden`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denied(pub String);

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Denied {}

/// Decides whether the signed-in user may unlink an account: `Ok(principal)` allows, and
/// anything else denies. Implement it in your own app (check your session against the
/// accounts you stored for that user), or use [`authoriser_fn`].
pub trait Authoriser: Send + Sync + 'static {
    /// `Ok` with who is asking allows the unlink; `Err` says why not, for the log.
    fn authorise<'a>(
        &'a self,
        request: &'a AuthRequest,
    ) -> BoxFuture<'a, Result<Principal, Denied>>;
}

/// An [`Authoriser`] from an async closure. The same rule holds: only `Ok(principal)`, with
/// a non-empty principal (see [`Principal::new`]), allows.
///
/// ```
/// use unlink_proxy::authorize::{authoriser_fn, Denied, Principal};
/// let authoriser = authoriser_fn(|request| {
///     let owned = request.account_id.as_str() == "60770aa8c5878a2af69ed849";
///     async move {
///         if owned { Principal::new("user-1") } else { Err(Denied("not theirs".into())) }
///     }
/// });
/// ```
pub fn authoriser_fn<F, Fut>(f: F) -> Arc<dyn Authoriser>
where
    F: Fn(&AuthRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Principal, Denied>> + Send + 'static,
{
    struct FnAuthoriser<F>(F);
    impl<F, Fut> Authoriser for FnAuthoriser<F>
    where
        F: Fn(&AuthRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Principal, Denied>> + Send + 'static,
    {
        fn authorise<'a>(
            &'a self,
            request: &'a AuthRequest,
        ) -> BoxFuture<'a, Result<Principal, Denied>> {
            Box::pin((self.0)(request))
        }
    }
    Arc::new(FnAuthoriser(f))
}

/// Asks the partner's own backend: `POST {url}` with the forwarded headers and
/// `{"account_id": "…"}`. Only `200` with the JSON `{"allowed": true, "principal": "…"}`
/// allows; any other status, body or silence within the timeout denies.
#[derive(Debug)]
pub struct HttpAuthoriser {
    url: Url,
    http: reqwest::Client,
}

/// Longest authoriser answer read; a real one is a few dozen bytes.
const MAX_ANSWER: usize = 16 * 1024;

impl HttpAuthoriser {
    /// Asks `url`, waiting at most `timeout` for the answer.
    pub fn new(url: Url, timeout: Duration) -> Result<Self, reqwest::Error> {
        let http = crate::http_client::build(timeout, timeout)?;
        Ok(Self { url, http })
    }

    async fn ask(&self, request: &AuthRequest) -> Result<Principal, Denied> {
        let mut response = self
            .http
            .post(self.url.clone())
            .headers(request.headers.clone())
            .json(&serde_json::json!({ "account_id": request.account_id.as_str() }))
            .send()
            .await
            .map_err(|error| {
                Denied(if error.is_timeout() {
                    "the authoriser did not answer in time".into()
                } else {
                    "the authoriser could not be reached".into()
                })
            })?;
        let status = response.status();
        if status != reqwest::StatusCode::OK {
            return Err(Denied(format!("the authoriser answered {status}, not 200")));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|_| Denied("the authoriser's answer was cut short".into()))?
        {
            if body.len() + chunk.len() > MAX_ANSWER {
                return Err(Denied("the authoriser's answer is over 16 KiB".into()));
            }
            body.extend_from_slice(&chunk);
        }
        decide(&body)
    }
}

/// The rule for an authoriser's `200` body, apart from HTTP so it can be tested alone.
pub fn decide(body: &[u8]) -> Result<Principal, Denied> {
    // Strict: with a key given twice, two readers could disagree on the answer.
    let answer = match crate::json::parse_strict(body) {
        Ok(serde_json::Value::Object(answer)) => answer,
        Err(crate::json::NotStrictJson::DuplicateKey) => {
            return Err(Denied(
                "the authoriser's answer gives a key twice, so it has no single meaning".into(),
            ));
        }
        Ok(_) | Err(crate::json::NotStrictJson::Invalid) => {
            return Err(Denied(
                "the authoriser's answer is not a JSON object".into(),
            ));
        }
    };
    match answer.get("allowed") {
        Some(serde_json::Value::Bool(true)) => {}
        Some(serde_json::Value::Bool(false)) => {
            return Err(Denied("the authoriser said \"allowed\": false".into()));
        }
        Some(_) => {
            return Err(Denied(
                "the authoriser's \"allowed\" is not a boolean".into(),
            ));
        }
        None => return Err(Denied("the authoriser's answer has no \"allowed\"".into())),
    }
    match answer.get("principal") {
        Some(serde_json::Value::String(principal)) => Principal::new(principal.clone()),
        Some(_) => Err(Denied(
            "the authoriser's \"principal\" is not a string".into(),
        )),
        None => Err(Denied(
            "the authoriser's answer has no \"principal\"".into(),
        )),
    }
}

impl Authoriser for HttpAuthoriser {
    fn authorise<'a>(
        &'a self,
        request: &'a AuthRequest,
    ) -> BoxFuture<'a, Result<Principal, Denied>> {
        Box::pin(self.ask(request))
    }
}

/// Demo mode only: one fixed user who owns a fixed set of accounts.
#[derive(Debug)]
pub struct DemoAuthoriser {
    /// The demo user.
    pub principal: Principal,
    /// The account ids the demo user owns.
    pub owned: HashSet<String>,
}

impl Authoriser for DemoAuthoriser {
    fn authorise<'a>(
        &'a self,
        request: &'a AuthRequest,
    ) -> BoxFuture<'a, Result<Principal, Denied>> {
        let owned = self.owned.contains(request.account_id.as_str());
        let principal = self.principal.clone();
        Box::pin(async move {
            if owned {
                Ok(principal)
            } else {
                Err(Denied(format!("{principal} does not own this account")))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_explicit_yes_with_a_principal_allows() {
        let allowed = |body: &str| decide(body.as_bytes());
        assert_eq!(
            allowed(r#"{"allowed": true, "principal": "user-42"}"#),
            Ok(Principal::new("user-42").unwrap())
        );
        for (body, why) in [
            (r#"{"allowed": false, "principal": "user-42"}"#, "false"),
            (r#"{"principal": "user-42"}"#, "no \"allowed\""),
            (
                r#"{"allowed": "yes", "principal": "user-42"}"#,
                "not a boolean",
            ),
            (r#"{"allowed": 1, "principal": "user-42"}"#, "not a boolean"),
            (r#"{"allowed": true}"#, "no \"principal\""),
            (r#"{"allowed": true, "principal": ""}"#, "empty"),
            (r#"{"allowed": true, "principal": "   "}"#, "empty"),
            (r#"{"allowed": true, "principal": 42}"#, "not a string"),
            (r#"{"allowed": true, "principal": null}"#, "not a string"),
            (
                "<!doctype html><title>Please log in</title>",
                "not a JSON object",
            ),
            ("", "not a JSON object"),
            ("[true]", "not a JSON object"),
            (
                r#"{"allowed": false, "allowed": true, "principal": "user-42"}"#,
                "twice",
            ),
            (
                r#"{"allowed": true, "principal": "user-42", "principal": "admin"}"#,
                "twice",
            ),
            (
                r#"{"allowed": true, "principal": "user-42", "meta": {"a": 1, "a": 2}}"#,
                "twice",
            ),
            ("true", "not a JSON object"),
        ] {
            let denied = allowed(body).expect_err(body);
            assert!(denied.0.contains(why), "{body}: {denied}");
            assert!(!denied.0.contains("user-42"), "the body is not echoed");
        }
    }

    #[test]
    fn principals_are_bounded() {
        assert!(Principal::new("a").is_ok());
        assert!(Principal::new("x".repeat(256)).is_ok());
        assert!(Principal::new("x".repeat(257)).is_err());
        assert!(Principal::new("a\nb").is_err());
    }

    #[test]
    fn only_chosen_headers_are_forwarded() {
        let mut caller = HeaderMap::new();
        caller.insert("cookie", "session=abc".parse().unwrap());
        caller.insert("authorization", "Bearer t".parse().unwrap());
        caller.insert("x-csrf-token", "c".parse().unwrap());
        caller.insert("x-other", "o".parse().unwrap());
        let id = AccountId::parse("acc").unwrap();
        let csrf = HeaderName::from_static("x-csrf-token");
        let request = AuthRequest::new(id.clone(), &caller, std::slice::from_ref(&csrf), None);
        assert_eq!(request.headers.len(), 3);
        assert_eq!(request.cookie(), Some("session=abc"));
        assert_eq!(request.authorization(), Some("Bearer t"));
        assert_eq!(request.headers["x-csrf-token"], "c");
        assert!(
            AuthRequest::new(id, &caller, &[], None)
                .headers
                .get("x-csrf-token")
                .is_none()
        );
        assert!(forwardable(&HeaderName::from_static("mono-sec-key")).is_err());
        assert!(forwardable(&HeaderName::from_static("host")).is_err());
        assert!(forwardable(&csrf).is_ok());
    }
}
