//! The widget's unlink after the free checks, within its deadline: the per-address limit,
//! the authoriser (only an explicit yes, with a principal), the per-user limit; then the
//! core every door shares.

use tokio::time::Instant;

use super::{
    Done, Request,
    core::{conclude, entry_for, unavailable},
};
use crate::{
    authorize::AuthRequest,
    error::ApiError,
    proxy::AppState,
    ratelimit::{Bucket, address_bucket, retry_after_seconds},
    telemetry::Refusal,
};

/// Everything after the free checks. Runs in its own task, within `request.deadline`.
pub(super) async fn attempt(state: AppState, request: Request, auth: AuthRequest) -> Done {
    let store = &state.store;
    let deadline = request.deadline;
    let entry = entry_for(&request, None);

    // Refused before authorisation: not a row (anyone can send these), only the answer.
    if let Some(ip) = request.client_ip {
        let bucket = Bucket::Address(address_bucket(ip));
        let per_address = state.settings.rate_limits.per_address;
        let limited = limit(
            &state,
            bucket,
            per_address,
            deadline,
            "over the per-address limit",
        );
        if let Err(error) = limited.await {
            return Done::answer(Err(error));
        }
    }

    let authorised = tokio::time::timeout_at(deadline, state.authoriser.authorise(&auth))
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
            let refused = conclude(&state, entry, &request, Err(ApiError::Forbidden)).await;
            return Done::answer(refused);
        }
    };

    let bucket = Bucket::Principal(principal.to_string()).key();
    match store
        .rate(&bucket, state.settings.rate_limits.per_principal, deadline)
        .await
    {
        Ok(Ok(())) => {}
        Ok(Err(wait)) => {
            let limited = Err(ApiError::RateLimited {
                retry_after: retry_after_seconds(wait),
            });
            let mut entry = entry;
            entry.principal = Some(principal.to_string());
            return Done::answer(conclude(&state, entry, &request, limited).await);
        }
        Err(error) => return Done::answer(Err(unavailable(&error))),
    }
    super::core::unlink(&state, &request, &principal).await
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
