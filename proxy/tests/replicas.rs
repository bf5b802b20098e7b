//! Several replicas on one PostgreSQL: two real proxy processes, one standalone fake Mono
//! (`unlink-proxy fake-mono`), and the guarantees of one process held across both: one Mono
//! call per account at a time, shared limits, replays on the other replica, a dead replica's
//! claims marked after their lease, and PostgreSQL going away and coming back.
#![cfg(feature = "fake-mono")]

mod support;

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use futures::future::join_all;
use serde_json::Value;
use support::binary::*;

const KEY: &str = REPLICA_KEY;
const OWNED: &str = "60770aa8c5878a2af69ed849";
const OWNED_2: &str = "65c4c03aa66a95b572cb5a86";

fn runtime() -> tokio::runtime::Runtime {
    let _ = rustls::crypto::ring::default_provider().install_default();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// One unlink through `replica`: status and the JSON answer.
async fn unlink(client: &reqwest::Client, replica: &str, id: &str, key: &str) -> (u16, Value) {
    let answer = client
        .post(format!("{replica}/api/mono/accounts/{id}/unlink"))
        .header("idempotency-key", key)
        .header("cookie", "session=demo")
        .send()
        .await
        .unwrap();
    let status = answer.status().as_u16();
    (status, answer.json().await.unwrap_or(Value::Null))
}

/// Unlink calls the fake Mono received, by account.
async fn calls(mono: &str) -> HashMap<String, u32> {
    reqwest::get(format!("{mono}/fake/calls"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn audit(database: &str) -> Vec<Value> {
    let (ok, stdout, stderr) = run(proxy().args(["audit", "--database-url", database]));
    assert!(ok, "{stderr}");
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_hundred_confirmations_over_two_replicas_make_one_mono_call() {
    let rt = runtime();
    let database = rt.block_on(support::postgres::fresh_database());
    let fake = fake_mono(&["--fake-mono-fault", "*=latency:3000"]);
    // About sharing one call under load, not about time: the production deadline.
    let flags = ["--deadline", "12s", "--claim-lease", "30s"];
    let replicas = [
        replica(&database, &fake.url, &flags),
        replica(&database, &fake.url, &flags),
    ];
    rt.block_on(async {
        let client = reqwest::Client::new();
        for (account, same_key) in [(OWNED, true), (OWNED_2, false)] {
            let answers = join_all((0..100).map(|i| {
                let replica = &replicas[i % 2].url;
                let key = if same_key {
                    "one-key".to_owned()
                } else {
                    format!("key-{i}")
                };
                let client = &client;
                async move { unlink(client, replica, account, &key).await }
            }))
            .await;
            let (status, first) = &answers[0];
            assert_eq!(*status, 200, "{first}");
            for (status, body) in &answers {
                assert_eq!((*status, &body["data"]), (200, &first["data"]), "{account}");
            }
            assert_eq!(first["data"]["already_unlinked"], false);
            assert_eq!(
                calls(&fake.url).await[account],
                1,
                "one Mono call for {account}"
            );
        }
    });
    let rows = audit(&database);
    let intents = rows.iter().filter(|r| r["kind"] == "intent").count();
    assert_eq!(intents, 2, "one intent per account");
    let answers = rows.iter().filter(|r| r["kind"] == "unlink").count();
    assert_eq!(answers, 200, "every request has its row");
}

#[test]
fn the_per_user_limit_holds_across_replicas() {
    let rt = runtime();
    let database = rt.block_on(support::postgres::fresh_database());
    let fake = fake_mono(&[]);
    let replicas = [
        replica_limited(&database, &fake.url, 10, &[]),
        replica_limited(&database, &fake.url, 10, &[]),
    ];
    let statuses = rt.block_on(async {
        let client = reqwest::Client::new();
        let mut statuses = Vec::new();
        for i in 0..20 {
            let (status, _) = unlink(&client, &replicas[i % 2].url, OWNED, &format!("k{i}")).await;
            statuses.push(status);
        }
        statuses
    });
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        10,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        10,
        "{statuses:?}"
    );
}

#[test]
fn a_retry_on_the_other_replica_replays_without_calling_mono() {
    let rt = runtime();
    let database = rt.block_on(support::postgres::fresh_database());
    let fake = fake_mono(&[]);
    let (a, b) = (
        replica(&database, &fake.url, &[]),
        replica(&database, &fake.url, &[]),
    );
    rt.block_on(async {
        let client = reqwest::Client::new();
        let first = unlink(&client, &a.url, OWNED, "retried").await;
        let retry = unlink(&client, &b.url, OWNED, "retried").await;
        assert_eq!(first.0, 200);
        assert_eq!((retry.0, &retry.1["data"]), (200, &first.1["data"]));
        assert_eq!(calls(&fake.url).await[OWNED], 1);
    });
    let sources: Vec<Value> = audit(&database)
        .into_iter()
        .filter(|r| r["kind"] == "unlink")
        .map(|r| r["source"].clone())
        .collect();
    assert_eq!(sources, ["upstream", "replay"]);
}

#[test]
fn when_a_replica_dies_the_other_serves_and_the_dead_ones_claims_are_marked() {
    let rt = runtime();
    let database = rt.block_on(support::postgres::fresh_database());
    let accounts: Vec<String> = (0..6).map(|i| format!("acc{i:02}")).collect();
    let mut flags = vec!["--fake-mono-fault".to_owned(), "*=latency:1500".to_owned()];
    for id in &accounts {
        flags.extend(["--fake-mono-account".to_owned(), id.clone()]);
    }
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let fake = fake_mono(&flags);
    let doomed = replica(&database, &fake.url, &[]);
    let survivor = replica(&database, &fake.url, &[]);
    let answered = rt.block_on(async {
        let client = reqwest::Client::new();
        // Three unlinks wait on Mono in the replica about to die, three in the other.
        let mut requests = Vec::new();
        for (i, id) in accounts.iter().enumerate() {
            let replica = if i < 3 {
                doomed.url.clone()
            } else {
                survivor.url.clone()
            };
            let (client, id) = (client.clone(), id.clone());
            requests.push(tokio::spawn(async move {
                let key = format!("key-{id}");
                let sent = client
                    .post(format!("{replica}/api/mono/accounts/{id}/unlink"))
                    .header("idempotency-key", &key)
                    .header("cookie", "session=demo")
                    .send()
                    .await;
                (key, sent.map(|r| r.status().as_u16()))
            }));
        }
        let started = Instant::now();
        while calls(&fake.url).await.values().sum::<u32>() < 6 {
            assert!(started.elapsed() < Duration::from_secs(10));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        kill(&doomed.child, "KILL");
        let mut answered = Vec::new();
        for request in requests {
            let (key, result) = request.await.unwrap();
            if let Ok(status) = result {
                answered.push((key, status));
            }
        }
        // The survivor goes on serving.
        let (status, _) = unlink(&client, &survivor.url, OWNED, "after").await;
        assert_eq!(status, 200);
        answered
    });
    assert_eq!(
        answered.len(),
        3,
        "the survivor answered its three: {answered:?}"
    );
    assert!(
        answered.iter().all(|(_, status)| *status == 200),
        "{answered:?}"
    );

    // No answered request lacks its record.
    let rows = audit(&database);
    for (key, _) in &answered {
        assert!(
            rows.iter().any(|r| r["kind"] == "unlink"
                && r["idempotency_key"] == key.as_str()
                && r["outcome"] == "unlinked"),
            "no outcome row for {key}"
        );
    }
    // The dead replica's three claims expire (5 s) and the survivor marks them.
    let started = Instant::now();
    loop {
        let marked = audit(&database)
            .iter()
            .filter(|r| r["outcome"] == "outcome_unknown")
            .count();
        if marked == 3 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{marked} marked"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let (ok, stdout, _) = run(proxy().args(["audit", "--unresolved", "--database-url", &database]));
    assert!(ok);
    assert_eq!(stdout.lines().count(), 3);
}

#[test]
fn postgres_going_away_means_503_and_no_mono_call_until_it_is_back() {
    // A server of its own: the other tests share theirs.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("pg");
    let pg = |command: &str| {
        let (ok, stdout, stderr) = run(std::process::Command::new("scripts/pg.sh")
            .current_dir("..")
            .arg(command)
            .arg(&data));
        assert!(ok, "pg.sh {command}: {stderr}");
        stdout.trim().to_owned()
    };
    let database = pg("start");
    let rt = runtime();
    let fake = fake_mono(&[]);
    let replica = replica(&database, &fake.url, &[]);
    rt.block_on(async {
        let client = reqwest::Client::new();
        let health = || async {
            reqwest::get(format!("{}/healthz", replica.url))
                .await
                .unwrap()
                .status()
                .as_u16()
        };
        assert_eq!(health().await, 200);
        pg("stop");
        let (status, body) = unlink(&client, &replica.url, OWNED, "while-down").await;
        assert_eq!(
            (status, body["data"]["code"].as_str()),
            (503, Some("audit_unavailable"))
        );
        assert!(calls(&fake.url).await.is_empty(), "Mono was not called");
        assert_eq!(health().await, 503);

        pg("start");
        let started = Instant::now();
        while health().await != 200 {
            assert!(started.elapsed() < Duration::from_secs(20), "not back");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let (status, body) = unlink(&client, &replica.url, OWNED, "while-down").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(calls(&fake.url).await[OWNED], 1);
    });
    drop(replica);
    pg("destroy");
}

#[test]
fn start_up_gives_up_on_an_unreachable_postgres_and_says_where() {
    let fake = fake_mono(&[]);
    let started = Instant::now();
    let (ok, stdout, stderr) = run(proxy()
        .env("MONO_SEC_KEY", KEY)
        .args(["--listen", "127.0.0.1:0", "--mono-base-url", &fake.url])
        .args(["--authorize-url", &format!("{}/demo/can-unlink", fake.url)])
        .args([
            "--database-url",
            "postgresql://unlink:hunter2@127.0.0.1:1/records",
        ])
        .args(["--database-connect-timeout", "2s"]));
    assert!(!ok);
    assert!(
        stderr.contains("cannot reach PostgreSQL at 127.0.0.1:1/records"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2") && !stdout.contains("hunter2"));
    assert!(started.elapsed() >= Duration::from_secs(2));
}

#[test]
fn migrate_audit_copies_a_sqlite_trail_once_and_resumes() {
    use unlink_proxy::SqliteStore;
    let rt = runtime();
    let database = rt.block_on(support::postgres::fresh_database());
    // A trail 0.1 wrote, upgraded, with an intent and its outcome added.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("audit.sqlite3");
    std::fs::copy("tests/fixtures/audit-0.1.0.sqlite3", &file).unwrap();
    rt.block_on(async {
        let store = SqliteStore::open(&file).unwrap();
        support::record_unlinked(&store, OWNED_2).await;
    });
    let migrate = || {
        run(proxy()
            .arg("migrate-audit")
            .arg("--from")
            .arg(&file)
            .args(["--to", &database]))
    };
    let (ok, stdout, stderr) = migrate();
    assert!(ok, "{stderr}");
    assert!(stdout.contains("7 rows in"), "{stdout}");
    assert!(stdout.contains("(7 copied now)"), "{stdout}");
    let (ok, stdout, stderr) = migrate();
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("(0 copied now)"),
        "run again: nothing twice: {stdout}"
    );

    let rows = audit(&database);
    assert_eq!(rows.len(), 7);
    assert_eq!(rows[0]["ts"], "2026-11-24T07:03:54.834Z", "times are kept");
    assert_eq!(rows[4]["kind"], "webhook");
    // The outcome points at its intent's new id.
    let intent = rows.iter().find(|r| r["kind"] == "intent").unwrap();
    let outcome = rows.last().unwrap();
    assert_eq!(outcome["intent_id"], intent["id"]);
}

/// `count` confirmations of `account` at once, each with its own key, spread over the
/// replicas in turn: their answers.
async fn confirmations(replicas: &[&str], account: &str, count: usize) -> Vec<(u16, Value)> {
    let client = reqwest::Client::new();
    join_all((0..count).map(|i| {
        let (client, replica) = (client.clone(), replicas[i % replicas.len()].to_owned());
        let key = format!("{account}-tab-{i}");
        async move { unlink(&client, &replica, account, &key).await }
    }))
    .await
}

#[test]
fn forty_confirmations_with_their_own_keys_over_two_replicas_make_one_call_and_all_hear_unlinked() {
    // Two tabs, a double tap, a phone: forty confirmations of one account with different
    // keys, split over two replicas, Mono taking 300 ms, and a session store slow enough
    // (up to 800 ms) that some confirmations reach the record after the unlink landed. One
    // Mono call, and every user is told "unlinked": none is told "already unlinked" for the
    // unlink they just made.
    let rt = runtime();
    let database = rt.block_on(support::postgres::fresh_database());
    let accounts: Vec<String> = (0..5).map(|i| format!("race{i:02}")).collect();
    let mut flags = vec![
        "--fake-mono-fault".to_owned(),
        "*=latency:300".to_owned(),
        "--demo-authoriser-latency".to_owned(),
        "800ms".to_owned(),
    ];
    for id in &accounts {
        flags.extend(["--fake-mono-account".to_owned(), id.clone()]);
    }
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let fake = fake_mono(&flags);
    let replicas = [
        replica(&database, &fake.url, &[]),
        replica(&database, &fake.url, &[]),
    ];
    let urls = [replicas[0].url.as_str(), replicas[1].url.as_str()];
    rt.block_on(async {
        for account in &accounts {
            let answers = confirmations(&urls, account, 40).await;
            for (status, body) in &answers {
                assert_eq!(*status, 200, "{account}: {body}");
                assert_eq!(body["data"]["already_unlinked"], false, "{account}: {body}");
            }
            assert_eq!(calls(&fake.url).await[account.as_str()], 1, "{account}");
        }
    });
}

#[test]
fn a_replica_whose_clock_runs_a_minute_fast_does_not_take_a_live_claim() {
    // Leases are compared on the database's clock: a replica whose own clock is ahead must
    // not believe the other's live claim has expired and call Mono again.
    let rt = runtime();
    let database = rt.block_on(support::postgres::fresh_database());
    let fake = fake_mono(&["--fake-mono-fault", "*=latency:1500"]);
    let honest = replica(&database, &fake.url, &[]);
    let fast = replica_with(&database, &fake.url, 100_000, &[], |command| {
        command
            .env(
                "LD_PRELOAD",
                "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
            )
            .env("FAKETIME", "+60s")
            .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
            .env("FAKETIME_DONT_RESET", "1");
    });
    rt.block_on(async {
        let client = reqwest::Client::new();
        let first = tokio::spawn({
            let (client, url) = (client.clone(), honest.url.clone());
            async move { unlink(&client, &url, OWNED, "honest").await }
        });
        let started = Instant::now();
        while !calls(&fake.url).await.contains_key(OWNED) {
            assert!(started.elapsed() < Duration::from_secs(5));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let second = unlink(&client, &fast.url, OWNED, "fast").await;
        let first = first.await.unwrap();
        assert_eq!(first.0, 200, "{}", first.1);
        assert_eq!(second.0, 200, "{}", second.1);
        assert_eq!(
            second.1["data"]["already_unlinked"], false,
            "shared, not repeated"
        );
        assert_eq!(calls(&fake.url).await[OWNED], 1, "one Mono call");
    });
    assert!(
        audit(&database)
            .iter()
            .all(|row| row["outcome"] != "outcome_unknown"),
        "nothing was marked unknown"
    );
}

#[test]
fn a_frozen_replicas_call_is_waited_for_not_repeated() {
    // A replica stalls mid-call (SIGSTOP: a GC pause, a VM migration) for less than its
    // lease: the other replica's confirmations wait for its answer instead of calling again.
    let rt = runtime();
    let database = rt.block_on(support::postgres::fresh_database());
    let fake = fake_mono(&["--fake-mono-fault", "*=latency:1000"]);
    let flags = ["--deadline", "3s", "--claim-lease", "4s"];
    let frozen = replica(&database, &fake.url, &flags);
    let other = replica(&database, &fake.url, &flags);
    rt.block_on(async {
        let client = reqwest::Client::new();
        let first = tokio::spawn({
            let (client, url) = (client.clone(), frozen.url.clone());
            async move { unlink(&client, &url, OWNED, "frozen").await }
        });
        let started = Instant::now();
        while !calls(&fake.url).await.contains_key(OWNED) {
            assert!(started.elapsed() < Duration::from_secs(5));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        kill(&frozen.child, "STOP");
        let waiting = tokio::spawn({
            let url = other.url.clone();
            async move { confirmations(&[&url], OWNED, 10).await }
        });
        tokio::time::sleep(Duration::from_millis(1500)).await;
        kill(&frozen.child, "CONT");
        let first = first.await.unwrap();
        assert_eq!(first.0, 200, "{}", first.1);
        for (status, body) in waiting.await.unwrap() {
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["data"]["already_unlinked"], false, "{body}");
        }
        assert_eq!(calls(&fake.url).await[OWNED], 1, "one Mono call");
    });
}

#[test]
fn a_commit_that_outlives_its_deadline_does_not_leave_the_account_held() {
    // PostgreSQL finishes a COMMIT whether or not the replica still waits for it (a slow
    // disk; here, deferred work that sleeps). The replica must not believe it failed while
    // its claim stands: the account would answer 504 until a restart.
    let rt = runtime();
    let database = rt.block_on(support::postgres::fresh_database());
    let fake = fake_mono(&[]);
    let replica = replica(
        &database,
        &fake.url,
        &["--deadline", "2s", "--claim-lease", "3s"],
    );
    let sql = |statement: &'static str| {
        let database = database.clone();
        async move {
            let (client, connection) = tokio_postgres::connect(&database, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(connection);
            client.batch_execute(statement).await.unwrap();
        }
    };
    rt.block_on(async {
        sql(
            "CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS
                $$ BEGIN PERFORM pg_sleep(3); RETURN NULL; END $$;
             CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON claims
                DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit();",
        )
        .await;
        let client = reqwest::Client::new();
        let (status, body) = unlink(&client, &replica.url, OWNED, "slow").await;
        assert_eq!(
            (status, body["data"]["code"].as_str()),
            (503, Some("audit_unavailable"))
        );
        assert!(
            calls(&fake.url).await.is_empty(),
            "no time was left for Mono"
        );
        sql("DROP TRIGGER slow_commit ON claims").await;

        // Within a few seconds the account can be unlinked again, on the same replica.
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (status, body) = unlink(&client, &replica.url, OWNED, &format!("k{attempt}")).await;
            if status == 200 {
                assert_eq!(body["data"]["already_unlinked"], false);
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "still {status} after 10 s: {body}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        assert_eq!(calls(&fake.url).await[OWNED], 1);
    });
    let released = audit(&database).into_iter().find(|row| {
        row["outcome"] == "audit_unavailable"
            && row["idempotency_key"] == "slow"
            && row["kind"] == "unlink"
            && row["intent_id"].is_i64()
    });
    let released = released.expect("the late intent is released on record");
    assert!(
        released["detail"]
            .as_str()
            .unwrap()
            .contains("Mono was not called"),
        "{released}"
    );
}

#[test]
fn a_read_only_postgres_is_unhealthy_not_healthy() {
    // A failover left the replicas on a server that refuses writes (here the database is
    // made read-only and its sessions restarted): /healthz must say so, as an unlink does.
    let rt = runtime();
    let database = rt.block_on(support::postgres::fresh_database());
    let fake = fake_mono(&[]);
    let replica = replica(&database, &fake.url, &[]);
    let name = database.rsplit('/').next().unwrap().to_owned();
    let admin = |statement: String| {
        let server = support::postgres::server_url();
        async move {
            let (client, connection) = tokio_postgres::connect(&server, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(connection);
            client.batch_execute(&statement).await.unwrap();
        }
    };
    let restart_sessions =
        format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'");
    rt.block_on(async {
        let client = reqwest::Client::new();
        let health = || async {
            client
                .get(format!("{}/healthz", replica.url))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        };
        assert_eq!(health().await, 200);
        admin(format!(
            "ALTER DATABASE {name} SET default_transaction_read_only = on; {restart_sessions}"
        ))
        .await;
        // Every check from now on: the sessions come back read-only.
        let mut seen = Vec::new();
        for _ in 0..4 {
            tokio::time::sleep(Duration::from_millis(600)).await;
            seen.push(health().await);
        }
        assert!(seen[1..].iter().all(|s| *s == 503), "{seen:?}");
        let (status, _) = unlink(&client, &replica.url, OWNED, "read-only").await;
        assert_eq!(status, 503);
        assert!(calls(&fake.url).await.is_empty(), "Mono was not called");

        admin(format!(
            "ALTER DATABASE {name} RESET default_transaction_read_only; {restart_sessions}"
        ))
        .await;
        let started = Instant::now();
        while health().await != 200 {
            assert!(started.elapsed() < Duration::from_secs(10), "not back");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
}
