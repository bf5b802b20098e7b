//! The `unlink-proxy` binary: start-up refusals, `--help`, the `audit` subcommand, log
//! formats, a clean stop on SIGTERM, and what a `kill -9` leaves behind.
#![cfg(feature = "fake-mono")]

mod support;

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::Stdio,
    sync::Arc,
    time::{Duration, Instant},
};

use support::binary::*;

use unlink_proxy::{
    SqliteStore,
    fake_mono::FakeMono,
    record::{Entry, Kind, Outcome},
    store::Record,
};

const LIVE_KEY: &str = "live_sk_k33pth1ssecretplease";

#[test]
fn help_documents_every_flag_and_its_variable() {
    let (ok, help, _) = run(proxy().arg("--help"));
    assert!(ok);
    for flag in [
        "--listen",
        "--prefix",
        "--secret-key-file",
        "--mono-base-url",
        "--mono-api",
        "--allowed-origin",
        "--authorize-url",
        "--static-dir",
        "--audit-db",
        "--fake-mono",
        "--fake-mono-fault",
        "--webhook-secret-file",
        "--rate-limit-per-minute",
        "--log-format",
        "MONO_SEC_KEY",
        "UNLINK_AUTHORIZE_URL",
        "audit",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
}

#[test]
fn version_prints_the_release() {
    let (ok, stdout, _) = run(proxy().arg("--version"));
    assert!(ok);
    assert_eq!(
        stdout.trim(),
        format!("unlink-proxy {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn a_static_dir_without_a_page_or_the_widget_is_refused() {
    let empty = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let db = elsewhere.path().join("a.sqlite3");
    let args = |dir: &Path| {
        [
            "check".into(),
            "--fake-mono".into(),
            "--static-dir".into(),
            dir.display().to_string(),
            "--audit-db".into(),
            db.display().to_string(),
        ]
    };
    let (ok, _, stderr) = run(proxy().args(args(empty.path())));
    assert!(!ok);
    assert!(
        stderr.contains("has neither index.html nor unlink.js"),
        "{stderr}"
    );
    // A CDN folder (the widget's files, no page) is served.
    let cdn = tempfile::tempdir().unwrap();
    std::fs::write(cdn.path().join("unlink.js"), "export {}").unwrap();
    let (ok, _, stderr) = run(proxy().args(args(cdn.path())));
    assert!(ok, "{stderr}");
}

#[test]
fn a_public_key_is_refused_without_being_echoed() {
    let (ok, stdout, stderr) = run(proxy().env("MONO_SEC_KEY", "live_pk_notasecretkey123"));
    assert!(!ok);
    assert!(
        stderr.contains("must start with test_sk_ or live_sk_"),
        "{stderr}"
    );
    assert!(!stderr.contains("notasecretkey123") && !stdout.contains("notasecretkey123"));
}

#[test]
fn no_key_and_no_fake_mono_is_refused_naming_the_key() {
    let (ok, _, stderr) = run(proxy().args(["--authorize-url", "http://127.0.0.1:9/can"]));
    assert!(!ok);
    assert!(
        stderr.contains("no Mono secret key: set MONO_SEC_KEY"),
        "{stderr}"
    );
    assert!(stderr.contains("--fake-mono"), "{stderr}");
}

#[test]
fn an_empty_key_is_an_error_not_a_demo() {
    for empty in ["", "   ", "\n"] {
        let (ok, _, stderr) = run(proxy()
            .env("MONO_SEC_KEY", empty)
            .args(["--authorize-url", "http://127.0.0.1:9/can"])
            .args(["--mono-base-url", "http://127.0.0.1:9"]));
        assert!(!ok, "{empty:?}");
        assert!(
            stderr.contains("the Mono secret key is empty"),
            "{empty:?}: {stderr}"
        );
        assert!(!stderr.contains("FAKE MONO"), "{stderr}");
    }
}

#[test]
fn the_fake_mono_refuses_anything_that_means_a_real_one() {
    for (args, env, named) in [
        (
            &["--authorize-url", "http://127.0.0.1:9/can"][..],
            None,
            "--authorize-url",
        ),
        (
            &["--mono-base-url", "http://127.0.0.1:9"][..],
            None,
            "--mono-base-url",
        ),
        (&[][..], Some(LIVE_KEY), "a Mono secret key"),
    ] {
        let mut command = proxy();
        command.arg("--fake-mono").args(args);
        if let Some(key) = env {
            command.env("MONO_SEC_KEY", key);
        }
        let (ok, stdout, stderr) = run(&mut command);
        assert!(!ok, "{args:?}");
        assert!(
            stderr.contains(&format!("--fake-mono cannot be combined with {named}")),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("k33pth1s") && !stdout.contains("k33pth1s"));
    }
}

#[test]
fn a_real_key_without_the_partners_origins_is_refused() {
    let (ok, _, stderr) = run(proxy()
        .env_remove("UNLINK_PUBLIC_ORIGINS")
        .env("MONO_SEC_KEY", LIVE_KEY)
        .args(["--authorize-url", "https://app.example/can"]));
    assert!(!ok);
    assert!(stderr.contains("set --public-origin"), "{stderr}");
    assert!(!stderr.contains("k33pth1s"));
}

#[test]
fn a_real_key_without_an_authoriser_is_refused() {
    let (ok, stdout, stderr) = run(proxy().env("MONO_SEC_KEY", LIVE_KEY));
    assert!(!ok);
    assert!(
        stderr.contains("refusing to start: set --authorize-url"),
        "{stderr}"
    );
    assert!(!stderr.contains("k33pth1s") && !stdout.contains("k33pth1s"));
}

#[test]
fn the_key_is_given_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("key");
    std::fs::write(&file, format!("{LIVE_KEY}\n")).unwrap();
    let (ok, _, stderr) = run(proxy()
        .env("MONO_SEC_KEY", LIVE_KEY)
        .arg("--secret-key-file")
        .arg(&file));
    assert!(!ok);
    assert!(stderr.contains("give the Mono secret key once"), "{stderr}");
}

#[test]
fn a_corrupt_audit_database_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.sqlite3");
    let garbage = "not a database ".repeat(100);
    std::fs::write(&db, &garbage).unwrap();
    let (ok, _, stderr) = run(proxy()
        .arg("--fake-mono")
        .arg("--audit-db")
        .arg(&db)
        .arg("--listen")
        .arg("127.0.0.1:0"));
    assert!(!ok);
    assert!(stderr.contains("is not an SQLite database"), "{stderr}");
    assert!(!stderr.contains("panicked"));
    assert_eq!(
        std::fs::read_to_string(&db).unwrap(),
        garbage,
        "left as it was"
    );
}

#[test]
fn bad_flag_values_are_explained() {
    for (flag, value, expected) in [
        (
            "--allowed-origin",
            "https://a.example/path",
            "is not an origin",
        ),
        ("--prefix", "api", "must be a path like /api/mono"),
        ("--fake-mono-fault", "*=teapot", "unknown fault"),
        ("--mono-api", "v3", "possible values: v2, v1"),
    ] {
        let (ok, _, stderr) = run(proxy().arg(flag).arg(value));
        assert!(!ok, "{flag} {value}");
        assert!(stderr.contains(expected), "{flag} {value}: {stderr}");
    }
}

#[test]
fn demo_mode_says_so_and_logs_json() {
    let dir = tempfile::tempdir().unwrap();
    let files = static_dir();
    let mut demo = start_demo(
        &dir.path().join("a.sqlite3"),
        files.path(),
        &["--log-format", "json"],
    );
    assert!(demo.url.starts_with("http://127.0.0.1:"));
    let (stopped, stderr) = demo.stop();
    assert!(stopped, "{stderr}");
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    assert!(lines.iter().any(|l| {
        l["fields"]["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("FAKE MONO")
    }));
}

#[test]
fn sigterm_lets_an_unlink_in_flight_finish_and_land_in_the_audit() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.sqlite3");
    let files = static_dir();
    let mut demo = start_demo(&db, files.path(), &["--fake-mono-fault", "*=latency:1000"]);
    let url = demo.url.clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let status = runtime.block_on(async {
        let request = tokio::spawn(
            reqwest::Client::new()
                .post(format!(
                    "{url}/api/mono/accounts/60770aa8c5878a2af69ed849/unlink"
                ))
                .header("idempotency-key", "k")
                .header("cookie", "session=demo")
                .send(),
        );
        // Once its intent is on disk, the unlink is waiting for Mono: stop the proxy then.
        let record = rusqlite::Connection::open(&db).unwrap();
        support::until(|| {
            record
                .query_row(
                    "SELECT count(*) FROM audit WHERE kind = 'intent'",
                    [],
                    |row| row.get::<_, i64>(0),
                )
                .is_ok_and(|intents| intents == 1)
        })
        .await;
        kill(&demo.child, "TERM");
        request.await.unwrap().unwrap().status().as_u16()
    });
    assert_eq!(status, 200);
    assert!(demo.child.wait().unwrap().success());

    // The row is on disk, and the audit subcommand prints it.
    let (ok, stdout, stderr) = run(proxy()
        .arg("audit")
        .arg("--audit-db")
        .arg(&db)
        .args(["--account", "60770aa8c5878a2af69ed849"]));
    assert!(ok, "{stderr}");
    let rows: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2, "{stdout}");
    assert_eq!(rows[0]["kind"], "intent");
    assert_eq!(rows[1]["outcome"], "unlinked");
    assert_eq!(rows[1]["principal"], "demo-user");
}

#[test]
fn audit_prints_json_lines_filtered_by_account_and_time() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.sqlite3");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = SqliteStore::open(&db).unwrap();
        for (account, outcome) in [
            ("acc-1", Outcome::Unlinked),
            ("acc-2", Outcome::Forbidden),
            ("acc-1", Outcome::AlreadyUnlinked),
        ] {
            let mut entry = Entry::new(Kind::Unlink, Some(outcome));
            entry.account_id = Some(account.into());
            store
                .record(&entry, tokio::time::Instant::now() + Duration::from_secs(5))
                .await
                .unwrap();
        }
    });
    let audit = |args: &[&str]| {
        let (ok, stdout, stderr) = run(proxy().arg("audit").arg("--audit-db").arg(&db).args(args));
        assert!(ok, "{stderr}");
        stdout
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["outcome"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(audit(&[]), ["unlinked", "forbidden", "already_unlinked"]);
    assert_eq!(
        audit(&["--account", "acc-1"]),
        ["unlinked", "already_unlinked"]
    );
    assert_eq!(audit(&["--since", "1h"]).len(), 3);
    assert!(audit(&["--since", "2999-01-01T00:00:00Z"]).is_empty());

    let (ok, _, stderr) = run(proxy().args(["audit", "--since", "last tuesday"]));
    assert!(!ok);
    assert!(stderr.contains("neither an RFC 3339 time"), "{stderr}");
}

#[test]
fn audit_of_a_missing_file_fails_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("typo.sqlite3");
    let (ok, stdout, stderr) = run(proxy().arg("audit").arg("--audit-db").arg(&typo));
    assert!(!ok);
    assert!(stdout.is_empty());
    assert!(
        stderr.contains("does not exist (check --audit-db)"),
        "{stderr}"
    );
    assert!(!typo.exists(), "no empty trail was created");
}

#[cfg(unix)]
#[test]
fn a_new_audit_database_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.sqlite3");
    let files = static_dir();
    start_demo(&db, files.path(), &[]).stop();
    for file in [db, dir.path().join("a.sqlite3-wal")] {
        if file.exists() {
            let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", file.display());
        }
    }
}

// kill -9 ---------------------------------------------------------------------------------

const TEST_KEY: &str = "test_sk_killnineloadtest000";

/// A partner authoriser that says yes to everything, as user-42, on loopback.
async fn yes_authoriser() -> String {
    use axum::{Json, Router, routing::post};
    let app = Router::new().route(
        "/can-unlink",
        post(|| async { Json(serde_json::json!({ "allowed": true, "principal": "user-42" })) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/can-unlink", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// Starts the proxy against a real (here: fake, but separate) Mono and returns it with the
/// address it logged.
#[test]
fn kill_nine_mid_load_loses_no_record_and_start_up_marks_the_unknown() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let accounts: Vec<String> = (0..20).map(|i| format!("acc{i:02}")).collect();
    let mut fake = FakeMono::new(TEST_KEY).with_fault("*", "latency:500".parse().unwrap());
    for id in &accounts {
        fake = fake.with_account(id);
    }
    let fake = Arc::new(fake);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.sqlite3");
    let (mono, authoriser) = runtime.block_on(async {
        let addr = fake.clone().spawn().await.unwrap();
        (format!("http://{addr}"), yes_authoriser().await)
    });

    let mut live = start_live(&db, TEST_KEY, &mono, &authoriser);
    let url = live.url.clone();
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let requests: Vec<_> = accounts
            .iter()
            .map(|id| {
                let request = client
                    .post(format!("{url}/api/mono/accounts/{id}/unlink"))
                    .header("idempotency-key", format!("key-{id}"))
                    .header("cookie", "session=demo")
                    .send();
                tokio::spawn(request)
            })
            .collect();
        // Every unlink is waiting on Mono's half-second answer...
        let started = Instant::now();
        while fake.total_calls() < 20 {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{} calls",
                fake.total_calls()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // ...when the process dies without warning.
        kill(&live.child, "KILL");
        for request in requests {
            assert!(request.await.unwrap().is_err(), "nobody got an answer");
        }
    });
    live.child.wait().unwrap();

    // Every call Mono received has its intent on disk.
    let audit = |args: &[&str]| -> Vec<serde_json::Value> {
        let (ok, stdout, stderr) = run(proxy().arg("audit").arg("--audit-db").arg(&db).args(args));
        assert!(ok, "{stderr}");
        stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let intents: Vec<String> = audit(&[])
        .iter()
        .filter(|row| row["kind"] == "intent")
        .map(|row| row["account_id"].as_str().unwrap().to_owned())
        .collect();
    for id in &accounts {
        assert_eq!(fake.calls(id), 1);
        assert!(
            intents.contains(id),
            "no intent for {id}, which Mono was asked to unlink"
        );
    }
    assert_eq!(
        audit(&["--unresolved"]).len(),
        20,
        "listed before the restart too"
    );

    // Restart on the same file: start-up marks each one, and they stay listed as unresolved.
    let (stopped, _) = start_live(&db, TEST_KEY, &mono, &authoriser).stop();
    assert!(stopped);
    let rows = audit(&[]);
    let marked = rows
        .iter()
        .filter(|row| row["outcome"] == "outcome_unknown" && row["source"] == "recovery")
        .count();
    assert_eq!(marked, 20);
    let unresolved = audit(&["--unresolved"]);
    assert_eq!(unresolved.len(), 20);
    assert!(unresolved.iter().all(|row| row["kind"] == "intent"));
}

#[test]
fn the_readmes_authoriser_is_the_compiled_example() {
    let readme = include_str!("../../README.md");
    let example = include_str!("../examples/authoriser.rs");
    let start = example.find("// POST /internal/can-unlink").unwrap();
    let end = start + example[start..].find("\n}\n").unwrap() + 2;
    assert!(
        readme.contains(&example[start..end]),
        "README's axum authoriser differs from proxy/examples/authoriser.rs"
    );
}

// check --------------------------------------------------------------------------------------

#[test]
fn a_mono_base_url_with_a_path_is_refused_at_start_up() {
    for base in [
        "https://api.withmono.com/v2",
        "https://api.withmono.com/v1/",
    ] {
        let (ok, _, stderr) = run(proxy().env("MONO_SEC_KEY", LIVE_KEY).args([
            "--authorize-url",
            "http://127.0.0.1:9/can",
            "--mono-base-url",
            base,
        ]));
        assert!(!ok, "{base}");
        assert!(stderr.contains("must not have a path"), "{stderr}");
        assert!(stderr.contains("--mono-api"), "{stderr}");
    }
}

#[test]
fn check_prints_the_plan_without_serving_or_creating_anything() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.sqlite3");
    let (ok, stdout, stderr) = run(proxy()
        .env("MONO_SEC_KEY", LIVE_KEY)
        .args([
            "check",
            "--authorize-url",
            "https://app.example/internal/can-unlink",
        ])
        .args(["--authorize-forward-header", "X-CSRF-Token"])
        .arg("--audit-db")
        .arg(&db));
    assert!(ok, "{stderr}");
    for expected in [
        "the configuration is usable",
        "https://api.withmono.com (v2) with a live key (live_sk_)",
        "https://app.example/internal/can-unlink",
        "Cookie, Authorization, x-csrf-token",
        "will be created",
        "12s",
    ] {
        assert!(stdout.contains(expected), "{expected:?} not in {stdout}");
    }
    assert!(!stdout.contains("k33pth1s") && !stderr.contains("k33pth1s"));
    assert!(!db.exists(), "check opens nothing");
}

/// `check --probe-mono` against `fake` (on loopback), with `extra` flags; returns whether
/// it passed, its output, and the fake.
fn probe(fake: FakeMono, key: &str, extra: &[&str], scheme: &str) -> (bool, String, Arc<FakeMono>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let fake = Arc::new(fake);
    let addr = runtime.block_on(fake.clone().spawn()).unwrap();
    let base = format!("{scheme}://{addr}");
    let (ok, stdout, stderr) = run(proxy()
        .env("MONO_SEC_KEY", key)
        .args([
            "check",
            "--probe-mono",
            "--authorize-url",
            "http://127.0.0.1:9/can",
        ])
        .args(["--mono-base-url", &base])
        .args(extra));
    let output = format!("{stdout}{stderr}");
    assert!(!output.contains(&key[8..]), "the key leaked: {output}");
    drop(runtime);
    (ok, output, fake)
}

/// One set-up for the probe: a fake Mono, extra flags, and what `check` must say.
struct ProbeCase {
    name: &'static str,
    fake: FakeMono,
    flags: &'static [&'static str],
    scheme: &'static str,
    passes: bool,
    says: &'static str,
}

#[test]
fn the_probe_tells_each_set_up_apart() {
    use unlink_proxy::mono::MonoApi;
    let case = |name, fake, flags, scheme, passes, says| ProbeCase {
        name,
        fake,
        flags,
        scheme,
        passes,
        says,
    };
    let gateway = FakeMono::new(TEST_KEY).with_fault("*", "html404".parse().unwrap());
    let looks_right = "look right";
    let check_url = "check --mono-base-url and --mono-api";
    let cases = [
        case(
            "right",
            FakeMono::new(TEST_KEY),
            &[],
            "http",
            true,
            looks_right,
        ),
        case(
            "wrong key",
            FakeMono::new("test_sk_someoneelseskey"),
            &[],
            "http",
            false,
            "answered 401",
        ),
        case("gateway page", gateway, &[], "http", false, check_url),
        case(
            "a 200 page in Mono's place",
            FakeMono::new(TEST_KEY).with_fault("*", "html200".parse().unwrap()),
            &[],
            "http",
            false,
            "captive portal",
        ),
        case(
            "wrong version",
            FakeMono::new(TEST_KEY).only_api(MonoApi::V1),
            &["--mono-api", "v2"],
            "http",
            false,
            check_url,
        ),
        case(
            "right version",
            FakeMono::new(TEST_KEY).only_api(MonoApi::V1),
            &["--mono-api", "v1"],
            "http",
            true,
            looks_right,
        ),
        case(
            "TLS to a plain port",
            FakeMono::new(TEST_KEY),
            &[],
            "https",
            false,
            "TLS failed",
        ),
    ];
    for ProbeCase {
        name,
        fake,
        flags,
        scheme,
        passes,
        says,
    } in cases
    {
        let (ok, output, fake) = probe(fake, TEST_KEY, flags, scheme);
        assert_eq!(ok, passes, "{name}: {output}");
        assert!(output.contains(says), "{name}: {output}");
        assert!(
            output.contains("nothing changes at Mono"),
            "{name}: {output}"
        );
        // One call, when it reached the fake's unlink route at all.
        let calls = fake.calls(unlink_proxy::mono::PROBE_ACCOUNT_ID);
        let reached = scheme == "http" && name != "wrong version";
        assert_eq!(calls, u32::from(reached), "{name}");
    }
    // Nothing listening.
    // Port 1: nothing listens there (a port freed by another test could be reused at once).
    let base = "http://127.0.0.1:1".to_owned();
    let (ok, stdout, _) = run(proxy()
        .env("MONO_SEC_KEY", TEST_KEY)
        .args([
            "check",
            "--probe-mono",
            "--authorize-url",
            "http://127.0.0.1:9/can",
        ])
        .args(["--mono-base-url", &base]));
    assert!(!ok);
    assert!(stdout.contains("could not reach the Mono URL"), "{stdout}");
}

#[test]
fn audit_lists_unlinks_mono_never_confirmed() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.sqlite3");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = SqliteStore::open(&db).unwrap();
        let soon = tokio::time::Instant::now() + Duration::from_secs(5);
        for account in ["confirmed", "silent"] {
            support::record_unlinked(&store, account).await;
        }
        let mut webhook = Entry::new(Kind::Webhook, Some(Outcome::AccountUnlinked));
        webhook.account_id = Some("confirmed".into());
        webhook.source = Some(unlink_proxy::record::Source::Webhook);
        store.record_webhook(&webhook, soon).await.unwrap();
    });
    let audit = |args: &[&str]| {
        let (ok, stdout, stderr) = run(proxy().arg("audit").arg("--audit-db").arg(&db).args(args));
        assert!(ok, "{stderr}");
        stdout
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["account_id"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(audit(&["--unconfirmed", "--older-than", "0s"]), ["silent"]);
    assert!(
        audit(&["--unconfirmed"]).is_empty(),
        "Mono gets ten minutes by default"
    );
    let (ok, _, stderr) = run(proxy().args(["audit", "--older-than", "1m"]));
    assert!(!ok);
    assert!(stderr.contains("--unconfirmed"), "{stderr}");
}

// Operator traps and metrics -------------------------------------------------------------

#[test]
fn configuration_traps_are_refused_or_flagged_without_printing_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let live = |args: &[&str]| {
        run(proxy()
            .env("MONO_SEC_KEY", LIVE_KEY)
            .args(["check", "--authorize-url", "https://app.example/can"])
            .args(args))
    };
    // A live key over plain HTTP.
    let (ok, stdout, stderr) = live(&["--mono-base-url", "http://api.withmono.com"]);
    assert!(!ok);
    assert!(stderr.contains("plain http: use https"), "{stderr}");
    assert!(!stdout.contains("k33pth1s") && !stderr.contains("k33pth1s"));
    // Credentials in the Mono URL: refused, and never echoed.
    let (ok, stdout, stderr) = live(&["--mono-base-url", "https://ops:hunter2@api.withmono.com"]);
    assert!(!ok);
    assert!(stderr.contains("must not carry credentials"), "{stderr}");
    assert!(!stdout.contains("hunter2") && !stderr.contains("hunter2"));
    // Credentials in the authoriser URL are used, never printed.
    let (ok, stdout, stderr) = run(proxy().env("MONO_SEC_KEY", LIVE_KEY).args([
        "check",
        "--authorize-url",
        "https://svc:hunter2@app.example/can",
    ]));
    assert!(ok, "{stderr}");
    assert!(
        !stdout.contains("hunter2") && !stderr.contains("hunter2"),
        "{stdout}"
    );
    // A key file anyone can read works, with a warning.
    let key_file = dir.path().join("mono.key");
    std::fs::write(&key_file, LIVE_KEY).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let (ok, stdout, _) = run(proxy()
            .args(["check", "--authorize-url", "https://app.example/can"])
            .arg("--secret-key-file")
            .arg(&key_file));
        assert!(ok);
        assert!(
            stdout.contains("is readable by other users (mode 644)"),
            "{stdout}"
        );
        assert!(stdout.contains("chmod 600"), "{stdout}");
        assert!(!stdout.contains("k33pth1s"));
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let (ok, stdout, _) = run(proxy()
            .args(["check", "--authorize-url", "https://app.example/can"])
            .arg("--secret-key-file")
            .arg(&key_file));
        assert!(ok);
        assert!(!stdout.contains("warning"), "{stdout}");
    }
}

#[test]
fn traps_an_operator_in_a_hurry_falls_into_are_refused_or_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let check = |args: &[&str]| {
        run(proxy()
            .current_dir(dir.path())
            .env("MONO_SEC_KEY", TEST_KEY)
            .args(["check", "--authorize-url", "https://app.example/can"])
            .args(args))
    };
    // A lease that can run out while its unlink is still within its deadline.
    let (ok, _, stderr) = check(&["--claim-lease", "3s", "--deadline", "12s"]);
    assert!(!ok);
    assert!(
        stderr.contains("--claim-lease (3s) must be longer than --deadline (12s)"),
        "{stderr}"
    );
    let (ok, _, stderr) = check(&["--claim-lease", "12s", "--deadline", "12s"]);
    assert!(!ok, "equal is not longer: {stderr}");
    assert!(check(&["--claim-lease", "13s", "--deadline", "12s"]).0);

    // `--static-dir .` beside the default record would serve the whole trail to anyone.
    std::fs::write(dir.path().join("index.html"), "<!doctype html>").unwrap();
    let (ok, _, stderr) = check(&["--static-dir", "."]);
    assert!(!ok);
    assert!(
        stderr.contains("would serve the audit record (--audit-db) to anyone"),
        "{stderr}"
    );
    let elsewhere = tempfile::tempdir().unwrap();
    let record = elsewhere.path().join("audit.sqlite3");
    let (ok, _, stderr) = check(&["--static-dir", ".", "--audit-db", record.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    // The same for a secret's file.
    let key = dir.path().join("mono.key");
    std::fs::write(&key, TEST_KEY).unwrap();
    let (ok, _, stderr) = run(proxy()
        .current_dir(dir.path())
        .args(["check", "--authorize-url", "https://app.example/can"])
        .args(["--static-dir", ".", "--audit-db", record.to_str().unwrap()])
        .args(["--secret-key-file", "mono.key"]));
    assert!(!ok);
    assert!(stderr.contains("would serve the Mono key file"), "{stderr}");
    assert!(!stderr.contains(&TEST_KEY[8..]), "{stderr}");

    // A sandbox key serving real users' pages: Mono's 404 would tell them "already unlinked".
    let (ok, stdout, _) = check(&[]);
    assert!(ok);
    assert!(
        stdout.contains("a test_sk_ (sandbox) key serves https://app.example"),
        "{stdout}"
    );
    let (ok, stdout, _) = run(proxy()
        .env("MONO_SEC_KEY", TEST_KEY)
        .env("UNLINK_PUBLIC_ORIGINS", "http://localhost:3000")
        .args(["check", "--authorize-url", "https://app.example/can"]));
    assert!(ok);
    assert!(
        !stdout.contains("sandbox"),
        "a local page: no warning: {stdout}"
    );
}

#[test]
fn on_a_full_disk_healthz_says_so_as_an_unlink_would() {
    // The disk fills (here: the process may not grow a file past 256 KiB). Unlinks answer
    // 503, and /healthz must say 503 too: a health check that writes nothing would say 200.
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    let files = static_dir();
    let accounts: Vec<String> = (0..60).map(|i| format!("full{i:02}")).collect();
    let mut command = proxy();
    command
        .stderr(Stdio::null())
        .args(["--listen", "127.0.0.1:0", "--fake-mono"])
        .arg("--audit-db")
        .arg(dir.path().join("a.sqlite3"))
        .arg("--static-dir")
        .arg(files.path())
        .args([
            "--rate-limit-per-minute",
            "1000",
            "--ip-rate-limit-per-minute",
            "1000",
        ]);
    for id in &accounts {
        command.args(["--fake-mono-account", id]);
    }
    unsafe {
        command.pre_exec(|| {
            // A write past the limit fails (EFBIG) instead of killing the process.
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let limit = libc::rlimit {
                rlim_cur: 256 * 1024,
                rlim_max: 256 * 1024,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let demo = start(command);
    let url = demo.url.clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let health = || async {
            client
                .get(format!("{url}/healthz"))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        };
        assert_eq!(health().await, 200);
        let mut refused = None;
        for id in &accounts {
            let status = client
                .post(format!("{url}/api/mono/accounts/{id}/unlink"))
                .header("idempotency-key", id.as_str())
                .send()
                .await
                .unwrap()
                .status()
                .as_u16();
            if status == 503 {
                refused = Some(id);
                break;
            }
            assert_eq!(status, 200, "{id}");
        }
        assert!(refused.is_some(), "the record never filled up");
        assert_eq!(health().await, 503, "healthz reports what a write does");
    });
    // Dropped, not stopped: a graceful stop would wait for an outcome the disk cannot take.
    drop(demo);
}

#[test]
fn the_service_route_lives_on_its_own_listener_and_its_tokens_are_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let files = static_dir();
    let tokens = dir.path().join("tokens");
    let token = "billing-token-0123456789abcdefghij";
    std::fs::write(&tokens, format!("billing:{token}\n")).unwrap();
    #[cfg(unix)]
    std::fs::set_permissions(&tokens, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let mut child = proxy()
        .args(["--listen", "127.0.0.1:0", "--fake-mono", "--audit-db"])
        .arg(dir.path().join("a.sqlite3"))
        .arg("--static-dir")
        .arg(files.path())
        .arg("--service-token-file")
        .arg(&tokens)
        .args(["--service-listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut demo, mut service) = (None, None);
    while demo.is_none() || service.is_none() {
        let line = lines
            .next()
            .expect("the proxy printed its addresses")
            .unwrap();
        if let Some(url) = line.strip_prefix("Demo: ") {
            demo = Some(url.trim_end_matches('/').to_owned());
        }
        if let Some(url) = line.strip_prefix("Service: ") {
            service = Some(url.to_owned());
        }
    }
    let (demo, service) = (demo.unwrap(), service.unwrap());
    let post = |base: &str, bearer: Option<&str>| {
        let mut command = std::process::Command::new("curl");
        command.args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"]);
        command.args(["-H", "Idempotency-Key: svc-1"]);
        if let Some(bearer) = bearer {
            command.args(["-H", &format!("Authorization: Bearer {bearer}")]);
        }
        command.arg(format!(
            "{base}/service/accounts/60770aa8c5878a2af69ed849/unlink"
        ));
        String::from_utf8(command.output().unwrap().stdout).unwrap()
    };
    // Not on the public listener, even with the token.
    assert_eq!(post(&format!("{demo}/api/mono"), Some(token)), "404");
    assert_eq!(post(&service, None), "401");
    assert_eq!(post(&service, Some(token)), "200");
    kill(&child, "TERM");
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    child.wait().unwrap();
    assert!(!stderr.contains(token) && !stderr.contains("0123456789abcdefghij"));
    assert!(stderr.contains("service route on http://"), "{stderr}");
}

/// `GET {url}/metrics`, as text.
fn scrape(url: &str) -> (u16, String) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let answer = reqwest::get(format!("{url}/metrics")).await.unwrap();
        (answer.status().as_u16(), answer.text().await.unwrap())
    })
}

/// The value of the series whose line starts with `series`, e.g. `unlink_requests_total{code="unlinked",route="unlink"}`.
fn value(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{metrics}"))
}

#[test]
fn metrics_count_what_just_happened() {
    let dir = tempfile::tempdir().unwrap();
    let files = static_dir();
    let mut demo = start_demo(&dir.path().join("a.sqlite3"), files.path(), &[]);
    let url = demo.url.clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let post = |id: &str, key: Option<&str>| {
            let mut request = client.post(format!("{url}/api/mono/accounts/{id}/unlink"));
            if let Some(key) = key {
                request = request
                    .header("idempotency-key", key)
                    .header("cookie", "session=demo");
            }
            request.send()
        };
        for (id, key, status) in [
            ("60770aa8c5878a2af69ed849", Some("a"), 200),
            ("60770aa8c5878a2af69ed849", Some("b"), 200),
            ("64779d900000000000b3de23aeb8", Some("c"), 403),
            ("bad.id", Some("d"), 400),
            ("60770aa8c5878a2af69ed849", None, 400),
        ] {
            let answer = post(id, key).await.unwrap();
            assert_eq!(answer.status(), status, "{id} {key:?}");
        }
    });
    let (status, metrics) = scrape(&url);
    demo.stop();
    assert_eq!(status, 200);
    let requests = |code: &str| {
        value(
            &metrics,
            &format!("unlink_requests_total{{route=\"unlink\",code=\"{code}\"}}"),
        )
    };
    assert_eq!(requests("unlinked"), 2.0);
    assert_eq!(requests("forbidden"), 1.0);
    assert_eq!(requests("invalid_account_id"), 1.0);
    assert_eq!(requests("invalid_idempotency_key"), 1.0);
    let refusals = |reason: &str| {
        value(
            &metrics,
            &format!("unlink_refusals_total{{reason=\"{reason}\"}}"),
        )
    };
    assert_eq!(refusals("invalid_account_id"), 1.0);
    assert_eq!(refusals("invalid_idempotency_key"), 1.0);
    // Mono was asked once: the second unlink was answered from the record.
    assert_eq!(
        value(
            &metrics,
            "unlink_mono_calls_total{status=\"200\",attempt=\"1\"}"
        ),
        1.0
    );
    assert!(!metrics.contains("status=\"404\""), "{metrics}");
    assert_eq!(value(&metrics, "unlink_mono_call_seconds_count"), 1.0);
    assert!(value(&metrics, "unlink_record_write_seconds_count") >= 5.0);
    assert_eq!(value(&metrics, "unlink_in_flight"), 0.0);
    assert_eq!(
        value(
            &metrics,
            "unlink_request_duration_seconds_count{route=\"unlink\"}"
        ),
        5.0
    );
}

#[test]
fn metrics_can_have_a_listener_of_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let files = static_dir();
    let mut demo = start_demo(
        &dir.path().join("a.sqlite3"),
        files.path(),
        &["--metrics-listen", "127.0.0.1:0"],
    );
    // The port it got is in the log.
    let mut stderr = BufReader::new(demo.child.stderr.take().unwrap());
    let mut line = String::new();
    let metrics_address = loop {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "no metrics line");
        if let Some((_, rest)) = line.split_once("metrics on http://") {
            break rest.trim().trim_end_matches("/metrics").to_owned();
        }
    };
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    let (status, metrics) = scrape(&format!("http://{metrics_address}"));
    let (main_status, _) = scrape(&demo.url);
    demo.stop();
    assert_eq!(status, 200);
    assert!(
        metrics.is_empty() || metrics.contains("unlink_"),
        "{metrics}"
    );
    assert_eq!(main_status, 404, "not on the main listener then");
}
