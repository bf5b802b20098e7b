//! The SQLite store: one file, one process. WAL with full syncs, so a committed row survives
//! a crash or a power cut; one writer connection and one reader, so reads never wait for a
//! write, and every wait for the writer is bounded by the caller's deadline.
//!
//! Rate-limit counters live in memory: they only matter to this one process, and a flood of
//! refused requests then costs no disk writes at all.

use std::{
    collections::HashMap,
    fs::OpenOptions,
    num::NonZeroU32,
    path::{Path, PathBuf},
    sync::{Arc, Mutex as SyncMutex},
    time::Duration,
};

use async_trait::async_trait;
use rusqlite::{Connection, ErrorCode, OptionalExtension, Row, Transaction, named_params, params};
use tokio::{sync::Mutex, time::Instant};

use super::{
    AccountRecord, Begun, KeyUse, Only, Query, REPLAY_WINDOW, RateLimiter, Record, StoreError,
    Upkeep,
    engine::{check, claim_is_stale, holder_name, late_or_on_time, ts_millis, valid},
};
use crate::{
    record::{Entry, Kind, Outcome, Reason, Source, Via},
    time::{millis, now_ms, now_rfc3339, rfc3339},
};

/// The schema, one file per version, applied in order. `PRAGMA user_version` records how
/// many are applied. Version 1 is what 0.1 wrote; later versions upgrade it in place.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/sqlite/0001_audit.sql"),
    include_str!("../../migrations/sqlite/0002_intents_keys_claims.sql"),
    include_str!("../../migrations/sqlite/0003_health_reason_via.sql"),
];

/// The columns a new row fills, in the order of [`write_row`]'s parameters.
macro_rules! written_columns {
    () => {
        "ts, kind, request_id, principal, account_id, idempotency_key, client_ip, outcome, \
         source, upstream_status, attempts, latency_ms, intent_id, detail, reason, via"
    };
}
const COLUMNS: &str = concat!("id, ", written_columns!());

/// The SQLite store. Open it once per process and share it (`Arc`).
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    writer: Arc<Mutex<Connection>>,
    reader: Arc<Mutex<Connection>>,
    /// Names this process's claims, so start-up can tell them from a crashed run's.
    holder: String,
    /// Rate-limit state per bucket: the theoretical arrival time, µs since the epoch.
    limits: SyncMutex<HashMap<String, i64>>,
}

impl SqliteStore {
    /// Opens the database at `path`, creating it (readable by its owner only) if it does not
    /// exist, and upgrades its schema.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        create_private(&path)?;
        Self::open_existing(path)
    }

    /// Opens an existing database, for reading the trail: a missing file is an error, not a
    /// new empty trail.
    pub fn open_existing(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        if !path.is_file() {
            return Err(StoreError::Broken(format!(
                "audit database {} does not exist (check --audit-db)",
                path.display()
            )));
        }
        let writer = connect(&path)?;
        migrate(&writer, &path)?;
        let reader = connect(&path)?;
        Ok(Self {
            path,
            writer: Arc::new(Mutex::new(writer)),
            reader: Arc::new(Mutex::new(reader)),
            holder: holder_name(),
            limits: SyncMutex::default(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `work` in one `BEGIN IMMEDIATE` transaction on the writer, waiting for the writer
    /// (and for other processes' locks) no later than `deadline`.
    async fn write<T: Send + 'static>(
        &self,
        deadline: Instant,
        work: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let mut connection = tokio::time::timeout_at(deadline, self.writer.clone().lock_owned())
            .await
            .map_err(|_| self.busy())?;
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let wait = deadline.saturating_duration_since(Instant::now());
            let wrap = |error| classify(&path, error);
            connection
                .busy_timeout(wait.max(Duration::from_millis(1)))
                .map_err(wrap)?;
            let transaction = connection
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(wrap)?;
            let out = work(&transaction).map_err(wrap)?;
            transaction.commit().map_err(wrap)?;
            Ok(out)
        })
        .await
        .unwrap_or_else(|_| Err(self.worker_stopped()))
    }

    async fn read<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let connection = self.reader.clone().lock_owned().await;
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || work(&connection).map_err(|e| classify(&path, e)))
            .await
            .unwrap_or_else(|_| Err(self.worker_stopped()))
    }

    fn busy(&self) -> StoreError {
        StoreError::Unavailable(format!(
            "audit database {}: earlier writes are still waiting for the disk or a lock",
            self.path.display()
        ))
    }

    fn worker_stopped(&self) -> StoreError {
        StoreError::Broken(format!(
            "audit database {}: the worker running the query stopped",
            self.path.display()
        ))
    }
}

#[async_trait]
impl Record for SqliteStore {
    async fn key_use(
        &self,
        key: &str,
        principal: &str,
        account_id: &str,
        _deadline: Instant,
    ) -> Result<KeyUse, StoreError> {
        let (key, principal, account_id) =
            (key.to_owned(), principal.to_owned(), account_id.to_owned());
        self.read(move |connection| {
            let binding = binding(connection, &key)?;
            Ok(key_use(binding, &principal, &account_id))
        })
        .await
    }

    async fn begin(
        &self,
        intent: &Entry,
        lease: Duration,
        deadline: Instant,
    ) -> Result<Begun, StoreError> {
        let intent = intent.clone();
        check(&intent, Kind::Intent)?;
        let holder = self.holder.clone();
        self.write(deadline, move |tx| {
            let account = intent.account_id.clone().unwrap_or_default();
            if let (Some(key), Some(principal)) = (&intent.idempotency_key, &intent.principal) {
                match bind(tx, key, principal, &account)? {
                    KeyUse::Other => return Ok(Begun::KeyReused),
                    KeyUse::Same(Some(outcome)) => return Ok(Begun::Replay(outcome)),
                    KeyUse::Same(None) | KeyUse::Fresh => {}
                }
            }
            if let Some(at) = unlinked_since(tx, &account, now_ms() - millis(REPLAY_WINDOW))? {
                return Ok(Begun::Unlinked { at_ms: at });
            }
            let now = now_ms();
            let claim: Option<(i64, String, i64)> = tx
                .query_row(
                    "SELECT intent_id, holder, expires_ms FROM claims WHERE account_id = ?1",
                    [&account],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
                )
                .optional()?;
            match claim {
                // Our own claim is never stale: its outcome is still being written.
                Some((intent_id, claimer, expires_ms))
                    if claimer == holder || !claim_is_stale(&claimer, expires_ms <= now) =>
                {
                    return Ok(Begun::HeldElsewhere { intent_id });
                }
                Some((intent_id, ..)) => mark_unknown(tx, intent_id, "its holder is gone")?,
                None => {}
            }
            let intent_id = insert(tx, &intent)?;
            tx.execute(
                "INSERT INTO claims (account_id, intent_id, holder, expires_ms)
                 VALUES (?1, ?2, ?3, ?4)",
                params![account, intent_id, holder, now + millis(lease)],
            )?;
            Ok(Begun::Claimed { intent_id })
        })
        .await
    }

    async fn finish(&self, outcome: &Entry, deadline: Instant) -> Result<(), StoreError> {
        let entry = outcome.clone();
        check(&entry, Kind::Unlink)?;
        let Some(intent_id) = entry.intent_id else {
            return Err(StoreError::Broken("an outcome must name its intent".into()));
        };
        self.write(deadline, move |tx| {
            let late = has_outcome(tx, intent_id)?;
            insert(tx, &late_or_on_time(entry.clone(), late))?;
            remember_final(tx, &entry)?;
            tx.execute("DELETE FROM claims WHERE intent_id = ?1", [intent_id])?;
            if entry.outcome.is_some_and(Outcome::is_final) {
                settle(tx, &entry, Source::Upstream)?;
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
        let holder = self.holder.clone();
        self.write(deadline, move |tx| {
            let renewed = tx.execute(
                "UPDATE claims SET expires_ms = ?3 WHERE intent_id = ?1 AND holder = ?2",
                params![intent_id, holder, now_ms() + millis(lease)],
            )?;
            Ok(renewed == 1)
        })
        .await
    }

    async fn account(
        &self,
        account_id: &str,
        _deadline: Instant,
    ) -> Result<AccountRecord, StoreError> {
        let account = account_id.to_owned();
        self.read(move |connection| {
            let unlinked_at: Option<String> = connection.query_row(
                &format!("SELECT MIN(ts) FROM audit WHERE account_id = ?1 AND {SUCCESS}"),
                [&account],
                |row| row.get(0),
            )?;
            let confirmed = connection
                .query_row(
                    "SELECT 1 FROM audit WHERE account_id = ?1 AND kind = 'webhook'",
                    [&account],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            let unresolved = connection
                .query_row(
                    &format!("SELECT 1 FROM audit WHERE account_id = ?1 {UNRESOLVED} LIMIT 1"),
                    [&account],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            Ok(AccountRecord {
                unlinked_at,
                confirmed,
                unresolved,
            })
        })
        .await
    }

    async fn record_answer(&self, entry: &Entry, deadline: Instant) -> Result<bool, StoreError> {
        let entry = entry.clone();
        check(&entry, Kind::Unlink)?;
        self.write(deadline, move |tx| {
            if let (Some(key), Some(principal), Some(account)) =
                (&entry.idempotency_key, &entry.principal, &entry.account_id)
                && bind(tx, key, principal, account)? == KeyUse::Other
            {
                return Ok(false);
            }
            insert(tx, &entry)?;
            remember_final(tx, &entry)?;
            Ok(true)
        })
        .await
    }

    async fn record(&self, entry: &Entry, deadline: Instant) -> Result<i64, StoreError> {
        let entry = entry.clone();
        valid(&entry)?;
        self.write(deadline, move |tx| insert(tx, &entry)).await
    }

    async fn record_webhook(&self, entry: &Entry, deadline: Instant) -> Result<bool, StoreError> {
        let entry = entry.clone();
        check(&entry, Kind::Webhook)?;
        self.write(deadline, move |tx| {
            let first = insert_or_ignore(tx, &entry)?;
            settle(tx, &entry, Source::Webhook)?;
            Ok(first)
        })
        .await
    }

    async fn outcome_of(
        &self,
        intent_id: i64,
        _deadline: Instant,
    ) -> Result<Option<Outcome>, StoreError> {
        self.read(move |connection| {
            let word: Option<String> = connection
                .query_row(
                    "SELECT outcome FROM audit WHERE kind = 'unlink' AND intent_id = ?1
                     ORDER BY id LIMIT 1",
                    [intent_id],
                    |row| row.get(0),
                )
                .optional()?;
            word.map(|w| parse_word(0, &w)).transpose()
        })
        .await
    }

    async fn health(&self, deadline: Instant) -> Result<(), StoreError> {
        // A real write, committed, as big as an unlink's: a full disk or a read-only file
        // fails here as an unlink's intent would. Random bytes, because SQLite does not
        // rewrite pages whose bytes did not change.
        self.write(deadline, |tx| {
            tx.execute(
                "INSERT INTO health (id, checked_ms, room) VALUES (1, ?1, randomblob(32768))
                 ON CONFLICT (id) DO UPDATE SET checked_ms = excluded.checked_ms,
                    room = excluded.room",
                [now_ms()],
            )?;
            Ok(())
        })
        .await
    }

    async fn entries(&self, query: &Query, _deadline: Instant) -> Result<Vec<Entry>, StoreError> {
        let account = query.account_id.clone();
        let since = query.since.map(rfc3339);
        let only = query.only;
        let after = query.after_id.unwrap_or(0);
        let limit = i64::from(query.limit.unwrap_or(u32::MAX));
        self.read(move |connection| {
            let (filter, cutoff) = filter(only);
            let mut statement = connection.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM audit
                 WHERE (:account IS NULL OR account_id = :account)
                    AND (:since IS NULL OR ts >= :since) AND id > :after
                    AND {NAMES_CUTOFF} {filter}
                 ORDER BY id LIMIT :limit"
            ))?;
            let rows = statement.query_map(
                named_params! {
                    ":account": account, ":since": since, ":cutoff": cutoff,
                    ":after": after, ":limit": limit,
                },
                entry_from_row,
            )?;
            rows.collect()
        })
        .await
    }

    async fn count(&self, only: Only, _deadline: Instant) -> Result<u64, StoreError> {
        self.read(move |connection| {
            let (filter, cutoff) = filter(only);
            connection.query_row(
                &format!("SELECT COUNT(*) FROM audit WHERE {NAMES_CUTOFF} {filter}"),
                named_params! { ":cutoff": cutoff },
                |row| row.get::<_, i64>(0).map(|n| n as u64),
            )
        })
        .await
    }
}

#[async_trait]
impl RateLimiter for SqliteStore {
    async fn rate(
        &self,
        bucket: &str,
        per_minute: NonZeroU32,
        _deadline: Instant,
    ) -> Result<Result<(), i64>, StoreError> {
        let now = crate::time::now_us();
        let mut limits = self.limits.lock().unwrap_or_else(|p| p.into_inner());
        // Buckets whose limit has fully recovered carry no information: forget them, so
        // memory stays bounded however many addresses call.
        if limits.len() >= 100_000 {
            limits.retain(|_, tat| *tat > now);
        }
        let tat = limits.get(bucket).copied();
        Ok(match crate::ratelimit::gcra(tat, now, per_minute) {
            Ok(next) => {
                limits.insert(bucket.to_owned(), next);
                Ok(())
            }
            Err(wait) => Err(wait),
        })
    }
}

#[async_trait]
impl Upkeep for SqliteStore {
    /// Another process's claim is stale once its lease ran out or the process is gone (a
    /// crash): then at once, without waiting for the lease. A live process's claims (the
    /// server, while `unlink-proxy unlink` runs beside it) are left alone, and this
    /// process's own are never stale: an outcome that could not be written yet is still being
    /// retried.
    async fn recover(&self, deadline: Instant) -> Result<Vec<Entry>, StoreError> {
        let holder = self.holder.clone();
        self.write(deadline, move |tx| {
            let others: Vec<(i64, String, bool)> = {
                let mut statement = tx.prepare(
                    "SELECT intent_id, holder, expires_ms <= ?2 FROM claims WHERE holder != ?1
                     ORDER BY intent_id",
                )?;
                statement
                    .query_map(params![holder, now_ms()], |row| {
                        Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                    })?
                    .collect::<Result<_, _>>()?
            };
            let stale = others
                .into_iter()
                .filter(|(_, claimer, expired)| claim_is_stale(claimer, *expired))
                .map(|(intent_id, ..)| intent_id);
            let mut marked = Vec::new();
            for intent_id in stale {
                mark_unknown(
                    tx,
                    intent_id,
                    "the proxy stopped before Mono's answer was recorded",
                )?;
                let intent = tx.query_row(
                    &format!("SELECT {COLUMNS} FROM audit WHERE id = ?1"),
                    [intent_id],
                    entry_from_row,
                )?;
                marked.push(intent);
            }
            Ok(marked)
        })
        .await
    }

    async fn purge(&self, retain: Option<Duration>, deadline: Instant) -> Result<u64, StoreError> {
        let cutoff = retain.map(|age| rfc3339(time::OffsetDateTime::now_utc() - age));
        let now = now_ms();
        let now_us = crate::time::now_us();
        self.limits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, tat| *tat > now_us);
        self.write(deadline, move |tx| {
            tx.execute(
                "DELETE FROM idempotency_keys WHERE created_ms < ?1",
                [now - millis(REPLAY_WINDOW)],
            )?;
            let Some(cutoff) = cutoff else {
                return Ok(0);
            };
            // Intents still waiting for their outcome stay, however old.
            let gone = tx.execute(
                "DELETE FROM audit WHERE ts < ?1
                    AND id NOT IN (SELECT intent_id FROM claims)",
                [cutoff],
            )?;
            Ok(gone as u64)
        })
        .await
    }
}

/// Rows Mono's word says the account is gone by: its 2xx or JSON 404 (and the answers that
/// shared or replayed one), a resolution, or its webhook.
const SUCCESS: &str = "((kind IN ('unlink', 'resolution') \
    AND outcome IN ('unlinked', 'already_unlinked')) OR kind = 'webhook')";

/// Intents with no outcome yet, or an unknown one nothing settled since.
const UNRESOLVED: &str = "AND kind = 'intent'
    AND NOT EXISTS (SELECT 1 FROM audit o WHERE o.intent_id = audit.id
        AND (o.kind = 'resolution' OR (o.kind = 'unlink' AND o.outcome != 'outcome_unknown')))";

/// Names `:cutoff` in every query, so the same parameters fit every filter.
const NAMES_CUTOFF: &str = "(:cutoff IS NULL OR :cutoff IS NOT NULL)";

/// The SQL that selects `only`'s rows (after `AND`), and its `:cutoff` time, if it has one.
fn filter(only: Only) -> (&'static str, Option<String>) {
    match only {
        Only::All => ("", None),
        Only::Unconfirmed { older_than } => (
            "AND kind = 'unlink' AND outcome = 'unlinked' AND source = 'upstream'
             AND ts <= :cutoff
             AND NOT EXISTS (SELECT 1 FROM audit w WHERE w.kind = 'webhook'
                 AND w.account_id = audit.account_id)",
            Some(rfc3339(time::OffsetDateTime::now_utc() - older_than)),
        ),
        Only::Unresolved => (UNRESOLVED, None),
    }
}

/// When the account was first unlinked on record at or after `since_ms`, if it was.
fn unlinked_since(
    tx: &Transaction<'_>,
    account: &str,
    since_ms: i64,
) -> rusqlite::Result<Option<i64>> {
    let since = rfc3339(
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(since_ms) * 1_000_000)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
    );
    let first: Option<String> = tx.query_row(
        &format!("SELECT MIN(ts) FROM audit WHERE account_id = ?1 AND ts >= ?2 AND {SUCCESS}"),
        params![account, since],
        |row| row.get(0),
    )?;
    first
        .map(|ts| {
            ts_millis(&ts).map_err(|error| {
                rusqlite::Error::FromSqlConversionFailure(
                    1,
                    rusqlite::types::Type::Text,
                    Box::new(error),
                )
            })
        })
        .transpose()
}

/// Whether the intent already has an outcome row (another process marked it).
fn has_outcome(tx: &Transaction<'_>, intent_id: i64) -> rusqlite::Result<bool> {
    Ok(tx
        .query_row(
            "SELECT 1 FROM audit WHERE kind = 'unlink' AND intent_id = ?1",
            [intent_id],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Creates `path` readable and writable by its owner only, if it does not exist. SQLite then
/// gives its `-wal` and `-shm` files the same permissions.
fn create_private(path: &Path) -> Result<(), StoreError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(StoreError::Broken(format!(
            "cannot create audit database {}: {error}",
            path.display()
        ))),
    }
}

fn connect(path: &Path) -> Result<Connection, StoreError> {
    let wrap = |error| classify(path, error);
    let connection = Connection::open(path).map_err(wrap)?;
    connection
        .busy_timeout(Duration::from_secs(5))
        .map_err(wrap)?;
    let mode: String = connection
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .map_err(wrap)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Broken(format!(
            "audit database {} cannot use WAL journaling (is it on a network drive?)",
            path.display()
        )));
    }
    // FULL: a row is on disk when the commit returns, even across a power cut.
    connection
        .pragma_update(None, "synchronous", "FULL")
        .map_err(wrap)?;
    Ok(connection)
}

fn migrate(connection: &Connection, path: &Path) -> Result<(), StoreError> {
    let wrap = |error| classify(path, error);
    let version: i64 = connection
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(wrap)?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(StoreError::Broken(format!(
            "audit database {} has schema version {version}, newer than this proxy knows \
             ({known}); upgrade unlink-proxy",
            path.display()
        )));
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let batch = format!(
            "BEGIN IMMEDIATE; {sql}; PRAGMA user_version = {}; COMMIT;",
            index + 1
        );
        if let Err(error) = connection.execute_batch(&batch) {
            let _ = connection.execute_batch("ROLLBACK");
            return Err(wrap(error));
        }
    }
    Ok(())
}

fn classify(path: &Path, error: rusqlite::Error) -> StoreError {
    let path = path.display();
    match error.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            StoreError::Unavailable(format!(
                "audit database {path} is locked by another process; stop it or use another --audit-db"
            ))
        }
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => StoreError::Broken(format!(
            "audit database {path} is not an SQLite database (corrupt, or another file); move \
             it aside or choose another --audit-db"
        )),
        Some(ErrorCode::DiskFull) => {
            StoreError::Unavailable(format!("audit database {path}: the disk is full"))
        }
        _ => StoreError::Broken(format!("audit database {path}: {error}")),
    }
}

fn insert(tx: &Transaction<'_>, entry: &Entry) -> rusqlite::Result<i64> {
    write_row(tx, entry, "INSERT")?;
    Ok(tx.last_insert_rowid())
}

/// Inserts unless a unique index already holds such a row; says whether it inserted.
fn insert_or_ignore(tx: &Transaction<'_>, entry: &Entry) -> rusqlite::Result<bool> {
    Ok(write_row(tx, entry, "INSERT OR IGNORE")? == 1)
}

fn write_row(tx: &Transaction<'_>, entry: &Entry, verb: &str) -> rusqlite::Result<usize> {
    let sql = format!(
        "{verb} INTO audit ({}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, \
         ?14, ?15, ?16)",
        written_columns!()
    );
    tx.execute(
        &sql,
        params![
            now_rfc3339(),
            entry.kind.as_str(),
            entry.request_id,
            entry.principal,
            entry.account_id,
            entry.idempotency_key,
            entry.client_ip,
            entry.outcome.map(Outcome::as_str),
            entry.source.map(Source::as_str),
            entry.upstream_status,
            entry.attempts,
            entry.latency_ms,
            entry.intent_id,
            entry.detail,
            entry.reason.map(Reason::as_str),
            entry.via.map(Via::as_str),
        ],
    )
}

/// The key's binding, if it was made within the replay window.
fn binding(
    connection: &Connection,
    key: &str,
) -> rusqlite::Result<Option<(String, String, Option<Outcome>)>> {
    let since = now_ms() - millis(REPLAY_WINDOW);
    connection
        .query_row(
            "SELECT principal, account_id, outcome FROM idempotency_keys
             WHERE key = ?1 AND created_ms >= ?2",
            params![key, since],
            |row| {
                let outcome: Option<String> = row.get(2)?;
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    outcome.map(|w| parse_word(2, &w)).transpose()?,
                ))
            },
        )
        .optional()
}

fn key_use(
    binding: Option<(String, String, Option<Outcome>)>,
    principal: &str,
    account_id: &str,
) -> KeyUse {
    match binding {
        None => KeyUse::Fresh,
        Some((p, a, outcome)) if p == principal && a == account_id => KeyUse::Same(outcome),
        Some(_) => KeyUse::Other,
    }
}

/// Binds `key` to (principal, account) unless it is bound already, and says which use this is.
fn bind(
    tx: &Transaction<'_>,
    key: &str,
    principal: &str,
    account: &str,
) -> rusqlite::Result<KeyUse> {
    let now = now_ms();
    tx.execute(
        "DELETE FROM idempotency_keys WHERE key = ?1 AND created_ms < ?2",
        params![key, now - millis(REPLAY_WINDOW)],
    )?;
    let fresh = tx.execute(
        "INSERT OR IGNORE INTO idempotency_keys (key, principal, account_id, created_ms)
         VALUES (?1, ?2, ?3, ?4)",
        params![key, principal, account, now],
    )? == 1;
    if fresh {
        return Ok(KeyUse::Fresh);
    }
    Ok(key_use(binding(tx, key)?, principal, account))
}

fn remember_final(tx: &Transaction<'_>, entry: &Entry) -> rusqlite::Result<()> {
    if let (Some(key), Some(outcome)) = (&entry.idempotency_key, entry.outcome)
        && outcome.is_final()
    {
        tx.execute(
            "UPDATE idempotency_keys SET outcome = ?2 WHERE key = ?1 AND outcome IS NULL",
            params![key, outcome.as_str()],
        )?;
    }
    Ok(())
}

/// Writes `outcome_unknown` for an intent that will never get its outcome, and drops its claim.
fn mark_unknown(tx: &Transaction<'_>, intent_id: i64, why: &str) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO audit (ts, kind, request_id, principal, account_id, idempotency_key,
            client_ip, outcome, source, intent_id, detail, reason, via)
         SELECT ?1, 'unlink', request_id, principal, account_id, idempotency_key, client_ip,
            'outcome_unknown', 'recovery', id, ?3, reason, via
         FROM audit WHERE id = ?2 AND kind = 'intent'
            AND NOT EXISTS (SELECT 1 FROM audit o WHERE o.kind = 'unlink' AND o.intent_id = ?2)",
        params![now_rfc3339(), intent_id, why],
    )?;
    tx.execute("DELETE FROM claims WHERE intent_id = ?1", [intent_id])?;
    Ok(())
}

/// Mono has said the account is gone: settle every unknown outcome for it.
fn settle(tx: &Transaction<'_>, by: &Entry, source: Source) -> rusqlite::Result<usize> {
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
    tx.execute(
        "INSERT INTO audit (ts, kind, request_id, principal, account_id, outcome, source,
            intent_id, detail, reason, via)
         SELECT ?1, 'resolution', ?2, u.principal, u.account_id, 'unlinked', ?4, u.intent_id, ?5,
            u.reason, u.via
         FROM audit u
         WHERE u.kind = 'unlink' AND u.outcome = 'outcome_unknown' AND u.account_id = ?3
            AND NOT EXISTS (SELECT 1 FROM audit r WHERE r.kind = 'resolution'
                AND r.intent_id = u.intent_id)",
        params![
            now_rfc3339(),
            by.request_id,
            by.account_id,
            source.as_str(),
            detail
        ],
    )
}

fn parse_word<T: std::str::FromStr<Err = crate::record::UnknownWord>>(
    column: usize,
    word: &str,
) -> rusqlite::Result<T> {
    word.parse().map_err(|error| {
        rusqlite::Error::FromSqlConversionFailure(
            column,
            rusqlite::types::Type::Text,
            Box::new(error),
        )
    })
}

fn entry_from_row(row: &Row<'_>) -> rusqlite::Result<Entry> {
    let word = |index: usize| -> rusqlite::Result<Option<String>> { row.get(index) };
    Ok(Entry {
        id: row.get(0)?,
        ts: row.get(1)?,
        kind: parse_word(2, &row.get::<_, String>(2)?)?,
        request_id: row.get(3)?,
        principal: row.get(4)?,
        account_id: row.get(5)?,
        idempotency_key: row.get(6)?,
        client_ip: row.get(7)?,
        outcome: word(8)?.map(|w| parse_word(8, &w)).transpose()?,
        source: word(9)?.map(|w| parse_word(9, &w)).transpose()?,
        upstream_status: row.get(10)?,
        attempts: row.get(11)?,
        latency_ms: row.get(12)?,
        intent_id: row.get(13)?,
        detail: row.get(14)?,
        reason: word(15)?.map(|w| parse_word(15, &w)).transpose()?,
        via: word(16)?.map(|w| parse_word(16, &w)).transpose()?,
    })
}
