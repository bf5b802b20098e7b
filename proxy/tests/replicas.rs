//! Several replicas on one PostgreSQL: two real proxy processes, one standalone fake Mono
//! (`unlink-proxy fake-mono`), and the guarantees of one process held across both: one Mono
//! call per account at a time, shared limits, replays on the other replica, a dead replica's
//! claims marked after their lease, and PostgreSQL going away and coming back.
#![cfg(feature = "fake-mono")]

mod support;

use std::{
    collections::HashMap,
    io::{BufRead, BufReader},
    process::{Child, Stdio},
    time::{Duration, Instant},
};

use futures::future::join_all;
use serde_json::Value;
use support::binary::*;

const KEY: &str = "test_sk_replicasharedfake01";
const OWNED: &str = "60770aa8c5878a2af69ed849";
const OWNED_2: &str = "65c4c03aa66a95b572cb5a86";

/// A child process that is killed when the test ends, pass or fail.
struct Running {
    child: Child,
    url: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads lines from `stream` until one contains `marker`; returns what follows it.
fn wait_for_line(stream: impl std::io::Read + Send + 'static, marker: &str) -> String {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "exited before {marker:?}"
        );
        if let Some((_, rest)) = line.split_once(marker) {
            let found = rest.split_whitespace().next().unwrap_or("").to_owned();
            // Keep draining, so the process never blocks on a full pipe.
            std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
            return found;
        }
    }
}

/// `unlink-proxy fake-mono` with `extra` flags.
fn fake_mono(extra: &[&str]) -> Running {
    let mut child = proxy()
        .args(["fake-mono", "--listen", "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = wait_for_line(child.stdout.take().unwrap(), "Fake Mono: ");
    Running { child, url }
}

/// A proxy replica on `database` in front of `mono`, with generous limits.
fn replica(database: &str, mono: &str, extra: &[&str]) -> Running {
    replica_limited(database, mono, 100_000, extra)
}

/// The same, with `per_user` unlinks a minute.
fn replica_limited(database: &str, mono: &str, per_user: u32, extra: &[&str]) -> Running {
    let mut child = proxy()
        .env("MONO_SEC_KEY", KEY)
        .args(["--listen", "127.0.0.1:0", "--mono-base-url", mono])
        .args(["--authorize-url", &format!("{mono}/demo/can-unlink")])
        .args(["--database-url", database])
        .args(["--deadline", "4s", "--claim-lease", "5s"])
        .args(["--maintenance-interval", "1s"])
        .args(["--rate-limit-per-minute", &per_user.to_string()])
        .args(["--ip-rate-limit-per-minute", "100000"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let url = wait_for_line(child.stderr.take().unwrap(), "listening on ");
    Running { child, url }
}

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
    let replicas = [
        replica(&database, &fake.url, &[]),
        replica(&database, &fake.url, &[]),
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
