//! Everything the proxy must remember, behind three traits and two engines: SQLite for one
//! process (a file, no server), PostgreSQL for several replicas sharing one record.
//!
//! - [`Record`]: the audit trail ([`Entry`] rows, append-only), which `Idempotency-Key`
//!   belongs to whom and what it ended in, and which account has an unlink in flight (a
//!   claim with a lease, so a crashed holder's claim expires). The operations are shaped
//!   around the promises: [`Record::begin`] commits the intent before anyone calls Mono;
//!   [`Record::finish`] commits the outcome, releases the claim and remembers a final outcome
//!   for replays, in one transaction.
//! - [`RateLimiter`]: the per-user and per-address counters. Not the record: they need no
//!   durability, and an engine may keep them elsewhere (SQLite keeps them in memory).
//! - [`Upkeep`]: what runs on a schedule, not per request.
//!
//! [`Store`] is all three; [`Metered`] wraps any store with its metrics, so an engine cannot
//! forget them. Every call takes the deadline by which it must be done. [`engine`] holds what
//! every engine shares (row checks, the late-outcome rule) for partners writing their own.

pub mod engine;
mod metered;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;

use std::{fmt, num::NonZeroU32, time::Duration};

use async_trait::async_trait;
use time::OffsetDateTime;
use tokio::time::Instant;

#[cfg(feature = "postgres")]
pub use self::postgres::{ConnectPatience, PostgresStore};
#[cfg(feature = "sqlite")]
pub use self::sqlite::SqliteStore;
pub use self::{
    engine::{patient_deadline, unsent},
    metered::Metered,
};
use crate::record::{Entry, Outcome};

/// How long a claim on an account lasts without its outcome. Longer than any unlink can take
/// (the request budget), so only a holder that died lets it run out.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// How long a final outcome is replayed for the same `Idempotency-Key`, and how long a
/// success on record answers for its account.
pub const REPLAY_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

/// Rows per page when a caller walks the whole trail (`audit`, `migrate-audit`): memory stays
/// flat however long the trail is.
pub const PAGE: u32 = 1000;

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

/// The audit trail, key bindings and claims. Implementations make each method atomic.
#[async_trait]
pub trait Record: Send + Sync + fmt::Debug + 'static {
    /// Which `Idempotency-Key` use this is, without writing anything.
    async fn key_use(
        &self,
        key: &str,
        principal: &str,
        account_id: &str,
        deadline: Instant,
    ) -> Result<KeyUse, StoreError>;

    /// Before calling Mono, in one transaction: binds the intent's key to its principal and
    /// account (or finds it bound elsewhere, or already final), answers from the record if
    /// the account was unlinked within [`REPLAY_WINDOW`], claims the account for `lease` (an
    /// expired claim's intent is marked `outcome_unknown` first), and writes the intent.
    /// Nothing may call Mono unless this returned [`Begun::Claimed`].
    async fn begin(
        &self,
        intent: &Entry,
        lease: Duration,
        deadline: Instant,
    ) -> Result<Begun, StoreError>;

    /// After Mono answered, in one transaction: writes `outcome` (an `unlink` row naming its
    /// intent), remembers a final outcome for the key, releases the claim, and settles
    /// earlier unknown outcomes for the account if this one is final. A late outcome (its
    /// claim was taken over) is written by [`engine::late_or_on_time`]'s rule.
    async fn finish(&self, outcome: &Entry, deadline: Instant) -> Result<(), StoreError>;

    /// Extends this process's claim for `intent_id` by `lease` from now (the record's clock)
    /// while Mono is being called. `Ok(false)`: the claim is no longer this process's.
    async fn renew(
        &self,
        intent_id: i64,
        lease: Duration,
        deadline: Instant,
    ) -> Result<bool, StoreError>;

    /// Writes an answer that did not need Mono's call of its own (shared with another
    /// request, replayed, or from the record), binding its key like [`Record::begin`] does.
    /// `Ok(false)`: the key is bound elsewhere, and nothing was written.
    async fn record_answer(&self, entry: &Entry, deadline: Instant) -> Result<bool, StoreError>;

    /// Writes any other row: a refusal, or a resolution. Returns its id.
    async fn record(&self, entry: &Entry, deadline: Instant) -> Result<i64, StoreError>;

    /// Records Mono's webhook saying the account is unlinked, once per account however often
    /// Mono retries, and settles unknown outcomes for it. `Ok(true)` the first time.
    async fn record_webhook(&self, entry: &Entry, deadline: Instant) -> Result<bool, StoreError>;

    /// The outcome of an intent, once it has one (for waiting on another process's call).
    async fn outcome_of(
        &self,
        intent_id: i64,
        deadline: Instant,
    ) -> Result<Option<Outcome>, StoreError>;

    /// What the record says about an account, without writing anything.
    async fn account(
        &self,
        account_id: &str,
        deadline: Instant,
    ) -> Result<AccountRecord, StoreError>;

    /// Whether records can be written right now: a real write as large as an unlink's, so a
    /// full disk or a read-only server shows here.
    async fn health(&self, deadline: Instant) -> Result<(), StoreError>;

    /// Rows, oldest first (at most `query.limit`; page with `after_id`).
    async fn entries(&self, query: &Query, deadline: Instant) -> Result<Vec<Entry>, StoreError>;

    /// How many rows answer `only`, counted by the engine (nothing is loaded).
    async fn count(&self, only: Only, deadline: Instant) -> Result<u64, StoreError>;
}

/// Per-user and per-address limits (see [`crate::ratelimit`]).
#[async_trait]
pub trait RateLimiter: Send + Sync + fmt::Debug + 'static {
    /// One attempt against a limit. `Ok(Err(ms))`: over the limit, wait that long.
    async fn rate(
        &self,
        bucket: &str,
        per_minute: NonZeroU32,
        deadline: Instant,
    ) -> Result<Result<(), i64>, StoreError>;
}

/// What runs on a schedule rather than per request.
#[async_trait]
pub trait Upkeep: Send + Sync + fmt::Debug + 'static {
    /// Marks intents whose holder is gone as `outcome_unknown` and releases their claims;
    /// returns the intents marked. Run at start-up and periodically.
    async fn recover(&self, deadline: Instant) -> Result<Vec<Entry>, StoreError>;

    /// Forgets what is no longer needed: key bindings past the replay window, rate-limit
    /// counters that have recovered, and, with `retain`, trail rows older than that.
    /// Returns how many trail rows went.
    async fn purge(&self, retain: Option<Duration>, deadline: Instant) -> Result<u64, StoreError>;
}

/// A whole store: the record, its limits and its upkeep, as one engine provides them.
pub trait Store: Record + RateLimiter + Upkeep {}

impl<T: Record + RateLimiter + Upkeep> Store for T {}

/// Calls `each` for every row matching `query`, oldest first, a page at a time.
pub async fn for_each_entry(
    store: &dyn Record,
    query: &Query,
    mut each: impl FnMut(Entry) -> Result<(), StoreError>,
) -> Result<u64, StoreError> {
    let mut page = query.clone();
    page.limit = Some(query.limit.map_or(PAGE, |limit| limit.min(PAGE)));
    let left = query.limit.map(u64::from);
    let mut seen = 0;
    loop {
        let rows = store.entries(&page, patient_deadline()).await?;
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
