//! `POST {prefix}/accounts/{id}/unlink`: the route the widget calls.
//!
//! The handler checks what costs nothing (the id, the origin, the key's shape) and hands the
//! rest to a task of its own, because axum drops a handler's future when the client hangs
//! up, and an unlink that reached Mono must still land in the record. The task, within one
//! deadline: per-address limit → authoriser → per-user limit → the key's earlier use →
//! the account's call already in flight, or a new one: intent committed → Mono → outcome
//! committed. Nothing reaches Mono without a committed intent and an explicit yes.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    body::Body,
    extract::{ConnectInfo, Path, State, rejection::PathRejection},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use futures::{
    FutureExt,
    future::{BoxFuture, Shared},
};
use serde_json::json;
use tokio::time::Instant;

use crate::{
    AppState,
    account::AccountId,
    authorize::{AuthRequest, Principal},
    client, csrf,
    error::{ApiError, envelope},
    mono::{MonoVerdict, Upstream},
    ratelimit::{Bucket, address_bucket, retry_after_seconds},
    record::{Entry, Kind, Outcome, Reason, Source, Via},
    store::{Begun, KeyUse, StoreError, patient_deadline},
    telemetry::{self, Refusal},
};

/// What the user is told: unlinked (`true` when it already was), or why not.
type Reply = Result<bool, ApiError>;

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

/// Largest body an unlink request may carry: it has none, but a careless client may send
/// `{}`; anything bigger is refused unread.
pub(crate) const UNLINK_BODY_LIMIT: usize = 16;

pub(crate) async fn handle(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let arrived_ms = crate::time::now_ms();
    let deadline = started + state.deadline;
    // The route is `/accounts/{*rest}` so that an empty or slash-laden id still reaches this
    // handler and gets a clear 400 rather than a vague 404.
    let raw_id = match &path {
        Ok(Path(rest)) => match rest.strip_suffix("/unlink") {
            Some(id) => Some(id),
            None => return answer(started, ApiError::NotFound.into_response()),
        },
        Err(_) => None, // not UTF-8 after percent-decoding: an invalid id
    };
    let Some(account_id) = raw_id.and_then(|id| AccountId::parse(id).ok()) else {
        state
            .refusals
            .note(Refusal::InvalidAccountId, "not an account id");
        return answer(started, ApiError::InvalidAccountId.into_response());
    };
    if csrf::check(&headers, &state.origins) != csrf::OriginCheck::Allowed {
        state
            .refusals
            .note(Refusal::CrossSite, "cross-site or unreadable Origin");
        return answer(started, ApiError::Forbidden.into_response());
    }
    let Some(key) = idempotency_key(&headers) else {
        state.refusals.note(
            Refusal::InvalidIdempotencyKey,
            "missing or malformed Idempotency-Key",
        );
        return answer(started, ApiError::InvalidIdempotencyKey.into_response());
    };

    if state.require_credentials && !has_credentials(&headers, &state.authorize_forward_headers) {
        // Nobody signed in: the authoriser could only say no, and the row would carry a key
        // the caller chose. Refused here, for nothing.
        state.refusals.note(
            Refusal::NoCredentials,
            "no cookie, Authorization or forwarded header",
        );
        return answer(started, ApiError::Unauthorized.into_response());
    }
    if !small_body(&headers, body).await {
        state
            .refusals
            .note(Refusal::BodyTooLarge, "an unlink request with a body");
        return answer(started, ApiError::PayloadTooLarge.into_response());
    }

    let client_ip = client::address(peer, &headers, state.trust_forwarded_for);
    let request = Request {
        auth: AuthRequest::new(
            account_id.clone(),
            &headers,
            &state.authorize_forward_headers,
            Some(client_ip),
        ),
        account_id,
        key,
        client_ip,
        request_id: crate::request_id(&headers).map(str::to_owned),
        started,
        arrived_ms,
        deadline,
    };
    // The task goes on if the client hangs up; the shutdown waits for it.
    let task = state.tasks.spawn({
        let state = state.clone();
        async move {
            telemetry::in_flight(1.0);
            let reply = attempt(state, request).await;
            telemetry::in_flight(-1.0);
            reply
        }
    });
    let reply = match tokio::time::timeout_at(deadline + Duration::from_millis(250), task).await {
        Ok(Ok(reply)) => reply,
        Ok(Err(error)) => {
            tracing::error!(%error, "the unlink task failed");
            Err(ApiError::AuditUnavailable)
        }
        Err(_) => {
            tracing::error!("the unlink task overran its deadline; answering without it");
            Err(ApiError::AuditUnavailable)
        }
    };
    let response = match reply {
        Ok(already) => {
            let message = if already {
                "Account was already unlinked."
            } else {
                "Account unlinked."
            };
            let data =
                json!({ "account_id": raw_id.unwrap_or_default(), "already_unlinked": already });
            (StatusCode::OK, envelope(true, message, data)).into_response()
        }
        Err(error) => error.into_response(),
    };
    answer(started, response)
}

/// Counts an answer of the unlink route by its stable code, with the time it took.
fn answer(started: Instant, response: Response) -> Response {
    let code = match response.status() {
        StatusCode::OK => "unlinked",
        _ => response
            .extensions()
            .get::<ApiError>()
            .map_or("error", ApiError::code),
    };
    telemetry::answered("unlink", code, started.elapsed());
    response
}

/// Everything after the free checks. Runs in its own task, within `request.deadline`.
async fn attempt(state: AppState, request: Request) -> Reply {
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
    let per_address = state.rate_limits.per_address;
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
        .rate(&bucket, state.rate_limits.per_principal, deadline)
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

/// Joins the call in flight for the account, or starts one. The call runs in its own task
/// and removes its entry only after its outcome is committed.
fn lead_or_join(
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
    intent.client_ip = Some(request.client_ip.to_string());
    intent.reason = Some(Reason::UserRequest);
    intent.via = Some(Via::Widget);
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

/// Intent → Mono → outcome, for one account.
async fn call_mono(
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
    let begun = state.store.begin(&intent, state.lease, intent_by).await;
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
    }
}

/// Runs `call` while renewing the claim on `intent_id` every third of the lease, so a call
/// that is alive is never taken for a dead replica's (a stall longer than two thirds of the
/// lease still is: that is what the lease is for).
async fn renewing<T>(state: &AppState, intent_id: i64, call: impl Future<Output = T>) -> T {
    let (store, lease) = (state.store.clone(), state.lease);
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
        match state.store.outcome_of(intent_id).await {
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
fn outcome_of(reply: &Reply) -> Outcome {
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

fn log_attempt(entry: &Entry) {
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

/// Whether the caller sent anything the authoriser could recognise a user by.
fn has_credentials(headers: &HeaderMap, forwarded: &[axum::http::HeaderName]) -> bool {
    [header::COOKIE, header::AUTHORIZATION]
        .iter()
        .chain(forwarded)
        .any(|name| headers.contains_key(name))
}

/// Whether the request's body is at most [`UNLINK_BODY_LIMIT`] bytes, read within a few
/// seconds (a declared length above it is refused unread).
async fn small_body(headers: &HeaderMap, body: Body) -> bool {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > UNLINK_BODY_LIMIT as u64) {
        return false;
    }
    let read = axum::body::to_bytes(body, UNLINK_BODY_LIMIT);
    matches!(
        tokio::time::timeout(Duration::from_secs(5), read).await,
        Ok(Ok(_))
    )
}

/// `Idempotency-Key`: required, 1 to 255 visible ASCII characters. Its presence is also what
/// makes a cross-site form post impossible (see `csrf`).
fn idempotency_key(headers: &HeaderMap) -> Option<String> {
    let key = headers.get("idempotency-key")?.as_bytes();
    let valid = (1..=255).contains(&key.len()) && key.iter().all(|b| (0x21..=0x7e).contains(b));
    valid.then(|| String::from_utf8_lossy(key).into_owned())
}
