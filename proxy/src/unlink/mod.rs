//! `POST {prefix}/accounts/{id}/unlink`: the route the widget calls, and the one path every
//! unlink takes, from the click to the record.
//!
//! Read in this order:
//! 1. `route`: the checks that cost nothing (the id, the origin, the key's shape, that
//!    anyone is signed in, no body), then a task of its own, because axum drops a handler's
//!    future when the client hangs up, and an unlink that reached Mono must still land in
//!    the record.
//! 2. `attempt`: within one deadline, the per-address limit → the authoriser → the per-user
//!    limit → the key's earlier use; every answer written down.
//! 3. `single_flight`: the account's call already in flight in this process, or a new one.
//! 4. `call`: intent committed → Mono (the claim renewed meanwhile) → outcome committed.
//!
//! Nothing reaches Mono without a committed intent and an explicit yes.

mod attempt;
mod call;
mod route;
mod single_flight;

use std::net::IpAddr;

use tokio::time::Instant;

pub(crate) use self::{attempt::limit, route::handle, single_flight::InFlight};
use crate::{account::AccountId, authorize::AuthRequest, error::ApiError};

/// What the user is told: unlinked (`true` when it already was), or why not.
type Reply = Result<bool, ApiError>;

/// Everything the task needs from the request.
struct Request {
    account_id: AccountId,
    key: String,
    auth: AuthRequest,
    client_ip: IpAddr,
    request_id: Option<String>,
    started: Instant,
    /// When it arrived, ms since the epoch: compared with the record's time of an unlink.
    arrived_ms: i64,
    deadline: Instant,
}
