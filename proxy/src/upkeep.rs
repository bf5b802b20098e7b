//! What the proxy does on a schedule, apart from requests: finding intents whose holder died
//! (at start-up, and as other replicas' leases run out), counting the record's open
//! questions for the metrics (in the engine, never by loading rows), summing up refusals
//! that were not logged, and forgetting what the record no longer needs.

use std::time::Duration;

use tokio::time::Instant;

use crate::{
    Proxy,
    store::{Only, StoreError, patient_deadline},
    telemetry,
};

impl Proxy {
    /// Marks intents whose holder is gone as `outcome_unknown`, logging each. Run at start-up;
    /// with several replicas, [`Proxy::maintain`] runs it again as leases expire.
    pub async fn recover(&self) -> Result<usize, StoreError> {
        let marked = self.state.store.recover(patient_deadline()).await?;
        for intent in &marked {
            tracing::warn!(
                intent_id = intent.id,
                account_id = intent.account_id.as_deref().unwrap_or("-"),
                principal = intent.principal.as_deref().unwrap_or("-"),
                at = %intent.ts,
                "an unlink was sent to Mono but its outcome was never recorded; marked \
                 outcome_unknown (see `unlink-proxy audit --unresolved`)"
            );
        }
        Ok(marked.len())
    }

    /// Background upkeep until the returned task is aborted: every second, the summary of
    /// refusals not logged; every `every`, claims whose holder died (another replica's) and
    /// the open-question gauges (unresolved intents, unconfirmed unlinks); every hour, what
    /// the record no longer needs (see [`crate::store::Upkeep::purge`]).
    pub fn maintain(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let proxy = self.clone();
        tokio::spawn(async move {
            let mut second = tokio::time::interval(Duration::from_secs(1));
            let mut last = Instant::now();
            let mut last_purge: Option<Instant> = None;
            loop {
                second.tick().await;
                proxy.state.refusals.flush();
                if last.elapsed() < every {
                    continue;
                }
                last = Instant::now();
                if let Err(error) = proxy.recover().await {
                    tracing::warn!(%error, "could not check for expired claims");
                }
                proxy.count_open_questions().await;
                if last_purge.is_none_or(|at| at.elapsed() >= Duration::from_secs(3600)) {
                    last_purge = Some(Instant::now());
                    let retain = proxy.state.settings.retain;
                    match proxy.state.store.purge(retain, patient_deadline()).await {
                        Ok(0) => {}
                        Ok(gone) => tracing::info!(gone, "deleted trail rows past --retain-days"),
                        Err(error) => tracing::warn!(%error, "could not purge the record"),
                    }
                }
            }
        })
    }

    /// Counts the record's open questions for the metrics, in the engine: nothing is loaded,
    /// however long the trail.
    pub async fn count_open_questions(&self) {
        let store = &self.state.store;
        let unconfirmed = Only::Unconfirmed {
            older_than: Duration::from_secs(600),
        };
        match (
            store.count(Only::Unresolved, patient_deadline()).await,
            store.count(unconfirmed, patient_deadline()).await,
        ) {
            (Ok(unresolved), Ok(unconfirmed)) => telemetry::open_questions(unresolved, unconfirmed),
            (Err(error), _) | (_, Err(error)) => {
                tracing::warn!(%error, "could not count unresolved and unconfirmed unlinks")
            }
        }
    }
}
