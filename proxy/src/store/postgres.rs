//! The PostgreSQL store: one record shared by every replica behind a load balancer.
//!
//! The same promises as the SQLite store, across processes: per-account work (claims,
//! outcomes) is serialised with a transaction-scoped advisory lock on the account, key
//! bindings with the primary key, rate limits with one atomic statement per check. Leases
//! and rate limits run on the database's clock, so a replica whose clock drifts cannot take
//! a live claim for a dead one.
//!
//! Every statement runs within the caller's deadline, but a `COMMIT`, once sent, is awaited
//! for its real answer: PostgreSQL finishes a commit whether or not the client still
//! listens (a slow disk, deferred work; `statement_timeout` does not stop it), and a replica
//! that gave up on one would believe it failed while its claim stood. If the answer is lost
//! anyway (the connection broke), the store re-reads what the commit left. An unreachable
//! server is a [`StoreError::Unavailable`], and the pool reconnects when it is back.
//! Migrations run at start-up under an advisory lock, so replicas starting together do not
//! race.

use std::{num::NonZeroU32, str::FromStr, sync::Arc, time::Duration};

use async_trait::async_trait;
use deadpool_postgres::{
    GenericClient, Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime, Transaction,
};
use tokio::time::Instant;
use tokio_postgres::{Row, config::Host, error::SqlState, types::ToSql};

use super::{
    AccountRecord, Begun, KeyUse, Only, Query, REPLAY_WINDOW, RateLimiter, Record, StoreError,
    Upkeep,
    engine::{
        check, claim_is_stale, holder_name, late_or_on_time, patient_deadline, unsent, valid,
    },
};
use crate::{
    record::{Entry, Kind, Outcome, Reason, Source, Via},
    time::{millis, now_ms, rfc3339},
};

/// The schema, one file per version, applied in order; `unlink_schema` records how many.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/postgres/0001_schema.sql"),
    include_str!("../../migrations/postgres/0002_health_reason_via.sql"),
];

/// The database's clock, in ms since the epoch: leases are compared with it, never with a
/// replica's own.
macro_rules! db_now_ms {
    () => {
        "(extract(epoch FROM clock_timestamp()) * 1000)::bigint"
    };
}

/// Columns of a row as [`entry_from_row`] reads them, `ts` in the trail's fixed format.
const SELECT_ENTRY: &str = "SELECT id,
    to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), kind, request_id,
    principal, account_id, idempotency_key, client_ip, outcome, source, upstream_status,
    attempts, latency_ms, intent_id, detail, reason, via FROM audit";

/// Rows Mono's word says the account is gone by: its 2xx or JSON 404 (and the answers that
/// shared or replayed one), a resolution, or its webhook.
const SUCCESS: &str = "((kind IN ('unlink', 'resolution') \
    AND outcome IN ('unlinked', 'already_unlinked')) OR kind = 'webhook')";

/// Intents with no outcome yet, or an unknown one nothing settled since.
const UNRESOLVED: &str = "AND kind = 'intent'
    AND NOT EXISTS (SELECT 1 FROM audit o WHERE o.intent_id = audit.id
        AND (o.kind = 'resolution' OR (o.kind = 'unlink' AND o.outcome != 'outcome_unknown')))";

/// The key of the advisory lock that migrations run under ("unlink" in ASCII).
const MIGRATION_LOCK: i64 = 0x756e_6c69_6e6b;

/// Connections per process at most.
const POOL_SIZE: usize = 16;

/// How long a `COMMIT` already sent is awaited before its answer counts as lost (and the
/// store re-reads what it left). Far beyond any deadline: a safety net for a broken
/// connection, not a limit on the work.
const COMMIT_BACKSTOP: Duration = Duration::from_secs(30);

/// What can go wrong inside the store's work: PostgreSQL's own error, or the store's. One
/// type at the boundary, so every statement is `?` and is classified in one place.
#[derive(Debug)]
enum Fail {
    Pg(tokio_postgres::Error),
    Store(StoreError),
}

impl From<tokio_postgres::Error> for Fail {
    fn from(error: tokio_postgres::Error) -> Self {
        Self::Pg(error)
    }
}

impl From<StoreError> for Fail {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

type PgResult<T> = Result<T, Fail>;

/// The PostgreSQL store. Connect once per process and share it (`Arc`).
pub struct PostgresStore {
    pool: Pool,
    /// `host:port/database`, for messages (never the password).
    place: Arc<str>,
    /// Names this process's claims, so recovery never takes its own for a dead replica's.
    holder: Arc<str>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PostgresStore({})", self.place)
    }
}

/// How long start-up keeps trying to reach the server, and how it says so.
#[derive(Clone, Copy, Debug)]
pub struct ConnectPatience {
    /// Give up after this long.
    pub total: Duration,
}

impl Default for ConnectPatience {
    fn default() -> Self {
        Self {
            total: Duration::from_secs(30),
        }
    }
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user:password@host:port/database`), retrying with
    /// backoff for up to `patience.total` if the server is not up yet, then migrates the
    /// schema. TLS (rustls, Mozilla's roots plus `ca_file` if given) is required for any
    /// host but this machine's.
    pub async fn connect(
        url: &str,
        ca_file: Option<&std::path::Path>,
        patience: ConnectPatience,
    ) -> Result<Self, StoreError> {
        let mut config = tokio_postgres::Config::from_str(url).map_err(|error| {
            StoreError::Broken(format!("--database-url is not a PostgreSQL URL: {error}"))
        })?;
        let place = describe(&config);
        // A statement stuck behind a lock must not hold a connection for ever.
        config.options("-c statement_timeout=15000 -c lock_timeout=10000");
        config.application_name("unlink-proxy");
        let manager = if is_local(&config) {
            Manager::from_config(config, tokio_postgres::NoTls, manager_config())
        } else {
            if config.get_ssl_mode() == tokio_postgres::config::SslMode::Prefer {
                config.ssl_mode(tokio_postgres::config::SslMode::Require);
            }
            let tls = tls_config(ca_file).map_err(StoreError::Broken)?;
            Manager::from_config(
                config,
                tokio_postgres_rustls::MakeRustlsConnect::new(tls),
                manager_config(),
            )
        };
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(10)))
            .create_timeout(Some(Duration::from_secs(5)))
            .recycle_timeout(Some(Duration::from_secs(5)))
            .build()
            .map_err(|error| StoreError::Broken(format!("PostgreSQL pool: {error}")))?;
        let store = Self {
            pool,
            place: place.into(),
            holder: holder_name().into(),
        };
        store.wait_for_server(patience).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Where it is, for messages: `host:port/database`.
    pub fn place(&self) -> &str {
        &self.place
    }

    /// Where a PostgreSQL URL points, `host:port/database`, without connecting (and
    /// without its password).
    pub fn describe_url(url: &str) -> Result<String, StoreError> {
        tokio_postgres::Config::from_str(url)
            .map(|config| describe(&config))
            .map_err(|error| {
                StoreError::Broken(format!("--database-url is not a PostgreSQL URL: {error}"))
            })
    }

    /// Copies `rows` from another trail, labelled `source` (rows already copied with that
    /// label are skipped, so a copy can be resumed). Rows keep their time; an outcome's
    /// intent is found by its label. Returns how many were new.
    pub async fn import(&self, source: &str, rows: &[Entry]) -> Result<u64, StoreError> {
        let deadline = patient_deadline();
        self.transaction(deadline, async |tx| {
            let mut copied = 0;
            for row in rows {
                let intent_id: Option<i64> = match row.intent_id {
                    Some(old) => opt(
                        tx,
                        "SELECT id FROM audit WHERE imported_from = $1",
                        &[&format!("{source}#{old}")],
                    )
                    .await?
                    .map(|found| found.get(0)),
                    None => None,
                };
                copied += exec(
                    tx,
                    "INSERT INTO audit (ts, kind, request_id, principal, account_id,
                            idempotency_key, client_ip, outcome, source, upstream_status,
                            attempts, latency_ms, intent_id, detail, reason, via, imported_from)
                         VALUES ($1::text::timestamptz, $2, $3, $4, $5, $6, $7, $8, $9, $10,
                            $11, $12, $13, $14, $15, $16, $17)
                         ON CONFLICT (imported_from) WHERE imported_from IS NOT NULL DO NOTHING",
                    &[
                        &row.ts,
                        &row.kind.as_str(),
                        &row.request_id,
                        &row.principal,
                        &row.account_id,
                        &row.idempotency_key,
                        &row.client_ip,
                        &row.outcome.map(Outcome::as_str),
                        &row.source.map(Source::as_str),
                        &row.upstream_status.map(i32::from),
                        &(row.attempts as i32),
                        &row.latency_ms,
                        &intent_id,
                        &row.detail,
                        &row.reason.map(Reason::as_str),
                        &row.via.map(Via::as_str),
                        &format!("{source}#{}", row.id),
                    ],
                )
                .await?;
            }
            Ok(copied)
        })
        .await
    }

    /// How many rows carry the label `source` (see [`PostgresStore::import`]).
    pub async fn count_imported(&self, source: &str) -> Result<u64, StoreError> {
        let deadline = patient_deadline();
        self.read(deadline, async |client| {
            let row = one(
                client,
                "SELECT count(*) FROM audit WHERE imported_from LIKE $1 || '#%'",
                &[&source],
            )
            .await?;
            Ok(row.get::<_, i64>(0) as u64)
        })
        .await
    }

    async fn wait_for_server(&self, patience: ConnectPatience) -> Result<(), StoreError> {
        let started = Instant::now();
        let mut wait = Duration::from_millis(200);
        loop {
            match self.pool.get().await {
                Ok(_) => return Ok(()),
                Err(error) if started.elapsed() < patience.total => {
                    let wait_now = wait.min(patience.total.saturating_sub(started.elapsed()));
                    tracing::warn!(place = %self.place, "PostgreSQL is not answering yet ({}); \
                        retrying in {wait_now:?}", short(&error.to_string()));
                    tokio::time::sleep(wait_now).await;
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
                Err(error) => {
                    return Err(StoreError::Unavailable(format!(
                        "cannot reach PostgreSQL at {} after {:?}: {}",
                        self.place,
                        patience.total,
                        short(&error.to_string())
                    )));
                }
            }
        }
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut client = self.client(patient_deadline()).await?;
        // A session lock: every replica starting now waits here for the first one.
        exec(&client, "SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(|e| self.error(e))?;
        let migrated: PgResult<i32> = async {
            client
                .batch_execute(
                    "CREATE TABLE IF NOT EXISTS unlink_schema (version INTEGER NOT NULL)",
                )
                .await?;
            let version: i32 = opt(&client, "SELECT version FROM unlink_schema", &[])
                .await?
                .map_or(0, |row| row.get(0));
            for (index, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
                let tx = client.transaction().await?;
                tx.batch_execute(sql).await?;
                exec(&tx, "DELETE FROM unlink_schema", &[]).await?;
                exec(
                    &tx,
                    "INSERT INTO unlink_schema (version) VALUES ($1)",
                    &[&(index as i32 + 1)],
                )
                .await?;
                tx.commit().await?;
            }
            Ok(version)
        }
        .await;
        let _ = exec(&client, "SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]).await;
        let version = migrated.map_err(|e| self.error(e))?;
        if version as usize > MIGRATIONS.len() {
            return Err(StoreError::Broken(format!(
                "the PostgreSQL schema at {} is version {version}, newer than this proxy knows \
                 ({}); upgrade unlink-proxy",
                self.place,
                MIGRATIONS.len()
            )));
        }
        Ok(())
    }

    /// A connection from the pool, no later than `deadline`.
    async fn client(&self, deadline: Instant) -> Result<Object, StoreError> {
        let wait = deadline.saturating_duration_since(Instant::now());
        let timeouts = deadpool_postgres::Timeouts {
            wait: Some(wait),
            create: Some(wait),
            recycle: Some(wait),
        };
        self.pool.timeout_get(&timeouts).await.map_err(|error| {
            StoreError::Unavailable(format!(
                "PostgreSQL at {}: {}",
                self.place,
                short(&error.to_string())
            ))
        })
    }

    /// The one place a failure becomes a [`StoreError`]: worth retrying (unreachable, busy,
    /// read-only, full, cancelled), or not.
    fn error(&self, fail: impl Into<Fail>) -> StoreError {
        let error = match fail.into() {
            Fail::Store(error) => return error,
            Fail::Pg(error) => error,
        };
        let text = match error.as_db_error() {
            Some(db) => short(&format!("{} ({})", db.message(), db.code().code())),
            None => short(&error.to_string()),
        };
        let unavailable = error.is_closed()
            || matches!(
                error.code(),
                Some(
                    &SqlState::QUERY_CANCELED
                        | &SqlState::LOCK_NOT_AVAILABLE
                        | &SqlState::ADMIN_SHUTDOWN
                        | &SqlState::CANNOT_CONNECT_NOW
                        | &SqlState::TOO_MANY_CONNECTIONS
                        | &SqlState::T_R_SERIALIZATION_FAILURE
                        | &SqlState::T_R_DEADLOCK_DETECTED
                        | &SqlState::READ_ONLY_SQL_TRANSACTION
                        | &SqlState::DISK_FULL
                )
            )
            || error.code().is_none();
        let message = format!("PostgreSQL at {}: {text}", self.place);
        if unavailable {
            StoreError::Unavailable(message)
        } else {
            StoreError::Broken(message)
        }
    }

    /// `work` within `deadline`, as a [`StoreError`].
    async fn until<T>(
        &self,
        deadline: Instant,
        work: impl Future<Output = PgResult<T>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout_at(deadline, work).await {
            Ok(done) => done.map_err(|e| self.error(e)),
            Err(_) => Err(StoreError::Unavailable(format!(
                "PostgreSQL at {} did not answer in time",
                self.place
            ))),
        }
    }

    /// Reads on one connection, within `deadline`.
    async fn read<T>(
        &self,
        deadline: Instant,
        work: impl AsyncFnOnce(&Object) -> PgResult<T>,
    ) -> Result<T, StoreError> {
        let client = self.client(deadline).await?;
        self.until(deadline, work(&client)).await
    }

    /// One transaction: its statements within `deadline`, then `COMMIT`, awaited for its
    /// real answer (see the module's doc).
    async fn transaction<T>(
        &self,
        deadline: Instant,
        work: impl AsyncFnOnce(&Transaction<'_>) -> PgResult<T>,
    ) -> Result<T, StoreError> {
        let mut client = self.client(deadline).await?;
        let tx = self
            .until(deadline, async { Ok(client.transaction().await?) })
            .await?;
        let value = self.until(deadline, work(&tx)).await?;
        self.commit(tx).await?;
        Ok(value)
    }

    /// Sends `COMMIT` and waits for its answer, bounded only by [`COMMIT_BACKSTOP`].
    async fn commit(&self, tx: Transaction<'_>) -> Result<(), StoreError> {
        match tokio::time::timeout(COMMIT_BACKSTOP, tx.commit()).await {
            Ok(done) => done.map_err(|e| self.error(e)),
            Err(_) => Err(StoreError::Unavailable(format!(
                "PostgreSQL at {}: no answer to COMMIT within {COMMIT_BACKSTOP:?}",
                self.place
            ))),
        }
    }

    /// After a `begin` whose commit's answer was lost: once the server has settled it, if the
    /// intent and its claim did land, they are released with an `audit_unavailable` outcome
    /// (Mono was not called), so the account is not held by a claim nobody works on.
    fn reread_lost_begin(&self, intent: Entry, intent_id: i64) {
        let store = Self {
            pool: self.pool.clone(),
            place: self.place.clone(),
            holder: self.holder.clone(),
        };
        tokio::spawn(async move {
            for _ in 0..120 {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let deadline = Instant::now() + Duration::from_secs(5);
                let landed = store
                    .read(deadline, async |client| {
                        Ok(
                            opt(client, "SELECT 1 FROM audit WHERE id = $1", &[&intent_id])
                                .await?
                                .is_some(),
                        )
                    })
                    .await;
                match landed {
                    Ok(false) => return,
                    Ok(true) => {
                        let released = unsent(&intent, intent_id);
                        match store.finish(&released, patient_deadline()).await {
                            Ok(()) => {
                                tracing::warn!(
                                    intent_id,
                                    "an intent committed after its answer was lost; \
                                     released, Mono was not called"
                                );
                                return;
                            }
                            Err(error) => tracing::warn!(
                                %error,
                                intent_id,
                                "still cannot release an intent whose commit answer was lost"
                            ),
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, intent_id, "re-reading a lost commit")
                    }
                }
            }
        });
    }
}

#[async_trait]
impl Record for PostgresStore {
    async fn key_use(
        &self,
        key: &str,
        principal: &str,
        account_id: &str,
        deadline: Instant,
    ) -> Result<KeyUse, StoreError> {
        self.read(deadline, async |client| {
            let found = binding(client, key, false).await?;
            key_use(found, principal, account_id)
        })
        .await
    }

    async fn begin(
        &self,
        intent: &Entry,
        lease: Duration,
        deadline: Instant,
    ) -> Result<Begun, StoreError> {
        check(intent, Kind::Intent)?;
        let account = intent.account_id.clone().unwrap_or_default();
        let mut claimed = None;
        let begun = self
            .transaction(deadline, async |tx| {
                lock_account(tx, &account).await?;
                if let (Some(key), Some(principal)) = (&intent.idempotency_key, &intent.principal) {
                    match bind(tx, key, principal, &account).await? {
                        KeyUse::Other => return Ok(Begun::KeyReused),
                        KeyUse::Same(Some(outcome)) => return Ok(Begun::Replay(outcome)),
                        KeyUse::Same(None) | KeyUse::Fresh => {}
                    }
                }
                if let Some(at_ms) = unlinked_within_window(tx, &account).await? {
                    return Ok(Begun::Unlinked { at_ms });
                }
                let claim = opt(
                    tx,
                    concat!(
                        "SELECT intent_id, holder, expires_ms > ",
                        db_now_ms!(),
                        " FROM claims WHERE account_id = $1"
                    ),
                    &[&account],
                )
                .await?;
                if let Some(claim) = claim {
                    let (intent_id, claimer, live): (i64, String, bool) =
                        (claim.get(0), claim.get(1), claim.get(2));
                    // Our own claim is never stale: its outcome is still being written.
                    if *claimer == *self.holder || !claim_is_stale(&claimer, !live) {
                        return Ok(Begun::HeldElsewhere { intent_id });
                    }
                    mark_unknown(tx, intent_id, "its holder is gone").await?;
                }
                // The intent and the claim on the account, in one statement.
                let row = one(
                    tx,
                    concat!(
                        "WITH intent AS (
                            INSERT INTO audit (kind, request_id, principal, account_id,
                                idempotency_key, client_ip, detail, reason, via)
                            VALUES ('intent', $1, $2, $3, $4, $5, $6, $9, $10) RETURNING id)
                         INSERT INTO claims (account_id, intent_id, holder, expires_ms)
                         SELECT $3, id, $7, ",
                        db_now_ms!(),
                        " + $8 FROM intent
                         RETURNING intent_id"
                    ),
                    &[
                        &intent.request_id,
                        &intent.principal,
                        &account,
                        &intent.idempotency_key,
                        &intent.client_ip,
                        &intent.detail,
                        &&*self.holder,
                        &millis(lease),
                        &intent.reason.map(Reason::as_str),
                        &intent.via.map(Via::as_str),
                    ],
                )
                .await?;
                let intent_id: i64 = row.get(0);
                claimed = Some(intent_id);
                Ok(Begun::Claimed { intent_id })
            })
            .await;
        if let (Err(StoreError::Unavailable(_)), Some(intent_id)) = (&begun, claimed) {
            // The statements ran and COMMIT was sent: whether it landed is unknown.
            self.reread_lost_begin(intent.clone(), intent_id);
        }
        begun
    }

    async fn finish(&self, outcome: &Entry, deadline: Instant) -> Result<(), StoreError> {
        check(outcome, Kind::Unlink)?;
        let Some(intent_id) = outcome.intent_id else {
            return Err(StoreError::Broken("an outcome must name its intent".into()));
        };
        let account = outcome.account_id.clone().unwrap_or_default();
        self.transaction(deadline, async |tx| {
            lock_account(tx, &account).await?;
            let late = opt(
                tx,
                "SELECT 1 FROM audit WHERE kind = 'unlink' AND intent_id = $1",
                &[&intent_id],
            )
            .await?
            .is_some();
            insert(tx, &late_or_on_time(outcome.clone(), late)).await?;
            remember_final(tx, outcome).await?;
            exec(tx, "DELETE FROM claims WHERE intent_id = $1", &[&intent_id]).await?;
            if outcome.outcome.is_some_and(Outcome::is_final) {
                settle(tx, outcome, Source::Upstream).await?;
            }
            Ok(())
        })
        .await
    }

    async fn renew(
        &self,
        intent_id: i64,
        lease: Duration,
        deadline: Instant,
    ) -> Result<bool, StoreError> {
        self.transaction(deadline, async |tx| {
            let renewed = exec(
                tx,
                concat!(
                    "UPDATE claims SET expires_ms = ",
                    db_now_ms!(),
                    " + $3 WHERE intent_id = $1 AND holder = $2"
                ),
                &[&intent_id, &&*self.holder, &millis(lease)],
            )
            .await?;
            Ok(renewed == 1)
        })
        .await
    }

    async fn account(
        &self,
        account_id: &str,
        deadline: Instant,
    ) -> Result<AccountRecord, StoreError> {
        let sql = format!(
            "SELECT
                (SELECT to_char(MIN(ts) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')
                    FROM audit WHERE account_id = $1 AND {SUCCESS}),
                EXISTS (SELECT 1 FROM audit WHERE account_id = $1 AND kind = 'webhook'),
                EXISTS (SELECT 1 FROM audit WHERE account_id = $1 {UNRESOLVED})"
        );
        self.read(deadline, async |client| {
            let row = one(client, &sql, &[&account_id]).await?;
            Ok(AccountRecord {
                unlinked_at: row.get(0),
                confirmed: row.get(1),
                unresolved: row.get(2),
            })
        })
        .await
    }

    async fn record_answer(&self, entry: &Entry, deadline: Instant) -> Result<bool, StoreError> {
        check(entry, Kind::Unlink)?;
        self.transaction(deadline, async |tx| {
            if let (Some(key), Some(principal), Some(account)) =
                (&entry.idempotency_key, &entry.principal, &entry.account_id)
                && bind(tx, key, principal, account).await? == KeyUse::Other
            {
                return Ok(false);
            }
            insert(tx, entry).await?;
            remember_final(tx, entry).await?;
            Ok(true)
        })
        .await
    }

    async fn record(&self, entry: &Entry, deadline: Instant) -> Result<i64, StoreError> {
        valid(entry)?;
        self.transaction(deadline, async |tx| insert(tx, entry).await)
            .await
    }

    async fn record_webhook(&self, entry: &Entry, deadline: Instant) -> Result<bool, StoreError> {
        check(entry, Kind::Webhook)?;
        let account = entry.account_id.clone().unwrap_or_default();
        self.transaction(deadline, async |tx| {
            lock_account(tx, &account).await?;
            let first = exec(
                tx,
                "INSERT INTO audit (kind, request_id, account_id, outcome, source, detail)
                     VALUES ('webhook', $1, $2, $3, 'webhook', $4)
                     ON CONFLICT (account_id) WHERE kind = 'webhook' DO NOTHING",
                &[
                    &entry.request_id,
                    &account,
                    &entry.outcome.map(Outcome::as_str),
                    &entry.detail,
                ],
            )
            .await?
                == 1;
            settle(tx, entry, Source::Webhook).await?;
            Ok(first)
        })
        .await
    }

    async fn outcome_of(
        &self,
        intent_id: i64,
        deadline: Instant,
    ) -> Result<Option<Outcome>, StoreError> {
        self.read(deadline, async |client| {
            let row = opt(
                client,
                "SELECT outcome FROM audit WHERE kind = 'unlink' AND intent_id = $1
                     ORDER BY id LIMIT 1",
                &[&intent_id],
            )
            .await?;
            Ok(row.map(|row| word(row.get::<_, &str>(0))).transpose()?)
        })
        .await
    }

    async fn health(&self, deadline: Instant) -> Result<(), StoreError> {
        // A real write, committed: a standby, a read-only server or a full disk fails here as
        // an unlink's intent would.
        self.transaction(deadline, async |tx| {
            exec(
                tx,
                "INSERT INTO health (id, checked_at) VALUES (1, clock_timestamp())
                 ON CONFLICT (id) DO UPDATE SET checked_at = EXCLUDED.checked_at",
                &[],
            )
            .await?;
            Ok(())
        })
        .await
    }

    async fn entries(&self, query: &Query, deadline: Instant) -> Result<Vec<Entry>, StoreError> {
        let since = query.since.map(rfc3339);
        let (filter, cutoff) = filter(query.only);
        let sql = format!(
            "{SELECT_ENTRY}
             WHERE ($1::text IS NULL OR account_id = $1)
                AND ($2::text IS NULL OR ts >= $2::timestamptz)
                -- the cutoff is named in every query, so one parameter list fits them all
                AND ($3::text IS NULL OR $3::text IS NOT NULL) AND id > $4 {filter}
             ORDER BY id LIMIT $5"
        );
        let after = query.after_id.unwrap_or(0);
        let limit = i64::from(query.limit.unwrap_or(u32::MAX));
        self.read(deadline, async |client| {
            let rows = all(
                client,
                &sql,
                &[&query.account_id, &since, &cutoff, &after, &limit],
            )
            .await?;
            Ok(rows.iter().map(entry_from_row).collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn count(&self, only: Only, deadline: Instant) -> Result<u64, StoreError> {
        let (filter, cutoff) = filter(only);
        // The same filter as `entries`, whose cutoff is `$3`: here it is the only parameter.
        let sql = format!(
            "SELECT count(*) FROM audit WHERE ($3::text IS NULL OR $3::text IS NOT NULL) {filter}"
        )
        .replace("$3", "$1");
        self.read(deadline, async |client| {
            let row = one(client, &sql, &[&cutoff]).await?;
            Ok(row.get::<_, i64>(0) as u64)
        })
        .await
    }
}

#[async_trait]
impl RateLimiter for PostgresStore {
    async fn rate(
        &self,
        bucket: &str,
        per_minute: NonZeroU32,
        deadline: Instant,
    ) -> Result<Result<(), i64>, StoreError> {
        let (interval, burst) = crate::ratelimit::interval_and_burst(per_minute);
        self.read(deadline, async |client| {
            // One atomic statement on the database's clock: the same GCRA step as
            // `ratelimit::gcra`, taken only if it is allowed; when it is not, the bucket's
            // time as it was (a data-modifying CTE's change is invisible to its own query).
            let row = one(
                client,
                "WITH now AS (
                    SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint AS us),
                 taken AS (
                    INSERT INTO rate_limits AS r (bucket, tat_us)
                        SELECT $1, now.us + $2::bigint FROM now
                    ON CONFLICT (bucket) DO UPDATE
                        SET tat_us = GREATEST(r.tat_us, (SELECT us FROM now)) + $2::bigint
                        WHERE GREATEST(r.tat_us, (SELECT us FROM now)) + $2::bigint - $3::bigint
                            <= (SELECT us FROM now)
                    RETURNING tat_us)
                 SELECT EXISTS (SELECT 1 FROM taken),
                    (SELECT tat_us FROM rate_limits WHERE bucket = $1), (SELECT us FROM now)",
                &[&bucket, &interval, &burst],
            )
            .await?;
            if row.get::<_, bool>(0) {
                return Ok(Ok(()));
            }
            let (tat, now): (Option<i64>, i64) = (row.get(1), row.get(2));
            let tat = tat.unwrap_or(now);
            Ok(Err((tat.max(now) + interval - burst - now + 999) / 1000))
        })
        .await
    }
}

#[async_trait]
impl Upkeep for PostgresStore {
    /// Several replicas share the record, so only claims whose lease has run out (on the
    /// database's clock), or whose process on this machine is gone, are stale; never this
    /// process's own.
    async fn recover(&self, deadline: Instant) -> Result<Vec<Entry>, StoreError> {
        let others = self
            .read(deadline, async |client| {
                Ok(all(
                    client,
                    concat!(
                        "SELECT account_id, intent_id, holder, expires_ms <= ",
                        db_now_ms!(),
                        " FROM claims WHERE holder != $1 ORDER BY intent_id"
                    ),
                    &[&&*self.holder],
                )
                .await?)
            })
            .await?;
        let mut marked = Vec::new();
        for claim in others {
            let (account, intent_id, claimer, expired): (String, i64, String, bool) =
                (claim.get(0), claim.get(1), claim.get(2), claim.get(3));
            if !claim_is_stale(&claimer, expired) {
                continue;
            }
            let intent = self
                .transaction(deadline, async |tx| {
                    lock_account(tx, &account).await?;
                    // Still stale now that we hold the account?
                    let still = opt(
                        tx,
                        concat!(
                            "SELECT holder, expires_ms <= ",
                            db_now_ms!(),
                            " FROM claims WHERE intent_id = $1"
                        ),
                        &[&intent_id],
                    )
                    .await?
                    .is_some_and(|row| claim_is_stale(row.get(0), row.get(1)));
                    if !still {
                        return Ok(None);
                    }
                    mark_unknown(
                        tx,
                        intent_id,
                        "its replica stopped before Mono's answer was recorded",
                    )
                    .await?;
                    let row =
                        one(tx, &format!("{SELECT_ENTRY} WHERE id = $1"), &[&intent_id]).await?;
                    Ok(Some(entry_from_row(&row)?))
                })
                .await?;
            marked.extend(intent);
        }
        Ok(marked)
    }

    async fn purge(&self, retain: Option<Duration>, deadline: Instant) -> Result<u64, StoreError> {
        let now = now_ms();
        let cutoff = retain.map(|age| rfc3339(time::OffsetDateTime::now_utc() - age));
        self.transaction(deadline, async |tx| {
            exec(
                tx,
                "DELETE FROM idempotency_keys WHERE created_ms < $1",
                &[&(now - millis(REPLAY_WINDOW))],
            )
            .await?;
            exec(
                tx,
                "DELETE FROM rate_limits
                    WHERE tat_us < (extract(epoch FROM clock_timestamp()) * 1000000)::bigint",
                &[],
            )
            .await?;
            let Some(cutoff) = cutoff else {
                return Ok(0);
            };
            // Intents still waiting for their outcome stay, however old.
            Ok(exec(
                tx,
                "DELETE FROM audit WHERE ts < $1::timestamptz
                        AND id NOT IN (SELECT intent_id FROM claims)",
                &[&cutoff],
            )
            .await?)
        })
        .await
    }
}

/// The SQL that selects `only`'s rows (after `AND`), and its `$3` time, if it has one.
fn filter(only: Only) -> (&'static str, Option<String>) {
    match only {
        Only::All => ("", None),
        Only::Unresolved => (UNRESOLVED, None),
        Only::Unconfirmed { older_than } => (
            "AND kind = 'unlink' AND outcome = 'unlinked' AND source = 'upstream'
             AND date_trunc('milliseconds', ts) <= $3::timestamptz
             AND NOT EXISTS (SELECT 1 FROM audit w WHERE w.kind = 'webhook'
                 AND w.account_id = audit.account_id)",
            Some(rfc3339(time::OffsetDateTime::now_utc() - older_than)),
        ),
    }
}

fn manager_config() -> ManagerConfig {
    ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    }
}

/// Whether every host is this machine (or a Unix socket): then TLS adds nothing.
fn is_local(config: &tokio_postgres::Config) -> bool {
    config.get_hosts().iter().all(|host| match host {
        Host::Tcp(name) => {
            name == "localhost"
                || name
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        #[cfg(unix)]
        Host::Unix(_) => true,
    })
}

/// `host:port/database`, with no user or password.
fn describe(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(name)) => name.clone(),
        #[cfg(unix)]
        Some(Host::Unix(path)) => path.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let database = config.get_dbname().unwrap_or("(default database)");
    format!("{host}:{port}/{database}")
}

fn tls_config(ca_file: Option<&std::path::Path>) -> Result<rustls::ClientConfig, String> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        for cert in CertificateDer::pem_file_iter(path)
            .map_err(|error| format!("cannot read {}: {error}", path.display()))?
        {
            let cert = cert.map_err(|error| format!("{}: {error}", path.display()))?;
            roots
                .add(cert)
                .map_err(|error| format!("{}: {error}", path.display()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| error.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The first line of an error, at most 300 characters (server messages can be long).
fn short(text: &str) -> String {
    text.lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(300)
        .collect()
}

/// Statements are prepared once per connection and reused: one round trip per statement
/// instead of two.
async fn exec<C: GenericClient + Sync>(
    client: &C,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<u64, tokio_postgres::Error> {
    let statement = client.prepare_cached(sql).await?;
    client.execute(&statement, params).await
}

async fn one<C: GenericClient + Sync>(
    client: &C,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Row, tokio_postgres::Error> {
    let statement = client.prepare_cached(sql).await?;
    client.query_one(&statement, params).await
}

async fn opt<C: GenericClient + Sync>(
    client: &C,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Option<Row>, tokio_postgres::Error> {
    let statement = client.prepare_cached(sql).await?;
    client.query_opt(&statement, params).await
}

async fn all<C: GenericClient + Sync>(
    client: &C,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Row>, tokio_postgres::Error> {
    let statement = client.prepare_cached(sql).await?;
    client.query(&statement, params).await
}

/// Takes the account's advisory lock until the transaction ends.
async fn lock_account(tx: &Transaction<'_>, account: &str) -> PgResult<()> {
    exec(
        tx,
        "SELECT pg_advisory_xact_lock(hashtext($1))",
        &[&account],
    )
    .await?;
    Ok(())
}

async fn insert(tx: &Transaction<'_>, entry: &Entry) -> PgResult<i64> {
    let row = one(
        tx,
        "INSERT INTO audit (kind, request_id, principal, account_id, idempotency_key,
                client_ip, outcome, source, upstream_status, attempts, latency_ms, intent_id,
                detail, reason, via)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
             RETURNING id",
        &[
            &entry.kind.as_str(),
            &entry.request_id,
            &entry.principal,
            &entry.account_id,
            &entry.idempotency_key,
            &entry.client_ip,
            &entry.outcome.map(Outcome::as_str),
            &entry.source.map(Source::as_str),
            &entry.upstream_status.map(i32::from),
            &(entry.attempts as i32),
            &entry.latency_ms,
            &entry.intent_id,
            &entry.detail,
            &entry.reason.map(Reason::as_str),
            &entry.via.map(Via::as_str),
        ],
    )
    .await?;
    Ok(row.get(0))
}

/// When the account was first unlinked on record within the replay window (the database's
/// clock), ms since the epoch.
async fn unlinked_within_window(tx: &Transaction<'_>, account: &str) -> PgResult<Option<i64>> {
    let row = one(
        tx,
        &format!(
            "SELECT (extract(epoch FROM MIN(ts)) * 1000)::bigint FROM audit
             WHERE account_id = $1 AND ts >= clock_timestamp() - $2 * interval '1 millisecond'
                AND {SUCCESS}"
        ),
        &[&account, &(millis(REPLAY_WINDOW) as f64)],
    )
    .await?;
    Ok(row.get(0))
}

async fn binding<C: GenericClient + Sync>(
    client: &C,
    key: &str,
    lock: bool,
) -> PgResult<Option<(String, String, Option<String>)>> {
    let since = now_ms() - millis(REPLAY_WINDOW);
    let sql = if lock {
        "SELECT principal, account_id, outcome FROM idempotency_keys
         WHERE key = $1 AND created_ms >= $2 FOR UPDATE"
    } else {
        "SELECT principal, account_id, outcome FROM idempotency_keys
         WHERE key = $1 AND created_ms >= $2"
    };
    Ok(opt(client, sql, &[&key, &since])
        .await?
        .map(|row| (row.get(0), row.get(1), row.get(2))))
}

fn key_use(
    binding: Option<(String, String, Option<String>)>,
    principal: &str,
    account_id: &str,
) -> PgResult<KeyUse> {
    Ok(match binding {
        None => KeyUse::Fresh,
        Some((p, a, outcome)) if p == principal && a == account_id => {
            KeyUse::Same(outcome.map(|w| word(&w)).transpose()?)
        }
        Some(_) => KeyUse::Other,
    })
}

/// Binds `key` to (principal, account) unless it is bound already; says which use this is.
async fn bind(tx: &Transaction<'_>, key: &str, principal: &str, account: &str) -> PgResult<KeyUse> {
    let now = now_ms();
    // One statement: a new key, or one past the replay window, is (re)bound here; a live
    // binding is left as it is and read below.
    let fresh = exec(
        tx,
        "INSERT INTO idempotency_keys (key, principal, account_id, created_ms)
             VALUES ($1, $2, $3, $4)
         ON CONFLICT (key) DO UPDATE
            SET principal = EXCLUDED.principal, account_id = EXCLUDED.account_id,
                created_ms = EXCLUDED.created_ms, outcome = NULL
            WHERE idempotency_keys.created_ms < $5",
        &[
            &key,
            &principal,
            &account,
            &now,
            &(now - millis(REPLAY_WINDOW)),
        ],
    )
    .await?
        == 1;
    if fresh {
        return Ok(KeyUse::Fresh);
    }
    key_use(binding(tx, key, true).await?, principal, account)
}

async fn remember_final(tx: &Transaction<'_>, entry: &Entry) -> PgResult<()> {
    if let (Some(key), Some(outcome)) = (&entry.idempotency_key, entry.outcome)
        && outcome.is_final()
    {
        exec(
            tx,
            "UPDATE idempotency_keys SET outcome = $2 WHERE key = $1 AND outcome IS NULL",
            &[key, &outcome.as_str()],
        )
        .await?;
    }
    Ok(())
}

/// Writes `outcome_unknown` for an intent that will never get its outcome, and drops its claim.
async fn mark_unknown(tx: &Transaction<'_>, intent_id: i64, why: &str) -> PgResult<()> {
    exec(
        tx,
        "INSERT INTO audit (kind, request_id, principal, account_id, idempotency_key,
            client_ip, outcome, source, intent_id, detail, reason, via)
         SELECT 'unlink', request_id, principal, account_id, idempotency_key, client_ip,
            'outcome_unknown', 'recovery', id, $2, reason, via
         FROM audit WHERE id = $1 AND kind = 'intent'
            AND NOT EXISTS (SELECT 1 FROM audit o WHERE o.kind = 'unlink' AND o.intent_id = $1)",
        &[&intent_id, &why],
    )
    .await?;
    exec(tx, "DELETE FROM claims WHERE intent_id = $1", &[&intent_id]).await?;
    Ok(())
}

/// Mono has said the account is gone: settle every unknown outcome for it.
async fn settle(tx: &Transaction<'_>, by: &Entry, source: Source) -> PgResult<()> {
    let detail = match source {
        Source::Webhook => "Mono's webhook says the account is unlinked",
        Source::Upstream
        | Source::Shared
        | Source::Replay
        | Source::Proxy
        | Source::Recovery
        | Source::Record
        | Source::None => "a later unlink found the account unlinked at Mono",
    };
    exec(
        tx,
        "INSERT INTO audit (kind, request_id, principal, account_id, outcome, source, intent_id,
            detail, reason, via)
         SELECT 'resolution', $1, u.principal, u.account_id, 'unlinked', $3, u.intent_id, $4,
            u.reason, u.via
         FROM audit u
         WHERE u.kind = 'unlink' AND u.outcome = 'outcome_unknown' AND u.account_id = $2
            AND NOT EXISTS (SELECT 1 FROM audit r WHERE r.kind = 'resolution'
                AND r.intent_id = u.intent_id)",
        &[&by.request_id, &by.account_id, &source.as_str(), &detail],
    )
    .await?;
    Ok(())
}

fn word<T: FromStr<Err = crate::record::UnknownWord>>(word: &str) -> Result<T, StoreError> {
    word.parse()
        .map_err(|error: crate::record::UnknownWord| StoreError::Broken(error.to_string()))
}

fn entry_from_row(row: &Row) -> Result<Entry, StoreError> {
    let optional = |index: usize| -> Option<String> { row.get(index) };
    Ok(Entry {
        id: row.get(0),
        ts: row.get(1),
        kind: word(row.get::<_, &str>(2))?,
        request_id: row.get(3),
        principal: row.get(4),
        account_id: row.get(5),
        idempotency_key: row.get(6),
        client_ip: row.get(7),
        outcome: optional(8).map(|w| word(&w)).transpose()?,
        source: optional(9).map(|w| word(&w)).transpose()?,
        upstream_status: row.get::<_, Option<i32>>(10).map(|s| s as u16),
        attempts: row.get::<_, i32>(11) as u32,
        latency_ms: row.get(12),
        intent_id: row.get(13),
        detail: row.get(14),
        reason: optional(15).map(|w| word(&w)).transpose()?,
        via: optional(16).map(|w| word(&w)).transpose()?,
    })
}
