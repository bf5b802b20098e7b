//! What every door shares once it knows who is asking: the key's earlier use, the account's
//! call (joined, waited for, or answered from the record), and a row for every answer, so
//! the record is the same whether a user clicked, a backend asked or an operator ran a file.

use super::{
    Done, MonoTrace, Reply, Request,
    single_flight::{Led, lead_or_join},
};
use crate::{
    authorize::Principal,
    error::ApiError,
    proxy::AppState,
    record::{Entry, Kind, Outcome, Source},
    store::{KeyUse, StoreError},
    telemetry,
};

/// The row every answer to `request` is written as, before its outcome is known.
pub(crate) fn entry_for(request: &Request, principal: Option<&Principal>) -> Entry {
    let mut entry = Entry::new(Kind::Unlink, None);
    entry.request_id = request.request_id.clone();
    entry.principal = principal.map(ToString::to_string);
    entry.account_id = Some(request.account_id.to_string());
    entry.idempotency_key = Some(request.key.clone());
    entry.client_ip = request.client_ip.map(|ip| ip.to_string());
    entry.reason = Some(request.reason);
    entry.via = Some(request.via);
    entry.detail = request.detail.clone();
    entry
}

/// The unlink of `request.account_id` for `principal`, who is allowed to ask: the key's
/// earlier use, then the account's call. Within `request.deadline`.
pub(crate) async fn unlink(state: &AppState, request: &Request, principal: &Principal) -> Done {
    let store = &state.store;
    let deadline = request.deadline;
    let entry = entry_for(request, Some(principal));
    match store
        .key_use(
            &request.key,
            principal.as_str(),
            request.account_id.as_str(),
            deadline,
        )
        .await
    {
        Ok(KeyUse::Other) => {
            let reused = Err(ApiError::IdempotencyKeyReused);
            return Done::answer(conclude(state, entry, request, reused).await);
        }
        Ok(KeyUse::Same(Some(outcome))) => {
            let replay = answer_from(state, entry, request, outcome, Source::Replay).await;
            return Done::answer(replay);
        }
        Ok(KeyUse::Same(None) | KeyUse::Fresh) => {}
        Err(error) => return Done::answer(Err(unavailable(&error))),
    }

    // Lead this account's call, or join the one under way; once more if the leader's key
    // turned out to be someone else's.
    for _ in 0..2 {
        let (call, leading) = lead_or_join(state, request, principal);
        let led = call.await;
        let reply = match led {
            Led::Called {
                reply,
                intent_id,
                recorded,
                upstream,
            } if leading => {
                // The leader's outcome row was written by `finish`.
                let reply = if recorded {
                    reply
                } else {
                    tracing::error!(intent_id, "the outcome is not written yet; answering 503");
                    Err(ApiError::AuditUnavailable)
                };
                let mono = MonoTrace {
                    status: upstream.status,
                    attempts: upstream.attempts,
                    rate_limited: upstream.rate_limited,
                };
                return Done {
                    reply,
                    mono: Some(mono),
                };
            }
            Led::Called { reply, .. } => {
                answer_with(state, entry, request, Source::Shared, reply).await
            }
            Led::Replayed(outcome) => {
                let source = if leading {
                    Source::Replay
                } else {
                    Source::Shared
                };
                answer_from(state, entry, request, outcome, source).await
            }
            Led::Waited(Some(outcome)) => {
                answer_from(state, entry, request, outcome, Source::Shared).await
            }
            Led::OnRecord { at_ms } => {
                // Arrived before the unlink was recorded: this confirmation was part of it.
                let (reply, source) = if request.arrived_ms < at_ms {
                    (Ok(false), Source::Shared)
                } else {
                    (Ok(true), Source::Record)
                };
                answer_with(state, entry, request, source, reply).await
            }
            Led::Waited(None) => {
                let slow = ApiError::UpstreamUnavailable {
                    timeout: true,
                    retry_after: None,
                };
                conclude(state, entry, request, Err(slow)).await
            }
            Led::KeyReused if leading => {
                conclude(state, entry, request, Err(ApiError::IdempotencyKeyReused)).await
            }
            Led::KeyReused => continue,
            Led::Unrecorded => Err(ApiError::AuditUnavailable),
        };
        return Done::answer(reply);
    }
    Done::answer(Err(ApiError::AuditUnavailable))
}

/// Answers with an outcome another request recorded (shared or replayed).
async fn answer_from(
    state: &AppState,
    entry: Entry,
    request: &Request,
    outcome: Outcome,
    source: Source,
) -> Reply {
    let reply = match outcome {
        Outcome::Unlinked => Ok(false),
        Outcome::AlreadyUnlinked => Ok(true),
        other => Err(ApiError::for_outcome(other).unwrap_or(ApiError::AuditUnavailable)),
    };
    answer_with(state, entry, request, source, reply).await
}

/// Writes this request's row for an answer it did not get from Mono itself (binding its key
/// on the way), then answers.
async fn answer_with(
    state: &AppState,
    mut entry: Entry,
    request: &Request,
    source: Source,
    reply: Reply,
) -> Reply {
    entry.outcome = Some(outcome_of(&reply));
    entry.source = Some(source);
    entry.latency_ms = Some(crate::time::millis(request.started.elapsed()));
    log_attempt(&entry);
    match state.store.record_answer(&entry, request.deadline).await {
        Ok(true) => reply,
        Ok(false) => Err(ApiError::IdempotencyKeyReused),
        Err(error) => Err(unavailable(&error)),
    }
}

/// Writes a refusal decided after authorisation, then answers with it.
pub(crate) async fn conclude(
    state: &AppState,
    mut entry: Entry,
    request: &Request,
    reply: Reply,
) -> Reply {
    entry.outcome = Some(outcome_of(&reply));
    entry.source = Some(Source::Proxy);
    entry.latency_ms = Some(crate::time::millis(request.started.elapsed()));
    log_attempt(&entry);
    match state.store.record(&entry, request.deadline).await {
        Ok(_) => reply,
        Err(error) => Err(unavailable(&error)),
    }
}

/// The outcome a reply is recorded as.
pub(crate) fn outcome_of(reply: &Reply) -> Outcome {
    match reply {
        Ok(false) => Outcome::Unlinked,
        Ok(true) => Outcome::AlreadyUnlinked,
        Err(error) => error.outcome().unwrap_or(Outcome::AuditUnavailable),
    }
}

pub(crate) fn unavailable(error: &StoreError) -> ApiError {
    tracing::error!(%error, "the record is unavailable; answering 503");
    telemetry::record_failed();
    ApiError::AuditUnavailable
}

pub(crate) fn log_attempt(entry: &Entry) {
    tracing::info!(
        account_id = entry.account_id.as_deref().unwrap_or("-"),
        principal = entry.principal.as_deref().unwrap_or("-"),
        outcome = %entry.outcome.map_or("-", Outcome::as_str),
        source = %entry.source.map_or("-", Source::as_str),
        upstream_status = entry.upstream_status,
        attempts = entry.attempts,
        "unlink attempt"
    );
}
