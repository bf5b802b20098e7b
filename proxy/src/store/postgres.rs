//! The PostgreSQL store: one record shared by every replica behind a load balancer.
//!
//! The same promises as the SQLite store, across processes: per-account work (claims,
//! outcomes) is serialised with a transaction-scoped advisory lock on the account, key
//! bindings with the primary key, rate limits with one atomic statement per check. Every
//! operation runs within the caller's deadline; an unreachable server is an
//! [`StoreError::Unavailable`], and the pool reconnects when it is back. Migrations run at
//! start-up under an advisory lock, so replicas starting together do not race.

use std::{num::NonZeroU32, str::FromStr, sync::Arc, time::Duration};

use async_trait::async_trait;
use deadpool_postgres::{
    GenericClient, Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime, Transaction,
};
use tokio::time::Instant;
use tokio_postgres::{Row, config::Host, error::SqlState, types::ToSql};

use super::{Begun, KeyUse, Only, Query, REPLAY_WINDOW, Store, StoreError, check, valid};
use crate::{
    record::{Entry, Kind, Outcome, Source},
    time::{millis, now_ms, rfc3339},
};

/// The schema, one entry per version; `unlink_schema` records how many are applied.
const MIGRATIONS: &[&str] = &["
    CREATE TABLE audit (
        id              BIGSERIAL PRIMARY KEY,
        ts              TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
        kind            TEXT NOT NULL,
        request_id      TEXT,
        principal       TEXT,
        account_id      TEXT,
        idempotency_key TEXT,
        client_ip       TEXT,
        outcome         TEXT,
        source          TEXT,
        upstream_status INTEGER,
        attempts        INTEGER NOT NULL DEFAULT 0,
        latency_ms      BIGINT,
        intent_id       BIGINT,
        detail          TEXT,
        imported_from   TEXT,
        CHECK ((kind = 'intent') = (outcome IS NULL))
    );
    CREATE INDEX audit_by_account ON audit (account_id, id);
    CREATE INDEX audit_by_intent ON audit (intent_id) WHERE intent_id IS NOT NULL;
    CREATE INDEX audit_by_ts ON audit (ts);
    CREATE UNIQUE INDEX audit_webhook_once ON audit (account_id) WHERE kind = 'webhook';
    CREATE UNIQUE INDEX audit_imported_once ON audit (imported_from)
        WHERE imported_from IS NOT NULL;
    CREATE TABLE idempotency_keys (
        key         TEXT PRIMARY KEY,
        principal   TEXT NOT NULL,
        account_id  TEXT NOT NULL,
        created_ms  BIGINT NOT NULL,
        outcome     TEXT
    );
    CREATE TABLE claims (
        account_id  TEXT PRIMARY KEY,
        intent_id   BIGINT NOT NULL,
        holder      TEXT NOT NULL,
        expires_ms  BIGINT NOT NULL
    );
    -- Counters need no durability: a crash forgets them, and skipping the WAL makes the
    -- check on every request cheap.
    CREATE UNLOGGED TABLE rate_limits (
        bucket      TEXT PRIMARY KEY,
        tat_us      BIGINT NOT NULL
    );
"];

/// Columns of a row as [`entry_from_row`] reads them, `ts` in the trail's fixed format.
const SELECT_ENTRY: &str = "SELECT id,
    to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), kind, request_id,
    principal, account_id, idempotency_key, client_ip, outcome, source, upstream_status,
    attempts, latency_ms, intent_id, detail FROM audit";

/// The key of the advisory lock that migrations run under ("unlink" in ASCII).
const MIGRATION_LOCK: i64 = 0x756e_6c69_6e6b;

/// Connections per process at most.
const POOL_SIZE: usize = 16;

/// The PostgreSQL store. Connect once per process and share it (`Arc`).
pub struct PostgresStore {
    pool: Pool,
    /// `host:port/database`, for messages (never the password).
    place: String,
    /// Names this process's claims, so recovery never takes its own for a dead replica's.
    holder: String,
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
            place,
            holder: super::holder_name(),
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
        let deadline = super::patient_deadline();
        self.write(deadline, async {
            let mut client = self.client(deadline).await?;
            let pg = |e| self.classify(e);
            let tx = client.transaction().await.map_err(pg)?;
            let mut copied = 0;
            for row in rows {
                let intent_id: Option<i64> = match row.intent_id {
                    Some(old) => opt(
                        &tx,
                        "SELECT id FROM audit WHERE imported_from = $1",
                        &[&format!("{source}#{old}")],
                    )
                    .await
                    .map_err(pg)?
                    .map(|found| found.get(0)),
                    None => None,
                };
                copied += exec(
                    &tx,
                    "INSERT INTO audit (ts, kind, request_id, principal, account_id,
                            idempotency_key, client_ip, outcome, source, upstream_status,
                            attempts, latency_ms, intent_id, detail, imported_from)
                         VALUES ($1::text::timestamptz, $2, $3, $4, $5, $6, $7, $8, $9, $10,
                            $11, $12, $13, $14, $15)
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
                        &format!("{source}#{}", row.id),
                    ],
                )
                .await
                .map_err(pg)?;
            }
            tx.commit().await.map_err(pg)?;
            Ok(copied)
        })
        .await
    }

    /// How many rows carry the label `source` (see [`PostgresStore::import`]).
    pub async fn count_imported(&self, source: &str) -> Result<u64, StoreError> {
        let deadline = super::patient_deadline();
        self.within(deadline, async {
            let client = self.client(deadline).await?;
            let row = one(
                &client,
                "SELECT count(*) FROM audit WHERE imported_from LIKE $1 || '#%'",
                &[&source],
            )
            .await
            .map_err(|e| self.classify(e))?;
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
        let mut client = self.client(super::patient_deadline()).await?;
        let wrap = |error| self.classify(error);
        // A session lock: every replica starting now waits here for the first one.
        exec(&client, "SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(wrap)?;
        let migrated = async {
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
            Ok::<_, tokio_postgres::Error>(version)
        }
        .await;
        let _ = exec(&client, "SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]).await;
        let version = migrated.map_err(wrap)?;
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

    fn classify(&self, error: tokio_postgres::Error) -> StoreError {
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

    /// Runs `work` within `deadline`.
    async fn within<T>(
        &self,
        deadline: Instant,
        work: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        tokio::time::timeout_at(deadline, work)
            .await
            .unwrap_or_else(|_| {
                Err(StoreError::Unavailable(format!(
                    "PostgreSQL at {} did not answer in time",
                    self.place
                )))
            })
    }

    /// The same for a write to the record, which the metrics time.
    async fn write<T>(
        &self,
        deadline: Instant,
        work: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let started = Instant::now();
        let done = self.within(deadline, work).await;
        crate::telemetry::record_write(started.elapsed(), done.is_ok());
        done
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
async fn lock_account(tx: &Transaction<'_>, account: &str) -> Result<(), tokio_postgres::Error> {
    exec(
        tx,
        "SELECT pg_advisory_xact_lock(hashtext($1))",
        &[&account],
    )
    .await
    .map(|_| ())
}

async fn insert(tx: &impl GenericClient, entry: &Entry) -> Result<i64, tokio_postgres::Error> {
    let row = one(
        tx,
        "INSERT INTO audit (kind, request_id, principal, account_id, idempotency_key,
                client_ip, outcome, source, upstream_status, attempts, latency_ms, intent_id,
                detail)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
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
        ],
    )
    .await?;
    Ok(row.get(0))
}

async fn binding(
    tx: &impl GenericClient,
    key: &str,
    lock: bool,
) -> Result<Option<(String, String, Option<String>)>, tokio_postgres::Error> {
    let since = now_ms() - millis(REPLAY_WINDOW);
    let sql = if lock {
        "SELECT principal, account_id, outcome FROM idempotency_keys
         WHERE key = $1 AND created_ms >= $2 FOR UPDATE"
    } else {
        "SELECT principal, account_id, outcome FROM idempotency_keys
         WHERE key = $1 AND created_ms >= $2"
    };
    Ok(opt(tx, sql, &[&key, &since])
        .await?
        .map(|row| (row.get(0), row.get(1), row.get(2))))
}

fn key_use(
    binding: Option<(String, String, Option<String>)>,
    principal: &str,
    account_id: &str,
) -> Result<KeyUse, StoreError> {
    Ok(match binding {
        None => KeyUse::Fresh,
        Some((p, a, outcome)) if p == principal && a == account_id => {
            KeyUse::Same(outcome.map(|w| word(&w)).transpose()?)
        }
        Some(_) => KeyUse::Other,
    })
}

/// Binds `key` to (principal, account) unless it is bound already; says which use this is.
async fn bind(
    tx: &Transaction<'_>,
    key: &str,
    principal: &str,
    account: &str,
) -> Result<Result<KeyUse, StoreError>, tokio_postgres::Error> {
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
        return Ok(Ok(KeyUse::Fresh));
    }
    Ok(key_use(binding(tx, key, true).await?, principal, account))
}

async fn remember_final(tx: &Transaction<'_>, entry: &Entry) -> Result<(), tokio_postgres::Error> {
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

async fn mark_unknown(
    tx: &Transaction<'_>,
    intent_id: i64,
    why: &str,
) -> Result<(), tokio_postgres::Error> {
    exec(
        tx,
        "INSERT INTO audit (kind, request_id, principal, account_id, idempotency_key,
            client_ip, outcome, source, intent_id, detail)
         SELECT 'unlink', request_id, principal, account_id, idempotency_key, client_ip,
            'outcome_unknown', 'recovery', id, $2
         FROM audit WHERE id = $1 AND kind = 'intent'
            AND NOT EXISTS (SELECT 1 FROM audit o WHERE o.kind = 'unlink' AND o.intent_id = $1)",
        &[&intent_id, &why],
    )
    .await?;
    exec(tx, "DELETE FROM claims WHERE intent_id = $1", &[&intent_id]).await?;
    Ok(())
}

async fn settle(
    tx: &Transaction<'_>,
    by: &Entry,
    source: Source,
) -> Result<(), tokio_postgres::Error> {
    let detail = match source {
        Source::Webhook => "Mono's webhook says the account is unlinked",
        _ => "a later unlink found the account unlinked at Mono",
    };
    exec(
        tx,
        "INSERT INTO audit (kind, request_id, principal, account_id, outcome, source, intent_id,
            detail)
         SELECT 'resolution', $1, u.principal, u.account_id, 'unlinked', $3, u.intent_id, $4
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
    let optional = |index: usize| -> Result<Option<String>, StoreError> { Ok(row.get(index)) };
    Ok(Entry {
        id: row.get(0),
        ts: row.get(1),
        kind: word(row.get::<_, &str>(2))?,
        request_id: row.get(3),
        principal: row.get(4),
        account_id: row.get(5),
        idempotency_key: row.get(6),
        client_ip: row.get(7),
        outcome: optional(8)?.map(|w| word(&w)).transpose()?,
        source: optional(9)?.map(|w| word(&w)).transpose()?,
        upstream_status: row.get::<_, Option<i32>>(10).map(|s| s as u16),
        attempts: row.get::<_, i32>(11) as u32,
        latency_ms: row.get(12),
        intent_id: row.get(13),
        detail: row.get(14),
    })
}

#[async_trait]
impl Store for PostgresStore {
    async fn key_use(
        &self,
        key: &str,
        principal: &str,
        account_id: &str,
        deadline: Instant,
    ) -> Result<KeyUse, StoreError> {
        self.within(deadline, async {
            let client = self.client(deadline).await?;
            let found = binding(&client, key, false)
                .await
                .map_err(|e| self.classify(e))?;
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
        self.write(deadline, async {
            let mut client = self.client(deadline).await?;
            let pg = |e| self.classify(e);
            let tx = client.transaction().await.map_err(pg)?;
            lock_account(&tx, &account).await.map_err(pg)?;
            if let (Some(key), Some(principal)) = (&intent.idempotency_key, &intent.principal) {
                match bind(&tx, key, principal, &account).await.map_err(pg)?? {
                    KeyUse::Other => return Ok(Begun::KeyReused),
                    KeyUse::Same(Some(outcome)) => {
                        tx.commit().await.map_err(pg)?;
                        return Ok(Begun::Replay(outcome));
                    }
                    KeyUse::Same(None) | KeyUse::Fresh => {}
                }
            }
            let now = now_ms();
            let claim = opt(
                &tx,
                "SELECT intent_id, holder, expires_ms FROM claims WHERE account_id = $1",
                &[&account],
            )
            .await
            .map_err(pg)?;
            if let Some(claim) = claim {
                let (intent_id, claimer, expires_ms): (i64, String, i64) =
                    (claim.get(0), claim.get(1), claim.get(2));
                if claimer == self.holder || expires_ms > now {
                    tx.commit().await.map_err(pg)?;
                    return Ok(Begun::HeldElsewhere { intent_id });
                }
                mark_unknown(&tx, intent_id, "its claim expired")
                    .await
                    .map_err(pg)?;
            }
            // The intent and the claim on the account, in one statement.
            let claimed = one(
                &tx,
                "WITH intent AS (
                    INSERT INTO audit (kind, request_id, principal, account_id,
                        idempotency_key, client_ip, detail)
                    VALUES ('intent', $1, $2, $3, $4, $5, $6) RETURNING id)
                 INSERT INTO claims (account_id, intent_id, holder, expires_ms)
                 SELECT $3, id, $7, $8 FROM intent
                 RETURNING intent_id",
                &[
                    &intent.request_id,
                    &intent.principal,
                    &account,
                    &intent.idempotency_key,
                    &intent.client_ip,
                    &intent.detail,
                    &self.holder,
                    &(now + millis(lease)),
                ],
            )
            .await
            .map_err(pg)?;
            let intent_id: i64 = claimed.get(0);
            tx.commit().await.map_err(pg)?;
            Ok(Begun::Claimed { intent_id })
        })
        .await
    }

    async fn finish(&self, outcome: &Entry, deadline: Instant) -> Result<(), StoreError> {
        check(outcome, Kind::Unlink)?;
        let Some(intent_id) = outcome.intent_id else {
            return Err(StoreError::Broken("an outcome must name its intent".into()));
        };
        let account = outcome.account_id.clone().unwrap_or_default();
        self.write(deadline, async {
            let mut client = self.client(deadline).await?;
            let pg = |e| self.classify(e);
            let tx = client.transaction().await.map_err(pg)?;
            lock_account(&tx, &account).await.map_err(pg)?;
            insert(&tx, outcome).await.map_err(pg)?;
            remember_final(&tx, outcome).await.map_err(pg)?;
            exec(
                &tx,
                "DELETE FROM claims WHERE intent_id = $1",
                &[&intent_id],
            )
            .await
            .map_err(pg)?;
            if outcome.outcome.is_some_and(Outcome::is_final) {
                settle(&tx, outcome, Source::Upstream).await.map_err(pg)?;
            }
            tx.commit().await.map_err(pg)
        })
        .await
    }

    async fn record_answer(&self, entry: &Entry, deadline: Instant) -> Result<bool, StoreError> {
        check(entry, Kind::Unlink)?;
        self.write(deadline, async {
            let mut client = self.client(deadline).await?;
            let pg = |e| self.classify(e);
            let tx = client.transaction().await.map_err(pg)?;
            if let (Some(key), Some(principal), Some(account)) =
                (&entry.idempotency_key, &entry.principal, &entry.account_id)
                && bind(&tx, key, principal, account).await.map_err(pg)?? == KeyUse::Other
            {
                return Ok(false);
            }
            insert(&tx, entry).await.map_err(pg)?;
            remember_final(&tx, entry).await.map_err(pg)?;
            tx.commit().await.map_err(pg)?;
            Ok(true)
        })
        .await
    }

    async fn record(&self, entry: &Entry, deadline: Instant) -> Result<i64, StoreError> {
        valid(entry)?;
        self.write(deadline, async {
            let client = self.client(deadline).await?;
            insert(&client, entry).await.map_err(|e| self.classify(e))
        })
        .await
    }

    async fn record_webhook(&self, entry: &Entry, deadline: Instant) -> Result<bool, StoreError> {
        check(entry, Kind::Webhook)?;
        let account = entry.account_id.clone().unwrap_or_default();
        self.write(deadline, async {
            let mut client = self.client(deadline).await?;
            let pg = |e| self.classify(e);
            let tx = client.transaction().await.map_err(pg)?;
            lock_account(&tx, &account).await.map_err(pg)?;
            let first = exec(
                &tx,
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
            .await
            .map_err(pg)?
                == 1;
            settle(&tx, entry, Source::Webhook).await.map_err(pg)?;
            tx.commit().await.map_err(pg)?;
            Ok(first)
        })
        .await
    }

    async fn outcome_of(&self, intent_id: i64) -> Result<Option<Outcome>, StoreError> {
        let deadline = Instant::now() + Duration::from_secs(5);
        self.within(deadline, async {
            let client = self.client(deadline).await?;
            let row = opt(
                &client,
                "SELECT outcome FROM audit WHERE kind = 'unlink' AND intent_id = $1
                     ORDER BY id LIMIT 1",
                &[&intent_id],
            )
            .await
            .map_err(|e| self.classify(e))?;
            row.map(|row| word(row.get::<_, &str>(0))).transpose()
        })
        .await
    }

    /// Several replicas share the record, so only claims whose lease has run out are stale;
    /// never this process's own.
    async fn recover(&self) -> Result<Vec<Entry>, StoreError> {
        let deadline = super::patient_deadline();
        self.write(deadline, async {
            let client = self.client(deadline).await?;
            let pg = |e| self.classify(e);
            let stale = all(
                &client,
                "SELECT account_id, intent_id FROM claims
                     WHERE expires_ms <= $1 AND holder != $2 ORDER BY intent_id",
                &[&now_ms(), &self.holder],
            )
            .await
            .map_err(pg)?;
            drop(client);
            let mut marked = Vec::new();
            for claim in stale {
                let (account, intent_id): (String, i64) = (claim.get(0), claim.get(1));
                let mut client = self.client(deadline).await?;
                let tx = client.transaction().await.map_err(pg)?;
                lock_account(&tx, &account).await.map_err(pg)?;
                // Still stale now that we hold the account?
                let still = opt(
                    &tx,
                    "SELECT 1 FROM claims WHERE intent_id = $1 AND expires_ms <= $2",
                    &[&intent_id, &now_ms()],
                )
                .await
                .map_err(pg)?
                .is_some();
                if !still {
                    continue;
                }
                mark_unknown(
                    &tx,
                    intent_id,
                    "its replica stopped before Mono's answer was recorded",
                )
                .await
                .map_err(pg)?;
                let row = one(&tx, &format!("{SELECT_ENTRY} WHERE id = $1"), &[&intent_id])
                    .await
                    .map_err(pg)?;
                tx.commit().await.map_err(pg)?;
                marked.push(entry_from_row(&row)?);
            }
            Ok(marked)
        })
        .await
    }

    async fn rate(
        &self,
        bucket: &str,
        per_minute: NonZeroU32,
        deadline: Instant,
    ) -> Result<Result<(), i64>, StoreError> {
        let (interval, burst) = crate::ratelimit::interval_and_burst(per_minute);
        let now = crate::time::now_us();
        self.within(deadline, async {
            let client = self.client(deadline).await?;
            let pg = |e| self.classify(e);
            // One atomic statement: the same GCRA step as `ratelimit::gcra`, taken only if
            // it is allowed.
            let allowed = opt(
                &client,
                "INSERT INTO rate_limits AS r (bucket, tat_us) VALUES ($1, $2::bigint + $3::bigint)
                     ON CONFLICT (bucket) DO UPDATE
                        SET tat_us = GREATEST(r.tat_us, $2::bigint) + $3::bigint
                        WHERE GREATEST(r.tat_us, $2::bigint) + $3::bigint - $4::bigint <= $2::bigint
                     RETURNING tat_us",
                &[&bucket, &now, &interval, &burst],
            )
            .await
            .map_err(pg)?;
            if allowed.is_some() {
                return Ok(Ok(()));
            }
            let tat: i64 = one(
                &client,
                "SELECT tat_us FROM rate_limits WHERE bucket = $1",
                &[&bucket],
            )
            .await
            .map_err(pg)?
            .get(0);
            Ok(Err((tat.max(now) + interval - burst - now + 999) / 1000))
        })
        .await
    }

    async fn health(&self) -> Result<(), StoreError> {
        let deadline = Instant::now() + Duration::from_millis(1500);
        self.within(deadline, async {
            let client = self.client(deadline).await?;
            let row = one(&client, "SELECT pg_is_in_recovery()", &[])
                .await
                .map_err(|e| self.classify(e))?;
            if row.get::<_, bool>(0) {
                return Err(StoreError::Unavailable(format!(
                    "PostgreSQL at {} is a read-only standby",
                    self.place
                )));
            }
            Ok(())
        })
        .await
    }

    async fn purge(&self, retain: Option<Duration>) -> Result<u64, StoreError> {
        let deadline = super::patient_deadline();
        let now = now_ms();
        let cutoff = retain.map(|age| rfc3339(time::OffsetDateTime::now_utc() - age));
        self.write(deadline, async {
            let client = self.client(deadline).await?;
            let pg = |e| self.classify(e);
            exec(
                &client,
                "DELETE FROM idempotency_keys WHERE created_ms < $1",
                &[&(now - millis(REPLAY_WINDOW))],
            )
            .await
            .map_err(pg)?;
            exec(
                &client,
                "DELETE FROM rate_limits WHERE tat_us < $1",
                &[&crate::time::now_us()],
            )
            .await
            .map_err(pg)?;
            let Some(cutoff) = cutoff else {
                return Ok(0);
            };
            // Intents still waiting for their outcome stay, however old.
            exec(
                &client,
                "DELETE FROM audit WHERE ts < $1::timestamptz
                        AND id NOT IN (SELECT intent_id FROM claims)",
                &[&cutoff],
            )
            .await
            .map_err(pg)
        })
        .await
    }

    async fn entries(&self, query: &Query) -> Result<Vec<Entry>, StoreError> {
        let deadline = super::patient_deadline();
        let since = query.since.map(rfc3339);
        let cutoff = match query.only {
            Only::Unconfirmed { older_than } => {
                Some(rfc3339(time::OffsetDateTime::now_utc() - older_than))
            }
            _ => None,
        };
        let filter = match query.only {
            Only::All => "",
            Only::Unresolved => {
                "AND kind = 'intent'
                 AND NOT EXISTS (SELECT 1 FROM audit o WHERE o.intent_id = audit.id
                     AND (o.kind = 'resolution' OR (o.kind = 'unlink'
                         AND o.outcome != 'outcome_unknown')))"
            }
            Only::Unconfirmed { .. } => {
                "AND kind = 'unlink' AND outcome = 'unlinked' AND source = 'upstream'
                 AND date_trunc('milliseconds', ts) <= $3::timestamptz
                 AND NOT EXISTS (SELECT 1 FROM audit w WHERE w.kind = 'webhook'
                     AND w.account_id = audit.account_id)"
            }
        };
        let sql = format!(
            "{SELECT_ENTRY}
             WHERE ($1::text IS NULL OR account_id = $1)
                AND ($2::text IS NULL OR ts >= $2::timestamptz)
                -- $3 is named in every query, so one parameter list fits them all
                AND ($3::text IS NULL OR $3::text IS NOT NULL) AND id > $4 {filter}
             ORDER BY id LIMIT $5"
        );
        let after = query.after_id.unwrap_or(0);
        let limit = i64::from(query.limit.unwrap_or(u32::MAX));
        self.within(deadline, async {
            let client = self.client(deadline).await?;
            let rows = all(
                &client,
                &sql,
                &[&query.account_id, &since, &cutoff, &after, &limit],
            )
            .await
            .map_err(|e| self.classify(e))?;
            rows.iter().map(entry_from_row).collect()
        })
        .await
    }
}
