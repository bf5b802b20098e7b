//! One unlink request after the free checks, within its deadline: the limits and the
//! authoriser, the key's earlier use, then the account's call (see `single_flight`); every
//! answer it gives is written down first.

use tokio::time::Instant;

use super::{
    Reply, Request,
    single_flight::{Led, lead_or_join},
};
use crate::{
    error::ApiError,
    proxy::AppState,
    ratelimit::{Bucket, address_bucket, retry_after_seconds},
    record::{Entry, Kind, Outcome, Reason, Source, Via},
    store::{KeyUse, StoreError},
    telemetry::{self, Refusal},
};

/// Everything after the free checks. Runs in its own task, within `request.deadline`.
pub(super) async fn attempt(state: AppState, request: Request) -> Reply {
    let store = &state.store;
    let deadline = request.deadline;
    let mut entry = Entry::new(Kind::Unlink, None);
    entry.request_id = request.request_id.clone();
    entry.account_id = Some(request.account_id.to_string());
    entry.idempotency_key = Some(request.key.clone());
    entry.client_ip = Some(request.client_ip.to_string());
    entry.reason = Some(Reason::UserRequest);
    entry.via = Some(Via::Widget);

    // Refused before authorisation: not a row (anyone can send these), only the answer.
    let bucket = Bucket::Address(address_bucket(request.client_ip));
    let per_address = state.settings.rate_limits.per_address;
    limit(
        &state,
        bucket,
        per_address,
        deadline,
        "over the per-address limit",
    )
    .await?;

    let authorised = tokio::time::timeout_at(deadline, state.authoriser.authorise(&request.auth))
        .await
        .unwrap_or_else(|_| {
            Err(crate::authorize::Denied(
                "the authoriser ran out of time".into(),
            ))
        });
    let principal = match authorised {
        Ok(principal) => principal,
        Err(denied) => {
            tracing::warn!(account_id = %request.account_id, reason = %denied, "unlink not authorised");
            return conclude(&state, entry, &request, Err(ApiError::Forbidden)).await;
        }
    };
    entry.principal = Some(principal.to_string());

    let bucket = Bucket::Principal(principal.to_string()).key();
    match store
        .rate(&bucket, state.settings.rate_limits.per_principal, deadline)
        .await
    {
        Ok(Ok(())) => {}
        Ok(Err(wait)) => {
            let limited = ApiError::RateLimited {
                retry_after: retry_after_seconds(wait),
            };
            return conclude(&state, entry, &request, Err(limited)).await;
        }
        Err(error) => return Err(unavailable(&error)),
    }

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
            return conclude(&state, entry, &request, Err(ApiError::IdempotencyKeyReused)).await;
        }
        Ok(KeyUse::Same(Some(outcome))) => {
            return answer_from(&state, entry, &request, outcome, Source::Replay).await;
        }
        Ok(KeyUse::Same(None) | KeyUse::Fresh) => {}
        Err(error) => return Err(unavailable(&error)),
    }

    // Lead this account's call, or join the one under way; once more if the leader's key
    // turned out to be someone else's.
    for _ in 0..2 {
        let (call, leading) = lead_or_join(&state, &request, &principal);
        let led = call.await;
        match led {
            Led::Called {
                reply,
                intent_id,
                recorded,
            } if leading => {
                // The leader's outcome row was written by `finish`.
                if !recorded {
                    tracing::error!(intent_id, "the outcome is not written yet; answering 503");
                    return Err(ApiError::AuditUnavailable);
                }
                return reply;
            }
            Led::Called { reply, .. } => {
                return answer_with(&state, entry, &request, Source::Shared, reply).await;
            }
            Led::Replayed(outcome) => {
                let source = if leading {
                    Source::Replay
                } else {
                    Source::Shared
                };
                return answer_from(&state, entry, &request, outcome, source).await;
            }
            Led::Waited(Some(outcome)) => {
                return answer_from(&state, entry, &request, outcome, Source::Shared).await;
            }
            Led::OnRecord { at_ms } => {
                // Arrived before the unlink was recorded: this confirmation was part of it.
                let (reply, source) = if request.arrived_ms < at_ms {
                    (Ok(false), Source::Shared)
                } else {
                    (Ok(true), Source::Record)
                };
                return answer_with(&state, entry, &request, source, reply).await;
            }
            Led::Waited(None) => {
                let slow = ApiError::UpstreamUnavailable {
                    timeout: true,
                    retry_after: None,
                };
                return conclude(&state, entry, &request, Err(slow)).await;
            }
            Led::KeyReused if leading => {
                return conclude(&state, entry, &request, Err(ApiError::IdempotencyKeyReused))
                    .await;
            }
            Led::KeyReused => continue,
            Led::Unrecorded => return Err(ApiError::AuditUnavailable),
        }
    }
    Err(ApiError::AuditUnavailable)
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
async fn conclude(state: &AppState, mut entry: Entry, request: &Request, reply: Reply) -> Reply {
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
pub(super) fn outcome_of(reply: &Reply) -> Outcome {
    match reply {
        Ok(false) => Outcome::Unlinked,
        Ok(true) => Outcome::AlreadyUnlinked,
        Err(error) => error.outcome().unwrap_or(Outcome::AuditUnavailable),
    }
}

/// Spends one request of `bucket`'s allowance (`per_minute`) before anything else is done
/// for it: a 429 (counted, and sampled in the log as `what`) once it is spent, a 503 when
/// the record cannot say. For the limits checked before anyone is authorised.
pub(crate) async fn limit(
    state: &AppState,
    bucket: Bucket,
    per_minute: std::num::NonZeroU32,
    deadline: Instant,
    what: &'static str,
) -> Result<(), ApiError> {
    match state.store.rate(&bucket.key(), per_minute, deadline).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(wait)) => {
            state.refusals.note(Refusal::AddressLimit, what);
            Err(ApiError::RateLimited {
                retry_after: retry_after_seconds(wait),
            })
        }
        Err(error) => Err(unavailable(&error)),
    }
}

fn unavailable(error: &StoreError) -> ApiError {
    tracing::error!(%error, "the record is unavailable; answering 503");
    telemetry::record_failed();
    ApiError::AuditUnavailable
}

pub(super) fn log_attempt(entry: &Entry) {
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
