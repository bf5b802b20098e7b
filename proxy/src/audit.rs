//! The audit trail: one SQLite row per unlink attempt and per unlink webhook, written (and
//! synced) before the answer goes out.
//!
//! The same rows back idempotency: a repeated `Idempotency-Key` within 24 hours replays the
//! stored outcome instead of calling Mono again.

use std::{
    fmt,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};

use rusqlite::{Connection, ErrorCode, OptionalExtension, params};
use serde::Serialize;
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

/// How long a stored outcome can be replayed for the same `Idempotency-Key`.
pub const REPLAY_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

/// The schema, one entry per version. `PRAGMA user_version` records how many are applied.
const MIGRATIONS: &[&str] = &["CREATE TABLE audit (
        id              INTEGER PRIMARY KEY,
        ts              TEXT NOT NULL,      -- RFC 3339, UTC, milliseconds: sorts as text
        kind            TEXT NOT NULL,      -- 'unlink' or 'webhook'
        request_id      TEXT,
        principal       TEXT,
        account_id      TEXT,
        idempotency_key TEXT,
        client_ip       TEXT,
        outcome         TEXT NOT NULL,      -- stable code: unlinked, already_unlinked, forbidden, …
        source          TEXT,               -- upstream, shared, replay, none, webhook event name
        upstream_status INTEGER,
        attempts        INTEGER NOT NULL DEFAULT 0,
        latency_ms      INTEGER
    );
    CREATE INDEX audit_by_key ON audit (idempotency_key, ts);
    CREATE INDEX audit_by_account ON audit (account_id, ts);
    -- Mono retries webhooks: record each account's unlink event once.
    CREATE UNIQUE INDEX audit_webhook_once ON audit (account_id, outcome) WHERE kind = 'webhook';"];

/// One audit row. `id` and `ts` are filled in when it is written.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub id: i64,
    pub ts: String,
    pub kind: String,
    pub request_id: Option<String>,
    pub principal: Option<String>,
    pub account_id: Option<String>,
    pub idempotency_key: Option<String>,
    pub client_ip: Option<String>,
    pub outcome: String,
    pub source: Option<String>,
    pub upstream_status: Option<u16>,
    pub attempts: u32,
    pub latency_ms: Option<i64>,
}

/// A stored outcome that a repeated `Idempotency-Key` may replay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replay {
    pub account_id: String,
    /// `Some` when the earlier attempt ended in a final outcome worth replaying.
    pub outcome: Option<String>,
}

/// Why the audit trail is unusable, worded for an operator.
#[derive(Debug)]
pub enum AuditError {
    Locked(PathBuf),
    NotADatabase(PathBuf),
    TooNew {
        path: PathBuf,
        version: i64,
    },
    NotWal(PathBuf),
    /// The blocking task running the query panicked or was cancelled.
    Worker(PathBuf),
    Sqlite(PathBuf, rusqlite::Error),
}

impl fmt::Display for AuditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Locked(path) => write!(
                f,
                "audit database {} is locked by another process; stop it or use another \
                 --audit-db",
                path.display()
            ),
            Self::NotADatabase(path) => write!(
                f,
                "audit database {} is not an SQLite database (corrupt, or another file); \
                 move it aside or choose another --audit-db",
                path.display()
            ),
            Self::TooNew { path, version } => write!(
                f,
                "audit database {} has schema version {version}, newer than this proxy knows \
                 ({}); upgrade unlink-proxy",
                path.display(),
                MIGRATIONS.len()
            ),
            Self::NotWal(path) => write!(
                f,
                "audit database {} cannot use WAL journaling (is it on a network drive?)",
                path.display()
            ),
            Self::Worker(path) => write!(
                f,
                "audit database {}: the worker running the query stopped",
                path.display()
            ),
            Self::Sqlite(path, error) => {
                write!(f, "audit database {}: {error}", path.display())
            }
        }
    }
}

impl std::error::Error for AuditError {}

/// The audit database. Clones share one connection; writes run on the blocking pool.
#[derive(Clone, Debug)]
pub struct AuditLog {
    path: PathBuf,
    connection: Arc<Mutex<Connection>>,
}

impl AuditLog {
    /// Opens (or creates) the database, switches it to WAL with full syncs, and migrates it.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, AuditError> {
        let path = path.as_ref().to_path_buf();
        let wrap = |error| classify(&path, error);
        let connection = Connection::open(&path).map_err(wrap)?;
        connection
            .busy_timeout(Duration::from_secs(5))
            .map_err(wrap)?;
        let mode: String = connection
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(wrap)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(AuditError::NotWal(path));
        }
        // FULL: a row is on disk when the insert returns, even across a power cut.
        connection
            .pragma_update(None, "synchronous", "FULL")
            .map_err(wrap)?;
        migrate(&connection, &path)?;
        Ok(Self {
            path,
            connection: Arc::new(Mutex::new(connection)),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `entry` and returns its id. Webhook rows already recorded are ignored (`None`).
    pub async fn record(&self, entry: Entry) -> Result<Option<i64>, AuditError> {
        self.blocking(move |connection| {
            let changed = connection.execute(
                "INSERT OR IGNORE INTO audit (ts, kind, request_id, principal, account_id,
                    idempotency_key, client_ip, outcome, source, upstream_status, attempts,
                    latency_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                params![
                    now_rfc3339(),
                    entry.kind,
                    entry.request_id,
                    entry.principal,
                    entry.account_id,
                    entry.idempotency_key,
                    entry.client_ip,
                    entry.outcome,
                    entry.source,
                    entry.upstream_status,
                    entry.attempts,
                    entry.latency_ms,
                ],
            )?;
            Ok((changed == 1).then(|| connection.last_insert_rowid()))
        })
        .await
    }

    /// The earlier use of `key` within the replay window, if any.
    pub async fn find_replay(&self, key: &str) -> Result<Option<Replay>, AuditError> {
        let key = key.to_owned();
        let since = rfc3339(OffsetDateTime::now_utc() - REPLAY_WINDOW);
        self.blocking(move |connection| {
            // A final outcome wins over earlier transient failures with the same key.
            connection
                .query_row(
                    "SELECT account_id,
                        CASE WHEN outcome IN ('unlinked', 'already_unlinked') THEN outcome END
                            AS final
                     FROM audit
                     WHERE kind = 'unlink' AND idempotency_key = ?1 AND ts >= ?2
                        AND account_id IS NOT NULL
                     ORDER BY final IS NULL, id DESC
                     LIMIT 1",
                    params![key, since],
                    |row| {
                        Ok(Replay {
                            account_id: row.get(0)?,
                            outcome: row.get(1)?,
                        })
                    },
                )
                .optional()
        })
        .await
    }

    /// Checks the database answers (for `/healthz`).
    pub async fn ping(&self) -> Result<(), AuditError> {
        self.blocking(|connection| connection.query_row("SELECT 1", [], |_| Ok(())))
            .await
    }

    /// Rows, oldest first, optionally for one account and/or from a time on.
    pub async fn entries(
        &self,
        account_id: Option<String>,
        since: Option<OffsetDateTime>,
    ) -> Result<Vec<Entry>, AuditError> {
        let since = since.map(rfc3339);
        self.blocking(move |connection| {
            let mut statement = connection.prepare(
                "SELECT id, ts, kind, request_id, principal, account_id, idempotency_key,
                    client_ip, outcome, source, upstream_status, attempts, latency_ms
                 FROM audit
                 WHERE (?1 IS NULL OR account_id = ?1) AND (?2 IS NULL OR ts >= ?2)
                 ORDER BY id",
            )?;
            let rows = statement.query_map(params![account_id, since], |row| {
                Ok(Entry {
                    id: row.get(0)?,
                    ts: row.get(1)?,
                    kind: row.get(2)?,
                    request_id: row.get(3)?,
                    principal: row.get(4)?,
                    account_id: row.get(5)?,
                    idempotency_key: row.get(6)?,
                    client_ip: row.get(7)?,
                    outcome: row.get(8)?,
                    source: row.get(9)?,
                    upstream_status: row.get(10)?,
                    attempts: row.get(11)?,
                    latency_ms: row.get(12)?,
                })
            })?;
            rows.collect()
        })
        .await
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, AuditError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let connection = this
                .connection
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            work(&connection).map_err(|error| classify(&this.path, error))
        })
        .await
        .unwrap_or_else(|_| Err(AuditError::Worker(self.path.clone())))
    }
}

fn migrate(connection: &Connection, path: &Path) -> Result<(), AuditError> {
    let wrap = |error| classify(path, error);
    let version: i64 = connection
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(wrap)?;
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(AuditError::TooNew {
            path: path.to_path_buf(),
            version,
        });
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

fn classify(path: &Path, error: rusqlite::Error) -> AuditError {
    let path = path.to_path_buf();
    match error.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => AuditError::Locked(path),
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
            AuditError::NotADatabase(path)
        }
        _ => AuditError::Sqlite(path, error),
    }
}

/// Now, as `2026-11-23T20:19:40.123Z`.
pub fn now_rfc3339() -> String {
    rfc3339(OffsetDateTime::now_utc())
}

fn rfc3339(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    // Fixed width (always milliseconds) so rows compare correctly as text.
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

/// Reads `--since`: an RFC 3339 time (`2026-11-23T00:00:00Z`) or an age (`24h`, `30m`).
pub fn parse_since(value: &str) -> Result<OffsetDateTime, String> {
    if let Ok(at) = OffsetDateTime::parse(value, &Rfc3339) {
        return Ok(at);
    }
    humantime::parse_duration(value)
        .map(|age| OffsetDateTime::now_utc() - age)
        .map_err(|_| {
            format!("{value:?} is neither an RFC 3339 time (2026-11-23T00:00:00Z) nor an age (24h)")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unlink(key: &str, account: &str, outcome: &str) -> Entry {
        Entry {
            kind: "unlink".into(),
            idempotency_key: Some(key.into()),
            account_id: Some(account.into()),
            outcome: outcome.into(),
            ..Entry::default()
        }
    }

    #[tokio::test]
    async fn records_and_lists_rows() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(dir.path().join("a.sqlite3")).unwrap();
        let id = log.record(unlink("k1", "acc1", "unlinked")).await.unwrap();
        assert_eq!(id, Some(1));
        log.record(unlink("k2", "acc2", "forbidden")).await.unwrap();
        let all = log.entries(None, None).await.unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].outcome, "unlinked");
        assert!(
            all[0].ts.ends_with('Z') && all[0].ts.len() == 24,
            "{}",
            all[0].ts
        );
        let one = log.entries(Some("acc2".into()), None).await.unwrap();
        assert_eq!(one.len(), 1);
        let future = OffsetDateTime::now_utc() + Duration::from_secs(60);
        assert!(log.entries(None, Some(future)).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn replays_prefer_final_outcomes() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(dir.path().join("a.sqlite3")).unwrap();
        assert_eq!(log.find_replay("k").await.unwrap(), None);
        log.record(unlink("k", "acc", "upstream_unavailable"))
            .await
            .unwrap();
        let replay = log.find_replay("k").await.unwrap().unwrap();
        assert_eq!(replay.outcome, None);
        log.record(unlink("k", "acc", "unlinked")).await.unwrap();
        log.record(unlink("k", "acc", "rate_limited"))
            .await
            .unwrap();
        let replay = log.find_replay("k").await.unwrap().unwrap();
        assert_eq!(replay.outcome.as_deref(), Some("unlinked"));
        assert_eq!(replay.account_id, "acc");
    }

    #[tokio::test]
    async fn webhook_rows_are_recorded_once() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(dir.path().join("a.sqlite3")).unwrap();
        let webhook = Entry {
            kind: "webhook".into(),
            account_id: Some("acc".into()),
            outcome: "account_unlinked".into(),
            ..Entry::default()
        };
        assert!(log.record(webhook.clone()).await.unwrap().is_some());
        assert_eq!(log.record(webhook).await.unwrap(), None);
        assert_eq!(log.entries(None, None).await.unwrap().len(), 1);
    }

    #[test]
    fn reopening_keeps_rows_and_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.sqlite3");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        {
            let log = AuditLog::open(&path).unwrap();
            runtime
                .block_on(log.record(unlink("k", "a", "unlinked")))
                .unwrap();
        }
        let log = AuditLog::open(&path).unwrap();
        assert_eq!(runtime.block_on(log.entries(None, None)).unwrap().len(), 1);
    }

    #[test]
    fn a_file_that_is_not_sqlite_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.txt");
        std::fs::write(
            &path,
            "these are not the rows you are looking for, ".repeat(50),
        )
        .unwrap();
        let error = AuditLog::open(&path).unwrap_err();
        assert!(matches!(error, AuditError::NotADatabase(_)), "{error:?}");
        assert!(error.to_string().contains("is not an SQLite database"));
        // Nothing was written over it.
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .starts_with("these are not")
        );
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.sqlite3");
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", 99)
            .unwrap();
        let error = AuditLog::open(&path).unwrap_err();
        assert!(error.to_string().contains("schema version 99"), "{error}");
    }

    #[test]
    fn a_locked_database_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.sqlite3");
        let holder = Connection::open(&path).unwrap();
        holder
            .execute_batch("PRAGMA journal_mode = WAL; BEGIN EXCLUSIVE; CREATE TABLE t (x);")
            .unwrap();
        let error = std::thread::spawn(move || AuditLog::open(&path).unwrap_err())
            .join()
            .unwrap();
        assert!(matches!(error, AuditError::Locked(_)), "{error:?}");
        assert!(error.to_string().contains("is locked by another process"));
        drop(holder);
    }

    #[test]
    fn since_accepts_times_and_ages() {
        let at = parse_since("2026-11-23T00:00:00Z").unwrap();
        assert_eq!(at.year(), 2026);
        let age = parse_since("24h").unwrap();
        let expected = OffsetDateTime::now_utc() - Duration::from_secs(86_400);
        assert!((age - expected).abs() < time::Duration::seconds(5));
        assert!(parse_since("yesterday").unwrap_err().contains("neither"));
    }

    #[test]
    fn timestamps_are_fixed_width() {
        let at = OffsetDateTime::from_unix_timestamp(0).unwrap();
        assert_eq!(rfc3339(at), "1970-01-01T00:00:00.000Z");
    }
}
