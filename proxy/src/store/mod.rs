//! Everything the proxy must remember, behind one interface with two engines: SQLite for one
//! process (the default: a file, no server), PostgreSQL for several replicas sharing one
//! record.
//!
//! What a store keeps: the audit trail ([`Entry`] rows, append-only), which
//! `Idempotency-Key` belongs to whom and what it ended in, which account has an unlink in
//! flight (a claim with a lease, so a crashed holder's claim expires), and rate-limit
//! counters. The operations are shaped around the promises: [`Store::begin`] commits the
//! intent before anyone calls Mono; [`Store::finish`] commits the outcome, releases the
//! claim and remembers a final outcome for replays in one transaction.

mod postgres;
mod sqlite;

use std::{fmt, num::NonZeroU32, time::Duration};

use async_trait::async_trait;
use time::OffsetDateTime;
use tokio::time::Instant;

pub use self::{
    postgres::{ConnectPatience, PostgresStore},
    sqlite::SqliteStore,
};
use crate::record::{Entry, Kind, Outcome};

/// How long a claim on an account lasts without its outcome. Longer than any unlink can take
/// (the request budget), so only a holder that died lets it run out.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// How long a final outcome is replayed for the same `Idempotency-Key`.
pub const REPLAY_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

/// Why a store could not do what was asked, worded for an operator.
#[derive(Debug)]
pub enum StoreError {
    /// The store did not answer in time (locked, overloaded, unreachable). Worth retrying.
    Unavailable(String),
    /// The store answered, but with something this proxy cannot use.
    Broken(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unavailable(why) | Self::Broken(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for StoreError {}

/// Refuses, before any write, a row that is not valid: both engines call it, so neither
/// can store what the other would refuse.
pub(crate) fn valid(entry: &Entry) -> Result<(), StoreError> {
    entry.validate().map_err(invalid)
}

/// [`valid`], and of the `kind` the operation writes.
pub(crate) fn check(entry: &Entry, kind: Kind) -> Result<(), StoreError> {
    valid(entry)?;
    if entry.kind != kind {
        return Err(invalid("this operation writes another kind of row"));
    }
    Ok(())
}

fn invalid(why: &'static str) -> StoreError {
    StoreError::Broken(format!("refusing to write an invalid audit row: {why}"))
}

/// What an `Idempotency-Key` already stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyUse {
    /// Never used (or used longer ago than [`REPLAY_WINDOW`]).
    Fresh,
    /// Used by this principal for this account; `Some` once that ended in a final outcome.
    Same(Option<Outcome>),
    /// Used by another principal or for another account: this request may not use it.
    Other,
}

/// What [`Store::begin`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Begun {
    /// The intent is committed and this caller holds the account: call Mono, then
    /// [`Store::finish`].
    Claimed {
        /// The intent written.
        intent_id: i64,
    },
    /// The key has meanwhile ended in a final outcome: answer with it, call nobody.
    Replay(Outcome),
    /// The key belongs to another principal or account.
    KeyReused,
    /// Another process holds the account: wait for that intent's outcome.
    HeldElsewhere {
        /// The other process's intent.
        intent_id: i64,
    },
    /// The account is unlinked on record (Mono's answer, or its webhook) within
    /// [`REPLAY_WINDOW`]: answer from the record, call nobody. The key is bound.
    Unlinked {
        /// When the first such success was recorded, ms since the epoch (the record's clock).
        at_ms: i64,
    },
}

/// What the record knows about one account, for the status route and for bulk runs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccountRecord {
    /// When Mono first said the account is gone (its 2xx or JSON 404, a resolution, or its
    /// webhook), RFC 3339; `None` if it never did.
    pub unlinked_at: Option<String>,
    /// Mono's `account_unlinked` webhook is on record for it.
    pub confirmed: bool,
    /// An unlink of it was sent (or may have been) and nothing settled its outcome: in flight,
    /// or a crash or an answer that was not Mono's left it unknown.
    pub unresolved: bool,
}

/// What an account's record says, in one word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountState {
    /// No unlink on record.
    Linked,
    /// Mono said it is gone.
    Unlinked,
    /// An unlink may or may not have happened.
    Unknown,
}

impl AccountRecord {
    /// Unlinked wins: once Mono said so, nothing later makes the account linked again.
    pub fn state(&self) -> AccountState {
        if self.unlinked_at.is_some() {
            AccountState::Unlinked
        } else if self.unresolved {
            AccountState::Unknown
        } else {
            AccountState::Linked
        }
    }
}

/// Which rows [`Store::entries`] returns.
#[derive(Clone, Debug, Default)]
pub struct Query {
    /// Only rows for this account.
    pub account_id: Option<String>,
    /// Only rows written at or after this time.
    pub since: Option<OffsetDateTime>,
    /// Only rows of one kind of question.
    pub only: Only,
    /// Only rows after this id (for reading a long trail page by page).
    pub after_id: Option<i64>,
    /// At most this many rows.
    pub limit: Option<u32>,
}

/// A selection of rows that answers an operator's question.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Only {
    /// Every row.
    #[default]
    All,
    /// Intents whose outcome is unknown (a crash) and that no later Mono answer settled.
    Unresolved,
    /// Unlinks this proxy made (`unlinked`, from Mono itself) at least `older_than` ago that
    /// Mono's `account_unlinked` webhook has not confirmed.
    Unconfirmed {
        /// Give Mono's webhook this long before counting an unlink as unconfirmed.
        older_than: Duration,
    },
}

/// The store interface. Implementations must make each method atomic.
#[async_trait]
pub trait Store: Send + Sync + fmt::Debug + 'static {
    /// Which `Idempotency-Key` use this is, without writing anything.
    async fn key_use(
        &self,
        key: &str,
        principal: &str,
        account_id: &str,
        deadline: Instant,
    ) -> Result<KeyUse, StoreError>;

    /// Before calling Mono, in one transaction: binds the intent's key to its principal and
    /// account (or finds it bound elsewhere, or already final), claims the account for
    /// `lease` (an expired claim's intent is marked `outcome_unknown` first), and writes the
    /// intent. Nothing may call Mono unless this returned [`Begun::Claimed`].
    async fn begin(
        &self,
        intent: &Entry,
        lease: Duration,
        deadline: Instant,
    ) -> Result<Begun, StoreError>;

    /// After Mono answered, in one transaction: writes `outcome` (an `unlink` row naming its
    /// intent), remembers a final outcome for the key, releases the claim, and settles
    /// earlier unknown outcomes for the account if this one is final.
    ///
    /// A late outcome, for an intent whose claim another replica took over and marked
    /// `outcome_unknown`, cannot contradict that: a final one is written as a `resolution`
    /// (Mono's word settles it), anything else as another `outcome_unknown` row that keeps
    /// Mono's status.
    async fn finish(&self, outcome: &Entry, deadline: Instant) -> Result<(), StoreError>;

    /// Extends this process's claim for `intent_id` by `lease` from now (the record's clock)
    /// while Mono is being called. `Ok(false)`: the claim is no longer this process's.
    async fn renew(
        &self,
        intent_id: i64,
        lease: Duration,
        deadline: Instant,
    ) -> Result<bool, StoreError>;

    /// What the record says about an account, without writing anything.
    async fn account(
        &self,
        account_id: &str,
        deadline: Instant,
    ) -> Result<AccountRecord, StoreError>;

    /// Writes an answer that did not need Mono's call of its own (shared with another
    /// request, or replayed), binding its key like [`Store::begin`] does. `Ok(false)`: the
    /// key is bound elsewhere, and nothing was written.
    async fn record_answer(&self, entry: &Entry, deadline: Instant) -> Result<bool, StoreError>;

    /// Writes any other row: a refusal, or a resolution. Returns its id.
    async fn record(&self, entry: &Entry, deadline: Instant) -> Result<i64, StoreError>;

    /// Records Mono's webhook saying the account is unlinked, once per account however often
    /// Mono retries, and settles unknown outcomes for it. `Ok(true)` the first time.
    async fn record_webhook(&self, entry: &Entry, deadline: Instant) -> Result<bool, StoreError>;

    /// The outcome of an intent, once it has one (for waiting on another process's call).
    async fn outcome_of(&self, intent_id: i64) -> Result<Option<Outcome>, StoreError>;

    /// Marks intents whose holder is gone as `outcome_unknown` and releases their claims;
    /// returns the intents marked. Run at start-up and periodically.
    async fn recover(&self) -> Result<Vec<Entry>, StoreError>;

    /// One attempt against a rate limit. `Ok(Err(ms))`: over the limit, wait that long.
    async fn rate(
        &self,
        bucket: &str,
        per_minute: NonZeroU32,
        deadline: Instant,
    ) -> Result<Result<(), i64>, StoreError>;

    /// Whether records can be written right now: a real, tiny write, so a full disk or a
    /// read-only server shows here.
    async fn health(&self) -> Result<(), StoreError>;

    /// Rows, oldest first (at most `query.limit`; page with `after_id`).
    async fn entries(&self, query: &Query) -> Result<Vec<Entry>, StoreError>;

    /// How many rows answer `only`, counted by the engine (nothing is loaded).
    async fn count(&self, only: Only) -> Result<u64, StoreError>;

    /// Forgets what is no longer needed: key bindings past the replay window, rate-limit
    /// counters that have recovered, and, with `retain`, trail rows older than that.
    /// Returns how many trail rows went.
    async fn purge(&self, retain: Option<Duration>) -> Result<u64, StoreError>;
}

/// The outcome row for an intent that was committed too late to call Mono (or whose
/// commit's answer was lost): `audit_unavailable`, Mono not called. Writing it with
/// [`Store::finish`] releases the claim.
pub fn unsent(intent: &Entry, intent_id: i64) -> Entry {
    let mut outcome = intent.clone();
    outcome.kind = Kind::Unlink;
    outcome.outcome = Some(Outcome::AuditUnavailable);
    outcome.source = Some(crate::record::Source::Proxy);
    outcome.intent_id = Some(intent_id);
    outcome.attempts = 0;
    outcome.upstream_status = None;
    outcome.detail =
        Some("the intent was committed after its deadline, so Mono was not called".into());
    outcome
}

/// The row [`Store::finish`] writes: the outcome as it is, or, when its intent was already
/// marked (another replica took the claim over), a row that cannot contradict the mark. A
/// final answer from Mono settles the unknown (a `resolution`); anything else leaves it
/// unknown and keeps Mono's status for the operator.
pub(crate) fn late_or_on_time(mut outcome: Entry, late: bool) -> Entry {
    if !late {
        return outcome;
    }
    let said = outcome.outcome.map_or("-", Outcome::as_str);
    if outcome.outcome.is_some_and(Outcome::is_final) {
        outcome.kind = Kind::Resolution;
        outcome.detail = Some(format!(
            "Mono answered {said} after this call's claim was taken over"
        ));
    } else {
        outcome.outcome = Some(Outcome::OutcomeUnknown);
        outcome.detail = Some(format!(
            "Mono's late answer ({said}) came after this call's claim was taken over; the \
             outcome stays unknown"
        ));
    }
    outcome
}

/// A name no other open store has, in this process or another, for its claims.
pub(crate) fn holder_name() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static OPENED: AtomicU32 = AtomicU32::new(0);
    let n = OPENED.fetch_add(1, Ordering::Relaxed);
    let host = std::env::var("HOSTNAME").unwrap_or_default();
    format!(
        "{host}/pid{}-{}-{n}",
        std::process::id(),
        crate::time::now_ms()
    )
}

/// Rows per page when a caller walks the whole trail (`audit`, `migrate-audit`): memory stays
/// flat however long the trail is.
pub const PAGE: u32 = 1000;

/// Calls `each` for every row matching `query`, oldest first, a page at a time.
pub async fn for_each_entry(
    store: &dyn Store,
    query: &Query,
    mut each: impl FnMut(Entry) -> Result<(), StoreError>,
) -> Result<u64, StoreError> {
    let mut page = query.clone();
    page.limit = Some(query.limit.map_or(PAGE, |limit| limit.min(PAGE)));
    let left = query.limit.map(u64::from);
    let mut seen = 0;
    loop {
        let rows = store.entries(&page).await?;
        let Some(last) = rows.last().map(|row| row.id) else {
            return Ok(seen);
        };
        for row in rows {
            each(row)?;
            seen += 1;
            if left.is_some_and(|left| seen >= left) {
                return Ok(seen);
            }
        }
        page.after_id = Some(last);
    }
}

/// Milliseconds since the epoch for a trail timestamp (`2026-11-23T20:19:40.123Z`).
pub(crate) fn ts_millis(ts: &str) -> Result<i64, StoreError> {
    time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339)
        .map(|at| (at.unix_timestamp_nanos() / 1_000_000) as i64)
        .map_err(|_| StoreError::Broken(format!("a row's time {ts:?} is not RFC 3339")))
}

/// A deadline far enough away to mean "until it works" for background writes.
pub fn patient_deadline() -> Instant {
    Instant::now() + Duration::from_secs(60)
}
