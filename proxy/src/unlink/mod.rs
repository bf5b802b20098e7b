//! The one path every unlink takes, from the asking to the record, whichever door it came
//! through: the widget's route, the service route for partners' backends, the command line,
//! or the library ([`crate::Unlinker`]).
//!
//! Read in this order:
//! 1. `route` (the widget's) and `service` (partners' backends): the checks that cost
//!    nothing, then a task of its own, because axum drops a handler's future when the
//!    client hangs up, and an unlink that reached Mono must still land in the record.
//! 2. `attempt`: the widget's limits and authoriser, within one deadline.
//! 3. `core`: what every door shares: the key's earlier use, the account's call, and a row
//!    for every answer.
//! 4. `single_flight`: the account's call already in flight in this process, or a new one.
//! 5. `call`: intent committed → Mono (the claim renewed meanwhile) → outcome committed.
//!
//! Nothing reaches Mono without a committed intent and an explicit yes: the authoriser's
//! (the widget), a service token's (a backend), or an operator's (the command line, the
//! library).

mod attempt;
mod call;
pub(crate) mod core;
mod route;
pub(crate) mod service;
mod single_flight;

use std::net::IpAddr;

use tokio::time::Instant;

pub(crate) use self::{
    attempt::limit,
    route::{handle, has_credentials},
    single_flight::InFlight,
};
use crate::{
    account::AccountId,
    error::ApiError,
    record::{Reason, Via},
};

/// What the caller is told: unlinked (`true` when it already was), or why not.
pub(crate) type Reply = Result<bool, ApiError>;

/// One unlink, as every door hands it to the core.
#[derive(Clone, Debug)]
pub(crate) struct Request {
    pub(crate) account_id: AccountId,
    pub(crate) key: String,
    pub(crate) client_ip: Option<IpAddr>,
    pub(crate) request_id: Option<String>,
    pub(crate) reason: Reason,
    pub(crate) via: Via,
    /// Free text for the record (which service token asked, say).
    pub(crate) detail: Option<String>,
    pub(crate) started: Instant,
    /// When it arrived, ms since the epoch: compared with the record's time of an unlink.
    pub(crate) arrived_ms: i64,
    pub(crate) deadline: Instant,
}

/// What Mono was asked on this unlink's behalf, when it was: for a caller that reports on
/// each account or paces many of them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MonoTrace {
    /// Mono's last HTTP status, if it answered.
    pub status: Option<u16>,
    /// Calls made to Mono (retries included).
    pub attempts: u32,
    /// How many of them Mono answered 429.
    pub rate_limited: u32,
}

/// How one unlink ended: the answer, and what Mono was asked for it (`None`: it answered
/// from another call, the record, or a refusal).
#[derive(Clone, Debug)]
pub(crate) struct Done {
    pub(crate) reply: Reply,
    pub(crate) mono: Option<MonoTrace>,
}

impl Done {
    fn answer(reply: Reply) -> Self {
        Self { reply, mono: None }
    }
}

/// `Idempotency-Key`: 1 to 255 visible ASCII characters.
pub(crate) fn valid_key(key: &[u8]) -> bool {
    (1..=255).contains(&key.len()) && key.iter().all(|b| (0x21..=0x7e).contains(b))
}
