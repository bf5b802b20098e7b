//! What the proxy tells its operator besides the audit trail: Prometheus metrics, and a log
//! of refused requests that stays small under a flood.
//!
//! Anyone can send malformed or cross-site requests, so each one costs a counter increment;
//! at most [`REFUSAL_LINES_PER_SECOND`] of them are logged each second, and the rest are
//! summed up in one line per second. The metrics are recorded through the `metrics` facade;
//! the binary installs the Prometheus recorder ([`install_prometheus`]), and an embedding
//! app may install its own or none (then recording costs nothing).

use std::{
    collections::BTreeMap,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Refusals logged in full per second; the rest are counted and summed up.
pub const REFUSAL_LINES_PER_SECOND: u32 = 5;

/// Why a request was refused before it could do anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Refusal {
    /// The account id in the URL is not one.
    InvalidAccountId,
    /// `Idempotency-Key` missing or malformed.
    InvalidIdempotencyKey,
    /// `Origin` or `Sec-Fetch-Site` says another site, or `Origin` is unreadable.
    CrossSite,
    /// The client address is over its limit.
    AddressLimit,
    /// A webhook without the right secret.
    WebhookSecret,
    /// A webhook body that is not a Mono event.
    InvalidWebhook,
    /// An unlink with no cookie, `Authorization` or forwarded header: nobody to authorise.
    NoCredentials,
    /// An unlink request with a body (it has none).
    BodyTooLarge,
    /// The service route without a known token.
    ServiceToken,
    /// The service route asked by a browser (a cookie or an `Origin`): it is for backends.
    BrowserOnService,
}

impl Refusal {
    /// The `reason` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidAccountId => "invalid_account_id",
            Self::InvalidIdempotencyKey => "invalid_idempotency_key",
            Self::CrossSite => "cross_site",
            Self::AddressLimit => "address_limit",
            Self::WebhookSecret => "webhook_secret",
            Self::InvalidWebhook => "invalid_webhook",
            Self::NoCredentials => "no_credentials",
            Self::BodyTooLarge => "body_too_large",
            Self::ServiceToken => "service_token",
            Self::BrowserOnService => "browser_on_service",
        }
    }
}

/// Counts a refusal and logs it, unless this second's lines are used up.
#[derive(Debug, Default)]
pub struct RefusalLog {
    window: Mutex<Window>,
}

#[derive(Debug, Default)]
struct Window {
    started: Option<Instant>,
    logged: u32,
    suppressed: BTreeMap<Refusal, u64>,
}

impl RefusalLog {
    /// Records one refusal. `detail` is a short fixed phrase, never client input.
    pub fn note(&self, refusal: Refusal, detail: &'static str) {
        metrics::counter!("unlink_refusals_total", "reason" => refusal.as_str()).increment(1);
        let mut window = self.window.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if window
            .started
            .is_none_or(|started| now.duration_since(started) >= Duration::from_secs(1))
        {
            window.flush();
            window.started = Some(now);
        }
        if window.logged < REFUSAL_LINES_PER_SECOND {
            window.logged += 1;
            tracing::warn!(reason = refusal.as_str(), "request refused: {detail}");
        } else {
            *window.suppressed.entry(refusal).or_default() += 1;
        }
    }

    /// Logs the summary of what was not logged, if anything was left out. Called on each
    /// new window, and by the proxy's upkeep so a flood's last second is not lost.
    pub fn flush(&self) {
        self.window
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .flush();
    }
}

impl Window {
    fn flush(&mut self) {
        if !self.suppressed.is_empty() {
            let total: u64 = self.suppressed.values().sum();
            let by_reason: Vec<String> = self
                .suppressed
                .iter()
                .map(|(reason, count)| format!("{}={count}", reason.as_str()))
                .collect();
            tracing::warn!(
                suppressed = total,
                "{total} more refused requests not logged ({})",
                by_reason.join(", ")
            );
            self.suppressed.clear();
        }
        self.logged = 0;
    }
}

/// An answer sent: by route and stable code, with the time it took.
pub(crate) fn answered(route: &'static str, code: &'static str, took: Duration) {
    metrics::counter!("unlink_requests_total", "route" => route, "code" => code).increment(1);
    metrics::histogram!("unlink_request_duration_seconds", "route" => route)
        .record(took.as_secs_f64());
}

/// One call to Mono: its status (or `timeout`/`error`), which attempt it was, and its time.
pub(crate) fn mono_call(status: Option<u16>, failure: &'static str, attempt: u32, took: Duration) {
    let status = status.map_or_else(|| failure.to_owned(), |s| s.to_string());
    let attempt = attempt.min(10).to_string();
    metrics::counter!("unlink_mono_calls_total", "status" => status, "attempt" => attempt)
        .increment(1);
    metrics::histogram!("unlink_mono_call_seconds").record(took.as_secs_f64());
}

/// Failures of the record seen by this process so far: `/healthz` reuses a recent verdict
/// only while this has not moved.
static RECORD_FAILURES: AtomicU64 = AtomicU64::new(0);

/// One write to the record, and whether it worked.
pub(crate) fn record_write(took: Duration, ok: bool) {
    metrics::histogram!("unlink_record_write_seconds").record(took.as_secs_f64());
    if !ok {
        metrics::counter!("unlink_record_write_failures_total").increment(1);
        record_failed();
    }
}

/// The record failed a request (a read or a write).
pub(crate) fn record_failed() {
    RECORD_FAILURES.fetch_add(1, Ordering::Relaxed);
}

/// How many times the record has failed in this process.
pub(crate) fn record_failures() -> u64 {
    RECORD_FAILURES.load(Ordering::Relaxed)
}

/// Unlink work in flight in this process, up or down by one.
pub(crate) fn in_flight(delta: f64) {
    metrics::gauge!("unlink_in_flight").increment(delta);
}

/// The record's open questions, as the upkeep finds them.
pub(crate) fn open_questions(unresolved: u64, unconfirmed: u64) {
    metrics::gauge!("unlink_unresolved_intents").set(unresolved as f64);
    metrics::gauge!("unlink_unconfirmed_unlinks").set(unconfirmed as f64);
}

/// Installs the Prometheus recorder for this process and returns the handle that renders
/// `/metrics`. Durations get histogram buckets from 5 ms to 30 s.
pub fn install_prometheus() -> Result<PrometheusHandle, String> {
    const BUCKETS: &[f64] = &[
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0,
    ];
    PrometheusBuilder::new()
        .set_buckets(BUCKETS)
        .map_err(|error| error.to_string())?
        .install_recorder()
        .map_err(|error| format!("cannot install the metrics recorder: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_is_summed_up_not_logged_line_by_line() {
        let log = RefusalLog::default();
        for _ in 0..100 {
            log.note(Refusal::InvalidAccountId, "test");
        }
        let window = log.window.lock().unwrap();
        assert_eq!(window.logged, REFUSAL_LINES_PER_SECOND);
        assert_eq!(
            window.suppressed.get(&Refusal::InvalidAccountId),
            Some(&(100 - u64::from(REFUSAL_LINES_PER_SECOND)))
        );
    }
}
