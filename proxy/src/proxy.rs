//! A running proxy: what every handler shares, and the work that outlives a request.
//!
//! [`Proxy::start`] checks the [`Config`], recovers intents a crash left without an outcome,
//! and wraps the record so its metrics cannot be forgotten ([`store::Metered`]). The routes
//! are in [`crate::routes`], the background upkeep in [`crate::upkeep`].

use std::{sync::Arc, time::Duration};

use tokio_util::task::TaskTracker;

use crate::{
    authorize::Authoriser,
    config::{Config, Settings, StartError},
    mono::Mono,
    store::{self, Store, StoreError},
    telemetry::RefusalLog,
    unlink,
};

/// What every handler shares: the settings (one `Arc`), the working parts, and the work in
/// flight.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) settings: Arc<Settings>,
    pub(crate) mono: Arc<Mono>,
    pub(crate) authoriser: Arc<dyn Authoriser>,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) in_flight: unlink::InFlight,
    /// Unlink work that outlives its request; shutdown waits for it.
    pub(crate) tasks: TaskTracker,
    pub(crate) refusals: Arc<RefusalLog>,
    /// The last health check: `/healthz` writes at most once a second however often it is
    /// asked, unless the record has failed a request since.
    pub(crate) health: Arc<tokio::sync::Mutex<Option<crate::routes::HealthCheck>>>,
}

/// A running proxy: its state, its routes, and the work in flight. Cheap to clone.
#[derive(Clone)]
pub struct Proxy {
    pub(crate) state: AppState,
}

impl Proxy {
    /// Checks the configuration, marks intents whose holder is gone as `outcome_unknown`
    /// (each is logged), then gets ready to serve.
    pub async fn start(config: Config) -> Result<Self, StartError> {
        let (settings, parts) = config.settle().map_err(StartError::Config)?;
        let proxy = Self {
            state: AppState {
                settings: Arc::new(settings),
                mono: parts.mono,
                authoriser: parts.authoriser,
                store: Arc::new(store::Metered::new(parts.store)),
                in_flight: Default::default(),
                tasks: TaskTracker::new(),
                refusals: Arc::default(),
                health: Arc::default(),
            },
        };
        proxy.recover().await.map_err(StartError::Record)?;
        Ok(proxy)
    }

    /// Whether a row could be written to the record now: for an embedding app's own
    /// health check. A real write (see [`store::Record::health`]).
    pub async fn healthy(&self) -> Result<(), StoreError> {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(1500);
        self.state.store.health(deadline).await
    }

    /// Waits until every unlink in flight has committed its outcome (or `limit` passes).
    /// Returns whether all finished.
    pub async fn drain(&self, limit: Duration) -> bool {
        self.state.tasks.close();
        tokio::time::timeout(limit, self.state.tasks.wait())
            .await
            .is_ok()
    }

    /// The deadline every unlink is answered within.
    pub fn deadline(&self) -> Duration {
        self.state.settings.deadline
    }
}
