//! The call itself, for the request leading an account's unlink: the intent committed
//! first (or, when the account is held elsewhere or unlinked on record, no call at all),
//! then Mono, with the claim renewed while it answers, then the outcome committed. An outcome
//! the deadline left no time for is still written, in the background, never dropped.

use std::time::Duration;

use tokio::time::Instant;

use super::{
    Reply,
    core::{log_attempt, outcome_of},
    single_flight::Led,
};
use crate::{
    account::AccountId,
    error::ApiError,
    mono::{MonoVerdict, Upstream},
    proxy::AppState,
    record::{Entry, Kind, Outcome, Source},
    store::{Begun, patient_deadline},
};

/// Intent → Mono → outcome, for one account.
pub(super) async fn call_mono(
    state: &AppState,
    id: &AccountId,
    intent: Entry,
    started: Instant,
    deadline: Instant,
) -> Led {
    let budget = deadline.saturating_duration_since(started);
    // The intent must be on disk with time to spare for Mono, and Mono must answer with
    // time to spare for writing its outcome.
    let intent_by = deadline - budget / 4;
    let mono_by = deadline - budget / 12;
    let begun = state
        .store
        .begin(&intent, state.settings.lease, intent_by)
        .await;
    let intent_id = match begun {
        Ok(Begun::Claimed { intent_id }) if Instant::now() >= intent_by => {
            // The commit outlived its time: no room left for Mono. Release the claim with an
            // honest outcome rather than leave it held by a call that will never happen.
            tracing::error!(intent_id, account_id = %id, "the intent committed after its \
                deadline; Mono not called");
            let released = crate::store::unsent(&intent, intent_id);
            if let Err(error) = state.store.finish(&released, patient_deadline()).await {
                tracing::error!(%error, intent_id, "could not release the late intent");
                finish_later(state, released);
            }
            return Led::Unrecorded;
        }
        Ok(Begun::Claimed { intent_id }) => intent_id,
        Ok(Begun::Unlinked { at_ms }) => return Led::OnRecord { at_ms },
        Ok(Begun::Replay(outcome)) => return Led::Replayed(outcome),
        Ok(Begun::KeyReused) => return Led::KeyReused,
        Ok(Begun::HeldElsewhere { intent_id }) => {
            return Led::Waited(wait_for(state, intent_id, deadline).await);
        }
        Err(error) => {
            tracing::error!(%error, account_id = %id, "could not write the intent; Mono not called");
            return Led::Unrecorded;
        }
    };

    let upstream = renewing(state, intent_id, state.mono.unlink(id, mono_by)).await;
    let reply = reply_for(&upstream);
    let mut outcome = Entry::new(Kind::Unlink, Some(outcome_of(&reply)));
    outcome.reason = intent.reason;
    outcome.via = intent.via;
    outcome.request_id = intent.request_id.clone();
    outcome.principal = intent.principal.clone();
    outcome.account_id = intent.account_id.clone();
    outcome.idempotency_key = intent.idempotency_key.clone();
    outcome.client_ip = intent.client_ip.clone();
    outcome.source = Some(Source::Upstream);
    outcome.upstream_status = upstream.status;
    outcome.attempts = upstream.attempts;
    outcome.latency_ms = Some(crate::time::millis(started.elapsed()));
    outcome.intent_id = Some(intent_id);
    if upstream.verdict == MonoVerdict::Ambiguous {
        // Something answered "OK" in Mono's place: the account may or may not be gone. The
        // webhook or a later call settles it; the user is told it did not work.
        outcome.outcome = Some(Outcome::OutcomeUnknown);
        outcome.detail = Some(format!(
            "Mono's URL answered {} without Mono's JSON; whether the account is unlinked is \
             unknown",
            upstream.status.unwrap_or_default()
        ));
    }
    log_attempt(&outcome);

    let recorded = match state.store.finish(&outcome, deadline).await {
        Ok(()) => true,
        Err(error) => {
            tracing::error!(%error, intent_id, "could not write the outcome; retrying in the background");
            finish_later(state, outcome);
            false
        }
    };
    Led::Called {
        reply,
        intent_id,
        recorded,
        upstream,
    }
}

/// Runs `call` while renewing the claim on `intent_id` every third of the lease, so a call
/// that is alive is never taken for a dead replica's (a stall longer than two thirds of the
/// lease still is: that is what the lease is for).
async fn renewing<T>(state: &AppState, intent_id: i64, call: impl Future<Output = T>) -> T {
    let (store, lease) = (state.store.clone(), state.settings.lease);
    let renewal = tokio::spawn(async move {
        let every = lease / 3;
        loop {
            tokio::time::sleep(every).await;
            match store.renew(intent_id, lease, Instant::now() + every).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::error!(
                        intent_id,
                        "this call's claim was taken over; its outcome \
                        will be recorded as late"
                    );
                    return;
                }
                Err(error) => tracing::warn!(%error, intent_id, "could not renew the claim"),
            }
        }
    });
    let done = call.await;
    renewal.abort();
    done
}

/// Keeps trying to write an outcome the deadline did not leave time for. It is the record
/// of something Mono did, so it is never dropped; if the process dies first, start-up marks
/// the intent `outcome_unknown`.
fn finish_later(state: &AppState, outcome: Entry) {
    let store = state.store.clone();
    state.tasks.spawn(async move {
        let mut wait = Duration::from_millis(200);
        loop {
            tokio::time::sleep(wait).await;
            match store.finish(&outcome, patient_deadline()).await {
                Ok(()) => {
                    tracing::info!(intent_id = outcome.intent_id, "the delayed outcome is written");
                    return;
                }
                Err(error) => tracing::error!(%error, intent_id = outcome.intent_id, "still cannot write the outcome"),
            }
            wait = (wait * 2).min(Duration::from_secs(5));
        }
    });
}

/// Waits for another process's call to be recorded, checking every 50 ms until `deadline`.
async fn wait_for(state: &AppState, intent_id: i64, deadline: Instant) -> Option<Outcome> {
    loop {
        // Each look may take until the deadline, and at least a moment.
        let by = deadline.max(Instant::now() + Duration::from_millis(100));
        match state.store.outcome_of(intent_id, by).await {
            Ok(Some(outcome)) => return Some(outcome),
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(%error, intent_id, "could not read another call's outcome")
            }
        }
        if Instant::now() + Duration::from_millis(50) >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What the user is told for what Mono said.
fn reply_for(upstream: &Upstream) -> Reply {
    match upstream.verdict {
        MonoVerdict::Unlinked => Ok(false),
        // Mono's own "no such account" for an account the authoriser vouched this user
        // linked: it is already gone, and the user's goal is met.
        MonoVerdict::NotFound => Ok(true),
        MonoVerdict::Unexpected | MonoVerdict::Ambiguous => Err(ApiError::UpstreamUnexpected),
        MonoVerdict::KeyRejected => Err(ApiError::UpstreamRejectedKey),
        MonoVerdict::Rejected => Err(ApiError::UnlinkRejected),
        MonoVerdict::Unavailable { retry_after } => Err(ApiError::UpstreamUnavailable {
            timeout: false,
            retry_after,
        }),
        MonoVerdict::TimedOut => Err(ApiError::UpstreamUnavailable {
            timeout: true,
            retry_after: None,
        }),
    }
}
