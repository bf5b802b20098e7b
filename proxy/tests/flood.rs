//! Hostile traffic costs nothing: a 30-second flood of malformed requests from one address
//! writes no record and almost no log, and a real user's unlink in the middle of it goes
//! through. A test binary of its own, so the flood does not slow other tests down.
#![cfg(feature = "fake-mono")]

mod support;

use std::{
    fs::File,
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use support::binary::*;

const FLOOD: Duration = Duration::from_secs(30);
const OWNED: &str = "60770aa8c5878a2af69ed849";

/// Bytes the record occupies on disk: the database and its write-ahead log.
fn record_bytes(db: &Path) -> u64 {
    ["", "-wal"]
        .iter()
        .filter_map(|suffix| std::fs::metadata(format!("{}{suffix}", db.display())).ok())
        .map(|meta| meta.len())
        .sum()
}

/// One malformed request, by number: a bad id, no key, another site's page, a forged or
/// huge request id, an unknown route.
fn junk(client: &reqwest::Client, url: &str, n: u64) -> reqwest::RequestBuilder {
    let unlink = |id: &str| client.post(format!("{url}/api/mono/accounts/{id}/unlink"));
    match n % 6 {
        0 => unlink("bad.id").header("idempotency-key", "k"),
        1 => unlink(OWNED),
        2 => unlink(OWNED)
            .header("idempotency-key", "k")
            .header("origin", "https://evil.example"),
        3 => unlink("../../etc")
            .header("idempotency-key", "k")
            .header("x-request-id", "x outcome=unlinked principal=admin"),
        4 => unlink(OWNED)
            .header("idempotency-key", "k")
            .header("x-request-id", "x".repeat(300 * 1024)),
        _ => client.get(format!("{url}/wp-admin/setup.php")),
    }
}

#[test]
fn a_flood_of_malformed_requests_costs_no_record_little_log_and_blocks_nobody() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.sqlite3");
    let log = dir.path().join("proxy.log");
    let files = tempfile::tempdir().unwrap();
    std::fs::write(files.path().join("index.html"), "<!doctype html>").unwrap();
    let mut demo = start_demo_logging_to(&db, files.path(), &[], File::create(&log).unwrap());
    let url = demo.url.clone();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (log_before, sent, record) = runtime.block_on(async {
        let log_before = std::fs::metadata(&log).unwrap().len();
        let before = record_bytes(&db);
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let flooders: Vec<_> = (0..4)
            .map(|_| {
                let (stop, sent, url) = (stop.clone(), sent.clone(), url.clone());
                tokio::spawn(async move {
                    let client = reqwest::Client::new();
                    while !stop.load(Ordering::Relaxed) {
                        let n = sent.fetch_add(1, Ordering::Relaxed);
                        let _ = junk(&client, &url, n).send().await;
                    }
                })
            })
            .collect();

        tokio::time::sleep(FLOOD / 2).await;
        let mid_flood = record_bytes(&db);
        // A real user, in the middle of it.
        let answer = reqwest::Client::new()
            .post(format!("{url}/api/mono/accounts/{OWNED}/unlink"))
            .header("idempotency-key", "the-real-one")
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
        let after_the_user = record_bytes(&db);
        tokio::time::sleep(FLOOD / 2).await;
        stop.store(true, Ordering::Relaxed);
        for flooder in flooders {
            flooder.await.unwrap();
        }
        let after = record_bytes(&db);
        (
            log_before,
            sent.load(Ordering::Relaxed),
            [before, mid_flood, after_the_user, after],
        )
    });
    kill(&demo.child, "TERM");
    assert!(demo.child.wait().unwrap().success());

    let [before, mid_flood, after_the_user, after] = record;
    assert!(sent > 10_000, "only {sent} requests: not much of a flood");
    assert_eq!(mid_flood, before, "the flood wrote to the record");
    assert_eq!(after, after_the_user, "the flood wrote to the record");
    let logged = std::fs::metadata(&log).unwrap().len() - log_before;
    assert!(
        logged < 1024 * 1024,
        "{logged} bytes of log for {sent} requests"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("more refused requests not logged"),
        "refusals are summed up"
    );
    assert!(
        !text.contains("principal=admin"),
        "a forged request id reached the log"
    );
    eprintln!("{sent} malformed requests in {FLOOD:?}: {logged} bytes of log, record unchanged");

    // The record holds the real user's unlink, and nothing else.
    let (ok, stdout, stderr) = run(proxy().arg("audit").arg("--audit-db").arg(&db));
    assert!(ok, "{stderr}");
    let kinds: Vec<String> = stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["kind"].to_string())
        .collect();
    assert_eq!(kinds, ["\"intent\"", "\"unlink\""]);
}
