//! One call per account at a time in this process: concurrent unlinks of one account join
//! the call under way and share its answer; its entry stays until the outcome is committed,
//! so a request arriving after sees the record rather than starting another call. Across
//! processes, the record's claims do the same (see `call`).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use futures::{
    FutureExt,
    future::{BoxFuture, Shared},
};

use super::{Reply, Request, call::call_mono};
use crate::{
    account::AccountId,
    authorize::Principal,
    mono::Upstream,
    proxy::AppState,
    record::{Entry, Kind, Outcome},
};

/// Calls in flight in this process, by account: concurrent unlinks of one account share one
/// call, and its entry stays until the outcome is committed, so a request arriving after
/// sees the stored outcome rather than starting another call.
pub(crate) type InFlight = Arc<Mutex<HashMap<AccountId, Shared<BoxFuture<'static, Led>>>>>;

/// What the request leading an account's call found, shared with the requests that joined.
#[derive(Clone, Debug)]
pub(crate) enum Led {
    /// Mono was called under intent `intent_id`; `recorded` is false if its outcome could not
    /// be written in time (it is written later).
    Called {
        reply: Reply,
        intent_id: i64,
        recorded: bool,
        upstream: Upstream,
    },
    /// The leader's key had a final outcome by the time it began.
    Replayed(Outcome),
    /// The leader's key belongs to someone else: the others must go their own way.
    KeyReused,
    /// Another process called Mono; this is what it recorded (`None`: not in time).
    Waited(Option<Outcome>),
    /// The account is unlinked on record since `at_ms`: nobody called Mono. A request that
    /// arrived before then shares that unlink; a later one finds it already done.
    OnRecord {
        /// When the first success was recorded, ms since the epoch.
        at_ms: i64,
    },
    /// The intent could not be written: Mono was not called.
    Unrecorded,
}

/// Joins the call in flight for the account, or starts one. The call runs in its own task
/// and removes its entry only after its outcome is committed.
pub(super) fn lead_or_join(
    state: &AppState,
    request: &Request,
    principal: &Principal,
) -> (Shared<BoxFuture<'static, Led>>, bool) {
    let mut in_flight = state.in_flight.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(call) = in_flight.get(&request.account_id) {
        return (call.clone(), false);
    }
    let mut intent = Entry::new(Kind::Intent, None);
    intent.request_id = request.request_id.clone();
    intent.principal = Some(principal.to_string());
    intent.account_id = Some(request.account_id.to_string());
    intent.idempotency_key = Some(request.key.clone());
    intent.client_ip = request.client_ip.map(|ip| ip.to_string());
    intent.reason = Some(request.reason);
    intent.via = Some(request.via);
    intent.detail = request.detail.clone();
    let task = {
        let (state, id) = (state.clone(), request.account_id.clone());
        let (started, deadline) = (request.started, request.deadline);
        state.clone().tasks.spawn(async move {
            let led = call_mono(&state, &id, intent, started, deadline).await;
            state
                .in_flight
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id);
            led
        })
    };
    let call = async move { task.await.unwrap_or(Led::Unrecorded) }
        .boxed()
        .shared();
    in_flight.insert(request.account_id.clone(), call.clone());
    (call, true)
}
