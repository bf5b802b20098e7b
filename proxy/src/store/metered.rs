//! Metrics for any store, applied from outside: every write is timed
//! (`unlink_record_write_seconds`), every failure counted
//! (`unlink_record_write_failures_total`, and the counter `/healthz` watches), so an engine,
//! the project's or a partner's, cannot forget them. [`Proxy::start`](crate::Proxy::start)
//! wraps whatever store it is given.

use std::{num::NonZeroU32, sync::Arc, time::Duration};

use async_trait::async_trait;
use tokio::time::Instant;

use super::{
    AccountRecord, Begun, KeyUse, Only, Query, RateLimiter, Record, Store, StoreError, Upkeep,
};
use crate::{
    record::{Entry, Outcome},
    telemetry,
};

/// A store, measured.
#[derive(Debug)]
pub struct Metered(Arc<dyn Store>);

impl Metered {
    /// Wraps `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self(store)
    }
}

/// A write: timed, and a failure counted.
async fn write<T>(work: impl Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
    let started = Instant::now();
    let done = work.await;
    telemetry::record_write(started.elapsed(), done.is_ok());
    done
}

/// A read: a failure counted.
async fn read<T>(work: impl Future<Output = Result<T, StoreError>>) -> Result<T, StoreError> {
    let done = work.await;
    if done.is_err() {
        telemetry::record_failed();
    }
    done
}

#[async_trait]
impl Record for Metered {
    async fn key_use(
        &self,
        key: &str,
        principal: &str,
        account_id: &str,
        deadline: Instant,
    ) -> Result<KeyUse, StoreError> {
        read(self.0.key_use(key, principal, account_id, deadline)).await
    }

    async fn begin(
        &self,
        intent: &Entry,
        lease: Duration,
        deadline: Instant,
    ) -> Result<Begun, StoreError> {
        write(self.0.begin(intent, lease, deadline)).await
    }

    async fn finish(&self, outcome: &Entry, deadline: Instant) -> Result<(), StoreError> {
        write(self.0.finish(outcome, deadline)).await
    }

    async fn renew(
        &self,
        intent_id: i64,
        lease: Duration,
        deadline: Instant,
    ) -> Result<bool, StoreError> {
        write(self.0.renew(intent_id, lease, deadline)).await
    }

    async fn record_answer(&self, entry: &Entry, deadline: Instant) -> Result<bool, StoreError> {
        write(self.0.record_answer(entry, deadline)).await
    }

    async fn record(&self, entry: &Entry, deadline: Instant) -> Result<i64, StoreError> {
        write(self.0.record(entry, deadline)).await
    }

    async fn record_webhook(&self, entry: &Entry, deadline: Instant) -> Result<bool, StoreError> {
        write(self.0.record_webhook(entry, deadline)).await
    }

    async fn outcome_of(
        &self,
        intent_id: i64,
        deadline: Instant,
    ) -> Result<Option<Outcome>, StoreError> {
        read(self.0.outcome_of(intent_id, deadline)).await
    }

    async fn account(
        &self,
        account_id: &str,
        deadline: Instant,
    ) -> Result<AccountRecord, StoreError> {
        read(self.0.account(account_id, deadline)).await
    }

    async fn health(&self, deadline: Instant) -> Result<(), StoreError> {
        write(self.0.health(deadline)).await
    }

    async fn entries(&self, query: &Query, deadline: Instant) -> Result<Vec<Entry>, StoreError> {
        read(self.0.entries(query, deadline)).await
    }

    async fn count(&self, only: Only, deadline: Instant) -> Result<u64, StoreError> {
        read(self.0.count(only, deadline)).await
    }
}

#[async_trait]
impl RateLimiter for Metered {
    async fn rate(
        &self,
        bucket: &str,
        per_minute: NonZeroU32,
        deadline: Instant,
    ) -> Result<Result<(), i64>, StoreError> {
        read(self.0.rate(bucket, per_minute, deadline)).await
    }
}

#[async_trait]
impl Upkeep for Metered {
    async fn recover(&self, deadline: Instant) -> Result<Vec<Entry>, StoreError> {
        write(self.0.recover(deadline)).await
    }

    async fn purge(&self, retain: Option<Duration>, deadline: Instant) -> Result<u64, StoreError> {
        write(self.0.purge(retain, deadline)).await
    }
}
