//! The store's behaviour, written once against the `Store` interface and run against each
//! engine, plus what only SQLite has: upgrading a trail written by 0.1 in place.
#![cfg(feature = "fake-mono")]

use std::{sync::Arc, time::Duration};

use tokio::time::Instant;
mod support;

use unlink_proxy::{
    SqliteStore,
    record::{Entry, Kind, Outcome, Source},
    store::{Begun, ConnectPatience, KeyUse, Only, PostgresStore, Query, Record, Store, Upkeep},
};

const ACCOUNT: &str = "60770aa8c5878a2af69ed849";
const OTHER_ACCOUNT: &str = "65c4c03aa66a95b572cb5a86";

fn soon() -> Instant {
    Instant::now() + Duration::from_secs(5)
}

fn intent(account: &str, key: &str, principal: &str) -> Entry {
    let mut entry = Entry::new(Kind::Intent, None);
    entry.account_id = Some(account.into());
    entry.idempotency_key = Some(key.into());
    entry.principal = Some(principal.into());
    entry
}

fn outcome_for(intent: &Entry, intent_id: i64, outcome: Outcome) -> Entry {
    let mut entry = Entry::new(Kind::Unlink, Some(outcome));
    entry.account_id = intent.account_id.clone();
    entry.idempotency_key = intent.idempotency_key.clone();
    entry.principal = intent.principal.clone();
    entry.source = Some(Source::Upstream);
    entry.intent_id = Some(intent_id);
    entry
}

fn webhook(account: &str) -> Entry {
    let mut entry = Entry::new(Kind::Webhook, Some(Outcome::AccountUnlinked));
    entry.account_id = Some(account.into());
    entry.source = Some(Source::Webhook);
    entry
}

async fn claimed(store: &dyn Store, intent: &Entry, lease: Duration) -> i64 {
    match store.begin(intent, lease, soon()).await.unwrap() {
        Begun::Claimed { intent_id } => intent_id,
        other => panic!("expected a claim, got {other:?}"),
    }
}

async fn all(store: &dyn Store) -> Vec<Entry> {
    store.entries(&Query::default(), soon()).await.unwrap()
}

async fn unresolved(store: &dyn Store) -> Vec<Entry> {
    let query = Query {
        only: Only::Unresolved,
        ..Query::default()
    };
    store.entries(&query, soon()).await.unwrap()
}

/// A store, and a second one on the same record standing for another process.
type Pair = (Arc<dyn Store>, Arc<dyn Store>);

// The behaviour suite ----------------------------------------------------------------------

async fn intent_then_outcome(stores: Pair) {
    let (store, _) = stores;
    let first = intent(ACCOUNT, "k1", "alice");
    let id = claimed(&*store, &first, Duration::from_secs(30)).await;
    assert_eq!(store.outcome_of(id, soon()).await.unwrap(), None);
    store
        .finish(&outcome_for(&first, id, Outcome::Unlinked), soon())
        .await
        .unwrap();
    assert_eq!(
        store.outcome_of(id, soon()).await.unwrap(),
        Some(Outcome::Unlinked)
    );
    let rows = all(&*store).await;
    assert_eq!(rows.len(), 2);
    assert_eq!((rows[0].kind, rows[0].outcome), (Kind::Intent, None));
    assert_eq!(rows[1].intent_id, Some(rows[0].id));
    assert!(rows[0].ts.ends_with('Z') && rows[0].ts.len() == 24);
    // The claim is released, and the record now answers for the account: a later unlink
    // with another key finds it unlinked (when) rather than asking Mono again.
    let later = store
        .begin(
            &intent(ACCOUNT, "k2", "alice"),
            Duration::from_secs(30),
            soon(),
        )
        .await
        .unwrap();
    let Begun::Unlinked { at_ms } = later else {
        panic!("expected the record's answer, got {later:?}")
    };
    let recorded = unlink_proxy::time::now_ms() - at_ms;
    assert!((0..5_000).contains(&recorded), "recorded {recorded} ms ago");
    // A failure is not an answer: the next unlink of another account may begin.
    let other = intent(OTHER_ACCOUNT, "k3", "alice");
    let id = claimed(&*store, &other, Duration::from_secs(30)).await;
    let failed = outcome_for(&other, id, Outcome::UpstreamUnavailable);
    store.finish(&failed, soon()).await.unwrap();
    claimed(
        &*store,
        &intent(OTHER_ACCOUNT, "k4", "alice"),
        Duration::from_secs(30),
    )
    .await;
}

async fn keys_are_bound_to_their_user_and_account(stores: Pair) {
    let (store, _) = stores;
    let first = intent(ACCOUNT, "k", "alice");
    assert_eq!(
        store.key_use("k", "alice", ACCOUNT, soon()).await.unwrap(),
        KeyUse::Fresh
    );
    let id = claimed(&*store, &first, Duration::from_secs(30)).await;
    assert_eq!(
        store.key_use("k", "alice", ACCOUNT, soon()).await.unwrap(),
        KeyUse::Same(None)
    );
    assert_eq!(
        store.key_use("k", "bob", ACCOUNT, soon()).await.unwrap(),
        KeyUse::Other
    );
    assert_eq!(
        store
            .key_use("k", "alice", OTHER_ACCOUNT, soon())
            .await
            .unwrap(),
        KeyUse::Other
    );
    let reused = store
        .begin(
            &intent(OTHER_ACCOUNT, "k", "alice"),
            Duration::from_secs(30),
            soon(),
        )
        .await
        .unwrap();
    assert_eq!(reused, Begun::KeyReused);
    store
        .finish(&outcome_for(&first, id, Outcome::AlreadyUnlinked), soon())
        .await
        .unwrap();
    assert_eq!(
        store.key_use("k", "alice", ACCOUNT, soon()).await.unwrap(),
        KeyUse::Same(Some(Outcome::AlreadyUnlinked))
    );
    // A request that began late, with the same key, replays instead of calling Mono.
    let late = store
        .begin(&first, Duration::from_secs(30), soon())
        .await
        .unwrap();
    assert_eq!(late, Begun::Replay(Outcome::AlreadyUnlinked));
    // Transient outcomes are not replayed.
    let second = intent(OTHER_ACCOUNT, "k2", "alice");
    let id = claimed(&*store, &second, Duration::from_secs(30)).await;
    store
        .finish(
            &outcome_for(&second, id, Outcome::UpstreamUnavailable),
            soon(),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .key_use("k2", "alice", OTHER_ACCOUNT, soon())
            .await
            .unwrap(),
        KeyUse::Same(None)
    );
}

async fn answers_bind_keys_too(stores: Pair) {
    let (store, _) = stores;
    let mut shared = Entry::new(Kind::Unlink, Some(Outcome::Unlinked));
    shared.account_id = Some(ACCOUNT.into());
    shared.idempotency_key = Some("joiner".into());
    shared.principal = Some("alice".into());
    shared.source = Some(Source::Shared);
    assert!(store.record_answer(&shared, soon()).await.unwrap());
    assert_eq!(
        store
            .key_use("joiner", "alice", ACCOUNT, soon())
            .await
            .unwrap(),
        KeyUse::Same(Some(Outcome::Unlinked))
    );
    shared.account_id = Some(OTHER_ACCOUNT.into());
    assert!(
        !store.record_answer(&shared, soon()).await.unwrap(),
        "bound elsewhere"
    );
    assert_eq!(all(&*store).await.len(), 1);
}

async fn a_live_claim_elsewhere_is_waited_for(stores: Pair) {
    let (store, elsewhere) = stores;
    let theirs = intent(ACCOUNT, "theirs", "alice");
    let id = claimed(&*elsewhere, &theirs, Duration::from_secs(30)).await;
    let mine = store
        .begin(
            &intent(ACCOUNT, "mine", "alice"),
            Duration::from_secs(30),
            soon(),
        )
        .await
        .unwrap();
    assert_eq!(mine, Begun::HeldElsewhere { intent_id: id });
    elsewhere
        .finish(&outcome_for(&theirs, id, Outcome::Unlinked), soon())
        .await
        .unwrap();
    assert_eq!(
        store.outcome_of(id, soon()).await.unwrap(),
        Some(Outcome::Unlinked)
    );
}

async fn an_expired_claim_is_marked_unknown_and_taken_over(stores: Pair) {
    let (store, elsewhere) = stores;
    let theirs = intent(ACCOUNT, "theirs", "alice");
    let id = claimed(&*elsewhere, &theirs, Duration::ZERO).await;
    let mine = claimed(
        &*store,
        &intent(ACCOUNT, "mine", "alice"),
        Duration::from_secs(30),
    )
    .await;
    assert_ne!(mine, id);
    assert_eq!(
        store.outcome_of(id, soon()).await.unwrap(),
        Some(Outcome::OutcomeUnknown)
    );
    let unresolved = unresolved(&*store).await;
    let ids: Vec<_> = unresolved.iter().map(|e| e.id).collect();
    assert!(ids.contains(&id), "{ids:?}");
}

async fn recovery_marks_a_dead_holders_intents(stores: Pair) {
    let (store, dead) = stores;
    let theirs = intent(ACCOUNT, "theirs", "alice");
    let id = claimed(&*dead, &theirs, Duration::ZERO).await;
    drop(dead);
    let marked = store.recover(soon()).await.unwrap();
    assert_eq!(marked.iter().map(|e| e.id).collect::<Vec<_>>(), [id]);
    assert_eq!(marked[0].account_id.as_deref(), Some(ACCOUNT));
    assert!(
        store.recover(soon()).await.unwrap().is_empty(),
        "marked once"
    );
    let rows = all(&*store).await;
    let mark = rows.last().unwrap();
    assert_eq!(
        (mark.kind, mark.outcome, mark.source, mark.intent_id),
        (
            Kind::Unlink,
            Some(Outcome::OutcomeUnknown),
            Some(Source::Recovery),
            Some(id)
        )
    );
    assert_eq!(unresolved(&*store).await.len(), 1);
}

async fn mono_settles_unknown_outcomes(stores: Pair) {
    let (store, dead) = stores;
    // Two crashed unlinks, of two accounts.
    for (account, key) in [(ACCOUNT, "a"), (OTHER_ACCOUNT, "b")] {
        claimed(&*dead, &intent(account, key, "alice"), Duration::ZERO).await;
    }
    drop(dead);
    assert_eq!(store.recover(soon()).await.unwrap().len(), 2);
    assert_eq!(unresolved(&*store).await.len(), 2);

    // Mono's webhook settles the first, once however often it arrives.
    assert!(
        store
            .record_webhook(&webhook(ACCOUNT), soon())
            .await
            .unwrap()
    );
    assert!(
        !store
            .record_webhook(&webhook(ACCOUNT), soon())
            .await
            .unwrap()
    );
    let left = unresolved(&*store).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].account_id.as_deref(), Some(OTHER_ACCOUNT));

    // A later unlink that Mono answers 404 settles the second.
    let later = intent(OTHER_ACCOUNT, "c", "alice");
    let id = claimed(&*store, &later, Duration::from_secs(30)).await;
    store
        .finish(&outcome_for(&later, id, Outcome::AlreadyUnlinked), soon())
        .await
        .unwrap();
    assert!(unresolved(&*store).await.is_empty());
    let resolutions: Vec<_> = all(&*store)
        .await
        .into_iter()
        .filter(|e| e.kind == Kind::Resolution)
        .map(|e| (e.account_id.unwrap(), e.source.unwrap(), e.outcome.unwrap()))
        .collect();
    assert_eq!(
        resolutions,
        [
            (ACCOUNT.to_owned(), Source::Webhook, Outcome::Unlinked),
            (
                OTHER_ACCOUNT.to_owned(),
                Source::Upstream,
                Outcome::Unlinked
            )
        ]
    );
    assert_eq!(
        all(&*store)
            .await
            .iter()
            .filter(|e| e.kind == Kind::Webhook)
            .count(),
        1
    );
}

async fn unlinks_stay_unconfirmed_until_monos_webhook(stores: Pair) {
    let (store, _) = stores;
    for account in [ACCOUNT, OTHER_ACCOUNT] {
        let first = intent(account, account, "alice");
        let id = claimed(&*store, &first, Duration::from_secs(30)).await;
        store
            .finish(&outcome_for(&first, id, Outcome::Unlinked), soon())
            .await
            .unwrap();
    }
    let unconfirmed = |older_than| Query {
        only: Only::Unconfirmed { older_than },
        ..Query::default()
    };
    let accounts = |rows: Vec<Entry>| -> Vec<String> {
        rows.into_iter().map(|e| e.account_id.unwrap()).collect()
    };
    let now = store
        .entries(&unconfirmed(Duration::ZERO), soon())
        .await
        .unwrap();
    assert_eq!(accounts(now), [ACCOUNT, OTHER_ACCOUNT]);
    assert!(
        store
            .entries(&unconfirmed(Duration::from_secs(600)), soon())
            .await
            .unwrap()
            .is_empty(),
        "too recent to worry about"
    );
    store
        .record_webhook(&webhook(ACCOUNT), soon())
        .await
        .unwrap();
    let left = store
        .entries(&unconfirmed(Duration::ZERO), soon())
        .await
        .unwrap();
    assert_eq!(accounts(left), [OTHER_ACCOUNT]);
}

async fn rates_allow_a_burst_then_say_how_long_to_wait(stores: Pair) {
    let (store, _) = stores;
    let limit = std::num::NonZeroU32::new(3).unwrap();
    for _ in 0..3 {
        assert_eq!(store.rate("p:alice", limit, soon()).await.unwrap(), Ok(()));
    }
    let wait = store
        .rate("p:alice", limit, soon())
        .await
        .unwrap()
        .unwrap_err();
    assert!((19_000..=20_000).contains(&wait), "{wait}");
    assert_eq!(store.rate("p:bob", limit, soon()).await.unwrap(), Ok(()));
}

async fn rows_that_make_no_sense_are_refused(stores: Pair) {
    let (store, _) = stores;
    assert!(
        store
            .record(&Entry::new(Kind::Unlink, None), soon())
            .await
            .is_err()
    );
    let mut no_account = Entry::new(Kind::Intent, None);
    no_account.idempotency_key = Some("k".into());
    assert!(
        store
            .begin(&no_account, Duration::from_secs(1), soon())
            .await
            .is_err()
    );
    assert!(all(&*store).await.is_empty());
}

async fn queries_filter_by_account_and_time(stores: Pair) {
    let (store, _) = stores;
    for account in [ACCOUNT, OTHER_ACCOUNT, ACCOUNT] {
        let mut entry = Entry::new(Kind::Unlink, Some(Outcome::Forbidden));
        entry.account_id = Some(account.into());
        store.record(&entry, soon()).await.unwrap();
    }
    let one = Query {
        account_id: Some(ACCOUNT.into()),
        ..Query::default()
    };
    assert_eq!(store.entries(&one, soon()).await.unwrap().len(), 2);
    let future = Query {
        since: Some(time::OffsetDateTime::now_utc() + Duration::from_secs(60)),
        ..Query::default()
    };
    assert!(store.entries(&future, soon()).await.unwrap().is_empty());
    store.health(soon()).await.unwrap();
}

/// Runs every behaviour against fresh stores from `open`.
macro_rules! suite {
    ($engine:ident, $open:expr) => {
        mod $engine {
            use super::*;

            macro_rules! case {
                ($name:ident) => {
                    #[tokio::test]
                    async fn $name() {
                        let (stores, _guard) = $open.await;
                        super::$name(stores).await;
                    }
                };
            }

            case!(intent_then_outcome);
            case!(keys_are_bound_to_their_user_and_account);
            case!(answers_bind_keys_too);
            case!(a_live_claim_elsewhere_is_waited_for);
            case!(an_expired_claim_is_marked_unknown_and_taken_over);
            case!(recovery_marks_a_dead_holders_intents);
            case!(mono_settles_unknown_outcomes);
            case!(unlinks_stay_unconfirmed_until_monos_webhook);
            case!(rates_allow_a_burst_then_say_how_long_to_wait);
            case!(rows_that_make_no_sense_are_refused);
            case!(queries_filter_by_account_and_time);
        }
    };
}

async fn sqlite_pair() -> (Pair, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.sqlite3");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
    let other: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).unwrap());
    ((store, other), dir)
}

suite!(sqlite, sqlite_pair());

async fn postgres_pair() -> (Pair, ()) {
    let url = support::postgres::fresh_database().await;
    let open = || async {
        let store = PostgresStore::connect(&url, None, ConnectPatience::default())
            .await
            .unwrap();
        Arc::new(store) as Arc<dyn Store>
    };
    ((open().await, open().await), ())
}

suite!(postgres, postgres_pair());

#[tokio::test]
async fn postgres_replicas_migrate_together_and_the_schema_is_made_once() {
    let url = support::postgres::fresh_database().await;
    let starts = (0..4).map(|_| PostgresStore::connect(&url, None, ConnectPatience::default()));
    for store in futures::future::join_all(starts).await {
        store.unwrap();
    }
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let versions = client
        .query("SELECT version FROM unlink_schema", &[])
        .await
        .unwrap();
    assert_eq!(versions.len(), 1);
    assert_eq!(versions[0].get::<_, i32>(0), 2, "every migration, once");
}

#[tokio::test]
async fn an_unreachable_postgres_is_a_clear_error_without_the_password() {
    let started = std::time::Instant::now();
    let error = PostgresStore::connect(
        "postgresql://unlink:hunter2@127.0.0.1:1/records",
        None,
        ConnectPatience {
            total: Duration::from_secs(2),
        },
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("cannot reach PostgreSQL at 127.0.0.1:1/records"),
        "{error}"
    );
    assert!(!error.contains("hunter2"), "{error}");
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "it retried for a while"
    );
}

// SQLite only -------------------------------------------------------------------------------

#[tokio::test]
async fn a_trail_written_by_0_1_upgrades_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.sqlite3");
    std::fs::copy("tests/fixtures/audit-0.1.0.sqlite3", &path).unwrap();
    let store = SqliteStore::open(&path).unwrap();
    let rows = all(&store).await;
    let summary: Vec<_> = rows
        .iter()
        .map(|r| (r.kind, r.outcome.unwrap(), r.source))
        .collect();
    assert_eq!(
        summary,
        [
            (Kind::Unlink, Outcome::Unlinked, Some(Source::Upstream)),
            (
                Kind::Unlink,
                Outcome::AlreadyUnlinked,
                Some(Source::Upstream)
            ),
            (Kind::Unlink, Outcome::Forbidden, None),
            (Kind::Unlink, Outcome::InvalidAccountId, None),
            (
                Kind::Webhook,
                Outcome::AccountUnlinked,
                Some(Source::Webhook)
            ),
        ]
    );
    assert_eq!(
        rows[0].ts, "2026-11-24T07:03:54.834Z",
        "rows are kept as they were"
    );
    assert_eq!(
        rows[4].detail.as_deref(),
        Some("mono.events.account_unlinked")
    );
    // The webhook row still counts once per account.
    assert!(
        !store
            .record_webhook(&webhook(OTHER_ACCOUNT), soon())
            .await
            .unwrap()
    );
    // 0.1's final outcomes keep their keys bound.
    let bound: Vec<(String, String)> = rusqlite::Connection::open(&path)
        .unwrap()
        .prepare("SELECT key, outcome FROM idempotency_keys ORDER BY key")
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        bound,
        [
            ("key-1".to_owned(), "unlinked".to_owned()),
            ("key-2".to_owned(), "already_unlinked".to_owned())
        ]
    );
    // And new rows go on from there.
    let next = intent(ACCOUNT, "key-9", "demo-user");
    let id = claimed(&store, &next, Duration::from_secs(30)).await;
    assert_eq!(id, 6);
}

#[tokio::test]
async fn sqlite_recovery_takes_a_dead_processs_claims_at_once_and_a_live_ones_never() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.sqlite3");
    // A server beside this process (here: another store of this one, alive) holds a claim:
    // `unlink-proxy unlink` starting up must leave it to its lease.
    let server = SqliteStore::open(&path).unwrap();
    claimed(
        &server,
        &intent(ACCOUNT, "k", "alice"),
        Duration::from_secs(30),
    )
    .await;
    let beside = SqliteStore::open(&path).unwrap();
    assert!(beside.recover(soon()).await.unwrap().is_empty());
    // The holder crashes (its process is gone: here, its claim names a pid that runs
    // nothing): recovered at once, without waiting for the lease.
    let writer = rusqlite::Connection::open(&path).unwrap();
    writer
        .execute(
            "UPDATE claims SET holder = substr(holder, 1, instr(holder, '/')) || 'pid4000000-1-1'",
            [],
        )
        .unwrap();
    let restarted = SqliteStore::open(&path).unwrap();
    assert_eq!(restarted.recover(soon()).await.unwrap().len(), 1);
}

#[test]
fn a_file_that_is_not_sqlite_is_a_clear_error_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    let text = "these are not the rows you are looking for, ".repeat(50);
    std::fs::write(&path, &text).unwrap();
    let error = SqliteStore::open(&path).unwrap_err();
    assert!(
        error.to_string().contains("is not an SQLite database"),
        "{error}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.sqlite3");
    rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let error = SqliteStore::open(&path).unwrap_err();
    assert!(error.to_string().contains("schema version 99"), "{error}");
}

#[test]
fn a_locked_database_is_a_clear_error_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.sqlite3");
    let holder = rusqlite::Connection::open(&path).unwrap();
    holder
        .execute_batch("PRAGMA journal_mode = WAL; BEGIN EXCLUSIVE; CREATE TABLE t (x);")
        .unwrap();
    let error = std::thread::spawn(move || SqliteStore::open(&path).unwrap_err())
        .join()
        .unwrap();
    assert!(
        error.to_string().contains("is locked by another process"),
        "{error}"
    );
    drop(holder);
}
