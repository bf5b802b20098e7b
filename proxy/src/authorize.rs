//! Who may unlink which account. The proxy asks before every unlink; without an answer of
//! "yes", nothing is sent to Mono.

use std::{collections::HashSet, fmt, net::IpAddr, sync::Arc, time::Duration};

use axum::http::{HeaderMap, HeaderValue, header};
use futures::future::BoxFuture;
use serde::Deserialize;
use url::Url;

use crate::account::AccountId;

/// What an authoriser gets to decide with.
#[derive(Clone, Debug)]
pub struct AuthRequest {
    pub account_id: AccountId,
    /// The caller's `Cookie` header, as sent by the browser.
    pub cookie: Option<HeaderValue>,
    /// The caller's `Authorization` header.
    pub authorization: Option<HeaderValue>,
    pub client_ip: Option<IpAddr>,
}

impl AuthRequest {
    pub fn new(account_id: AccountId, headers: &HeaderMap, client_ip: Option<IpAddr>) -> Self {
        Self {
            account_id,
            cookie: headers.get(header::COOKIE).cloned(),
            authorization: headers.get(header::AUTHORIZATION).cloned(),
            client_ip,
        }
    }
}

/// "Yes", and who is asking (recorded in the audit trail and used for rate limits).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Principal(pub Option<String>);

/// "No", with the reason for the log. The caller only ever sees `403 forbidden`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denied(pub String);

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Decides whether the signed-in user may unlink an account. Implement it in your own app
/// (check your session against the accounts you stored for that user), or use
/// [`authoriser_fn`].
pub trait Authoriser: Send + Sync + 'static {
    fn authorise<'a>(
        &'a self,
        request: &'a AuthRequest,
    ) -> BoxFuture<'a, Result<Principal, Denied>>;
}

/// An [`Authoriser`] from an async closure.
///
/// ```
/// use unlink_proxy::authorize::{authoriser_fn, Denied, Principal};
/// let authoriser = authoriser_fn(|request| {
///     let owned = request.account_id.as_str() == "60770aa8c5878a2af69ed849";
///     async move {
///         if owned { Ok(Principal(Some("user-1".into()))) } else { Err(Denied("not theirs".into())) }
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

/// Asks the partner's own backend: `POST {url}` with the caller's `Cookie` and
/// `Authorization` headers and `{"account_id": "…"}`. A 2xx allows (its JSON may name the
/// `principal`); anything else, or no answer within the timeout, denies.
#[derive(Debug)]
pub struct HttpAuthoriser {
    url: Url,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct Allowed {
    principal: Option<String>,
}

impl HttpAuthoriser {
    pub fn new(url: Url, timeout: Duration) -> Result<Self, reqwest::Error> {
        let http = crate::mono::http_client(timeout, timeout)?;
        Ok(Self { url, http })
    }

    async fn ask(&self, request: &AuthRequest) -> Result<Principal, Denied> {
        let mut call = self
            .http
            .post(self.url.clone())
            .json(&serde_json::json!({ "account_id": request.account_id.as_str() }));
        if let Some(cookie) = &request.cookie {
            call = call.header(header::COOKIE, cookie.clone());
        }
        if let Some(authorization) = &request.authorization {
            call = call.header(header::AUTHORIZATION, authorization.clone());
        }
        let response = call.send().await.map_err(|error| {
            Denied(if error.is_timeout() {
                "the authoriser did not answer in time".into()
            } else {
                "the authoriser could not be reached".into()
            })
        })?;
        let status = response.status();
        if !status.is_success() {
            return Err(Denied(format!("the authoriser answered {status}")));
        }
        let principal = response
            .json::<Allowed>()
            .await
            .ok()
            .and_then(|allowed| allowed.principal)
            .filter(|p| !p.is_empty());
        Ok(Principal(principal))
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
    pub principal: String,
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
                Ok(Principal(Some(principal)))
            } else {
                Err(Denied(format!("{principal} does not own this account")))
            }
        })
    }
}
