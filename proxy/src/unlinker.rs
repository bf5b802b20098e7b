//! Unlinking from a partner's own Rust backend (an account closed, an erasure request, an
//! offboarding), with the same guarantees as the widget's route: the same record (an intent
//! committed before Mono is called, the outcome after), the same single flight (one Mono
//! call per account, across replicas too), the same reading of Mono's answers, the same
//! idempotency keys. Only the "yes" differs: the caller is the authority here, and names who
//! asked and why.
//!
//! ```no_run
//! # async fn run(proxy: unlink_proxy::Proxy) -> Result<(), Box<dyn std::error::Error>> {
//! use unlink_proxy::{Principal, account::AccountId, record::Reason};
//!
//! let unlinker = proxy.unlinker();
//! let account = AccountId::parse("60770aa8c5878a2af69ed849")?;
//! let principal = Principal::new("support:ada")?;
//! // One key per unlink you mean: the same key again replays the answer, never a second call.
//! match unlinker.unlink(&account, &principal, Reason::ErasureRequest, "erasure-4711").await {
//!     Ok(done) if done.already_unlinked => println!("it was already unlinked"),
//!     Ok(_) => println!("unlinked"),
//!     Err(failed) => println!("not unlinked: {}", failed.error.code()),
//! }
//! # Ok(()) }
//! ```
//!
//! The work runs in a task of the proxy's own: dropping the future (a request handler whose
//! client hung up) does not stop an unlink that may have reached Mono, and
//! [`Proxy::drain`](crate::Proxy::drain) waits for it.

use std::{net::IpAddr, time::Duration};

use tokio::time::Instant;

use crate::{
    Proxy,
    account::AccountId,
    authorize::Principal,
    error::ApiError,
    proxy::AppState,
    record::{Reason, Via},
    store::{AccountRecord, StoreError},
    unlink::{self, MonoTrace},
};

/// Unlinks accounts on a partner's say-so. Get one with [`Proxy::unlinker`]; cheap to clone.
#[derive(Clone)]
pub struct Unlinker {
    state: AppState,
}

/// One unlink, with everything the record notes about it.
#[derive(Clone, Debug)]
pub struct UnlinkRequest {
    /// The account to unlink.
    pub account_id: AccountId,
    /// Who asked (a user, an operator, a job): recorded, and the key is bound to it.
    pub principal: Principal,
    /// Why.
    pub reason: Reason,
    /// 1 to 255 visible ASCII characters, one per unlink you mean: used again (by the same
    /// principal, for the same account, within 24 h), it replays the final answer.
    pub idempotency_key: String,
    /// Through which door: [`Via::Library`] unless you say otherwise.
    pub via: Via,
    /// Your own id for it, kept in the record and the log (a UUID is made otherwise).
    pub request_id: Option<String>,
    /// The address it came from, if there is one.
    pub client_ip: Option<IpAddr>,
    /// A note for the record (a ticket number, say).
    pub detail: Option<String>,
}

impl UnlinkRequest {
    /// A request through the library, with no request id, address or note.
    pub fn new(
        account_id: AccountId,
        principal: Principal,
        reason: Reason,
        idempotency_key: impl Into<String>,
    ) -> Self {
        Self {
            account_id,
            principal,
            reason,
            idempotency_key: idempotency_key.into(),
            via: Via::Library,
            request_id: None,
            client_ip: None,
            detail: None,
        }
    }
}

/// The account is unlinked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unlinked {
    /// It already was: Mono no longer knew it, or the record shows it gone before.
    pub already_unlinked: bool,
    /// This unlink's id in the record and the log.
    pub request_id: String,
    /// What Mono was asked for it; `None` when another call or the record answered.
    pub mono: Option<MonoTrace>,
}

/// It is not unlinked (or it is not known whether it is).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotUnlinked {
    /// Why, with its stable code ([`ApiError::code`]).
    pub error: ApiError,
    /// This unlink's id in the record and the log.
    pub request_id: String,
    /// What Mono was asked for it, if anything.
    pub mono: Option<MonoTrace>,
}

impl std::fmt::Display for NotUnlinked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.error.code(), self.error.message())
    }
}

impl std::error::Error for NotUnlinked {}

impl Proxy {
    /// Unlinks on a partner's say-so, through this proxy's record, calls in flight and Mono
    /// client.
    pub fn unlinker(&self) -> Unlinker {
        Unlinker {
            state: self.state.clone(),
        }
    }
}

impl Unlinker {
    /// Unlinks `account` because `principal` asked, for `reason`, under `idempotency_key`.
    pub async fn unlink(
        &self,
        account: &AccountId,
        principal: &Principal,
        reason: Reason,
        idempotency_key: &str,
    ) -> Result<Unlinked, NotUnlinked> {
        let request =
            UnlinkRequest::new(account.clone(), principal.clone(), reason, idempotency_key);
        self.unlink_request(request).await
    }

    /// The same, with everything an [`UnlinkRequest`] can say. Answered within the proxy's
    /// deadline.
    pub async fn unlink_request(&self, asked: UnlinkRequest) -> Result<Unlinked, NotUnlinked> {
        let request_id = asked
            .request_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let failed = |error| NotUnlinked {
            error,
            request_id: request_id.clone(),
            mono: None,
        };
        if !unlink::valid_key(asked.idempotency_key.as_bytes()) {
            return Err(failed(ApiError::InvalidIdempotencyKey));
        }
        let started = Instant::now();
        let request = unlink::Request {
            account_id: asked.account_id,
            key: asked.idempotency_key,
            client_ip: asked.client_ip,
            request_id: Some(request_id.clone()),
            reason: asked.reason,
            via: asked.via,
            detail: asked.detail,
            started,
            arrived_ms: crate::time::now_ms(),
            deadline: started + self.state.settings.deadline,
        };
        let state = self.state.clone();
        let principal = asked.principal;
        let task = self
            .state
            .tasks
            .spawn(async move { unlink::core::unlink(&state, &request, &principal).await });
        let done = match tokio::time::timeout_at(
            request_deadline(started, &self.state) + Duration::from_millis(250),
            task,
        )
        .await
        {
            Ok(Ok(done)) => done,
            Ok(Err(_)) | Err(_) => return Err(failed(ApiError::AuditUnavailable)),
        };
        match done.reply {
            Ok(already_unlinked) => Ok(Unlinked {
                already_unlinked,
                request_id,
                mono: done.mono,
            }),
            Err(error) => Err(NotUnlinked {
                error,
                request_id,
                mono: done.mono,
            }),
        }
    }

    /// What the record says about an account (to plan a run, or to skip what is done).
    pub async fn account(&self, account: &AccountId) -> Result<AccountRecord, StoreError> {
        let deadline = Instant::now() + self.state.settings.deadline;
        self.state.store.account(account.as_str(), deadline).await
    }

    /// The deadline every unlink is answered within.
    pub fn deadline(&self) -> Duration {
        self.state.settings.deadline
    }
}

fn request_deadline(started: Instant, state: &AppState) -> Instant {
    started + state.settings.deadline
}
